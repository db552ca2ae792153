import ccxt, { type Exchange } from 'ccxt'
import { afterEach, describe, expect, it } from 'vitest'
import { isDefiniteRefusal } from '../../src/exchanges/ccxt/errors.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { VenueError } from '../../src/exchanges/errors.js'
import { startAnsweringVenue, type AnsweringVenue } from '../support/answering-venue.js'
import { bybitFaults, fakeBybitClient, startFakeBybit } from '../support/fake-bybit/index.js'
import { fakeOkx, okxFaults, startFakeOkx } from '../support/fake-okx/index.js'

// A venue's own "system busy / internal error / timed out, try again" answer is the venue failing,
// not refusing, in every family haltd drives, whichever ccxt class its exception map gives it
// (ccxt 4.5.84 files many as a plain ExchangeError, a few as InvalidOrder or BadRequest): a read
// is asked again within its deadline and then fails as `unavailable`, an order sent is looked up,
// never recorded refused. A refusal from the same venue stays a refusal, asked once.

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const ATTEMPTS = 3

type Family = {
  /** The venue's family and what it answered. */
  name: string
  build: (fetchImplementation: AnsweringVenue['fetchImplementation']) => Exchange
  status: number
  busy: string
  /** A refusal of the same venue, for contrast: never asked again. */
  refusal: { status: number; body: string }
}

const SECRET = Buffer.from('s'.repeat(32)).toString('base64')
const credentials = { apiKey: 'key', secret: SECRET, password: 'pass', uid: 'uid', enableRateLimit: false, timeout: 2_000 }
const make =
  (id: string, extra: Record<string, unknown> = {}) =>
  (fetchImplementation: AnsweringVenue['fetchImplementation']): Exchange =>
    new (ccxt as unknown as Record<string, new (c: Record<string, unknown>) => Exchange>)[id]!({
      ...credentials,
      markets: {},
      fetchImplementation,
      ...extra,
      options: { fetchCurrencies: false, fetchMargins: false, ...(extra.options as object | undefined) },
    })

const json = (o: unknown): string => JSON.stringify(o)

