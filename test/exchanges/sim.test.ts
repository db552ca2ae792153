import pTimeout, { TimeoutError } from 'p-timeout'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { manualClock } from '../../src/events/clock.js'
import { InvalidSimConfig, SimExchange, VenueError, type OrderUpdate, type SimExchangeOptions, type Ticker } from '../../src/exchanges/index.js'

const BTC = 'BTC/USDT:USDT'
const ETH = 'ETH/USDT:USDT'
const SYMBOLS = [
  { symbol: BTC, mid: 64000, amountStep: 0.001, priceStep: 0.1 },
  { symbol: ETH, mid: 3000, amountStep: 0.01, priceStep: 0.01 },
]

const made: SimExchange[] = []
afterEach(async () => {
  vi.useRealTimers()
  for (const sim of made.splice(0)) await sim.close()
})

function sim(over: Partial<SimExchangeOptions> = {}): SimExchange {
  const s = new SimExchange({ venue: 'binance-sim', seed: 42, mode: 'derivatives', symbols: SYMBOLS, ...over })
  made.push(s)
  return s
}

function recorder(s: SimExchange): OrderUpdate[] {
  const seen: OrderUpdate[] = []
  s.onUpdate((u) => seen.push(u))
  return seen
}

async function venueError(p: Promise<unknown>): Promise<VenueError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(VenueError)
  return e as VenueError
}

let n = 0
const id = (): string => `hd-s${++n}`
const limit = (symbol: string, side: 'buy' | 'sell', qty: number, price: number, extra: object = {}) =>
  ({ clientOrderId: id(), symbol, side, type: 'limit', qty, price, ...extra }) as const
const market = (symbol: string, side: 'buy' | 'sell', qty: number, extra: object = {}) =>
  ({ clientOrderId: id(), symbol, side, type: 'market', qty, ...extra }) as const

const activeTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

describe('SimExchange is deterministic', () => {
  async function script(seed: number): Promise<{ tickers: Ticker[]; updates: OrderUpdate[] }> {
    const s = sim({ seed, clock: manualClock(1_000) })
    const updates = recorder(s)
    const tickers: Ticker[] = []
    s.onTicker((t) => tickers.push(t))
    const mid = s.ticker(BTC).mid
    await s.submit(limit(BTC, 'buy', 0.5, mid - 30))
    await s.submit(limit(BTC, 'sell', 0.5, mid + 30))
    for (let i = 0; i < 200; i++) {
      s.tick()
      if (i % 40 === 0) await s.submit(market(ETH, i % 80 ? 'buy' : 'sell', 1.37))
    }
    await s.submit(limit(ETH, 'buy', 2, s.ticker(ETH).mid, { timeInForce: 'IOC' }))
    return { tickers, updates }
  }

  it('replays the same prices and the same fills from the same seed', async () => {
    n = 0
    const a = await script(42)
    n = 0
    const b = await script(42)
    expect(a.tickers).toHaveLength(400)
    expect(a.updates.filter((u) => u.kind === 'fill').length).toBeGreaterThan(5)
    expect(b).toEqual(a)
  })

  it('hands out order and trade ids that a restarted venue does not repeat, unless its id epoch is fixed', async () => {
    const ids = async (over: Partial<SimExchangeOptions>) => {
      const s = sim(over)
      const seen = recorder(s)
      const ack = await s.submit(market(BTC, 'buy', 0.01))
      return { order: ack.venueOrderId, trades: seen.flatMap((u) => (u.kind === 'fill' ? [u.tradeId] : [])) }
    }
    const before = await ids({ clock: manualClock(1_000) })
    const restarted = await ids({ clock: manualClock(61_000) })
    expect(before.trades.length).toBeGreaterThan(0)
    expect(restarted.order).not.toBe(before.order)
    expect(restarted.trades.filter((t) => before.trades.includes(t))).toEqual([])
    const pinned = await ids({ clock: manualClock(61_000), idEpoch: 'run1' })
    const pinnedAgain = await ids({ clock: manualClock(99_000), idEpoch: 'run1' })
    expect(pinnedAgain).toEqual(pinned)
    expect(() => sim({ idEpoch: 'a b' })).toThrow(/idEpoch/)
  })

  it('walks a different price path from a different seed', async () => {
    const a = await script(42)
    const b = await script(43)
    expect(b.tickers.map((t) => t.mid)).not.toEqual(a.tickers.map((t) => t.mid))
  })

  it('keeps the price path when faults are switched on', async () => {
    const plain = sim({ seed: 9, clock: manualClock(0) })
    const faulty = sim({ seed: 9, clock: manualClock(0), faults: { rejectRate: 0.5, rateLimit: { probability: 0.2 }, latency: { minMs: 0, maxMs: 0 } } })
    for (let i = 0; i < 50; i++) {
      await faulty.submit(market(BTC, 'buy', 0.001)).catch(() => undefined)
      expect(faulty.tick()).toEqual(plain.tick())
    }
  })
})

