import type { Exchange } from 'ccxt'
import { afterEach, describe, expect, it } from 'vitest'
import { CcxtGateway, type CcxtGatewayOptions } from '../../src/exchanges/ccxt/gateway.js'
import { VenueError } from '../../src/exchanges/errors.js'
import { faults, fakeBinanceSpot, fakeBinanceUsdm, startFakeBinance, type ClientOptions, type FakeBinance } from '../support/fake-binance/index.js'
import { futuresOrder } from '../support/fake-binance/wire.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

type Rig = { venue: FakeBinance; exchange: Exchange; gateway: CcxtGateway }

/** The real ccxt class, its request-weight limiter off unless `client` turns it on: by Binance's weights it would hold a listing of every open order for seconds. */
async function rig(kind: 'futures' | 'spot', client: ClientOptions = {}, options: Partial<CcxtGatewayOptions> = {}): Promise<Rig> {
  const venue = await startFakeBinance()
  const make = kind === 'futures' ? fakeBinanceUsdm : fakeBinanceSpot
  const exchange = await make(venue, { enableRateLimit: false, ...client })
  const gateway = new CcxtGateway({
    venue: kind === 'futures' ? 'binanceusdm' : 'binance',
    exchange,
    symbols: [kind === 'futures' ? BTC : SPOT_BTC],
    retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 },
    ...options,
  })
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  return { venue, exchange, gateway }
}

const BTC = 'BTC/USDT:USDT'
const SPOT_BTC = 'BTC/USDT'

async function failure(p: Promise<unknown>): Promise<VenueError> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(VenueError)
    return e as VenueError
  }
  throw new Error('expected a VenueError, but the call resolved')
}

