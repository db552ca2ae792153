import { afterEach, describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { replayLog } from '../../src/core/log/projection-runner.js'
import { openOrders, stateHash } from '../../src/projections/index.js'
import { MarketMaker, MomentumTaker } from '../../src/strategies/index.js'
import { tempDb } from '../support/tmp.js'
import { BTC, ETH, rig, type Rig } from './rig.js'

const VENUES = ['binance-sim', 'okx-sim', 'bybit-sim']

const rigs: Rig[] = []
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close()
})

describe('the sample strategies trade against three simulated venues', () => {
  it('quote and take on every venue through the real router and SQLite log, within their limits, and the log replays to the live state', async () => {
    const path = tempDb()
    const r = rig({ venues: VENUES, path, seed: 11 })
    rigs.push(r)
    const markets = (symbol: string) => VENUES.map((venue) => ({ venue, symbol }))
    const mmLimits = { maxPosition: 0.05, maxOpenOrders: 6, maxOrdersPerSecond: 50 }
    const takerLimits = { maxPosition: 0.5, maxOpenOrders: 3, maxOrdersPerSecond: 20 }
    r.host.register(new MarketMaker({ id: 'mm', markets: markets(BTC), qty: 0.01, halfSpreadBps: 3, requoteBps: 4, maxInventory: 0.03 }), { limits: mmLimits })
    r.host.register(new MomentumTaker({ id: 'momo', markets: markets(ETH), qty: 0.2, lookback: 4, thresholdBps: 6, cooldownTicks: 3 }), { limits: takerLimits })

    let worst = 0
    for (let i = 0; i < 300; i++) {
      r.clock.advance(100)
      await r.tick()
      await new Promise((resolve) => setImmediate(resolve))
      await r.host.idle()
      for (const b of r.state().books.values()) {
        const limit = b.strategy === 'mm' ? mmLimits.maxPosition : takerLimits.maxPosition
        worst = Math.max(worst, Math.abs(b.qty) / limit)
      }
    }

    const submitted = [...r.log.read({ types: ['order.submitted'] })].flatMap((e) => (e.type === 'order.submitted' ? [e.data] : []))
    const fills = [...r.log.read({ types: ['order.filled'] })].flatMap((e) => (e.type === 'order.filled' ? [e.data] : []))
    const byClient = new Map(submitted.map((s) => [`${s.venue} ${s.clientOrderId}`, s]))
    for (const venue of VENUES) {
      for (const id of ['mm', 'momo']) {
        expect(
          submitted.some((s) => s.venue === venue && s.origin.id === id),
          `${id} sent orders to ${venue}`,
        ).toBe(true)
        expect(
          fills.some((f) => f.venue === venue && byClient.get(`${f.venue} ${f.clientOrderId}`)?.origin.id === id),
          `${id} was filled on ${venue}`,
        ).toBe(true)
      }
    }
    expect(submitted.filter((s) => s.origin.id === 'mm').every((s) => s.type === 'limit')).toBe(true)
    expect(submitted.filter((s) => s.origin.id === 'momo').every((s) => s.type === 'market')).toBe(true)
    // never beyond a limit, at any tick
    expect(worst).toBeLessThanOrEqual(1 + 1e-9)
    expect(r.host.status().map((s) => [s.id, s.enabled, s.errors])).toEqual([
      ['mm', true, 0],
      ['momo', true, 0],
    ])

    // what the venues hold is what the projections say is open
    for (const sim of r.sims) {
      const atVenue = (await sim.fetchOpenOrders()).map((o) => o.clientOrderId).sort()
      expect(
        openOrders(r.state(), sim.venue)
          .map((o) => o.clientOrderId)
          .sort(),
      ).toEqual(atVenue)
    }
    // and what the venues hold as positions is what the fills built
    for (const sim of r.sims) {
      for (const p of await sim.fetchPositions()) {
        const mine = r.state().positions.get([sim.venue, p.symbol].join('\u001f'))?.qty ?? 0
        expect(mine).toBeCloseTo(p.qty, 9)
      }
    }

    expect(r.log.verify().ok).toBe(true)
    const live = stateHash(r.state())
    await r.close()
    rigs.splice(0)
    const reopened = openEventLog({ path, readonly: true })
    expect(stateHash(replayLog(reopened, { fromSnapshot: false }).state)).toBe(live)
    reopened.close()
  })
})
