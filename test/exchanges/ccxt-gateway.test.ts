import type { Exchange } from 'ccxt'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CcxtGateway, type CcxtGatewayOptions } from '../../src/exchanges/ccxt/gateway.js'
import type { OrderUpdate } from '../../src/exchanges/gateway.js'
import type { VenueError } from '../../src/exchanges/errors.js'
import {
  fakeBinanceSpot,
  fakeBinanceUsdm,
  faults,
  startFakeBinance,
  type ClientOptions,
  type FakeBinance,
  type FetchLike,
} from '../support/fake-binance/index.js'
import { futuresTrade } from '../support/fake-binance/wire.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

type Setup = { client?: ClientOptions; gateway?: Partial<CcxtGatewayOptions> }
type Rig = { venue: FakeBinance; exchange: Exchange; gateway: CcxtGateway; errors: VenueError[] }

/**
 * The real ccxt class, its own request-weight limiter off: these tests are of the gateway, and the
 * limiter (ccxt's, on in haltd's venues) would only space their calls out by the venue's weights,
 * seconds for a listing of every open order. test/exchanges/ccxt-manners.test.ts runs with it on.
 */
async function rig(kind: 'futures' | 'spot', setup: Setup = {}): Promise<Rig> {
  const venue = await startFakeBinance()
  const client: ClientOptions = { enableRateLimit: false, ...setup.client }
  const exchange = kind === 'futures' ? await fakeBinanceUsdm(venue, client) : await fakeBinanceSpot(venue, client)
  const errors: VenueError[] = []
  const gateway = new CcxtGateway({
    venue: kind === 'futures' ? 'binanceusdm' : 'binance',
    exchange,
    symbols: kind === 'futures' ? ['BTC/USDT:USDT', 'ETH/USDT:USDT'] : ['BTC/USDT', 'ETH/USDT'],
    pollIntervalMs: 50,
    retry: { baseDelayMs: 10 },
    onError: (e) => errors.push(e),
    ...setup.gateway,
  })
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  await gateway.connect()
  return { venue, exchange, gateway, errors }
}

const BTC = 'BTC/USDT:USDT'
const ETH = 'ETH/USDT:USDT'
const limit = (clientOrderId: string, symbol = BTC, side: 'buy' | 'sell' = 'buy', price = side === 'buy' ? 40_000 : 60_000) =>
  ({ clientOrderId, symbol, side, type: 'limit', qty: 0.01, price, timeInForce: 'GTC' }) as const