describe('SimExchange matching', () => {
  it('fills a market order at the touch, in partial fills that add up, and returns them with the ack', async () => {
    const s = sim()
    const updates = recorder(s)
    const { ask } = s.ticker(BTC)
    const ack = await s.submit(market(BTC, 'buy', 0.777))
    expect(ack.status).toBe('filled')
    expect(ack.filled).toBe(0.777)
    const fills = ack.fills!
    expect(fills.reduce((q, f) => q + f.qty, 0)).toBeCloseTo(0.777, 9)
    for (const f of fills) expect(f).toMatchObject({ price: ask, liquidity: 'taker', feeCurrency: 'USDT', clientOrderId: ack.clientOrderId })
    expect(fills[0]!.fee).toBeCloseTo((fills[0]!.qty * ask * 5) / 1e4, 9)
    expect(updates.filter((u) => u.kind === 'fill')).toEqual(fills.map((f) => ({ kind: 'fill', ...f })))
    expect(updates.at(-1)).toMatchObject({ kind: 'status', status: 'filled' })
    expect(await s.fetchPositions()).toEqual([{ symbol: BTC, qty: 0.777, entryPrice: ask }])
  })

  it('splits market fills differently across seeds but always into at most maxFillParts', async () => {
    const counts = new Set<number>()
    for (let seed = 0; seed < 20; seed++) {
      const s = sim({ seed, maxFillParts: 4 })
      const ack = await s.submit(market(BTC, 'sell', 1))
      expect(ack.fills!.length).toBeLessThanOrEqual(4)
      counts.add(ack.fills!.length)
    }
    expect(counts.size).toBeGreaterThan(1)
  })

  it('rests a limit order and fills it as a maker when the mid crosses its price', async () => {
    const s = sim()
    const updates = recorder(s)
    const ack = await s.submit(limit(BTC, 'buy', 1, 63000))
    expect(ack).toMatchObject({ status: 'open', filled: 0 })
    expect(ack.fills).toBeUndefined()
    s.setMid(BTC, 63500)
    expect(s.openOrderCount).toBe(1)
    for (let i = 0; i < 20 && s.openOrderCount > 0; i++) s.setMid(BTC, 62900)
    const order = await s.fetchOrder({ clientOrderId: ack.clientOrderId, symbol: BTC })
    expect(order).toMatchObject({ status: 'filled', filled: 1 })
    const fills = updates.filter((u) => u.kind === 'fill')
    for (const f of fills) expect(f).toMatchObject({ price: 63000, liquidity: 'maker' })
    expect(
      updates
        .filter((u) => u.kind === 'status')
        .map((u) => u.kind === 'status' && u.status)
        .at(-1),
    ).toBe('filled')
    expect(await s.fetchPositions()).toEqual([{ symbol: BTC, qty: 1, entryPrice: 63000 }])
  })

  it('fills resting orders on seeded ticks of the random walk', async () => {
    const s = sim({ symbols: [{ symbol: BTC, mid: 64000, amountStep: 0.001, priceStep: 0.1, volatilityBps: 20 }] })
    await s.submit(limit(BTC, 'buy', 0.1, 63990))
    await s.submit(limit(BTC, 'sell', 0.1, 64010))
    for (let i = 0; i < 2_000 && s.openOrderCount > 0; i++) s.tick()
    expect(s.openOrderCount).toBe(0)
  })

  it('expires an IOC that cannot take, and a FOK that cannot fill completely, without fills', async () => {
    const s = sim()
    const { mid, ask } = s.ticker(BTC)
    const ioc = await s.submit(limit(BTC, 'buy', 1, mid - 100, { timeInForce: 'IOC' }))
    expect(ioc).toMatchObject({ status: 'expired', filled: 0 })
    const fok = await s.submit(limit(BTC, 'buy', 1, mid, { timeInForce: 'FOK' }))
    expect(fok).toMatchObject({ status: 'expired', filled: 0 })
    const fokTaking = await s.submit(limit(BTC, 'buy', 1, ask, { timeInForce: 'FOK' }))
    expect(fokTaking).toMatchObject({ status: 'filled', filled: 1 })
    expect(s.openOrderCount).toBe(0)
  })

  it('an IOC at the mid takes a seeded part and expires the rest', async () => {
    const outcomes = new Set<string>()
    for (let seed = 0; seed < 10; seed++) {
      const s = sim({ seed })
      const ack = await s.submit(limit(BTC, 'sell', 1, s.ticker(BTC).mid, { timeInForce: 'IOC' }))
      expect(ack.filled).toBeLessThanOrEqual(1)
      expect(ack.status).toBe(ack.filled === 1 ? 'filled' : 'expired')
      expect((await s.fetchPositions())[0]?.qty ?? 0).toBeCloseTo(-ack.filled, 9)
      outcomes.add(ack.filled > 0 && ack.filled < 1 ? 'partial' : 'other')
    }
    expect(outcomes).toContain('partial')
  })

  it('expires a post-only order that would take, and rests one that would not', async () => {
    const s = sim()
    const { ask, bid } = s.ticker(BTC)
    expect(await s.submit(limit(BTC, 'buy', 1, ask, { timeInForce: 'PO' }))).toMatchObject({ status: 'expired', filled: 0 })
    expect(await s.submit(limit(BTC, 'buy', 1, bid, { timeInForce: 'PO' }))).toMatchObject({ status: 'open', filled: 0 })
  })

  it('trims a reduce-only order to the position it closes, so it never flips it', async () => {
    const s = sim()
    await s.submit(market(BTC, 'buy', 0.3))
    const ack = await s.submit(market(BTC, 'sell', 1, { reduceOnly: true }))
    expect(ack).toMatchObject({ status: 'filled', filled: 0.3 })
    expect(await s.fetchPositions()).toEqual([])
    const e = await venueError(s.submit(market(BTC, 'sell', 0.1, { reduceOnly: true })))
    expect(e.kind).toBe('rejected')
    expect(e.message).toMatch(/reduce-only/)
  })

  it('cancels a resting reduce-only order instead of filling it once the position is gone', async () => {
    const s = sim()
    const updates = recorder(s)
    await s.submit(market(BTC, 'sell', 0.2))
    const ro = await s.submit(limit(BTC, 'buy', 0.2, 60000, { reduceOnly: true }))
    await s.submit(market(BTC, 'buy', 0.2))
    s.setMid(BTC, 59000)
    expect(await s.fetchPositions()).toEqual([])
    expect(updates.filter((u) => u.clientOrderId === ro.clientOrderId).at(-1)).toMatchObject({ kind: 'status', status: 'canceled' })
  })

  it('books realized P&L and fees into the quote balance in derivatives mode', async () => {
    const s = sim({ fees: { makerBps: 0, takerBps: 0 } })
    await s.submit(limit(BTC, 'buy', 1, 63000))
    s.setMid(BTC, 62000)
    while (s.openOrderCount > 0) s.setMid(BTC, 62000)
    await s.submit(limit(BTC, 'sell', 1, 64000))
    while (s.openOrderCount > 0) s.setMid(BTC, 65000)
    const usdt = (await s.fetchBalances()).find((b) => b.asset === 'USDT')!
    expect(usdt.total).toBeCloseTo(1_000_000 + 1000, 6)
  })

  it('holds spot funds for resting orders as used and gives them back on cancel', async () => {
    const s = sim({ mode: 'spot', symbols: [{ symbol: 'BTC/USDT', mid: 64000, amountStep: 0.0001, priceStep: 0.01 }], balances: { USDT: 100_000, BTC: 1 } })
    const o = await s.submit(limit('BTC/USDT', 'buy', 1, 50000))
    const held = () => s.fetchBalances().then((bs) => Object.fromEntries(bs.map((b) => [b.asset, b])))
    expect((await held()).USDT).toMatchObject({ free: 50_000, used: 50_000, total: 100_000 })
    await s.cancel({ clientOrderId: o.clientOrderId, symbol: 'BTC/USDT' })
    expect((await held()).USDT).toMatchObject({ free: 100_000, used: 0 })
    await s.submit(market('BTC/USDT', 'sell', 0.5))
    const after = await held()
    expect(after.BTC!.total).toBeCloseTo(0.5, 9)
    expect(after.USDT!.total).toBeGreaterThan(100_000)
    const e = await venueError(s.submit(market('BTC/USDT', 'sell', 2)))
    expect(e.kind).toBe('rejected')
    expect(await venueError(s.submit(market('BTC/USDT', 'sell', 0.1, { reduceOnly: true })))).toMatchObject({ kind: 'rejected' })
  })

  it('refuses a duplicate client order id, so a resent order is never doubled', async () => {
    const s = sim()
    const o = limit(BTC, 'buy', 1, 60000)
    await s.submit(o)
    expect((await venueError(s.submit(o))).kind).toBe('rejected')
    expect(s.openOrderCount).toBe(1)
  })
})

