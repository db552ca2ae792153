import ccxt, { type Exchange } from 'ccxt'
import { afterEach, describe, expect, it } from 'vitest'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { VenueError } from '../../src/exchanges/errors.js'
import { faults, fakeBinanceUsdm, startFakeBinance, type FakeBinance, type FetchLike } from '../support/fake-binance/index.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const BTC = 'BTC/USDT:USDT'
const ETH = 'ETH/USDT:USDT'
const limit = (clientOrderId: string, symbol = BTC) =>
  ({ clientOrderId, symbol, side: 'buy', type: 'limit', qty: 0.01, price: 40_000, timeInForce: 'GTC' }) as const

type Sent = { method: string; url: string; body: string }
type Rig = { venue: FakeBinance; exchange: Exchange; gateway: CcxtGateway; sent: Sent[] }

/** The real ccxt.binanceusdm against the fake venue; `before` runs as a request reaches the venue, before it is answered. */
async function rig(before?: (request: Sent) => void): Promise<Rig> {
  const venue = await startFakeBinance()
  const sent: Sent[] = []
  const seen: FetchLike = async (url, init) => {
    const request = { method: init.method ?? 'GET', url, body: init.body ?? '' }
    sent.push(request)
    before?.(request)
    return venue.fetchImplementation(url, init)
  }
  const exchange = await fakeBinanceUsdm(venue, { config: { fetchImplementation: seen } })
  const gateway = new CcxtGateway({ venue: 'binanceusdm', exchange, symbols: [BTC, ETH], pollIntervalMs: 50, retry: { baseDelayMs: 10 } })
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  await gateway.connect()
  return { venue, exchange, gateway, sent }
}

const failure = async (p: Promise<unknown>): Promise<VenueError> => {
  try {
    await p
  } catch (e) {
    if (e instanceof VenueError) return e
    throw e
  }
  throw new Error('expected a VenueError')
}

describe('client order ids at the venue', () => {
  it('sends the ids haltd generates, and still the hd-…-n ids of older runs', async () => {
    const { gateway, venue } = await rig()
    await gateway.submit(limit('hdabe6071'))
    await gateway.submit(limit('hd-abe607-2'))
    expect(venue.engine.open('futures').map((o) => o.clientOrderId)).toEqual(['hdabe6071', 'hd-abe607-2'])
  })

  it('refuses, before sending, an id the venue’s rule does not allow, naming the rule', async () => {
    const { gateway, venue } = await rig()
    const err = await failure(gateway.submit(limit('hd abe607 1')))
    expect(err.kind).toBe('rejected')
    expect(err.message).toContain("client order id 'hd abe607 1' does not fit binance newClientOrderId: 1–36 of letters, digits and . : / _ -; not sent")
    expect(await failure(gateway.submit(limit('x'.repeat(37))))).toMatchObject({ kind: 'rejected' })
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(0)
  })

  it('counts ids without a separator as its own in `own` scope, and not a foreign id that starts with hd', async () => {
    const { gateway, venue, exchange } = await rig()
    await gateway.submit(limit('hdabe6071'))
    await gateway.submit(limit('hd-abe607-2'))
    await exchange.createOrder(BTC, 'limit', 'buy', 0.01, 40_000, { clientOrderId: 'hdHOLD' })
    const result = await gateway.cancelAll({ scope: 'own' })
    expect(result.canceled.sort()).toEqual(['hd-abe607-2', 'hdabe6071'])
    expect(venue.engine.open('futures').map((o) => o.clientOrderId)).toEqual(['hdHOLD'])
  })
})

describe('haltd’s own ccxt options stay out of the request', () => {
  it('a submit’s body carries no maxRetriesOnFailure, and the engine’s own setting is back afterwards', async () => {
    const { gateway, exchange, sent } = await rig()
    exchange.options.maxRetriesOnFailure = 2
    await gateway.submit(limit('hdabe6071'))
    const order = sent.filter((r) => r.method === 'POST' && r.url.includes('/fapi/v1/order'))
    expect(order).toHaveLength(1)
    expect(`${order[0]!.url} ${order[0]!.body}`).toContain('newClientOrderId=hdabe6071')
    expect(`${order[0]!.url} ${order[0]!.body}`).not.toMatch(/maxRetries/i)
    expect(exchange.options.maxRetriesOnFailure).toBe(2)
  })
})