describe('CcxtGateway over ccxt.binanceusdm', () => {
  it('derives its capabilities from ccxt: per-symbol mass cancel, batches of 10, a countdown, reduce-only, positions, polling', async () => {
    const { gateway } = await rig('futures')
    expect(gateway.capabilities).toEqual({
      massCancel: 'per-symbol',
      batchCancel: 10,
      deadMansSwitch: 'countdown',
      reduceOnly: true,
      streamingUpdates: false,
      positions: true,
      cancelAnswersOmitFills: false,
    })
  })

  it('lists the configured markets with the steps of the venue filters', async () => {
    const { gateway } = await rig('futures')
    expect(await gateway.fetchMarkets()).toEqual([
      { symbol: BTC, amountStep: 0.001, priceStep: 0.1, minQty: 0.001 },
      { symbol: ETH, amountStep: 0.01, priceStep: 0.01, minQty: 0.01 },
    ])
  })

  it('sends our client order id to the venue, not one ccxt invents', async () => {
    const { gateway, venue } = await rig('futures')
    const ack = await gateway.submit(limit('hd-own-1'))
    const held = venue.engine.find('futures', { clientOrderId: 'hd-own-1' })
    expect(held?.orderId).toBe(Number(ack.venueOrderId))
  })

  it('reports a market order filled in its acknowledgement and the position it opened', async () => {
    const { gateway } = await rig('futures')
    const ack = await gateway.submit({ clientOrderId: 'hd-m-1', symbol: BTC, side: 'sell', type: 'market', qty: 0.02 })
    expect(ack).toMatchObject({ clientOrderId: 'hd-m-1', status: 'filled', filled: 0.02 })
    expect(await gateway.fetchPositions()).toEqual([{ symbol: BTC, qty: -0.02, entryPrice: 50_000 }])
  })

  it('flattens a short with a reduce-only market buy, which the venue caps at the position', async () => {
    const { gateway } = await rig('futures')
    await gateway.submit({ clientOrderId: 'hd-open', symbol: ETH, side: 'sell', type: 'market', qty: 0.5 })
    const ack = await gateway.submit({ clientOrderId: 'hd-flat', symbol: ETH, side: 'buy', type: 'market', qty: 0.5, reduceOnly: true })
    expect(ack.status).toBe('filled')
    expect(await gateway.fetchPositions()).toEqual([])
  })

  it('cancelAll own cancels only our tagged orders, in batches, across symbols', async () => {
    const { gateway, venue, exchange } = await rig('futures')
    for (let i = 0; i < 12; i++) await gateway.submit(limit(`hd-b-${i}`, i % 2 ? ETH : BTC, 'buy', i % 2 ? 2_000 : 40_000))
    await exchange.createOrder(BTC, 'limit', 'sell', 0.01, 60_000, { clientOrderId: 'manual-1' })
    const result = await gateway.cancelAll({ scope: 'own' })
    expect(result.method).toBe('batched')
    expect(result.canceled.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `hd-b-${i}`).sort())
    expect(result.failed).toEqual([])
    expect(venue.engine.open('futures').map((o) => o.clientOrderId)).toEqual(['manual-1'])
    expect(venue.faults.hits('DELETE /fapi/v1/batchOrders')).toBe(2)
  })

  it('cancelAll account loops the symbols with open orders; Binance futures confirms with a bare "done"', async () => {
    const { gateway, venue, exchange } = await rig('futures')
    await gateway.submit(limit('hd-a-1', BTC))
    await exchange.createOrder(ETH, 'limit', 'buy', 0.1, 2_000, { clientOrderId: 'manual-eth' })
    const result = await gateway.cancelAll({ scope: 'account' })
    expect(result).toMatchObject({ scope: 'account', method: 'mass-cancel', failed: [] })
    expect(result.canceled.sort()).toEqual(['hd-a-1', 'manual-eth'])
    expect(venue.engine.open('futures')).toEqual([])
    expect(venue.faults.hits('DELETE /fapi/v1/allOpenOrders')).toBe(2)
    // the list before the cancels and the one after them, each per market: not a second list after
    expect(venue.faults.hits('GET /fapi/v1/openOrders')).toBe(4)
  })

  it('a bare "done" that canceled nothing confirms nothing: the orders the venue still lists are failed', async () => {
    const { gateway, venue, exchange } = await rig('futures')
    await gateway.submit(limit('hd-d-1', BTC))
    await exchange.createOrder(ETH, 'limit', 'buy', 0.1, 2_000, { clientOrderId: 'manual-d' })
    // given a venue answering its cancel-all "done" for ETH without cancelling anything there
    venue.faults.inject(
      'DELETE /fapi/v1/allOpenOrders',
      {
        kind: 'status',
        status: 200,
        body: JSON.stringify({ code: 200, msg: 'The operation of cancel all open order is done.' }),
        contentType: 'application/json',
      },
      1,
    )
    // when haltd cancels the whole account
    const result = await gateway.cancelAll({ scope: 'account' })
    // then only the order the venue no longer lists is canceled
    const stillOpen = venue.engine.open('futures').map((o) => o.clientOrderId)
    expect(stillOpen).toHaveLength(1)
    expect(result.canceled).toEqual(['hd-d-1', 'manual-d'].filter((id) => !stillOpen.includes(id)))
    expect(result.failed).toEqual([{ id: stillOpen[0], reason: expect.stringContaining('still lists the order open') }])
  })

  it('a bare "done" whose venue cannot then list its orders leaves them unanswered, not canceled', async () => {
    const { gateway, venue } = await rig('futures')
    await gateway.submit(limit('hd-u-1', BTC))
    await gateway.submit(limit('hd-u-2', BTC, 'sell'))
    // given a venue whose open-orders list fails from its cancel-all on
    const take = venue.faults.take.bind(venue.faults)
    venue.faults.take = (method, path) => {
      const fault = take(method, path)
      if (`${method} ${path}` === 'DELETE /fapi/v1/allOpenOrders') venue.faults.inject('GET /fapi/v1/openOrders', faults.unavailable())
      return fault
    }
    // when the cancel-all answers "done"
    const result = await gateway.cancelAll({ scope: 'account' })
    // then nothing is confirmed canceled on its word alone
    expect(venue.engine.open('futures')).toEqual([])
    expect(result.canceled).toEqual([])
    expect(result.unanswered?.sort()).toEqual(['hd-u-1', 'hd-u-2'])
  })

  it('given one of its orders listed with a status ccxt does not know, cancelAll own cancels the rest as read and that one by its venue id', async () => {
    // given a venue whose open-order list shows one order with a status no venue family defines
    const venue = await startFakeBinance()
    let odd: string | undefined
    let idless: string | undefined
    const fetchImplementation: FetchLike = async (url, init) => {
      const answer = await venue.fetchImplementation(url, init)
      if ((init.method ?? 'GET') !== 'GET' || new URL(url).pathname !== '/fapi/v1/openOrders' || odd === undefined) return answer
      const list = (await answer.json()) as { clientOrderId: string; status: string; orderId?: number }[]
      for (const o of list) if (o.clientOrderId === odd) o.status = '_UPDATE'
      for (const o of list) if (o.clientOrderId === idless) delete o.orderId
      return new Response(JSON.stringify(list), { status: answer.status, headers: answer.headers })
    }
    const exchange = await fakeBinanceUsdm(venue, { config: { fetchImplementation } })
    const gateway = new CcxtGateway({ venue: 'binanceusdm', exchange, symbols: [BTC, ETH], retry: { baseDelayMs: 10 } })
    cleanups.push(async () => {
      await gateway.close()
      await venue.close()
    })
    await gateway.connect()
    for (const id of ['hdodd00001', 'hdodd00002', 'hdodd00003']) await gateway.submit(limit(id))
    odd = 'hdodd00002'

    // when haltd cancels its own orders
    const result = await gateway.cancelAll({ scope: 'own' })

    // then all three are gone, the unreadable one cancelled by its id, and each is confirmed
    expect(venue.engine.open('futures')).toEqual([])
    expect(result.canceled.sort()).toEqual(['hdodd00001', 'hdodd00002', 'hdodd00003'])
    expect(result.failed).toEqual([])

    // and one listed without a venue id cannot be cancelled by it: it is named as failed, never left out
    await gateway.submit(limit('hdodd00004'))
    idless = 'hdodd00004'
    odd = 'none'
    const again = await gateway.cancelAll({ scope: 'own' })
    expect(again.canceled).toEqual([])
    expect(again.failed).toEqual([{ id: 'hdodd00004', reason: expect.stringContaining('without a venue id and a market to cancel it by') }])
  })

  it('cancelAll account on a venue without cancel-all (as OKX) cancels every order in batches', async () => {
    const { gateway, venue, exchange } = await rig('futures', { gateway: { capabilities: { massCancel: 'none' } } })
    await gateway.submit(limit('hd-n-1'))
    await exchange.createOrder(ETH, 'limit', 'buy', 0.1, 2_000, { clientOrderId: 'manual-n' })
    const result = await gateway.cancelAll({ scope: 'account' })
    expect(result.method).toBe('batched')
    expect(result.canceled.sort()).toEqual(['hd-n-1', 'manual-n'])
    expect(venue.engine.open('futures')).toEqual([])
    expect(venue.faults.hits('DELETE /fapi/v1/allOpenOrders')).toBe(0)
  })

  it('arms the countdown per symbol through fapiPrivatePostCountdownCancelAll and disarms it', async () => {
    const { gateway, venue } = await rig('futures')
    expect(await gateway.armDeadMansSwitch(60_000)).toEqual({ armed: true, method: 'fapiPrivatePostCountdownCancelAll' })
    expect(venue.engine.armedCountdowns().sort()).toEqual(['BTCUSDT', 'ETHUSDT'])
    await gateway.disarmDeadMansSwitch()
    expect(venue.engine.armedCountdowns()).toEqual([])
  })

  it('an armed countdown that is not refreshed cancels the open orders at the venue', async () => {
    const { gateway, venue } = await rig('futures')
    await gateway.submit(limit('hd-dms-1'))
    await gateway.armDeadMansSwitch(200)
    await vi.waitFor(() => expect(venue.engine.open('futures')).toEqual([]), { timeout: 5_000, interval: 20 })
  })

  it('polls fills and final statuses of its orders: a resting order filled at the venue', async () => {
    const { gateway, venue } = await rig('futures')
    const seen: OrderUpdate[] = []
    gateway.onUpdate((u) => seen.push(u))
    await gateway.submit(limit('hd-p-1'))
    venue.engine.fillResting('futures', 'hd-p-1')
    await vi.waitFor(
      () => {
        expect(seen).toContainEqual(expect.objectContaining({ kind: 'fill', clientOrderId: 'hd-p-1', qty: 0.01, price: 40_000, liquidity: 'maker' }))
        expect(seen).toContainEqual(expect.objectContaining({ kind: 'status', clientOrderId: 'hd-p-1', status: 'filled' }))
      },
      { timeout: 5_000, interval: 20 },
    )
    expect(seen.filter((u) => u.kind === 'fill')).toHaveLength(1)
  })

  it('given a fill the venue first reports unreadably, when it later reports it readably, then the fill is booked, and the unreadable answer was said once', async () => {
    const { gateway, venue, errors } = await rig('futures')
    const seen: OrderUpdate[] = []
    gateway.onUpdate((u) => seen.push(u))
    await gateway.submit(limit('hd-p-nan'))
    venue.engine.fillResting('futures', 'hd-p-nan')
    // the trade list answers its one trade with an amount that is no number, for several polls
    const unreadable = venue.engine.trades.map((t) => ({ ...futuresTrade(t), qty: 'NaN' }))
    venue.faults.inject('GET /fapi/v1/userTrades', { kind: 'status', status: 200, body: JSON.stringify(unreadable), contentType: 'application/json' })
    await vi.waitFor(() => expect(venue.faults.hits('GET /fapi/v1/userTrades')).toBeGreaterThanOrEqual(3), { timeout: 5_000, interval: 20 })
    expect(seen.filter((u) => u.kind === 'fill')).toEqual([])
    // then the venue answers it as it is
    venue.faults.clear('GET /fapi/v1/userTrades')
    await vi.waitFor(() => expect(seen).toContainEqual(expect.objectContaining({ kind: 'fill', clientOrderId: 'hd-p-nan', qty: 0.01, price: 40_000 })), {
      timeout: 5_000,
      interval: 20,
    })
    expect(seen.filter((u) => u.kind === 'fill')).toHaveLength(1)
    expect(errors.filter((e) => e.message.includes('has no amount or price'))).toHaveLength(1)
  })

  it('polls the others on when the venue lists one order in a shape it cannot read, and says so once', async () => {
    // given a venue listing one open order with no side
    const { gateway, venue, errors } = await rig('futures')
    const seen: OrderUpdate[] = []
    gateway.onUpdate((u) => seen.push(u))
    await gateway.submit(limit('hd-p-bad'))
    await gateway.submit(limit('hd-p-2'))
    venue.malformOrder('hd-p-bad', { side: 'SIDEWAYS' })
    // when the other order fills at the venue
    venue.engine.fillResting('futures', 'hd-p-2')
    // then its fill and final status still come through the polls
    await vi.waitFor(
      () => {
        expect(seen).toContainEqual(expect.objectContaining({ kind: 'fill', clientOrderId: 'hd-p-2', qty: 0.01 }))
        expect(seen).toContainEqual(expect.objectContaining({ kind: 'status', clientOrderId: 'hd-p-2', status: 'filled' }))
      },
      { timeout: 5_000, interval: 20 },
    )
    // and the unreadable one is reported once, across several polls, naming what is wrong
    await new Promise((r) => setTimeout(r, 300))
    const unreadable = errors.filter((e) => e.message.includes('could not be read'))
    expect(unreadable.map((e) => [e.kind, e.message])).toEqual([
      ['bad-response', expect.stringMatching(/^binanceusdm: open order hd-p-bad could not be read, left out: order \d+ has no side \(got "sideways"\)$/)],
    ])
    // the unreadable order reports no status it did not have
    expect(seen.filter((u) => u.clientOrderId === 'hd-p-bad')).toEqual([])
  })

  it('lists the open orders it can read and hands over the one it cannot, only when asked to', async () => {
    const { gateway, venue } = await rig('futures')
    await gateway.submit(limit('hd-l-1'))
    await gateway.submit(limit('hd-l-bad'))
    venue.malformOrder('hd-l-bad', { origQty: '0' })
    // asked without a callback, the list fails whole: a shutdown never reads a partial list as whole
    await expect(gateway.fetchOpenOrders([BTC])).rejects.toMatchObject({ kind: 'bad-response' })
    const unread: unknown[] = []
    const open = await gateway.fetchOpenOrders([BTC], { unreadable: (u) => unread.push(u) })
    expect(open.map((o) => o.clientOrderId)).toEqual(['hd-l-1'])
    expect(unread).toEqual([{ venueOrderId: expect.any(String), clientOrderId: 'hd-l-bad', symbol: BTC, reason: expect.stringMatching(/has no amount$/) }])
  })

  it('resyncs its clock on InvalidNonce and then succeeds, for a read and for a submit', async () => {
    const { gateway, venue, exchange } = await rig('futures')
    venue.clockOffsetMs = 120_000
    expect((await gateway.fetchBalances()).map((b) => b.asset)).toEqual(['USDT'])
    expect(exchange.options.timeDifference).toBeLessThan(-100_000)
    venue.clockOffsetMs = -120_000
    await gateway.submit(limit('hd-skew'))
    expect(venue.engine.open('futures').map((o) => o.clientOrderId)).toEqual(['hd-skew'])
    expect(venue.faults.hits('GET /fapi/v1/time')).toBe(2)
  })
})

