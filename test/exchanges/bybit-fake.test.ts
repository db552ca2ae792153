import ccxt, { type Exchange } from 'ccxt'
import { afterEach, describe, expect, it } from 'vitest'
import { bybitFaults, fakeBybitClient, startFakeBybit, type BybitClientOptions, type FakeBybit } from '../support/fake-bybit/index.js'

// The fake Bybit's rules, proven through the real ccxt.bybit class talking HTTP to it.

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function rig(o: BybitClientOptions = {}): Promise<{ venue: FakeBybit; ex: Exchange }> {
  const venue = await startFakeBybit()
  cleanups.push(() => venue.close())
  // ccxt's own limiter off to keep the run short; the fake's limits are proven below
  const ex = fakeBybitClient(venue, { enableRateLimit: false, ...o })
  await ex.loadMarkets()
  return { venue, ex }
}

const PERP = 'BTC/USDT:USDT'
const ETH_PERP = 'ETH/USDT:USDT'
const SPOT = 'BTC/USDT'

async function rest(ex: Exchange, n: number, symbol = PERP, prefix = 'r'): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const o = await ex.createOrder(symbol, 'limit', 'buy', 0.001, 40_000 - i * 10, { clientOrderId: `${prefix}-${i}` })
    ids.push(String(o.id))
  }
  return ids
}

