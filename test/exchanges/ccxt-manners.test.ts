import { afterEach, describe, expect, it, vi } from 'vitest'
import { CcxtGateway, type CcxtGatewayOptions } from '../../src/exchanges/ccxt/gateway.js'
import { VenueError } from '../../src/exchanges/errors.js'
import { backoffGateOf } from '../../src/exchanges/ccxt/call-runner.js'
import { ccxtTickerSource } from '../../src/exchanges/ccxt/ticker-source.js'
import { faults, fakeBinanceUsdm, startFakeBinance, type FakeBinance } from '../support/fake-binance/index.js'
import ccxt, { type Exchange } from 'ccxt'
import { ccxtChain, isDefiniteRefusal, isRateLimited, toVenueError } from '../../src/exchanges/ccxt/errors.js'
import { MAX_NAMED_WAIT_MS, noteRateLimitAnswers, parseRetryAfter, retryAfterOf } from '../../src/exchanges/ccxt/rate-limit-answers.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const BTC = 'BTC/USDT:USDT'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type Rig = { venue: FakeBinance; gateway: CcxtGateway; exchange: Exchange; shutdownExchange: Exchange | undefined }

async function rig(options: Partial<CcxtGatewayOptions> & { separateShutdown?: boolean } = {}): Promise<Rig> {
  const venue = await startFakeBinance()
  const exchange = await fakeBinanceUsdm(venue)
  const shutdownExchange = options.separateShutdown ? await fakeBinanceUsdm(venue) : undefined
  const gateway = new CcxtGateway({ venue: 'binanceusdm', exchange, shutdownExchange, symbols: [BTC], retry: { attempts: 3, baseDelayMs: 10 }, ...options })
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  return { venue, gateway, exchange, shutdownExchange }
}

const order = (clientOrderId: string) => ({ clientOrderId, symbol: BTC, side: 'buy' as const, type: 'limit' as const, qty: 0.01, price: 40_000 })

async function failure(p: Promise<unknown>): Promise<VenueError> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(VenueError)
    return e as VenueError
  }
  throw new Error('expected a VenueError, but the call resolved')
}