describe('CcxtGateway over ccxt.pro binance (spot)', () => {
  it('has per-symbol mass cancel, no batch cancel (Binance batches contracts only), no countdown, no positions, a stream', async () => {
    const { gateway } = await rig('spot', { client: { ws: true } })
    expect(gateway.capabilities).toEqual({
      massCancel: 'per-symbol',
      batchCancel: 0,
      deadMansSwitch: 'none',
      reduceOnly: false,
      streamingUpdates: true,
      positions: false,
      cancelAnswersOmitFills: false,
    })
    expect(await gateway.armDeadMansSwitch(60_000)).toEqual({ armed: false })
  })

  it('pushes a fill and the filled status over the user-data stream', async () => {
    const { gateway, venue } = await rig('spot', { client: { ws: true } })
    expect(venue.userStreamSubscribers()).toBe(1)
    const seen: OrderUpdate[] = []
    gateway.onUpdate((u) => seen.push(u))
    await gateway.submit(limit('hd-ws-1', 'BTC/USDT'))
    venue.engine.fillResting('spot', 'hd-ws-1', 0.004)
    await vi.waitFor(
      () => {
        expect(seen).toContainEqual(expect.objectContaining({ kind: 'fill', clientOrderId: 'hd-ws-1', qty: 0.004, price: 40_000 }))
        expect(seen).toContainEqual({ kind: 'status', clientOrderId: 'hd-ws-1', venueOrderId: expect.any(String), status: 'partially-filled' })
      },
      { timeout: 5_000, interval: 20 },
    )
    expect(venue.faults.hits('GET /api/v3/openOrders')).toBe(0)
  })

  it('a market order answers with its fills and moves the balances', async () => {
    const { gateway } = await rig('spot')
    const ack = await gateway.submit({ clientOrderId: 'hd-spot-m', symbol: 'BTC/USDT', side: 'buy', type: 'market', qty: 0.1 })
    expect(ack).toMatchObject({ status: 'filled', filled: 0.1 })
    expect(ack.fills).toEqual([expect.objectContaining({ clientOrderId: 'hd-spot-m', qty: 0.1, price: 50_000, tradeId: expect.any(String) })])
    const balances = await gateway.fetchBalances()
    expect(balances.find((b) => b.asset === 'BTC')).toMatchObject({ free: 10.1, used: 0, total: 10.1 })
    expect(balances.find((b) => b.asset === 'USDT')).toMatchObject({ total: 995_000 })
  })

  it('cancelAll own cancels one by one and reports each order by its own client id', async () => {
    const { gateway, venue } = await rig('spot')
    await gateway.submit(limit('hd-s-1', 'BTC/USDT'))
    await gateway.submit(limit('hd-s-2', 'ETH/USDT', 'sell', 4_000))
    const result = await gateway.cancelAll({ scope: 'own' })
    expect(result.method).toBe('per-order')
    expect(result.canceled.sort()).toEqual(['hd-s-1', 'hd-s-2'])
    expect(venue.engine.open('spot')).toEqual([])
  })

  it('cancelAll account reads what Binance spot lists as canceled, and an empty book (-2011) is simply done', async () => {
    const { gateway, venue } = await rig('spot')
    await gateway.submit(limit('hd-s-3', 'BTC/USDT'))
    const result = await gateway.cancelAll({ scope: 'account', symbols: ['BTC/USDT', 'ETH/USDT'] })
    // the spot answer carries the order's id as origClientOrderId, not as clientOrderId
    expect(result).toEqual({ scope: 'account', method: 'mass-cancel', canceled: ['hd-s-3'], failed: [] })
    expect(venue.faults.hits('DELETE /api/v3/openOrders')).toBe(2)
  })

  it('refuses a reduce-only order on spot rather than sending a meaningless flag', async () => {
    const { gateway, venue } = await rig('spot')
    await expect(
      gateway.submit({ clientOrderId: 'hd-ro', symbol: 'BTC/USDT', side: 'sell', type: 'market', qty: 0.1, reduceOnly: true }),
    ).rejects.toMatchObject({
      kind: 'unsupported',
    })
    expect(venue.faults.hits('POST /api/v3/order')).toBe(0)
  })

  it('close() stops the stream and polling and leaves the venue without subscribers', async () => {
    const { gateway, venue } = await rig('spot', { client: { ws: true } })
    gateway.onUpdate(() => undefined)
    expect(venue.userStreamSubscribers()).toBe(1)
    await gateway.close()
    await vi.waitFor(() => expect(venue.userStreamSubscribers()).toBe(0), { timeout: 5_000, interval: 20 })
    await expect(gateway.fetchBalances()).rejects.toMatchObject({ kind: 'network' })
  })
})

