import { afterEach, describe, expect, it } from 'vitest'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import {
  bybitFaults,
  fakeBybitClient,
  startFakeBybit,
  venueOrderId as bybitOrderId,
  type BybitClientOptions,
  type FakeBybit,
} from '../support/fake-bybit/index.js'

// CcxtGateway over the real ccxt.bybit at the fake Bybit: the venue's pages, call shapes, batch
// answers, dead man's switch and manners.

const BTC = 'BTC/USDT:USDT'
const ETH = 'ETH/USDT:USDT'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function rig(client: BybitClientOptions = { enableRateLimit: false }): Promise<{ venue: FakeBybit; gateway: CcxtGateway }> {
  const venue = await startFakeBybit()
  const gateway = new CcxtGateway({
    venue: 'bybit',
    exchange: fakeBybitClient(venue, client),
    symbols: [BTC, ETH],
    pollIntervalMs: 50,
    retry: { baseDelayMs: 10 },
  })
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  await gateway.connect()
  return { venue, gateway }
}

/** Orders resting at the venue, placed there directly (as an earlier run of haltd left them). */
function resting(venue: FakeBybit, n: number, symbol = 'BTCUSDT', prefix = 'hd-rest'): string[] {
  return Array.from({ length: n }, (_, i) => {
    const orderLinkId = `${prefix}-${i}`
    venue.account.place('linear', { symbol, side: 'Buy', orderType: 'Limit', qty: 0.001, price: 40_000 - i, orderLinkId })
    return orderLinkId
  })
}

