import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/daemon/config.js'

/** The README's three ways beside an engine: each example config parses, and says what its way needs. */
const read = (name: string) => JSON.parse(readFileSync(`examples/beside-an-engine/${name}.json`, 'utf8')) as Record<string, unknown>

describe('examples/beside-an-engine', () => {
  it('order entry: an engine credential, the socket and the engine’s limits', () => {
    const c = parseConfig(read('order-entry'), {})
    expect(c.admin.users?.[0]?.role).toBe('engine')
    expect(c.orderEntry).toMatchObject({ enabled: true, socketPath: '/var/lib/haltd/entry.sock', limits: { maxOpenOrders: 50, maxOrderNotional: 25_000 } })
  })

  it('guardian: the account followed, risk triggers on what haltd sees', () => {
    const c = parseConfig(read('guardian'), {})
    expect(c.guardian).toEqual({ pollMs: 5000 })
    expect(c.risk.drawdown).toMatchObject({ max: 2000, action: 'EMERGENCY' })
  })

  it('process control: a pid file and signals, Freqtrade’s REST stop, SIGKILL as the last word', () => {
    const c = parseConfig(read('process-control'), {})
    expect(c.engine).toMatchObject({ pidFile: '/run/freqtrade.pid', firstPhase: 'freeze', graceMs: 3000, stop: { http: { method: 'POST' } } })
  })
})