describe('SimExchange cancel-all', () => {
  async function book(s: SimExchange): Promise<string[]> {
    const ours = []
    for (let i = 0; i < 3; i++) ours.push((await s.submit(limit(BTC, 'buy', 0.01, 60000 - i))).clientOrderId)
    ours.push((await s.submit(limit(ETH, 'sell', 0.1, 4000))).clientOrderId)
    s.placeForeignOrder({ symbol: BTC, side: 'sell', qty: 0.01, price: 70000 })
    s.placeForeignOrder({ symbol: ETH, side: 'buy', qty: 0.1, price: 2000, clientOrderId: 'manual-1' })
    return ours
  }

  it('own scope cancels only haltd-tagged orders, in batches where the venue has them', async () => {
    const s = sim()
    const ours = await book(s)
    const r = await s.cancelAll({ scope: 'own' })
    expect(r).toEqual({ scope: 'own', method: 'batched', canceled: ours, failed: [] })
    expect((await s.fetchOpenOrders()).map((o) => o.clientOrderId).sort()).toEqual(['manual-1', expect.stringMatching(/^web_\w+_1$/)])
  })

  it('account scope uses the per-symbol mass cancel and takes foreign orders too', async () => {
    const s = sim()
    await book(s)
    const r = await s.cancelAll({ scope: 'account', symbols: [ETH] })
    expect(r.method).toBe('mass-cancel')
    expect(r.canceled).toHaveLength(2)
    expect((await s.fetchOpenOrders()).every((o) => o.symbol === BTC)).toBe(true)
  })

  it('an account-wide mass cancel is not used for a symbol subset while other symbols have orders', async () => {
    const s = sim({ capabilities: { massCancel: 'account' } })
    await book(s)
    expect((await s.cancelAll({ scope: 'account', symbols: [BTC] })).method).toBe('batched')
    expect((await s.cancelAll({ scope: 'account' })).method).toBe('mass-cancel')
    expect(s.openOrderCount).toBe(0)
  })

  it('falls back to one cancel per order where the venue has neither mass nor batch cancel', async () => {
    const s = sim({ capabilities: { massCancel: 'none', batchCancel: 0 } })
    await book(s)
    const r = await s.cancelAll({ scope: 'account' })
    expect(r.method).toBe('per-order')
    expect(r.canceled).toHaveLength(6)
  })

  it('cancels 10,000 own orders in one call and leaves foreign ones', async () => {
    const s = sim()
    for (let i = 0; i < 10_000; i++) await s.submit(limit(i % 2 ? BTC : ETH, 'buy', i % 2 ? 0.001 : 0.01, i % 2 ? 50000 : 2000))
    s.placeForeignOrder({ symbol: BTC, side: 'buy', qty: 0.001, price: 50000 })
    const r = await s.cancelAll({ scope: 'own' })
    expect(r.canceled).toHaveLength(10_000)
    expect(s.openOrderCount).toBe(1)
  })

  it('rejects a cancel-all naming a symbol the venue does not list', async () => {
    expect((await venueError(sim().cancelAll({ scope: 'own', symbols: ['DOGE/XYZ'] }))).kind).toBe('rejected')
  })
})