const FAMILIES: Family[] = [
  {
    name: 'Binance Portfolio Margin, -1001 internal error',
    build: make('binance', { options: { portfolioMargin: true } }),
    status: 500,
    busy: json({ code: -1001, msg: 'Internal error; unable to process your request. Please try again.' }),
    refusal: { status: 400, body: json({ code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' }) },
  },
  {
    name: 'Bybit, 5004 server timeout',
    build: make('bybit', { options: { enableUnifiedAccount: true, enableUnifiedMargin: false } }),
    status: 200,
    busy: json({ retCode: 5004, retMsg: 'Server Timeout', result: {}, retExtInfo: {}, time: 1 }),
    refusal: { status: 200, body: json({ retCode: 10003, retMsg: 'API key is invalid.', result: {}, retExtInfo: {}, time: 1 }) },
  },
  {
    name: 'OKX, 63999 internal system error',
    build: make('okx'),
    status: 200,
    busy: json({ code: '63999', msg: 'Internal system error', data: [] }),
    refusal: { status: 401, body: json({ code: '50111', msg: 'Invalid OK-ACCESS-KEY', data: [] }) },
  },
  {
    name: 'Kraken, EService:Busy',
    build: make('kraken'),
    status: 200,
    busy: json({ error: ['EService:Busy'], result: {} }),
    refusal: { status: 200, body: json({ error: ['EAPI:Invalid key'], result: {} }) },
  },
  {
    name: 'Kraken Futures, Server Error',
    build: make('krakenfutures'),
    status: 200,
    busy: json({ result: 'error', error: 'Server Error', serverTime: '2026-01-01T00:00:00.000Z' }),
    refusal: { status: 200, body: json({ result: 'error', error: 'authenticationError', serverTime: '2026-01-01T00:00:00.000Z' }) },
  },
  {
    name: 'Kraken Futures, unknownError',
    build: make('krakenfutures'),
    status: 500,
    busy: json({ result: 'error', error: 'unknownError', serverTime: '2026-01-01T00:00:00.000Z' }),
    refusal: { status: 200, body: json({ result: 'error', error: 'authenticationError', serverTime: '2026-01-01T00:00:00.000Z' }) },
  },
  {
    name: 'Coinbase, internal_server_error',
    build: make('coinbase'),
    status: 500,
    busy: json({ error: 'internal_server_error', message: 'Internal server error', error_details: '' }),
    refusal: { status: 401, body: json({ error: 'authentication_error', message: 'invalid signature', error_details: '' }) },
  },
  {
    name: 'Deribit, 11094 internal_server_error',
    build: make('deribit'),
    status: 200,
    busy: json({ jsonrpc: '2.0', error: { code: 11094, message: 'internal_server_error' }, testnet: false }),
    refusal: { status: 200, body: json({ jsonrpc: '2.0', error: { code: 13004, message: 'invalid_credentials' }, testnet: false }) },
  },
  {
    name: 'KuCoin, 408000 network timeout',
    build: make('kucoin'),
    status: 200,
    busy: json({ code: '408000', msg: 'Network timeout, please try again later' }),
    refusal: { status: 401, body: json({ code: '400003', msg: 'KC-API-KEY not exists' }) },
  },
  {
    name: 'KuCoin Futures, 408000 network timeout',
    build: make('kucoinfutures'),
    status: 200,
    busy: json({ code: '408000', msg: 'Network timeout, please try again later' }),
    refusal: { status: 401, body: json({ code: '400003', msg: 'KC-API-KEY not exists' }) },
  },
]

async function answering(family: Pick<Family, 'build'>): Promise<{ venue: AnsweringVenue; gateway: CcxtGateway }> {
  const venue = await startAnsweringVenue()
  const exchange = family.build(venue.fetchImplementation)
  const gateway = new CcxtGateway({
    venue: exchange.id,
    exchange,
    retry: { attempts: ATTEMPTS, baseDelayMs: 5, maxDelayMs: 10, rateLimitBaseMs: 20, rateLimitMaxMs: 40 },
  })
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  return { venue, gateway }
}

async function failure(p: Promise<unknown>): Promise<VenueError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(VenueError)
  return e as VenueError
}

describe('a venue\'s "system busy, try again" answer, in every family haltd drives', () => {
  it.each(FAMILIES)(
    'given $name on every request, when haltd reads the account, then it asks again within the deadline and fails as unavailable, never as refused',
    async (family) => {
      // given
      const { venue, gateway } = await answering(family)
      venue.answer(family.status, family.busy)

      // when
      const err = await failure(gateway.fetchBalances())

      // then
      expect(err).toMatchObject({ kind: 'unavailable', transient: true, refused: false })
      expect(isDefiniteRefusal(err.cause)).toBe(false)
      expect(venue.requests).toHaveLength(ATTEMPTS)
    },
  )

  it.each(FAMILIES)('given $name refusing the key instead, the same read is asked once and fails as refused', async (family) => {
    const { venue, gateway } = await answering(family)
    venue.answer(family.refusal.status, family.refusal.body)

    const err = await failure(gateway.fetchBalances())

    expect(err.refused).toBe(true)
    expect(venue.requests).toHaveLength(1)
  })
})

describe('an order sent to a busy venue is looked up, never recorded refused', () => {
  const BTC = 'BTC/USDT:USDT'

  it.each([
    [5004, 'Server Timeout'],
    [10000, 'Server Timeout'],
    [170146, 'Order creation timeout'],
    [170001, 'Internal error.'],
    [340099, 'Server error'],
  ])(
    'given Bybit placed the order and answered %i (%s), when haltd submits, then it finds the order by its client order id and acknowledges it',
    async (retCode, retMsg) => {
      // given
      const venue = await startFakeBybit()
      const gateway = new CcxtGateway({
        venue: 'bybit',
        exchange: fakeBybitClient(venue, { enableRateLimit: false }),
        symbols: [BTC],
        retry: { baseDelayMs: 10 },
      })
      cleanups.push(async () => {
        await gateway.close()
        await venue.close()
      })
      await gateway.connect()
      const clientOrderId = `hd-busy-${retCode}`
      venue.beforeNext('POST /v5/order/create', () =>
        venue.account.place('linear', { symbol: 'BTCUSDT', side: 'Buy', orderType: 'Limit', qty: 0.001, price: 40_000, orderLinkId: clientOrderId }),
      )
      venue.faults.inject('POST /v5/order/create', bybitFaults.error(retCode, retMsg), 1)

      // when
      const ack = await gateway.submit({ clientOrderId, symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 40_000 })

      // then
      expect(ack).toMatchObject({ clientOrderId, status: 'open', filled: 0 })
    },
  )

  it('given OKX answered 63999 (internal system error) without placing the order, when haltd submits, then it says the order may still arrive, not that OKX refused it', async () => {
    const venue = await startFakeOkx()
    const gateway = new CcxtGateway({
      venue: 'okx',
      exchange: fakeOkx(venue, { type: 'swap', marketTypes: ['spot', 'swap'], enableRateLimit: false }),
      symbols: [BTC],
      retry: { baseDelayMs: 10 },
    })
    cleanups.push(async () => {
      await gateway.close()
      await venue.close()
    })
    await gateway.connect()
    // ccxt.okx places one order through the batch endpoint
    venue.faults.inject('POST /api/v5/trade/batch-orders', okxFaults.error(200, '63999', 'Internal system error'), 1)

    const err = await failure(gateway.submit({ clientOrderId: 'hdbusyokx1', symbol: BTC, side: 'buy', type: 'limit', qty: 1, price: 40_000 }))

    expect(err).toMatchObject({ kind: 'unavailable', refused: false })
    expect(err.message).toContain('was not found by its client order id afterwards, but may still arrive')
  })
})

describe('a venue\'s own "too many requests" answer that ccxt files as a refusal is a rate limit', () => {
  it.each([
    {
      name: 'Binance Portfolio Margin, -1015 too many new orders',
      build: make('binance', { options: { portfolioMargin: true } }),
      body: json({ code: -1015, msg: 'Too many new orders; current limit is 50 orders per 10 SECOND.' }),
    },
    {
      name: 'Bybit, 170005 too many new orders',
      build: make('bybit', { options: { enableUnifiedAccount: true, enableUnifiedMargin: false } }),
      body: json({ retCode: 170005, retMsg: 'Too many new orders; current limit is 10 orders per 1 second.', result: {}, retExtInfo: {}, time: 1 }),
    },
    {
      name: "OKX, 50061 the account's order rate limit",
      build: make('okx'),
      body: json({ code: '50061', msg: "You've reached the maximum order rate limit for this account.", data: [] }),
    },
  ])('given $name on every request, when haltd reads the account, then it waits the venue out and asks again, and fails as rate-limit', async (family) => {
    // given
    const { venue, gateway } = await answering(family)
    venue.answer(200, family.body)

    // when
    const err = await failure(gateway.fetchBalances())

    // then
    expect(err).toMatchObject({ kind: 'rate-limit', transient: true })
    expect(isDefiniteRefusal(err.cause)).toBe(true)
    expect(venue.requests).toHaveLength(ATTEMPTS)
  })

  it("given OKX answering a submit 50061 (the account's order rate), the order is refused at once, never looked up, and the venue's calls wait", async () => {
    const BTC = 'BTC/USDT:USDT'
    const venue = await startFakeOkx()
    const gateway = new CcxtGateway({
      venue: 'okx',
      exchange: fakeOkx(venue, { type: 'swap', marketTypes: ['spot', 'swap'], enableRateLimit: false }),
      symbols: [BTC],
      retry: { baseDelayMs: 10, rateLimitBaseMs: 200, rateLimitMaxMs: 400 },
    })
    cleanups.push(async () => {
      await gateway.close()
      await venue.close()
    })
    await gateway.connect()
    venue.faults.inject('POST /api/v5/trade/batch-orders', okxFaults.error(200, '50061', "You've reached the maximum order rate limit for this account."), 1)
    const before = venue.requests.length

    const err = await failure(gateway.submit({ clientOrderId: 'hdrateokx1', symbol: BTC, side: 'buy', type: 'limit', qty: 1, price: 40_000 }))
    const quick = await failure(gateway.fetchOpenOrders([BTC], { signal: AbortSignal.timeout(50) }))

    expect(err).toMatchObject({ kind: 'rate-limit', refused: true })
    // sent once, answered with the fault (the venue's own record keeps only requests it handled): no lookup followed
    expect(venue.faults.hits('POST /api/v5/trade/batch-orders')).toBe(1)
    expect(venue.requests.slice(before)).toEqual([])
    expect(quick).toMatchObject({ kind: 'rate-limit', refused: true })
  })
})
