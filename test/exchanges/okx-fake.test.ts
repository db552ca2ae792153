import { AuthenticationError, BadRequest, InvalidNonce, OnMaintenance, OrderNotFound, RateLimitExceeded, type Exchange } from 'ccxt'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { fakeOkx, okxFaults, startFakeOkx, type FakeOkx, type FakeOkxOptions, type OkxClientOptions } from '../support/fake-okx/index.js'

// The fake OKX's rules, proven with the real ccxt.okx: what it accepts and refuses is what the
// gateway and the contract suite then meet.

const SPOT = 'BTC/USDT'
const SWAP = 'BTC/USDT:USDT'
const open: FakeOkx[] = []
afterEach(async () => {
  for (const v of open.splice(0)) await v.close()
})

async function given(client: OkxClientOptions = {}, venueOptions: FakeOkxOptions = {}): Promise<{ venue: FakeOkx; okx: Exchange }> {
  const venue = await startFakeOkx(venueOptions)
  open.push(venue)
  return { venue, okx: fakeOkx(venue, { enableRateLimit: false, ...client }) }
}

type Raw = { code: string; msg: string; data: Record<string, string>[] }
/** ccxt's implicit endpoint, for the venue's own answer rather than ccxt's reading of it. */
const raw = (okx: Exchange, method: string, body: unknown): Promise<Raw> => (okx as unknown as Record<string, (b: unknown) => Promise<Raw>>)[method]!(body)

const rejection = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p
  } catch (e) {
    return e as Error
  }
  throw new Error('expected a rejection')
}

