import { afterEach, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/events/clock.js'
import { OrderRouter } from '../../src/core/execution/order-router.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { tempDb } from '../support/tmp.js'
import { activations, fill, mark, reject, riskRig, type RiskRig } from './rig.js'

const SYMBOL = 'BTC/USDT:USDT'
const opened: { close(): unknown }[] = []
afterEach(async () => {
  for (const x of opened.splice(0).reverse()) await x.close()
})

/** One process lifetime: the log file reopened, projections replayed, a fresh gate, monitor and router. */
function boot(path: string, config: unknown, clock: ReturnType<typeof manualClock>) {
  const r: RiskRig = riskRig(config, { path, clock })
  const venue = new SimExchange({
    venue: 'binance-sim',
    seed: 3,
    mode: 'derivatives',
    symbols: [{ symbol: SYMBOL, mid: 64000, amountStep: 0.001, priceStep: 0.1 }],
    clock,
  })
  const router = new OrderRouter({ log: r.log, gate: r.gate, venues: new Map([[venue.venue, venue]]), runTag: 'r' })
  const life = {
    r,
    venue,
    router,
    async close() {
      router.close()
      await venue.close()
      r.close()
    },
  }
  opened.push(life)
  return life
}

const strategyOrder = {
  venue: 'binance-sim',
  symbol: SYMBOL,
  side: 'buy' as const,
  type: 'limit' as const,
  qty: 0.01,
  price: 60000,
  origin: { kind: 'strategy' as const, id: 'mm' },
}

describe('a tripped kill switch survives a restart', () => {
  it('comes back latched and HALTED from the log file, refuses orders, does not start the emergency again, and clears only on a reset with a reason', async () => {
    const path = tempDb()
    const clock = manualClock(1_700_000_000_000)
    const config = { errorBurst: { max: 2, windowMs: 1_000, action: 'EMERGENCY' } }

    const first = boot(path, config, clock)
    reject(first.r.log)
    reject(first.r.log)
    expect(first.r.monitor.check()).toMatchObject({ trigger: 'errorBurst', action: 'EMERGENCY' })
    expect(first.r.emergencies).toHaveLength(1)
    await first.close()
    opened.splice(0)

    // The process is gone; nothing of it survives but the file.
    const second = boot(path, config, clock)
    expect(second.r.runner.seq).toBeGreaterThan(0)
    expect(second.r.monitor.latched).toBe(true)
    expect(second.r.state().trading.mode).toBe('HALTED')
    expect(second.r.gate.halted).toBe(true)
    expect(second.r.gate.latchReason).toMatch(/^kill switch: 2 rejects/)
    const seqBefore = second.r.log.lastSeq
    expect(await second.router.submit(strategyOrder)).toMatchObject({ status: 'refused' })
    expect(second.r.log.lastSeq).toBe(seqBefore)
    expect(second.venue.openOrderCount).toBe(0)
    // the errors that tripped it are history, not a new burst, and the emergency is not restarted
    expect(second.r.monitor.check()).toBeUndefined()
    expect(second.r.emergencies).toEqual([])
    expect(activations(second.r.log)).toHaveLength(1)
    expect(() => second.r.monitor.reset({ reason: '' })).toThrow(/needs a reason/)

    second.r.monitor.reset({ reason: 'margin topped up; rejects explained', by: 'carol' })
    expect(second.r.gate.halted).toBe(false)
    expect(await second.router.submit(strategyOrder)).toMatchObject({ status: 'accepted' })
    await second.close()
    opened.splice(0)

    const third = boot(path, config, clock)
    expect(third.r.monitor.latched).toBe(false)
    expect(third.r.state().trading.mode).toBe('ACTIVE')
    expect(third.r.gate.halted).toBe(false)
    expect(third.r.log.verify().ok).toBe(true)
  })

  it('comes back REDUCING after a REDUCING trip: only reduce-only orders pass', async () => {
    const path = tempDb()
    const clock = manualClock(1_700_000_000_000)
    const config = { errorBurst: { max: 1, windowMs: 1_000, action: 'REDUCING' } }
    const first = boot(path, config, clock)
    reject(first.r.log)
    first.r.monitor.check()
    await first.close()
    opened.splice(0)

    const second = boot(path, config, clock)
    expect(second.r.monitor.latched).toBe(true)
    expect(second.r.gate.halted).toBe(false)
    expect(second.r.gate.refusal({ origin: { kind: 'strategy', id: 'mm' }, reduceOnly: false })).toMatch(/REDUCING/)
    expect(second.r.gate.refusal({ origin: { kind: 'strategy', id: 'mm' }, reduceOnly: true })).toBeUndefined()
  })

  it('after an operator reset, a restart measures drawdown from the reset, not from the peak the operator reset away from', async () => {
    const path = tempDb()
    const clock = manualClock(1_700_000_000_000)
    const config = { drawdown: { max: 10, action: 'HALTED' } }

    const first = boot(path, config, clock)
    fill(first.r.log, 'a', 'buy', 1, 100)
    mark(first.r.log, 'a', 120) // equity 20: the all-time peak
    mark(first.r.log, 'a', 105) // 15 below it
    expect(first.r.monitor.check()).toMatchObject({ trigger: 'drawdown', reading: 15 })
    first.r.monitor.reset({ reason: 'loss reviewed, trading on from here', by: 'carol' })
    mark(first.r.log, 'a', 108) // equity 8: the high since the reset
    expect(first.r.monitor.check()).toBeUndefined()
    await first.close()
    opened.splice(0)

    const second = boot(path, config, clock)
    // 12 below the all-time peak, 0 below the high since the reset: not tripped again
    expect(second.r.state().pnl).toMatchObject({ equity: 8, peakEquity: 20 })
    expect(second.r.monitor.check()).toBeUndefined()
    expect(second.r.monitor.latched).toBe(false)
    expect(second.r.gate.halted).toBe(false)
    mark(second.r.log, 'a', 98.01) // 9.99 below the high since the reset
    expect(second.r.monitor.check()).toBeUndefined()
    mark(second.r.log, 'a', 98) // a fresh loss of the limit
    expect(second.r.monitor.check()).toMatchObject({ trigger: 'drawdown', reading: 10, threshold: 10 })
    expect(activations(second.r.log)).toHaveLength(2)
  })

  it('after a reset and a new all-time high, a restart measures drawdown from that high', async () => {
    const path = tempDb()
    const clock = manualClock(1_700_000_000_000)
    const config = { drawdown: { max: 10, action: 'HALTED' } }

    const first = boot(path, config, clock)
    fill(first.r.log, 'a', 'buy', 1, 100)
    mark(first.r.log, 'a', 120)
    mark(first.r.log, 'a', 105)
    first.r.monitor.check()
    first.r.monitor.reset({ reason: 'reviewed' })
    mark(first.r.log, 'a', 125) // equity 25: above the peak recorded with the reset
    mark(first.r.log, 'a', 118) // 7 below it
    expect(first.r.monitor.check()).toBeUndefined()
    await first.close()
    opened.splice(0)

    const second = boot(path, config, clock)
    expect(second.r.monitor.check()).toBeUndefined()
    mark(second.r.log, 'a', 115.01)
    expect(second.r.monitor.check()).toBeUndefined()
    mark(second.r.log, 'a', 115)
    expect(second.r.monitor.check()).toMatchObject({ trigger: 'drawdown', reading: 10 })
  })
})