describe('a venue that answers "too many requests" is given the time it asks for', { timeout: 20_000 }, () => {
  it('given a cancel that keeps answering 429, when the shutdown asks again and again for 4 s, then the venue sees at most 4 cancels', async () => {
    const { gateway, venue } = await rig({ retry: { attempts: 3, baseDelayMs: 10 } })
    await gateway.submit(order('hd-429-loop'))
    venue.faults.inject('DELETE /fapi/v1/order', faults.rateLimited())
    const until = Date.now() + 4_000
    const outcomes: string[] = []
    while (Date.now() < until) {
      const r = await gateway
        .cancel({ clientOrderId: 'hd-429-loop', symbol: BTC }, { signal: AbortSignal.timeout(Math.max(1, until - Date.now())) })
        .catch((e: VenueError) => e.kind)
      outcomes.push(typeof r === 'string' ? r : r.outcome)
    }
    // 1 s, then doubling: sent at about 0, 1 and 3 s (asked without a pause, it would have gone hundreds of times)
    expect(venue.faults.hits('DELETE /fapi/v1/order')).toBeGreaterThanOrEqual(2)
    expect(venue.faults.hits('DELETE /fapi/v1/order')).toBeLessThanOrEqual(4)
    expect(new Set(outcomes)).toEqual(new Set(['rate-limit']))
  })

  it('given a 429 with Retry-After on a cancel, the other calls to the venue wait too, and everything goes once the venue takes requests again', async () => {
    const { gateway, venue } = await rig()
    await gateway.submit(order('hd-ra'))
    venue.faults.inject('DELETE /fapi/v1/order', faults.rateLimited({ retryAfterS: 2 }), 1)
    const cancel = gateway.cancel({ clientOrderId: 'hd-ra', symbol: BTC })
    await vi.waitFor(() => expect(venue.faults.hits('DELETE /fapi/v1/order')).toBe(1), { interval: 5 })
    await sleep(200) // the 429 is on its way back
    const read = gateway.fetchOpenOrders()
    await sleep(500)
    // held at the gate, never sent
    expect(venue.faults.hits('GET /fapi/v1/openOrders')).toBe(0)
    expect(venue.faults.hits('DELETE /fapi/v1/order')).toBe(1)
    expect(await cancel).toEqual({ clientOrderId: 'hd-ra', outcome: 'canceled' })
    expect(await read).toEqual([])
    expect(venue.faults.hits('DELETE /fapi/v1/order')).toBe(2)
    expect(venue.faults.hits('GET /fapi/v1/openOrders')).toBe(1)
  })

  it('when the venue takes requests again, the shutdown’s calls go before the engine’s that waited longer', async () => {
    const { gateway, venue } = await rig({ separateShutdown: true })
    await gateway.submit(order('hd-first'))
    venue.faults.inject('GET /fapi/v3/account', faults.rateLimited({ retryAfterS: 1 }), 1)
    const engineRead = gateway.fetchBalances()
    await vi.waitFor(() => expect(venue.faults.hits('GET /fapi/v3/account')).toBe(1), { interval: 5 })
    await sleep(200) // the 429 is on its way back
    const engineReads = [engineRead, gateway.fetchPositions()]
    const emergency = gateway.cancelAll({ scope: 'account' })
    await sleep(100)
    const before = venue.faults.arrivals.length
    expect(await emergency).toMatchObject({ method: 'mass-cancel', canceled: ['hd-first'], failed: [] })
    await Promise.all(engineReads)
    // the emergency's listing probed the venue first; the engine's reads followed once it answered
    expect(venue.faults.arrivals.slice(before)[0]).toBe('GET /fapi/v1/openOrders')
    expect(venue.faults.arrivals.slice(before)).toEqual(
      expect.arrayContaining(['GET /fapi/v3/account', 'GET /fapi/v3/positionRisk', 'DELETE /fapi/v1/allOpenOrders']),
    )
  })

  it('a call whose deadline would pass while the venue holds calls fails at once as rate-limit, unsent; another venue is not held', async () => {
    const { gateway, venue } = await rig({ callTimeoutMs: 3_000 })
    const other = await rig()
    venue.faults.inject('GET /fapi/v3/account', faults.rateLimited({ retryAfterS: 60 }), 1)
    const first = await failure(gateway.fetchBalances())
    expect(first).toMatchObject({ kind: 'rate-limit' })
    expect(first.message).toMatch(/not sent: the venue asked haltd to slow down.*another \d+(\.\d)? s, past this call’s deadline/)
    expect(venue.faults.hits('GET /fapi/v3/account')).toBe(1)

    expect(await failure(gateway.fetchOpenOrders())).toMatchObject({ kind: 'rate-limit' })
    expect(venue.faults.hits('GET /fapi/v1/openOrders')).toBe(0)

    expect((await other.gateway.fetchBalances()).map((b) => b.asset)).toEqual(['USDT'])
    expect(other.venue.faults.hits('GET /fapi/v3/account')).toBe(1)
  })

  it('a 418 ban holds the venue’s calls until the end the venue names in its body', async () => {
    const { gateway, venue } = await rig({ callTimeoutMs: 3_000 })
    await gateway.submit(order('hd-ban'))
    venue.faults.inject('DELETE /fapi/v1/order', faults.banned(Date.now() + 120_000), 1)
    expect(await failure(gateway.cancel({ clientOrderId: 'hd-ban', symbol: BTC }))).toMatchObject({ kind: 'rate-limit' })
    const held = await failure(gateway.cancelAll({ scope: 'own' }))
    expect(held.message).toMatch(/holds its calls for another 1\d\d(\.\d)? s/)
    expect(venue.faults.hits('DELETE /fapi/v1/order')).toBe(1)
    expect(venue.faults.hits('GET /fapi/v1/openOrders')).toBe(0)
  })

  it('a 429 on submit is reported at once, and it holds the venue’s other calls as any refusal does', async () => {
    const { gateway, venue } = await rig({ callTimeoutMs: 3_000 })
    venue.faults.inject('POST /fapi/v1/order', faults.rateLimited({ retryAfterS: 30 }), 1)
    expect(await failure(gateway.submit(order('hd-429-submit')))).toMatchObject({ kind: 'rate-limit' })
    expect(await failure(gateway.submit(order('hd-429-submit-2')))).toMatchObject({ kind: 'rate-limit' })
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(1)
  })
})