describe('SimExchange faults', () => {
  it('answers after the configured latency and counts the call as pending meanwhile', async () => {
    const s = sim({ faults: { latency: { minMs: 5, maxMs: 15 } } })
    const p = s.fetchMarkets()
    expect(s.pendingCalls).toBe(1)
    expect((await p).map((m) => m.symbol)).toEqual([BTC, ETH])
    expect(s.pendingCalls).toBe(0)
  })

  it('samples latency from percentile points and per method', async () => {
    const s = sim({
      faults: {
        latency: 0,
        latencyByMethod: {
          submit: {
            percentiles: [
              [0.5, 1],
              [1, 3],
            ],
          },
        },
      },
    })
    const slow = s.submit(market(BTC, 'buy', 0.001))
    const fast = s.fetchMarkets()
    expect(s.pendingCalls).toBe(1)
    await Promise.all([slow, fast])
  })

  it('refuses fault settings it cannot use, naming the field', () => {
    expect(() => sim({ faults: { latency: { minMs: 10, maxMs: 1 } } })).toThrow(InvalidSimConfig)
    const s = sim()
    expect(() => s.faults.set({ rejectRate: 2 })).toThrow(/faults\.rejectRate/)
    expect(() => s.faults.set({ hang: ['sbumit' as 'submit'] })).toThrow(/faults\.hang/)
    expect(() => sim({ symbols: [{ symbol: 'BTCUSDT', mid: 1, amountStep: 1, priceStep: 1 }] })).toThrow(/symbols\.0\.symbol/)
  })

  it('rejects submits at the configured rate, and nothing reaches the book', async () => {
    const s = sim({ faults: { rejectRate: 1 } })
    const o = market(BTC, 'buy', 0.001)
    expect((await venueError(s.submit(o))).kind).toBe('rejected')
    expect(await s.fetchOrder({ clientOrderId: o.clientOrderId, symbol: BTC })).toBeUndefined()
    s.faults.set({ rejectRate: undefined })
    expect((await s.submit(o)).status).toBe('filled')
  })

  it('answers 429 at random with kind rate-limit', async () => {
    const s = sim({ faults: { rateLimit: { probability: 1 } } })
    const e = await venueError(s.fetchOpenOrders())
    expect(e).toMatchObject({ kind: 'rate-limit', venueCode: '429' })
    expect(e.transient).toBe(true)
  })

  it('answers 429 when order calls outrun the token bucket, and recovers as the clock moves', async () => {
    const clock = manualClock(0)
    const s = sim({ clock, faults: { rateLimit: { ordersPerSecond: 2, burst: 2 } } })
    await s.submit(limit(BTC, 'buy', 0.001, 60000))
    await s.submit(limit(BTC, 'buy', 0.001, 60000))
    expect((await venueError(s.submit(limit(BTC, 'buy', 0.001, 60000)))).kind).toBe('rate-limit')
    expect(await s.fetchOpenOrders()).toHaveLength(2)
    clock.advance(500)
    await s.submit(limit(BTC, 'buy', 0.001, 60000))
    expect(s.openOrderCount).toBe(3)
  })

  it('a hung call costs only its caller its own timeout; other calls answer meanwhile; close() releases it', async () => {
    const s = sim({ faults: { hang: ['cancel'] } })
    const o = await s.submit(limit(BTC, 'buy', 0.001, 60000))
    const hung = s.cancel({ clientOrderId: o.clientOrderId, symbol: BTC })
    await expect(pTimeout(hung, { milliseconds: 20 })).rejects.toBeInstanceOf(TimeoutError)
    expect(await s.fetchOpenOrders()).toHaveLength(1)
    expect(s.pendingCalls).toBe(1)
    await s.close()
    expect(s.pendingCalls).toBe(0)
    expect((await venueError(hung)).kind).toBe('network')
  })

  it('hangs every call when hang is true, until the fault is lifted for new calls', async () => {
    const s = sim()
    s.faults.set({ hang: true })
    const calls: Promise<unknown>[] = [s.fetchBalances(), s.fetchPositions(), s.armDeadMansSwitch(1000)]
    for (const c of calls) await expect(pTimeout(c, { milliseconds: 10 })).rejects.toBeInstanceOf(TimeoutError)
    s.faults.clear()
    expect(await s.fetchPositions()).toEqual([])
    expect(s.pendingCalls).toBe(3)
  })

  it('fails calls with kind network while disconnected, loses pushed updates, and recovers on reconnect', async () => {
    const s = sim()
    const updates = recorder(s)
    const o = await s.submit(limit(BTC, 'buy', 1, 63000))
    s.disconnect()
    for (const call of [s.fetchOpenOrders(), s.connect(), s.submit(market(BTC, 'buy', 0.001))]) {
      expect((await venueError(call)).kind).toBe('network')
    }
    const seenBefore = updates.length
    while (s.openOrderCount > 0) s.setMid(BTC, 62000)
    expect(updates).toHaveLength(seenBefore)
    expect(s.droppedUpdates).toBeGreaterThan(0)
    s.reconnect()
    await s.connect()
    expect(await s.fetchOrder({ clientOrderId: o.clientOrderId, symbol: BTC })).toMatchObject({ status: 'filled', filled: 1 })
  })

  it('fails an in-flight call whose connection drops before it answers', async () => {
    const s = sim({ faults: { latency: 5 } })
    const call = s.fetchBalances()
    s.disconnect()
    expect((await venueError(call)).kind).toBe('network')
  })

  it('a submit whose answer is lost rejects with timeout, yet the venue has the order and fetchOrder finds it', async () => {
    const s = sim({ faults: { loseResponse: 1 } })
    const updates = recorder(s)
    const o = limit(BTC, 'buy', 0.5, 60000)
    const e = await venueError(s.submit(o))
    expect(e.kind).toBe('timeout')
    expect(e.transient).toBe(true)
    expect(await s.fetchOrder({ clientOrderId: o.clientOrderId, symbol: BTC })).toMatchObject({ clientOrderId: o.clientOrderId, status: 'open', qty: 0.5 })
    expect(updates).toContainEqual(expect.objectContaining({ kind: 'status', clientOrderId: o.clientOrderId, status: 'open' }))
    s.faults.clear()
    expect((await venueError(s.submit(o))).kind).toBe('rejected')
  })

  it('a fill that races a cancel wins: the fill is emitted and the cancel answers not-found', async () => {
    const s = sim({ faults: { fillRacesCancel: 1 } })
    const updates = recorder(s)
    const o = await s.submit(limit(BTC, 'buy', 0.5, 60000))
    expect(await s.cancel({ clientOrderId: o.clientOrderId, symbol: BTC })).toEqual({ clientOrderId: o.clientOrderId, outcome: 'not-found' })
    expect(updates).toContainEqual(expect.objectContaining({ kind: 'fill', clientOrderId: o.clientOrderId, qty: 0.5, price: 60000 }))
    expect(await s.fetchOrder({ clientOrderId: o.clientOrderId, symbol: BTC })).toMatchObject({ status: 'filled', filled: 0.5 })
    expect(await s.fetchPositions()).toEqual([{ symbol: BTC, qty: 0.5, entryPrice: 60000 }])
  })

  it('reports orders that filled before a cancel-all reached them as failed, not canceled', async () => {
    const s = sim({ faults: { fillRacesCancel: 0.5 } })
    for (let i = 0; i < 20; i++) await s.submit(limit(BTC, 'buy', 0.001, 60000))
    const r = await s.cancelAll({ scope: 'own' })
    expect(r.canceled.length + r.failed.length).toBe(20)
    expect(r.failed.length).toBeGreaterThan(0)
    for (const f of r.failed) expect((await s.fetchOrder({ clientOrderId: f.id, symbol: BTC }))?.status).toBe('filled')
    for (const c of r.canceled) expect((await s.fetchOrder({ clientOrderId: c, symbol: BTC }))?.status).toBe('canceled')
  })
})