describe('ccxt errors become VenueError kinds (reads and cancels retry, then report)', () => {
  it('HTTP 429 is rate-limit, after every attempt was spent', async () => {
    const { gateway, venue } = await rig('futures')
    venue.faults.inject('GET /fapi/v1/openOrders', faults.rateLimited())
    const err = await failure(gateway.fetchOpenOrders())
    expect(err).toMatchObject({ kind: 'rate-limit', venue: 'binanceusdm', transient: true })
    expect(venue.faults.hits('GET /fapi/v1/openOrders')).toBe(3)
  })

  it('a single 429 is absorbed by a retry', async () => {
    const { gateway, venue } = await rig('futures')
    await gateway.submit({ clientOrderId: 'hd-r1', symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 })
    venue.faults.inject('GET /fapi/v1/openOrders', faults.rateLimited(), 1)
    expect((await gateway.fetchOpenOrders()).map((o) => o.clientOrderId)).toEqual(['hd-r1'])
    expect(venue.faults.hits('GET /fapi/v1/openOrders')).toBe(2)
  })

  it('HTTP 503 with an HTML page is unavailable', async () => {
    const { gateway, venue } = await rig('spot')
    venue.faults.inject('GET /api/v3/account', faults.unavailable())
    expect(await failure(gateway.fetchBalances())).toMatchObject({ kind: 'unavailable' })
  })

  it("HTTP 500 with Binance's -1000 is unavailable too (ccxt's OperationFailed)", async () => {
    const { gateway, venue } = await rig('spot')
    venue.faults.inject('GET /api/v3/account', faults.internalError())
    expect(await failure(gateway.fetchBalances())).toMatchObject({ kind: 'unavailable', venueCode: '-1000' })
  })

  it('a venue that never answers is a timeout, bounded by ccxt’s request timeout on each attempt', async () => {
    const { gateway, venue } = await rig('futures', { timeout: 150 }, { retry: { attempts: 2, baseDelayMs: 10 } })
    venue.faults.inject('GET /fapi/v3/account', faults.hang())
    expect(await failure(gateway.fetchBalances())).toMatchObject({ kind: 'timeout' })
    expect(venue.faults.hits('GET /fapi/v3/account')).toBe(2)
  })

  it('the call deadline covers everything: a hung venue with a long ccxt timeout ends at callTimeoutMs', async () => {
    const { gateway, venue } = await rig('futures', { timeout: 60_000 }, { callTimeoutMs: 300 })
    venue.faults.inject('GET /fapi/v3/positionRisk', faults.hang())
    const err = await failure(gateway.fetchPositions())
    expect(err.kind).toBe('timeout')
    expect(err.message).toMatch(/deadline passed/)
  })

  it('an already-aborted caller signal sends nothing', async () => {
    const { gateway, venue } = await rig('futures')
    const err = await failure(gateway.fetchBalances({ signal: AbortSignal.abort() }))
    expect(err.kind).toBe('timeout')
    expect(venue.faults.hits('GET /fapi/v3/account')).toBe(0)
  })

  it('a bad signature (-1022) is auth and is not retried', async () => {
    const { gateway, venue } = await rig('futures', { secret: 'not-the-secret' })
    const err = await failure(gateway.fetchBalances())
    expect(err).toMatchObject({ kind: 'auth', venueCode: '-1022', transient: false })
    expect(venue.faults.hits('GET /fapi/v3/account')).toBe(1)
  })

  it('an unknown API key (-2015) is auth', async () => {
    const { gateway } = await rig('spot', { apiKey: 'someone-else' })
    expect(await failure(gateway.fetchBalances())).toMatchObject({ kind: 'auth', venueCode: '-2015' })
  })

  it('cancel of an order the venue does not know (-2011) answers not-found', async () => {
    const { gateway, venue } = await rig('spot')
    await gateway.submit({ clientOrderId: 'hd-u1', symbol: SPOT_BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 })
    venue.faults.inject('DELETE /api/v3/order', faults.unknownOrder(), 1)
    expect(await gateway.cancel({ clientOrderId: 'hd-u1', symbol: SPOT_BTC })).toEqual({ clientOrderId: 'hd-u1', outcome: 'not-found' })
    expect(await gateway.cancel({ clientOrderId: 'hd-u1', symbol: SPOT_BTC })).toEqual({ clientOrderId: 'hd-u1', outcome: 'canceled' })
  })

  it('a cancel that meets a 503 is retried and confirmed', async () => {
    const { gateway, venue } = await rig('futures')
    await gateway.submit({ clientOrderId: 'hd-c503', symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 })
    venue.faults.inject('DELETE /fapi/v1/order', faults.unavailable(), 1)
    expect(await gateway.cancel({ clientOrderId: 'hd-c503', symbol: BTC })).toEqual({ clientOrderId: 'hd-c503', outcome: 'canceled' })
  })

  it('a reduce-only order that would increase the position (-2022) is rejected', async () => {
    const { gateway } = await rig('futures')
    const err = await failure(gateway.submit({ clientOrderId: 'hd-ro', symbol: BTC, side: 'buy', type: 'market', qty: 0.01, reduceOnly: true }))
    expect(err).toMatchObject({ kind: 'rejected', venueCode: '-2022' })
  })

  it('insufficient balance (-2010) is rejected', async () => {
    const { gateway } = await rig('spot')
    const err = await failure(gateway.submit({ clientOrderId: 'hd-big', symbol: SPOT_BTC, side: 'buy', type: 'limit', qty: 100, price: 40_000 }))
    expect(err.kind).toBe('rejected')
    expect(err.message).toMatch(/InsufficientFunds.*insufficient balance/)
  })
})