describe('CcxtGateway close()', () => {
  const resources = (): Record<string, number> => {
    const counts: Record<string, number> = {}
    for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1
    return counts
  }

  it('leaves no timer, socket or WebSocket behind once it and the venue are closed', async () => {
    const before = resources()
    for (const kind of ['spot', 'futures'] as const) {
      const venue = await startFakeBinance()
      const exchange = kind === 'spot' ? await fakeBinanceSpot(venue, { ws: true }) : await fakeBinanceUsdm(venue)
      const symbol = kind === 'spot' ? 'BTC/USDT' : BTC
      const gateway = new CcxtGateway({ venue: kind, exchange, symbols: [symbol], pollIntervalMs: 20 })
      await gateway.connect()
      gateway.onUpdate(() => undefined)
      await gateway.submit(limit(`hd-close-${kind}`, symbol))
      await gateway.armDeadMansSwitch(60_000)
      await gateway.cancelAll({ scope: 'account' })
      await gateway.close()
      await venue.close()
    }
    // not vi.waitFor: its own timers would be counted; sockets close a few ticks after the venue
    const keys = ['Timeout', 'TCPSocketWrap', 'TCPServerWrap']
    const lingering = (): string[] => keys.filter((k) => (resources()[k] ?? 0) > (before[k] ?? 0))
    for (let i = 0; i < 200 && lingering().length > 0; i++) await new Promise((r) => setTimeout(r, 50))
    expect(lingering()).toEqual([])
  })
})

