import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { demoConfig } from '../../src/daemon/demo.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

const open: Haltd[] = []
afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => undefined)
})

type Decision = { strategy: string; venue: string; symbol: string; side: string; type: string; qty: number; price?: number }

/** The demo on its defaults but headless (no admin API, no signal handlers), trading for a while. */
async function demoRun(seed: number, ms: number): Promise<Map<string, Decision[]>> {
  const db = join(tempDir(), `demo-${seed}.db`)
  const config = { ...demoConfig({ db, port: 0, seed, orders: 0 }), admin: { enabled: false }, signals: false }
  const h = await createHaltd(config, { logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} })
  open.push(h)
  await new Promise((r) => setTimeout(r, ms))
  const byStrategy = new Map<string, Decision[]>()
  for (const e of h.log.read()) {
    if (e.type !== 'order.submitted' || e.data.origin.kind !== 'strategy') continue
    const d = e.data
    const strategy = d.origin.id ?? '?'
    byStrategy.set(strategy, [
      ...(byStrategy.get(strategy) ?? []),
      { strategy, venue: d.venue, symbol: d.symbol, side: d.side, type: d.type, qty: d.qty, ...(d.price !== undefined ? { price: d.price } : {}) },
    ])
  }
  return byStrategy
}

describe("the demo's --seed", { timeout: 60_000 }, () => {
  it('same seed, same market and same decisions: each strategy sends the same orders in the same order; another seed, other ones', async () => {
    const [a, b, other] = await Promise.all([demoRun(7, 4_000), demoRun(7, 4_000), demoRun(8, 4_000)])
    // the three market makers quote from the first ticks; the taker trades only on momentum
    expect([...a.keys()]).toEqual(expect.arrayContaining(['mm-binance', 'mm-okx', 'mm-kraken']))
    let compared = 0
    for (const [strategy, first] of a) {
      const second = b.get(strategy) ?? []
      // runs end at slightly different points on a shared machine: compare what both reached
      const n = Math.min(first.length, second.length)
      expect(second.slice(0, n), strategy).toEqual(first.slice(0, n))
      compared += n
    }
    expect(compared).toBeGreaterThanOrEqual(12)
    const mm = (m: Map<string, Decision[]>) => (m.get('mm-binance') ?? []).slice(0, 4).map((d) => d.price)
    expect(mm(other)).not.toEqual(mm(a))
  })
})