describe('the transport guard: an HTTP 200 that is not an answer', () => {
  it('left to ccxt, a maintenance page on openOrders parses into bogus orders', async () => {
    const { exchange, venue } = await rig('spot')
    venue.faults.inject('GET /api/v3/openOrders', faults.maintenancePage(), 1)
    const bogus = await exchange.fetchOpenOrders(SPOT_BTC)
    expect(bogus.length).toBeGreaterThan(0)
    expect(bogus.every((o) => o.id === undefined)).toBe(true)
  })

  it('through the gateway the same page is bad-response, never a list of orders', async () => {
    const { gateway, venue } = await rig('spot')
    venue.faults.inject('GET /api/v3/openOrders', faults.maintenancePage())
    const err = await failure(gateway.fetchOpenOrders())
    expect(err.kind).toBe('bad-response')
    expect(err.message).toMatch(/not JSON.*DOCTYPE/)
  })

  it('`{}` on openOrders is bad-response, not "nothing open"', async () => {
    const { gateway, venue } = await rig('futures')
    await gateway.submit({ clientOrderId: 'hd-e1', symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 })
    venue.faults.inject('GET /fapi/v1/openOrders', faults.emptyObject())
    expect(await failure(gateway.fetchOpenOrders())).toMatchObject({ kind: 'bad-response' })
  })

  it('`{}` on positionRisk is bad-response, not "flat"', async () => {
    const { gateway, venue } = await rig('futures')
    await gateway.submit({ clientOrderId: 'hd-e2', symbol: BTC, side: 'buy', type: 'market', qty: 0.01 })
    venue.faults.inject('GET /fapi/v3/positionRisk', faults.emptyObject())
    expect(await failure(gateway.fetchPositions())).toMatchObject({ kind: 'bad-response' })
  })

  it('an empty body is bad-response', async () => {
    const { gateway, venue } = await rig('spot')
    venue.faults.inject('GET /api/v3/account', faults.emptyBody())
    expect(await failure(gateway.fetchBalances())).toMatchObject({ kind: 'bad-response' })
  })

  it('a transient maintenance page is retried through to the real answer', async () => {
    const { gateway, venue } = await rig('futures')
    await gateway.submit({ clientOrderId: 'hd-e3', symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 })
    venue.faults.inject('GET /fapi/v1/openOrders', faults.maintenancePage(), 1)
    expect((await gateway.fetchOpenOrders()).map((o) => o.clientOrderId)).toEqual(['hd-e3'])
  })

  it('requests the engine makes on the same instance outside gateway calls are left alone', async () => {
    const { exchange, venue } = await rig('futures')
    venue.faults.inject('GET /fapi/v1/openOrders', faults.emptyObject(), 1)
    expect(await exchange.fetchOpenOrders(BTC)).toEqual([])
  })
})

describe('submit never re-sends an order whose answer was lost', () => {
  it('the venue accepts the order but the connection drops: the gateway finds it by client order id', async () => {
    const { gateway, venue } = await rig('futures')
    venue.faults.inject('POST /fapi/v1/order', faults.loseResponse(), 1)
    const ack = await gateway.submit({ clientOrderId: 'hd-lost-1', symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 })
    expect(ack).toMatchObject({ clientOrderId: 'hd-lost-1', status: 'open', filled: 0 })
    const held = venue.engine.open('futures')
    expect(held.map((o) => [o.clientOrderId, String(o.orderId)])).toEqual([['hd-lost-1', ack.venueOrderId]])
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(1)
    expect(venue.faults.hits('GET /fapi/v1/order')).toBe(1)
  })

  it('a lost answer to a market order comes back as filled', async () => {
    const { gateway, venue } = await rig('spot')
    venue.faults.inject('POST /api/v3/order', faults.loseResponse(), 1)
    const ack = await gateway.submit({ clientOrderId: 'hd-lost-2', symbol: SPOT_BTC, side: 'sell', type: 'market', qty: 0.5 })
    expect(ack).toMatchObject({ status: 'filled', filled: 0.5 })
    expect(venue.faults.hits('POST /api/v3/order')).toBe(1)
  })

  it('a timeout on an order the venue never saw: reported as timeout, looked up, never re-sent', async () => {
    const { gateway, venue } = await rig('futures', { timeout: 150 })
    venue.faults.inject('POST /fapi/v1/order', faults.hang())
    const err = await failure(gateway.submit({ clientOrderId: 'hd-hang', symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 }))
    expect(err.kind).toBe('timeout')
    expect(err.message).toMatch(/not found by its client order id/)
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(1)
    expect(venue.faults.hits('GET /fapi/v1/order')).toBe(2)
  })

  it('a 503 on submit is looked up, not re-sent, and reported as unavailable', async () => {
    const { gateway, venue } = await rig('spot')
    venue.faults.inject('POST /api/v3/order', faults.unavailable())
    const err = await failure(gateway.submit({ clientOrderId: 'hd-503', symbol: SPOT_BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 }))
    expect(err.kind).toBe('unavailable')
    expect(venue.faults.hits('POST /api/v3/order')).toBe(1)
    expect(venue.faults.hits('GET /api/v3/order')).toBeGreaterThan(0)
  })

  it('when the lookup fails as well, the error says the fate is unknown', async () => {
    const { gateway, venue } = await rig('futures')
    venue.faults.inject('POST /fapi/v1/order', faults.loseResponse(), 1)
    venue.faults.inject('GET /fapi/v1/order', faults.unavailable())
    const err = await failure(gateway.submit({ clientOrderId: 'hd-dark', symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 }))
    expect(err.kind).toBe('network')
    expect(err.message).toMatch(/looking order hd-dark up failed too.*fate is unknown/)
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(1)
    expect(venue.engine.open('futures').map((o) => o.clientOrderId)).toEqual(['hd-dark'])
  })

  it('a 429 on submit is a refusal: reported at once, nothing looked up or re-sent', async () => {
    const { gateway, venue } = await rig('futures')
    venue.faults.inject('POST /fapi/v1/order', faults.rateLimited())
    expect(await failure(gateway.submit({ clientOrderId: 'hd-429', symbol: BTC, side: 'buy', type: 'market', qty: 0.01 }))).toMatchObject({
      kind: 'rate-limit',
    })
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(1)
    expect(venue.faults.hits('GET /fapi/v1/order')).toBe(0)
  })

  it('ccxt’s own maxRetriesOnFailure cannot re-send it either', async () => {
    const { gateway, venue, exchange } = await rig('futures', { timeout: 150 })
    exchange.options.maxRetriesOnFailure = 3
    venue.faults.inject('POST /fapi/v1/order', faults.hang())
    await failure(gateway.submit({ clientOrderId: 'hd-mr', symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 }))
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(1)
  })
})