describe('CcxtGateway update stream resilience', () => {
  it('falls back to polling when the WebSocket cannot be reached, and says so in its capabilities', async () => {
    const venue = await startFakeBinance()
    const exchange = await fakeBinanceSpot(venue, { ws: true })
    // a path the venue does not serve: the upgrade is refused
    ;(exchange.urls.api.ws as Record<string, Record<string, string>>)['ws-api']!.spot = `${venue.wsApiUrl}-nowhere`
    const errors: VenueError[] = []
    const gateway = new CcxtGateway({
      venue: 'binance',
      exchange,
      symbols: ['BTC/USDT'],
      pollIntervalMs: 50,
      callTimeoutMs: 3_000,
      retry: { attempts: 1 },
      onError: (e) => errors.push(e),
    })
    cleanups.push(async () => {
      await gateway.close()
      await venue.close()
    })
    expect(gateway.capabilities.streamingUpdates).toBe(true)
    await gateway.connect()
    expect(gateway.capabilities.streamingUpdates).toBe(false)
    expect(errors.length).toBeGreaterThan(0)
    const seen: OrderUpdate[] = []
    gateway.onUpdate((u) => seen.push(u))
    await gateway.submit(limit('hd-fb-1', 'BTC/USDT'))
    await gateway.cancel({ clientOrderId: 'hd-fb-1', symbol: 'BTC/USDT' })
    await vi.waitFor(() => expect(seen).toContainEqual(expect.objectContaining({ kind: 'status', clientOrderId: 'hd-fb-1', status: 'canceled' })), {
      timeout: 5_000,
      interval: 20,
    })
  })

  it('keeps reporting after the venue drops the stream: it polls the gap and subscribes again', async () => {
    const { gateway, venue } = await rig('spot', { client: { ws: true } })
    const seen: OrderUpdate[] = []
    gateway.onUpdate((u) => seen.push(u))
    await gateway.submit(limit('hd-drop-1', 'BTC/USDT'))
    venue.dropWebSockets()
    venue.engine.fillResting('spot', 'hd-drop-1')
    await vi.waitFor(
      () => {
        expect(seen).toContainEqual(expect.objectContaining({ kind: 'fill', clientOrderId: 'hd-drop-1', qty: 0.01 }))
        expect(seen).toContainEqual(expect.objectContaining({ kind: 'status', clientOrderId: 'hd-drop-1', status: 'filled' }))
      },
      { timeout: 10_000, interval: 20 },
    )
    await vi.waitFor(() => expect(venue.userStreamSubscribers()).toBe(1), { timeout: 10_000, interval: 20 })
    await gateway.submit(limit('hd-drop-2', 'BTC/USDT'))
    venue.engine.fillResting('spot', 'hd-drop-2')
    await vi.waitFor(() => expect(seen).toContainEqual(expect.objectContaining({ kind: 'fill', clientOrderId: 'hd-drop-2' })), {
      timeout: 10_000,
      interval: 20,
    })
  })
})

