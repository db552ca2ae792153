import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { parseConfig } from '../../src/daemon/config.js'
import { openLogWithProjections } from '../../src/daemon/open-log.js'
import { createLogger } from '../../src/daemon/logger.js'
import { manualClock, sequentialIds } from '../../src/events/clock.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { dist } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'

const open: Haltd[] = []
afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => undefined)
})

const cli = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { encoding: 'utf8' })
const quiet = () => createLogger({ destination: memoryDestination(), level: 'warn' })

function keyFile(): string {
  const path = join(tempDir('haltd-key-'), 'chain.key')
  writeFileSync(path, randomBytes(32), { mode: 0o600 })
  return path
}

describe('the daemon with a chain key', { timeout: 60_000 }, () => {
  it('given db.chainKeyFile, when haltd trades and shuts down, then the log is keyed and haltd audit --key-file audits it clean', async () => {
    const db = join(tempDir(), 'e.db')
    const key = keyFile()
    const venue = new SimExchange({
      venue: 'alpha-sim',
      seed: 3,
      mode: 'derivatives',
      symbols: [{ symbol: 'BTC/USDT:USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }],
    })
    const h = await createHaltd({ db: { path: db, chainKeyFile: key }, admin: { enabled: false } }, { gateways: [venue], logger: quiet(), env: {} })
    open.push(h)
    const sent = await h.orders.submit({
      venue: 'alpha-sim',
      symbol: 'BTC/USDT:USDT',
      side: 'buy',
      type: 'limit',
      qty: 0.01,
      price: 40_000,
      origin: { kind: 'manual', id: 'engine' },
    })
    expect(sent.status).toBe('accepted')
    const report = await h.shutdown({ mode: 'graceful', reason: 'end of session' })
    expect(report.outcome).toBe('clean')
    await h.close()

    const audit = cli('audit', '--db', db, '--key-file', key)
    expect(audit.status, audit.stdout + audit.stderr).toBe(0)
    expect(audit.stdout).toContain('CLEAN')
    expect(audit.stdout).toContain('hash chain intact')
    const unkeyed = cli('verify', '--db', db)
    expect(unkeyed.status).toBe(2)
    expect(unkeyed.stderr).toContain('chain not verified: keyed log, give --key-file')
    // the same log without its key is refused for writing, naming the option
    await expect(createHaltd({ db: { path: db }, admin: { enabled: false } }, { gateways: [], logger: quiet(), env: {} })).rejects.toThrow(/db\.chainKeyFile/)
  })

  it('opens the log with db.maxEventBytes as its cap', () => {
    const config = parseConfig({ db: { path: join(tempDir(), 'cap.db'), maxEventBytes: 64 }, admin: { enabled: false } })
    const { log } = openLogWithProjections(config, { clock: manualClock(0), ids: sequentialIds('e'), logger: quiet() })
    try {
      expect(() => log.append({ type: 'run.started', data: { runId: 'r'.repeat(100), version: '0', configHash: 'c', host: 'h', pid: 1 } })).toThrow(
        /maxEventBytes/,
      )
      expect(log.lastSeq).toBe(0)
    } finally {
      log.close()
    }
  })
})