describe('fake Bybit v5 under ccxt.bybit', () => {
  it('loads spot and linear markets from instruments-info and asks whether the key is a unified account', async () => {
    const { venue, ex } = await rig({ options: { enableUnifiedAccount: undefined } })
    expect(ex.market(PERP)).toMatchObject({ id: 'BTCUSDT', swap: true, linear: true, settle: 'USDT', precision: { amount: 0.001, price: 0.1 } })
    expect(ex.market(SPOT)).toMatchObject({ id: 'BTCUSDT', spot: true, precision: { amount: 0.001, price: 0.1 } })
    await ex.createOrder(PERP, 'limit', 'buy', 0.001, 40_000, { clientOrderId: 'probe-1' })
    expect(venue.faults.hits('GET /v5/user/query-api')).toBe(1)
    expect(venue.faults.hits('GET /v5/account/info')).toBe(1)
    expect(venue.unrouted).toEqual([])
  })

  it('refuses a wrong signature (10004) and a stale timestamp (10002), which ccxt maps to AuthenticationError and InvalidNonce', async () => {
    const { venue, ex } = await rig()
    const forger = fakeBybitClient(venue, { secret: 'not-the-secret' })
    forger.setMarkets(Object.values(ex.markets ?? {}))
    forger.options.enableUnifiedAccount = true
    forger.options.enableUnifiedMargin = false
    await expect(forger.fetchOpenOrders(PERP)).rejects.toBeInstanceOf(ccxt.AuthenticationError)
    venue.clockOffsetMs = 60_000
    await expect(ex.fetchOpenOrders(PERP)).rejects.toBeInstanceOf(ccxt.InvalidNonce)
    await ex.loadTimeDifference()
    expect(await ex.fetchOpenOrders(PERP)).toEqual([])
  })

  it('accepts an orderLinkId of up to 36 letters, digits, - and _ and refuses anything else with 10001', async () => {
    const { venue, ex } = await rig()
    const ok = 'A_b-9'.padEnd(36, 'x')
    const placed = await ex.createOrder(PERP, 'limit', 'buy', 0.001, 40_000, { clientOrderId: ok })
    expect(placed.clientOrderId).toBe(ok)
    for (const bad of ['hd.abe607.1', 'hd:1', `${ok}y`, 'with space']) {
      await expect(ex.createOrder(PERP, 'limit', 'buy', 0.001, 40_000, { clientOrderId: bad })).rejects.toThrow(/10001/)
    }
    await expect(ex.createOrder(PERP, 'limit', 'buy', 0.001, 40_000, { clientOrderId: ok })).rejects.toBeInstanceOf(ccxt.InvalidOrder)
    expect(venue.account.open('linear')).toHaveLength(1)
  })

  it('answers open orders 20 to a page by default: ccxt returns the first page unless told to follow the cursor', async () => {
    const { ex } = await rig()
    await rest(ex, 25)
    expect(await ex.fetchOpenOrders(PERP)).toHaveLength(20)
    expect(await ex.fetchOpenOrders(PERP, undefined, 50)).toHaveLength(25)
    await expect(ex.fetchOpenOrders(PERP, undefined, 51)).rejects.toThrow(/10001/)
    const all = await ex.fetchOpenOrders(PERP, undefined, undefined, { paginate: true })
    expect(new Set(all.map((o) => o.clientOrderId)).size).toBe(25)
  })

  it('pages by keyset, so cancelling the first page does not hide the rest', async () => {
    const { ex } = await rig()
    await rest(ex, 30)
    const first = (await ex.privateGetV5OrderRealtime({ category: 'linear', symbol: 'BTCUSDT' })) as {
      result: { list: { orderId: string }[]; nextPageCursor: string }
    }
    expect(first.result.list).toHaveLength(20)
    await ex.cancelOrders(
      first.result.list.slice(0, 10).map((o) => o.orderId),
      PERP,
    )
    const second = (await ex.privateGetV5OrderRealtime({ category: 'linear', symbol: 'BTCUSDT', cursor: first.result.nextPageCursor })) as {
      result: { list: unknown[]; nextPageCursor: string }
    }
    expect(second.result.list).toHaveLength(10)
    expect(second.result.nextPageCursor).toBe('')
  })

  it('answers an unknown order with 110001 on linear and 170213 on spot, both OrderNotFound', async () => {
    const linear = await rig()
    await expect(linear.ex.cancelOrder('f0000000-0000-4000-8000-000000000001', PERP)).rejects.toBeInstanceOf(ccxt.OrderNotFound)
    await expect(linear.ex.cancelOrder('f0000000-0000-4000-8000-000000000001', PERP)).rejects.toThrow(/110001/)
    const spot = await rig({ category: 'spot' })
    await expect(spot.ex.cancelOrder('1900000000000000001', SPOT)).rejects.toThrow(/170213/)
  })

  it('answers a batch cancel per item: a failed item still carries its id, and only retExtInfo says 110001', async () => {
    const { venue, ex } = await rig()
    const [live, gone] = await rest(ex, 2)
    await ex.cancelOrder(gone!, PERP)
    const raw = (await ex.privatePostV5OrderCancelBatch({
      category: 'linear',
      request: [
        { symbol: 'BTCUSDT', orderId: live },
        { symbol: 'BTCUSDT', orderId: gone },
      ],
    })) as { result: { list: { orderId: string }[] }; retExtInfo: { list: { code: number }[] } }
    expect(raw.result.list.map((i) => i.orderId)).toEqual([live, gone])
    expect(raw.retExtInfo.list.map((i) => i.code)).toEqual([0, 110001])
    // ccxt keeps result.list only: the failed item reads as an order with an id and no status
    const [another] = await rest(ex, 1, PERP, 'again')
    const parsed = await ex.cancelOrders([another!, gone!], PERP)
    expect(parsed.map((o) => [o.id, o.status])).toEqual([
      [another, undefined],
      [gone, undefined],
    ])
    expect(venue.account.open('linear')).toEqual([])
    const tooMany = Array.from({ length: 21 }, () => ({ symbol: 'BTCUSDT', orderId: gone }))
    await expect(ex.privatePostV5OrderCancelBatch({ category: 'linear', request: tooMany })).rejects.toThrow(/10001/)
  })

  it('cancels all linear orders of the settle coin when no symbol is given, and lists what it cancelled', async () => {
    const { venue, ex } = await rig()
    await rest(ex, 3)
    await ex.createOrder(ETH_PERP, 'limit', 'sell', 0.01, 4_000, { clientOrderId: 'eth-1' })
    const canceled = await ex.cancelAllOrders()
    expect(canceled.map((o) => o.clientOrderId).sort()).toEqual(['eth-1', 'r-0', 'r-1', 'r-2'])
    expect(venue.account.open('linear')).toEqual([])
    expect(await ex.cancelAllOrders(PERP)).toEqual([])
  })

  it('arms DCP for a window of 3 to 300 seconds and refuses anything else, disarming included', async () => {
    const { venue, ex } = await rig()
    await ex.cancelAllOrdersAfter(10_000)
    expect(venue.account.dcp.get('DERIVATIVES')).toBe(10)
    for (const ms of [0, 2_000, 301_000]) await expect(ex.cancelAllOrdersAfter(ms)).rejects.toThrow(/10001/)
    await rest(ex, 2)
    expect(venue.account.fireDcp()).toHaveLength(2)
  })

  it('refuses fetchPositions with more than one symbol inside ccxt, before any request; without symbols it lists positions from fills', async () => {
    const { venue, ex } = await rig()
    await expect(ex.fetchPositions([PERP, ETH_PERP])).rejects.toBeInstanceOf(ccxt.ArgumentsRequired)
    expect(venue.faults.hits('GET /v5/position/list')).toBe(0)
    await ex.createOrder(PERP, 'market', 'buy', 0.01, undefined, { clientOrderId: 'open-1' })
    await ex.createOrder(ETH_PERP, 'market', 'sell', 0.1, undefined, { clientOrderId: 'open-2' })
    const positions = await ex.fetchPositions()
    expect(positions.map((p) => [p.symbol, p.side, p.contracts]).sort()).toEqual([
      [PERP, 'long', 0.01],
      [ETH_PERP, 'short', 0.1],
    ])
    const trades = await ex.fetchMyTrades(PERP)
    expect(trades.map((t) => [t.side, t.amount, t.price])).toEqual([['buy', 0.01, 50_000]])
  })

  it('fills spot market orders, counts balances in the unified wallet, and follows a reduce-only order on linear', async () => {
    const spot = await rig({ category: 'spot' })
    await spot.ex.createOrder(SPOT, 'market', 'buy', 0.01, undefined, { clientOrderId: 'spot-mkt' })
    const balance = await spot.ex.fetchBalance()
    expect(balance.BTC?.total).toBeCloseTo(10.01, 8)
    expect(balance.USDT?.free).toBeGreaterThan(0)
    const linear = await rig()
    await expect(linear.ex.createOrder(PERP, 'market', 'sell', 0.01, undefined, { reduceOnly: true, clientOrderId: 'ro-1' })).rejects.toThrow(/110017/)
  })

  it('tells rate limits apart: 10006 with the reset time on HTTP 200, 403 for the IP; maintenance is a 503', async () => {
    const { venue, ex } = await rig()
    venue.faults.inject('POST /v5/order/cancel', bybitFaults.rateLimited(), 1)
    await expect(ex.cancelOrder('f0000000-0000-4000-8000-000000000001', PERP)).rejects.toBeInstanceOf(ccxt.RateLimitExceeded)
    expect(ex.last_response_headers?.['X-Bapi-Limit-Reset-Timestamp'] ?? ex.last_response_headers?.['x-bapi-limit-reset-timestamp']).toMatch(/^\d+$/)
    venue.faults.inject('GET /v5/order/realtime', bybitFaults.ipRateLimited(), 1)
    await expect(ex.fetchOpenOrders(PERP)).rejects.toBeInstanceOf(ccxt.RateLimitExceeded)
    venue.faults.inject('GET /v5/order/realtime', bybitFaults.maintenance(), 1)
    await expect(ex.fetchOpenOrders(PERP)).rejects.toBeInstanceOf(ccxt.ExchangeNotAvailable)
  })

  it('answers 10006 by itself once a route passes its configured requests per second', async () => {
    const venue = await startFakeBybit({ rateLimits: { 'GET /v5/order/realtime': 1 } })
    cleanups.push(() => venue.close())
    const ex = fakeBybitClient(venue, { enableRateLimit: false })
    await ex.loadMarkets()
    // ten at once: unless they spread over ten seconds, two land in one second
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => ex.fetchOpenOrders(PERP)))
    const limited = results.filter((r) => r.status === 'rejected' && r.reason instanceof ccxt.RateLimitExceeded)
    expect(limited.length).toBeGreaterThanOrEqual(1)
  })

  it('lists body fields Bybit does not define for the route', async () => {
    const { venue, ex } = await rig()
    await ex.createOrder(PERP, 'limit', 'buy', 0.001, 40_000, { clientOrderId: 'f-1', engineNote: 'mine' })
    expect(venue.unknownFields).toEqual(['POST /v5/order/create engineNote'])
  })

  it('keeps closed orders out of the open list and answers them from order history, by orderLinkId too', async () => {
    const { ex } = await rig()
    const [id] = await rest(ex, 1)
    await ex.cancelOrder(id!, PERP)
    await expect(ex.fetchOrder(id!, PERP, { acknowledged: true })).rejects.toBeInstanceOf(ccxt.OrderNotFound)
    const closed = await ex.fetchCanceledAndClosedOrders(undefined, undefined, undefined, { orderLinkId: 'r-0' })
    expect(closed.map((o) => [o.id, o.status])).toEqual([[id, 'canceled']])
  })
})