describe('CcxtGateway reading an open-order list that contradicts itself', () => {
  it('given the list shows an order both NEW and CANCELED, the order is taken as open: no canceled status is reported, and the contradiction is, naming the order', async () => {
    const { gateway, exchange, venue, errors } = await rig('futures')
    const seen: OrderUpdate[] = []
    gateway.onUpdate((u) => seen.push(u))
    await gateway.submit(limit('hd-contra'))
    const listed = (await (exchange as unknown as { fapiPrivateGetOpenOrders: () => Promise<Record<string, unknown>[]> }).fapiPrivateGetOpenOrders()) as Record<
      string,
      unknown
    >[]
    expect(listed.map((o) => o.clientOrderId)).toEqual(['hd-contra'])
    const body = JSON.stringify([...listed, ...listed.map((o) => ({ ...o, status: 'CANCELED' }))])
    const polls = venue.faults.hits('GET /fapi/v1/openOrders')
    venue.faults.inject('GET /fapi/v1/openOrders', { kind: 'status', status: 200, body, contentType: 'application/json' })
    await vi.waitFor(() => expect(venue.faults.hits('GET /fapi/v1/openOrders')).toBeGreaterThan(polls + 2), { timeout: 5_000 })
    expect(seen.filter((u) => u.kind === 'status' && u.clientOrderId === 'hd-contra' && u.status === 'canceled')).toEqual([])
    expect(errors.map((e) => e.message)).toContain(
      'binanceusdm: the venue listed order hd-contra among its open orders with status canceled: taken as open, its status not believed',
    )
    venue.faults.clear()
    expect((await gateway.fetchOpenOrders([BTC])).map((o) => o.clientOrderId)).toEqual(['hd-contra'])
  })
})