describe('SimExchange dead man switch', () => {
  it('cancels every open order, foreign ones too, when the countdown expires', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const s = sim()
    const updates = recorder(s)
    await s.submit(limit(BTC, 'buy', 0.001, 60000))
    await s.submit(limit(ETH, 'sell', 0.01, 4000))
    s.placeForeignOrder({ symbol: BTC, side: 'sell', qty: 0.001, price: 70000 })
    expect(await s.armDeadMansSwitch(10_000)).toEqual({ armed: true, method: 'countdown' })
    vi.advanceTimersByTime(9_999)
    expect(s.openOrderCount).toBe(3)
    vi.advanceTimersByTime(1)
    expect(s.openOrderCount).toBe(0)
    expect(updates.filter((u) => u.kind === 'status' && u.status === 'canceled' && u.reason === 'dead man switch')).toHaveLength(3)
    expect(s.deadMansSwitchArmed).toBe(false)
  })

  it('re-arming pushes the deadline out, and disarming stops it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const s = sim()
    await s.submit(limit(BTC, 'buy', 0.001, 60000))
    await s.armDeadMansSwitch(1_000)
    vi.advanceTimersByTime(800)
    await s.armDeadMansSwitch(1_000)
    vi.advanceTimersByTime(800)
    expect(s.openOrderCount).toBe(1)
    await s.disarmDeadMansSwitch()
    vi.advanceTimersByTime(10_000)
    expect(s.openOrderCount).toBe(1)
  })

  it('cancel-on-disconnect venues cancel everything when the connection drops', async () => {
    const s = sim({ capabilities: { deadMansSwitch: 'cancel-on-disconnect' } })
    await s.submit(limit(BTC, 'buy', 0.001, 60000))
    expect(await s.armDeadMansSwitch(5_000)).toEqual({ armed: true, method: 'cancel-on-disconnect' })
    s.disconnect()
    expect(s.openOrderCount).toBe(0)
  })

  it('answers armed false where the venue has none', async () => {
    const s = sim({ capabilities: { deadMansSwitch: 'none' } })
    expect(await s.armDeadMansSwitch(5_000)).toEqual({ armed: false })
    expect(s.deadMansSwitchArmed).toBe(false)
  })
})