describe('the venue’s market data keeps to the same gate', () => {
  async function withTickers(callTimeoutMs: number) {
    const r = await rig({ callTimeoutMs })
    const source = ccxtTickerSource({
      venue: 'binanceusdm',
      exchange: await fakeBinanceUsdm(r.venue, { enableRateLimit: false }),
      symbols: [BTC],
      pollMs: 50,
      gate: () => backoffGateOf(r.exchange),
    })
    const quotes: unknown[] = []
    source.onTicker((q) => quotes.push(q))
    cleanups.push(async () => source.stop())
    await r.gateway.connect()
    source.start()
    await vi.waitFor(() => expect(quotes.length).toBeGreaterThan(0))
    return { ...r, quotes }
  }

  it('given the gateway was told to slow down, the ticker polls stop until the venue takes requests again', async () => {
    const { gateway, venue, quotes } = await withTickers(20_000)
    venue.faults.inject('GET /fapi/v1/openOrders', faults.rateLimited({ retryAfterS: 1 }), 1)
    const read = gateway.fetchOpenOrders()
    await vi.waitFor(() => expect(venue.faults.hits('GET /fapi/v1/openOrders')).toBe(1), { interval: 5 })
    await sleep(200) // the 429 is on its way back
    const polled = venue.faults.hits('GET /fapi/v1/ticker/bookTicker')
    await sleep(500)
    expect(venue.faults.hits('GET /fapi/v1/ticker/bookTicker')).toBe(polled)
    expect(await read).toEqual([])
    const delivered = quotes.length
    await vi.waitFor(() => expect(quotes.length).toBeGreaterThan(delivered))
  })

  it('a 429 to a ticker poll holds the gateway’s calls', async () => {
    const { gateway, venue, exchange } = await withTickers(3_000)
    venue.faults.inject('GET /fapi/v1/ticker/bookTicker', faults.rateLimited({ retryAfterS: 30 }), 1)
    await vi.waitFor(() => expect(backoffGateOf(exchange)!.closedForMs).toBeGreaterThan(20_000), { interval: 10 })
    expect(await failure(gateway.fetchOpenOrders())).toMatchObject({ kind: 'rate-limit' })
    expect(venue.faults.hits('GET /fapi/v1/openOrders')).toBe(0)
  })
})