describe('the shutdown path does not queue behind the trading engine', () => {
  it('cancels through its own instance while the engine’s rate limiter holds the main queue; the queued read times out unsent', async () => {
    const venue = await startFakeBinance()
    // a slow leaky bucket: each openOrders call (cost 1.2) waits 1.2 × 700 ms for the previous one
    const main = await fakeBinanceSpot(venue, { config: { rateLimit: 700, rollingWindowSize: 0 } })
    const urgent = await fakeBinanceSpot(venue)
    const gateway = new CcxtGateway({ venue: 'binance', exchange: main, shutdownExchange: urgent, symbols: [SPOT_BTC], callTimeoutMs: 1_000 })
    cleanups.push(async () => {
      await gateway.close()
      await venue.close()
    })
    await gateway.submit({ clientOrderId: 'hd-q1', symbol: SPOT_BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 })
    const engineReads = [main.fetchOpenOrders(SPOT_BTC), main.fetchOpenOrders(SPOT_BTC)]
    const queuedRead = failure(gateway.fetchOpenOrders())
    engineReads.push(main.fetchOpenOrders(SPOT_BTC))

    expect(await gateway.cancel({ clientOrderId: 'hd-q1', symbol: SPOT_BTC })).toEqual({ clientOrderId: 'hd-q1', outcome: 'canceled' })
    const err = await queuedRead
    expect(err.kind).toBe('timeout')
    await Promise.all(engineReads)
    // the gateway's read left the queue after its deadline and was never sent; the engine's were
    expect(venue.faults.hits('GET /api/v3/openOrders')).toBe(3)
  })
})

describe('a cancel answered done is confirmed by the venue’s list', () => {
  it('given a batch cancel answered CANCELED for orders the venue still lists open, the cancel-all names them failed, not canceled', async () => {
    const { gateway, venue } = await rig('futures')
    for (const id of ['hd-lie1', 'hd-lie2', 'hd-lie3'])
      await gateway.submit({ clientOrderId: id, symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 })
    // the venue answers each order canceled and cancels none of them
    const answer = venue.engine.open('futures').map((o) => ({ ...futuresOrder(o), status: 'CANCELED' }))
    venue.faults.inject('DELETE /fapi/v1/batchOrders', { kind: 'status', status: 200, body: JSON.stringify(answer), contentType: 'application/json' })

    const result = await gateway.cancelAll({ scope: 'own' })

    expect(result.canceled).toEqual([])
    expect(result.failed.map((f) => f.id).sort()).toEqual(['hd-lie1', 'hd-lie2', 'hd-lie3'])
    for (const f of result.failed) expect(f.reason).toBe('binanceusdm answered the order canceled and still lists it open')
    expect(venue.engine.open('futures')).toHaveLength(3)
  })

  it('given a batch cancel that cancels for real, the list read after it confirms every order', async () => {
    const { gateway, venue } = await rig('futures')
    for (const id of ['hd-ok1', 'hd-ok2']) await gateway.submit({ clientOrderId: id, symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 })
    const result = await gateway.cancelAll({ scope: 'own' })
    expect(result.canceled.sort()).toEqual(['hd-ok1', 'hd-ok2'])
    expect(result.failed).toEqual([])
    expect(venue.engine.open('futures')).toEqual([])
  })
})
