import { afterEach, describe, expect, it } from 'vitest'
import { createStrategy, InvalidStrategyConfig, MarketMaker, MomentumTaker } from '../../src/strategies/index.js'
import { BTC, ETH, rig, type Rig } from './rig.js'

const V = 'binance-sim'
const limits = { maxPosition: 1, maxOpenOrders: 10, maxOrdersPerSecond: 100 }

const rigs: Rig[] = []
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close()
})
function make(): Rig {
  const r = rig({ venues: [V] })
  rigs.push(r)
  return r
}

async function mid(r: Rig, symbol: string, price: number): Promise<void> {
  r.sims[0]!.setMid(symbol, price)
  await r.host.idle()
  // fills pushed by the venue come back through the log as updates
  await new Promise((resolve) => setImmediate(resolve))
  await r.host.idle()
}

const resting = async (r: Rig) => (await r.sims[0]!.fetchOpenOrders([BTC])).map((o) => ({ id: o.clientOrderId, side: o.side, price: o.price }))

describe('sample market maker', () => {
  const config = { id: 'mm', markets: [{ venue: V, symbol: BTC }], qty: 0.01, halfSpreadBps: 10, requoteBps: 5, maxInventory: 0.01 }

  it('quotes one bid and one ask around the mid and leaves them resting while the mid stays close', async () => {
    const r = make()
    r.host.register(new MarketMaker(config), { limits })
    await mid(r, BTC, 64000)
    const first = await resting(r)
    expect(first.map((o) => [o.side, o.price]).sort()).toEqual([
      ['buy', 63936],
      ['sell', 64064],
    ])
    await mid(r, BTC, 64020) // 3.1 bps: below the requote threshold
    expect(await resting(r)).toEqual(first)
  })

  it('replaces both quotes once the mid moves beyond the requote threshold', async () => {
    const r = make()
    r.host.register(new MarketMaker(config), { limits })
    await mid(r, BTC, 64000)
    const first = await resting(r)
    await mid(r, BTC, 64040) // 6.25 bps
    const second = await resting(r)
    expect(second.map((o) => [o.side, o.price]).sort()).toEqual([
      ['buy', 63976],
      ['sell', 64104],
    ])
    expect(second.map((o) => o.id).some((id) => first.some((f) => f.id === id))).toBe(false)
    const canceled = [...r.log.read({ types: ['order.canceled'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    expect(canceled.sort()).toEqual(first.map((o) => o.id).sort())
  })

  it('stops quoting the side that would take its projected inventory past the maximum', async () => {
    const r = make()
    r.host.register(new MarketMaker(config), { limits })
    await mid(r, BTC, 64000)
    await mid(r, BTC, 63900) // the mid crosses the bid: it fills (in part or whole)
    expect(r.host.status()[0]!.refusals.total).toBe(0)
    const pos = r.state().books.get([V, BTC, 'mm'].join('\u001f'))!.qty
    expect(pos).toBeGreaterThan(0)
    expect((await resting(r)).map((o) => o.side)).toEqual(['sell'])
  })

  it('saves and restores the mid it last quoted around', () => {
    const mm = new MarketMaker(config)
    mm.restore({ quotedMid: { [`${V} ${BTC}`]: 64000 } })
    expect(mm.snapshot()).toEqual({ quotedMid: { [`${V} ${BTC}`]: 64000 } })
    expect(() => mm.restore({ quotedMid: { x: -1 } })).toThrow()
  })

  it('names the bad field of its config', () => {
    expect(() => new MarketMaker({ ...config, halfSpreadBps: 0 })).toThrow(InvalidStrategyConfig)
    expect(() => new MarketMaker({ ...config, markets: [] })).toThrow(/market-maker\.markets/)
  })
})

describe('sample momentum taker', () => {
  const config = { id: 'mo', markets: [{ venue: V, symbol: ETH }], qty: 0.05, lookback: 3, thresholdBps: 10 }
  const position = (r: Rig) => r.state().books.get([V, ETH, 'mo'].join('\u001f'))?.qty ?? 0

  it('buys to its target on a rise beyond the threshold, holds on no signal, and sells through to short on a fall', async () => {
    const r = make()
    r.host.register(new MomentumTaker(config), { limits })
    for (const p of [3000, 3000, 3000]) await mid(r, ETH, p)
    expect(position(r)).toBe(0)
    await mid(r, ETH, 3004) // +13 bps over three ticks
    expect(position(r)).toBeCloseTo(0.05)
    await mid(r, ETH, 3004)
    await mid(r, ETH, 3003)
    expect(position(r)).toBeCloseTo(0.05)
    await mid(r, ETH, 2995) // −30 bps
    expect(position(r)).toBeCloseTo(-0.05)
    const sides = [...r.log.read({ types: ['order.submitted'] })].map((e) => e.type === 'order.submitted' && [e.data.side, e.data.type, e.data.qty])
    expect(sides).toEqual([
      ['buy', 'market', 0.05],
      ['sell', 'market', 0.1],
    ])
  })

  it('waits out its cooldown after a trade', async () => {
    const r = make()
    r.host.register(new MomentumTaker({ ...config, cooldownTicks: 2 }), { limits })
    for (const p of [3000, 3000, 3000, 3004]) await mid(r, ETH, p)
    expect(position(r)).toBeCloseTo(0.05)
    await mid(r, ETH, 2990)
    await mid(r, ETH, 2985)
    expect(position(r)).toBeCloseTo(0.05)
    await mid(r, ETH, 2980)
    expect(position(r)).toBeCloseTo(-0.05)
  })

  it('carries its recent mids across a checkpoint', async () => {
    const a = new MomentumTaker(config)
    const ctx = { strategyId: 'mo', now: () => 0, position: () => 0, openOrders: () => [] }
    for (const p of [3000, 3000, 3000]) a.onTick({ venue: V, symbol: ETH, bid: p, ask: p, ts: 0 }, ctx)
    const b = new MomentumTaker(config)
    b.restore(JSON.parse(JSON.stringify(a.snapshot())))
    expect(b.onTick({ venue: V, symbol: ETH, bid: 3004, ask: 3004, ts: 0 }, ctx)).toEqual([
      { kind: 'place', venue: V, symbol: ETH, side: 'buy', type: 'market', qty: 0.05 },
    ])
  })
})

describe('sample strategies from the config file', () => {
  it('builds each kind with defaults that params override, and names a bad param or kind', () => {
    const mm = createStrategy({ id: 'mm-1', kind: 'market-maker', venue: V, symbol: BTC, params: { qty: 0.02 } })
    expect(mm).toBeInstanceOf(MarketMaker)
    expect(mm.id).toBe('mm-1')
    expect(createStrategy({ id: 't-1', kind: 'taker', venue: V, symbol: ETH })).toBeInstanceOf(MomentumTaker)
    expect(() => createStrategy({ id: 't-2', kind: 'taker', venue: V, symbol: ETH, params: { lookback: 0 } })).toThrow(/momentum-taker\.lookback/)
    expect(() => createStrategy({ id: 'x', kind: 'arb' as never, venue: V, symbol: ETH })).toThrow(/unknown strategy kind 'arb'/)
  })
})