describe('what an HTTP answer said about the rate, kept on the ccxt error it became', () => {
  const answerOf = async (exchange: Exchange, response: Response): Promise<unknown> => {
    const handle = (exchange as unknown as { handleRestResponse: (r: Response, url: string, method: string) => Promise<unknown> }).handleRestResponse
    return handle.call(exchange, response, 'https://venue.example/order', 'POST').then(
      () => undefined,
      (e: unknown) => e,
    )
  }

  it('a 429 keeps its Retry-After; a 418 without one, the end of the ban its body names; a plain refusal is no rate limit', async () => {
    const { exchange } = await rig()
    noteRateLimitAnswers(exchange)
    const body = (code: number, msg: string) => JSON.stringify({ code, msg })
    const limited = await answerOf(exchange, new Response(body(-1003, 'Too many requests.'), { status: 429, headers: { 'retry-after': '7' } }))
    expect([isRateLimited(limited), retryAfterOf(limited)]).toEqual([true, 7_000])
    const until = Date.now() + 60_000
    const banned = await answerOf(exchange, new Response(body(-1003, `Way too many requests; IP banned until ${until}.`), { status: 418 }))
    expect(isRateLimited(banned)).toBe(true)
    expect(retryAfterOf(banned)).toBeGreaterThan(50_000)
    const refused = await answerOf(exchange, new Response(body(-2011, 'Unknown order sent.'), { status: 400 }))
    expect([isRateLimited(refused), retryAfterOf(refused)]).toEqual([false, undefined])
  })

  it('a wait of years, named in Retry-After or as a ban’s end, holds the venue’s calls at most MAX_NAMED_WAIT_MS before haltd asks again', async () => {
    const { exchange } = await rig()
    noteRateLimitAnswers(exchange)
    const body = (code: number, msg: string) => JSON.stringify({ code, msg })
    const years = await answerOf(exchange, new Response(body(-1003, 'Too many requests.'), { status: 429, headers: { 'retry-after': '999999999' } }))
    expect(retryAfterOf(years)).toBe(MAX_NAMED_WAIT_MS)
    const banned = await answerOf(exchange, new Response(body(-1003, 'Way too many requests; IP banned until 9999999999999.'), { status: 418 }))
    expect(retryAfterOf(banned)).toBe(MAX_NAMED_WAIT_MS)
    expect(MAX_NAMED_WAIT_MS).toBeLessThanOrEqual(120_000)
  })

  it('a 429 is a rate limit and a definite refusal even where the venue’s code made another error of it (OKX)', async () => {
    const okx = new ccxt.okx({ apiKey: 'k', secret: 's', password: 'p' })
    noteRateLimitAnswers(okx)
    const e = await answerOf(okx, new Response(JSON.stringify({ code: '51000', msg: 'Parameter clOrdId error', data: [] }), { status: 429 }))
    expect(ccxtChain(e)).not.toContain('RateLimitExceeded')
    expect(toVenueError('okx', e)).toMatchObject({ kind: 'rate-limit', venueCode: '51000' })
    expect([isRateLimited(e), isDefiniteRefusal(e)]).toEqual([true, true])
  })

  it('Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('2')).toBe(2_000)
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(30_000)
    expect(parseRetryAfter('soon')).toBeUndefined()
  })
})

describe('one clock resync at a time per venue', () => {
  it('given the venue’s clock moved, when 5 calls meet the stale-timestamp refusal at once, then one GET /time serves them all', async () => {
    const { gateway, venue } = await rig()
    venue.clockOffsetMs = 120_000
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => gateway.fetchBalances()))
    expect(answers.map((a) => a.map((b) => b.asset))).toEqual(Array(5).fill(['USDT']))
    expect(venue.faults.hits('GET /fapi/v1/time')).toBe(1)
  })

  it('the difference it learns serves the shutdown instance too, without a second GET /time', async () => {
    const { gateway, venue, exchange, shutdownExchange } = await rig({ separateShutdown: true })
    await gateway.submit(order('hd-clock'))
    venue.clockOffsetMs = -120_000
    await gateway.fetchBalances()
    expect(shutdownExchange!.options.timeDifference).toBe(exchange.options.timeDifference)
    expect(await gateway.cancel({ clientOrderId: 'hd-clock', symbol: BTC })).toEqual({ clientOrderId: 'hd-clock', outcome: 'canceled' })
    expect(venue.faults.hits('DELETE /fapi/v1/order')).toBe(1)
    expect(venue.faults.hits('GET /fapi/v1/time')).toBe(1)
  })
})

describe('a cancel answer is a confirmation only of the order it names', { timeout: 20_000 }, () => {
  it('given a cancel answered 200 with no order and no status, the cancel is not taken as done: it fails as an unreadable answer and the order stays open at the venue', async () => {
    const { gateway, venue } = await rig({ callTimeoutMs: 3_000 })
    await gateway.submit(order('hd-bare'))
    venue.faults.inject('DELETE /fapi/v1/order', { kind: 'status', status: 200, body: '{"result":true}', contentType: 'application/json' }, 1)
    const e = await failure(gateway.cancel({ clientOrderId: 'hd-bare', symbol: BTC }))
    expect(e).toMatchObject({ kind: 'bad-response' })
    expect(e.message).toContain('without naming the order or its status')
    expect((await gateway.fetchOpenOrders([BTC])).map((o) => o.clientOrderId)).toEqual(['hd-bare'])
    // and a cancel the venue answers for real is one
    expect(await gateway.cancel({ clientOrderId: 'hd-bare', symbol: BTC })).toMatchObject({ outcome: 'canceled' })
  })
})