describe('SimExchange feed and lifecycle', () => {
  it('startFeed ticks on a timer and stopFeed stops it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const s = sim()
    const seen: Ticker[] = []
    s.onTicker((t) => seen.push(t))
    s.startFeed(100)
    vi.advanceTimersByTime(1_000)
    expect(seen).toHaveLength(20)
    for (const t of seen) expect(t.bid).toBeLessThan(t.ask)
    s.stopFeed()
    vi.advanceTimersByTime(1_000)
    expect(seen).toHaveLength(20)
  })

  it('close() leaves no timers and no pending calls, and later calls fail with kind network', async () => {
    const before = activeTimeouts()
    const s = sim({ faults: { latencyByMethod: { fetchBalances: 60_000 }, hang: ['cancel'] } })
    s.startFeed(1_000)
    await s.armDeadMansSwitch(60_000)
    const slow = s.fetchBalances()
    const hung = s.cancel({ clientOrderId: 'hd-x', symbol: BTC })
    expect(activeTimeouts()).toBe(before + 3)
    expect(s.pendingCalls).toBe(2)
    await s.close()
    expect(activeTimeouts()).toBe(before)
    expect(s.pendingCalls).toBe(0)
    expect((await venueError(slow)).kind).toBe('network')
    expect((await venueError(hung)).kind).toBe('network')
    expect((await venueError(s.fetchMarkets())).kind).toBe('network')
    await s.close()
  })

  it('refuses a spot venue that claims positions', () => {
    expect(() => sim({ mode: 'spot', capabilities: { positions: true } })).toThrow(/capabilities\.positions/)
  })
})