describe('CcxtGateway over ccxt.bybit', () => {
  it('cancels every order of a symbol in account scope with one cancel-all, which lists all it cancelled', async () => {
    const { venue, gateway } = await rig()
    const ids = resting(venue, 25)
    const result = await gateway.cancelAll({ scope: 'account', symbols: [BTC] })
    expect(result).toMatchObject({ scope: 'account', method: 'mass-cancel', failed: [] })
    expect([...result.canceled].sort()).toEqual([...ids].sort())
    expect(venue.account.open('linear')).toEqual([])
  })

  // ccxt.bybit returns the first page (20) of open orders unless asked for more
  it('given a submit Bybit answered "system error" (10016) after placing the order, looks it up by its client order id and acknowledges it, never records it refused', async () => {
    // given Bybit places the order, then answers 10016
    const { venue, gateway } = await rig()
    const clientOrderId = 'hd-sys-1'
    venue.beforeNext('POST /v5/order/create', () =>
      venue.account.place('linear', { symbol: 'BTCUSDT', side: 'Buy', orderType: 'Limit', qty: 0.001, price: 40_000, orderLinkId: clientOrderId }),
    )
    venue.faults.inject('POST /v5/order/create', bybitFaults.systemError(), 1)

    // when
    const ack = await gateway.submit({ clientOrderId, symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 40_000 })

    // then
    expect(ack).toMatchObject({ clientOrderId, status: 'open', filled: 0 })
    expect(venue.account.open('linear').map((o) => o.clientOrderId)).toEqual([clientOrderId])
  })

  it('given a submit Bybit answered "system error" (10016) without placing it, says its fate is unknown until reconciled, not that the venue refused it', async () => {
    const { venue, gateway } = await rig()
    venue.faults.inject('POST /v5/order/create', bybitFaults.systemError(), 1)

    const failure = await gateway
      .submit({ clientOrderId: 'hd-sys-2', symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 40_000 })
      .catch((e: unknown) => e)

    expect(failure).toMatchObject({ kind: 'unavailable', refused: false })
    expect(String((failure as Error).message)).toContain('was not found by its client order id afterwards, but may still arrive')
  })

  it.each([
    [110008, 'Order has been finished or canceled'],
    [110010, 'Order already cancelled'],
    [170142, 'Order has been canceled'],
    [170143, 'Cannot be found on order book'],
  ])(
    'given a cancel Bybit answers %i (%s), says the venue does not hold the order open, for a lookup to settle, not that the cancel was refused',
    async (retCode, retMsg) => {
      const { venue, gateway } = await rig()
      const [id] = resting(venue, 1)
      venue.faults.inject('POST /v5/order/cancel', bybitFaults.error(retCode, retMsg), 1)

      const result = await gateway.cancel({ clientOrderId: id!, symbol: BTC })

      expect(result).toEqual({ clientOrderId: id, outcome: 'not-found' })
    },
  )

  it('lists every open order of a symbol, past Bybit page of 20', async () => {
    const { venue, gateway } = await rig()
    resting(venue, 25)
    expect(await gateway.fetchOpenOrders([BTC])).toHaveLength(25)
  })

  // ccxt.bybit's fetchPositions takes one symbol or none
  it('lists the positions of every configured symbol', async () => {
    const { venue, gateway } = await rig()
    venue.account.place('linear', { symbol: 'BTCUSDT', side: 'Buy', orderType: 'Market', qty: 0.01 })
    venue.account.place('linear', { symbol: 'ETHUSDT', side: 'Sell', orderType: 'Market', qty: 0.1 })
    expect(await gateway.fetchPositions()).toEqual(
      expect.arrayContaining([
        { symbol: BTC, qty: 0.01, entryPrice: 50_000 },
        { symbol: ETH, qty: -0.1, entryPrice: 3_000 },
      ]),
    )
  })

  // Bybit's batch answer carries the id of an order it could not cancel, with 110001 in retExtInfo only
  it('does not count as cancelled an order the batch answered 110001 for (it filled first)', async () => {
    const { venue, gateway } = await rig()
    const [a, b, c] = resting(venue, 3)
    venue.beforeNext('POST /v5/order/cancel-batch', () => venue.engine.fillResting('futures', b!))
    const result = await gateway.cancelAll({ scope: 'own', symbols: [BTC] })
    expect([...result.canceled].sort()).toEqual([a, c].sort())
    // refused, or left to be looked up: anything but cancelled
    expect([...result.failed.map((f) => f.id), ...(result.unanswered ?? [])]).toEqual([b])
  })

  it("arms Bybit's disconnect protection (DCP) as its dead man's switch", async () => {
    const { venue, gateway } = await rig()
    expect(await gateway.armDeadMansSwitch(60_000)).toMatchObject({ armed: true })
    expect(venue.account.dcp.get('DERIVATIVES')).toBe(60)
  })

  // ccxt.bybit asks whether the account is unified before each call that needs it until one
  // answer has come back, so batches cancelled in parallel through it would each ask (two
  // requests apiece, through the rate limiter): on 40 symbols that spent an emergency's budget.
  it('asks at most once whether the account is unified, however many batches it cancels at once', async () => {
    const { venue, gateway } = await rig({})
    resting(venue, 20)
    const result = await gateway.cancelAll({ scope: 'own', symbols: [BTC] })
    expect(result.canceled).toHaveLength(20)
    expect(venue.faults.hits('GET /v5/user/query-api')).toBeLessThanOrEqual(1)
  })

  // the gateway's own ccxt option (maxRetriesOnFailure) must never ride along into a body
  it('sends Bybit only the fields Bybit defines', async () => {
    const { venue, gateway } = await rig()
    await gateway.submit({ clientOrderId: 'hd-fields-1', symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 40_000, timeInForce: 'GTC' })
    await gateway.submit({ clientOrderId: 'hd-fields-2', symbol: BTC, side: 'buy', type: 'market', qty: 0.001 })
    await gateway.submit({ clientOrderId: 'hd-fields-3', symbol: BTC, side: 'sell', type: 'market', qty: 0.001, reduceOnly: true })
    await gateway.cancelAll({ scope: 'account', symbols: [BTC] })
    expect(venue.unknownFields).toEqual([])
  })

  // one resync for the venue; the other calls wait for it
  it('resyncs its clock once when parallel calls all meet a timestamp refusal', async () => {
    const { venue, gateway } = await rig()
    venue.clockOffsetMs = 60_000
    const reads = await Promise.all(Array.from({ length: 5 }, () => gateway.fetchOpenOrders([BTC])))
    expect(reads).toEqual([[], [], [], [], []])
    expect(venue.faults.hits('GET /v5/market/time')).toBe(1)
  })

  // Bybit names when its limit window resets (X-Bapi-Limit-Reset-Timestamp)
  it('asks again after 10006 no sooner than the reset time Bybit named', async () => {
    const { venue, gateway } = await rig()
    const [clientOrderId] = resting(venue, 1)
    const venueOrderId = bybitOrderId('linear', venue.account.open('linear')[0]!.orderId)
    const times: number[] = []
    venue.beforeNext('POST /v5/order/cancel', () => {
      times.push(Date.now())
      venue.beforeNext('POST /v5/order/cancel', () => times.push(Date.now()))
    })
    venue.faults.inject('POST /v5/order/cancel', bybitFaults.rateLimited(400), 1)
    const result = await gateway.cancel({ clientOrderId: clientOrderId!, symbol: BTC, venueOrderId })
    expect(result.outcome).toBe('canceled')
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(350)
  })
})