describe('batch cancel answers, matched by id', () => {
  it('an order filled just before the batch is unanswered (to be looked up), never recorded canceled, and the others are confirmed by their own answers', async () => {
    let venue: FakeBinance | undefined
    const r = await rig((request) => {
      // the market trades through one order while the batch is on its way
      if (request.method === 'DELETE' && request.url.includes('/fapi/v1/batchOrders')) venue!.engine.fillResting('futures', 'hdabe6072')
    })
    venue = r.venue
    for (const n of [1, 2, 3]) await r.gateway.submit(limit(`hdabe607${n}`))
    const result = await r.gateway.cancelAll({ scope: 'own' })
    expect(result.method).toBe('batched')
    expect(result.canceled.sort()).toEqual(['hdabe6071', 'hdabe6073'])
    expect(result.failed).toEqual([])
    expect(result.unanswered).toEqual(['hdabe6072'])
    expect(venue.engine.find('futures', { clientOrderId: 'hdabe6072' })?.status).toBe('FILLED')
  })

  it('a batch refused as a whole for unknown orders leaves every order unanswered, none failed', async () => {
    const { gateway, venue } = await rig()
    for (const n of [1, 2]) await gateway.submit(limit(`hdabe607${n}`))
    venue.faults.inject('DELETE /fapi/v1/batchOrders', faults.unknownOrder(), 1)
    const result = await gateway.cancelAll({ scope: 'own' })
    expect(result).toMatchObject({ canceled: [], failed: [] })
    expect(result.unanswered?.sort()).toEqual(['hdabe6071', 'hdabe6072'])
  })
})

describe('per-venue call shapes', () => {
  it('positions: a venue that takes one symbol per call (as ccxt.bybit) is asked per symbol, learned once', async () => {
    const { gateway, exchange } = await rig()
    await gateway.submit({ clientOrderId: 'hdabe6071', symbol: BTC, side: 'sell', type: 'market', qty: 0.02 })
    await gateway.submit({ clientOrderId: 'hdabe6072', symbol: ETH, side: 'buy', type: 'market', qty: 0.5 })
    const asked: (string[] | undefined)[] = []
    const real = exchange.fetchPositions.bind(exchange)
    exchange.fetchPositions = async (symbols?: string[], params?: object) => {
      asked.push(symbols)
      // ccxt.bybit's own refusal
      if (symbols && symbols.length > 1) throw new ccxt.ArgumentsRequired('bybit fetchPositions() does not accept an array with more than one symbol')
      return real(symbols, params)
    }
    const expected = [
      { symbol: BTC, qty: -0.02, entryPrice: 50_000 },
      { symbol: ETH, qty: 0.5, entryPrice: expect.any(Number) },
    ]
    expect(await gateway.fetchPositions()).toEqual(expected)
    expect(await gateway.fetchPositions()).toEqual(expected)
    expect(asked).toEqual([[BTC, ETH], [BTC], [ETH], [BTC], [ETH]])
  })

  it('Bybit’s disconnect protection: a window outside 3–300 s is refused before anything is sent', async () => {
    const exchange = new ccxt.bybit({
      fetchImplementation: () => {
        throw new Error('nothing may be sent')
      },
    })
    const gateway = new CcxtGateway({ venue: 'bybit', exchange, stream: false })
    cleanups.push(() => gateway.close())
    expect(gateway.capabilities.deadMansSwitch).toBe('cancel-on-disconnect')
    for (const ms of [1_000, 2_999, 300_001]) {
      const err = await failure(gateway.armDeadMansSwitch(ms))
      expect(err.kind).toBe('rejected')
      expect(err.message).toContain(`bybit's disconnect protection takes a window of 3–300 s, got ${ms} ms`)
    }
    expect((await failure(gateway.armDeadMansSwitch(0))).message).toContain('positive whole number of ms, got 0')
  })
})