describe('fake OKX, through the real ccxt.okx', { timeout: 20_000 }, () => {
  it('lists spot pairs and linear perpetuals to loadMarkets, currencies included, with nothing unrouted', async () => {
    const { venue, okx } = await given()
    const markets = await okx.loadMarkets()
    expect(markets[SPOT]).toMatchObject({ id: 'BTC-USDT', spot: true, precision: { amount: 0.001, price: 0.1 } })
    expect(markets[SWAP]).toMatchObject({ id: 'BTC-USDT-SWAP', swap: true, linear: true, contractSize: 0.01, precision: { amount: 0.1 } })
    expect(okx.currencies.USDT).toBeDefined()
    expect(venue.unrouted).toEqual([])
  })

  describe('signing', () => {
    it('refuses a wrong secret (50113) and a wrong passphrase (50105) as authentication errors', async () => {
      const { okx: badSecret } = await given({ secret: 'not-the-secret' })
      expect(await rejection(badSecret.fetchBalance())).toBeInstanceOf(AuthenticationError)
      const { okx: badPassphrase } = await given({ passphrase: 'not-the-passphrase' })
      const e = await rejection(badPassphrase.fetchBalance())
      expect(e).toBeInstanceOf(AuthenticationError)
      expect(e.message).toContain('50105')
    })

    it('refuses a timestamp more than 30 s off with 50102 (InvalidNonce), which a resync from /public/time mends', async () => {
      const { venue, okx } = await given()
      await okx.loadMarkets()
      venue.clockOffsetMs = 45_000
      const e = await rejection(okx.fetchBalance())
      expect(e).toBeInstanceOf(InvalidNonce)
      expect(e.message).toContain('50102')
      await okx.loadTimeDifference()
      expect((await okx.fetchBalance()).USDT).toBeDefined()
    })
  })

  describe('clOrdId', () => {
    it('refuses a client order id with a separator or over 32 characters (51000 "Parameter clOrdId error") and places nothing', async () => {
      const { venue, okx } = await given()
      await okx.loadMarkets()
      for (const clientOrderId of ['hd-abe607-1', 'a'.repeat(33), 'hd_abe607']) {
        const e = await rejection(okx.createOrder(SPOT, 'limit', 'buy', 0.01, 40_000, { clientOrderId }))
        expect(e).toBeInstanceOf(BadRequest)
        expect(e.message).toContain('Parameter clOrdId error')
      }
      expect(venue.openCount()).toBe(0)
    })

    it('accepts 1 to 32 letters and digits, finds the order by it, and refuses it again while the first is live (51016)', async () => {
      const { okx } = await given()
      await okx.loadMarkets()
      const placed = await okx.createOrder(SPOT, 'limit', 'buy', 0.01, 40_000, { clientOrderId: 'hdabe6071' })
      expect(placed.clientOrderId).toBe('hdabe6071')
      expect(await okx.fetchOrder('', SPOT, { clientOrderId: 'hdabe6071' })).toMatchObject({ id: placed.id, status: 'open', amount: 0.01, price: 40_000 })
      expect((await rejection(okx.createOrder(SPOT, 'limit', 'buy', 0.01, 40_000, { clientOrderId: 'hdabe6071' }))).message).toContain('51016')
    })

    it('records fields OKX does not define, which it ignores', async () => {
      const { venue, okx } = await given()
      await okx.loadMarkets()
      await okx.createOrder(SPOT, 'limit', 'buy', 0.01, 40_000, { clientOrderId: 'plain1', maxRetriesOnFailure: 0 })
      expect(venue.ignoredFields).toEqual(['maxRetriesOnFailure'])
      expect(venue.openCount()).toBe(1)
    })
  })

  describe('lookups', () => {
    it('answers an unknown order with 51603, which ccxt reads as OrderNotFound', async () => {
      const { okx } = await given()
      await okx.loadMarkets()
      const e = await rejection(okx.fetchOrder('123', SPOT))
      expect(e).toBeInstanceOf(OrderNotFound)
      expect(e.message).toContain('51603')
    })
  })

  describe('batch cancel', () => {
    it('answers each item with its own sCode, and code 2 when some failed', async () => {
      const { venue, okx } = await given()
      await okx.loadMarkets()
      const a = venue.rest({ instId: 'BTC-USDT', side: 'buy', sz: 0.01, px: 40_000, clOrdId: 'a1' })
      const b = venue.rest({ instId: 'BTC-USDT', side: 'buy', sz: 0.01, px: 40_001, clOrdId: 'b1' })
      venue.engine.fillResting('spot', 'b1')
      const answer = await raw(okx, 'privatePostTradeCancelBatchOrders', [
        { instId: 'BTC-USDT', ordId: a },
        { instId: 'BTC-USDT', ordId: b },
        { instId: 'BTC-USDT', ordId: '42' },
      ])
      expect(answer.code).toBe('2')
      expect(answer.data.map((d) => [d.ordId, d.sCode])).toEqual([
        [a, '0'],
        [b, '51402'],
        ['42', '51400'],
      ])
      // a single cancel that fails answers code 1 with the item's own sCode
      const again = await rejection(okx.cancelOrder(a, SPOT))
      expect(again).toBeInstanceOf(OrderNotFound)
      expect(again.message).toMatch(/"code":"1".*"sCode":"51401"/)
    })

    it("leaves ccxt's cancelOrders with only the items that succeeded, and makes it throw OrderNotFound when every item failed", async () => {
      const { venue, okx } = await given()
      await okx.loadMarkets()
      const a = venue.rest({ instId: 'BTC-USDT', side: 'buy', sz: 0.01, px: 40_000 })
      const c = venue.rest({ instId: 'BTC-USDT', side: 'buy', sz: 0.01, px: 40_002 })
      const answers = await okx.cancelOrders([a, '42', c], SPOT)
      // the failed item is dropped: answers cannot be matched to requests by position
      expect(answers.map((o) => o.id)).toEqual([a, c])
      expect(await rejection(okx.cancelOrders(['42', '43'], SPOT))).toBeInstanceOf(OrderNotFound)
    })

    it('refuses more than 20 items in one request', async () => {
      const { okx } = await given()
      await okx.loadMarkets()
      const ids = Array.from({ length: 21 }, (_, i) => String(i + 1))
      expect(await rejection(okx.cancelOrders(ids, SPOT))).toBeInstanceOf(BadRequest)
    })
  })

  describe('paging open orders', () => {
    it('answers at most 100 a page, newest first, and the next page after the last ordId; ccxt alone reads only the first', async () => {
      const { venue, okx } = await given()
      await okx.loadMarkets()
      const ids = Array.from({ length: 250 }, (_, i) => venue.rest({ instId: 'BTC-USDT', side: 'buy', sz: 0.001, px: 30_000 + i }))
      const first = await okx.fetchOpenOrders(SPOT)
      expect(first).toHaveLength(100)
      const seen = new Set<string>()
      let after: string | undefined
      for (;;) {
        const page = await okx.fetchOpenOrders(SPOT, undefined, undefined, after ? { after } : {})
        if (page.length === 0) break
        for (const o of page) seen.add(String(o.id))
        after = page.map((o) => String(o.id)).sort((x, y) => Number(x) - Number(y))[0]
      }
      expect([...seen].sort()).toEqual([...ids].sort())
      expect(await rejection(okx.fetchOpenOrders(SPOT, undefined, 101, { limit: 101 }))).toBeInstanceOf(BadRequest)
      // ccxt's own pagination pages by `until`, which orders-pending does not take
      expect(await okx.fetchOpenOrders(SPOT, undefined, undefined, { paginate: true })).toHaveLength(100)
    })
  })

  describe('perpetuals', () => {
    it('builds a net position from fills and closes it with a reduce-only order; a reduce-only order that would open one is refused', async () => {
      const { okx } = await given({ type: 'swap' })
      await okx.loadMarkets()
      await okx.createOrder(SWAP, 'market', 'buy', 2, undefined, { clientOrderId: 'open1' })
      const [pos] = await okx.fetchPositions([SWAP])
      expect(pos).toMatchObject({ symbol: SWAP, side: 'long', contracts: 2, entryPrice: 50_000, hedged: false })
      await okx.createOrder(SWAP, 'market', 'sell', 2, undefined, { clientOrderId: 'close1', reduceOnly: true })
      expect(await okx.fetchPositions([SWAP])).toEqual([])
      expect((await rejection(okx.createOrder(SWAP, 'market', 'sell', 1, undefined, { reduceOnly: true }))).message).toContain('51169')
      const trades = await okx.fetchMyTrades(SWAP)
      expect(trades.map((t) => [t.side, t.amount])).toEqual(
        expect.arrayContaining([
          ['buy', 2],
          ['sell', 2],
        ]),
      )
    })
  })

  describe("dead man's switch", () => {
    it('arms cancel-all-after for 10 to 120 s, disarms it with 0, and refuses anything else (51000)', async () => {
      const { venue, okx } = await given()
      await okx.loadMarkets()
      const before = Date.now()
      await okx.cancelAllOrdersAfter(60_000)
      expect(venue.deadMansSwitch()).toBeGreaterThanOrEqual(before + 60_000)
      for (const ms of [5_000, 121_000]) {
        const e = await rejection(okx.cancelAllOrdersAfter(ms))
        expect(e).toBeInstanceOf(BadRequest)
        expect(e.message).toContain('timeOut')
      }
      await okx.cancelAllOrdersAfter(0)
      expect(venue.deadMansSwitch()).toBeUndefined()
    })

    it('cancels every live order, spot and perpetual, when it runs out unrefreshed', async () => {
      // the venue's seconds last 20 ms here
      const { venue, okx } = await given({}, { switchSecondMs: 20 })
      await okx.loadMarkets()
      venue.rest({ instId: 'BTC-USDT', side: 'buy', sz: 0.01, px: 40_000 })
      venue.rest({ instId: 'ETH-USDT-SWAP', side: 'sell', sz: 1, px: 4_000 })
      await okx.cancelAllOrdersAfter(10_000)
      expect(venue.openCount()).toBe(2)
      await vi.waitFor(() => expect(venue.openCount()).toBe(0), { timeout: 2_000, interval: 20 })
      expect(venue.deadMansSwitch()).toBeUndefined()
      expect((await okx.fetchOpenOrders(SPOT)).length + (await okx.fetchOpenOrders('ETH/USDT:USDT')).length).toBe(0)
    })
  })

  describe('faults', () => {
    it('answers a rate-limited request with HTTP 429 and 50011, and maintenance with 503 and 50001', async () => {
      const { venue, okx } = await given()
      await okx.loadMarkets()
      venue.faults.inject('GET /api/v5/trade/orders-pending', okxFaults.rateLimited(), 1)
      expect(await rejection(okx.fetchOpenOrders(SPOT))).toBeInstanceOf(RateLimitExceeded)
      venue.faults.inject('GET /api/v5/trade/orders-pending', okxFaults.maintenance(), 1)
      expect(await rejection(okx.fetchOpenOrders(SPOT))).toBeInstanceOf(OnMaintenance)
      expect(await okx.fetchOpenOrders(SPOT)).toEqual([])
    })
  })

  it('reports a unified balance whose total is free plus what resting orders hold', async () => {
    const { okx } = await given()
    await okx.loadMarkets()
    await okx.createOrder(SPOT, 'limit', 'buy', 1, 40_000, { clientOrderId: 'hold1' })
    const balance = await okx.fetchBalance()
    expect(balance.USDT).toMatchObject({ used: 40_000 })
    expect(balance.USDT!.total).toBeCloseTo(balance.USDT!.free! + 40_000, 6)
  })
})
