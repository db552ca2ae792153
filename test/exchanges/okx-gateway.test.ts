import { afterEach, describe, expect, it } from 'vitest'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { fakeOkx, okxFaults, startFakeOkx, type FakeOkx } from '../support/fake-okx/index.js'

// CcxtGateway on OKX, through the real ccxt.okx at the fake OKX: the venue's rules for fields,
// batch answers and pages, each stated as the behaviour haltd owes there.

const SWAP = 'BTC/USDT:USDT'
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function given(): Promise<{ venue: FakeOkx; gateway: CcxtGateway }> {
  const venue = await startFakeOkx()
  const exchange = fakeOkx(venue, { type: 'swap', marketTypes: ['spot', 'swap'], enableRateLimit: false })
  const gateway = new CcxtGateway({ venue: 'okx', exchange, symbols: [SWAP] })
  cleanups.push(
    () => venue.close(),
    () => gateway.close(),
  )
  await gateway.connect()
  return { venue, gateway }
}

/** Resting buys below the market, placed on the account by another program, oldest first. */
const resting = (venue: FakeOkx, n: number, prefix: string): string[] =>
  Array.from({ length: n }, (_, i) => {
    venue.rest({ instId: 'BTC-USDT-SWAP', side: 'buy', sz: 0.1, px: 30_000 + i, clOrdId: `${prefix}${i}` })
    return `${prefix}${i}`
  })

describe('CcxtGateway at OKX', { timeout: 20_000 }, () => {
  it('gives a swap market the contract size OKX lists (ctVal), which scales its notional and P&L', async () => {
    const { venue, gateway } = await given()
    const swap = (await gateway.fetchMarkets()).find((m) => m.symbol === SWAP)
    const listed = venue.instruments.get('BTC-USDT-SWAP').ctVal
    expect(listed).not.toBe(1)
    expect(swap).toMatchObject({ symbol: SWAP, contractSize: listed })
  })

  // OKX ignores fields it does not define: only the fake's record shows one a client sent
  it('sends an order with only the fields OKX defines', async () => {
    const { venue, gateway } = await given()
    const ack = await gateway.submit({ clientOrderId: 'hdokx1', symbol: SWAP, side: 'buy', type: 'limit', qty: 0.1, price: 40_000, timeInForce: 'GTC' })
    expect(ack.status).toBe('open')
    expect(venue.openCount()).toBe(1)
    expect(venue.ignoredFields).toEqual([])
  })

  // ccxt drops the failed item from its answer, so the answers no longer line up with the orders
  it('counts an order canceled only on its own answer: one filled as the batch left is not reported canceled', async () => {
    const { venue, gateway } = await given()
    const ids = resting(venue, 3, 'other')
    let filled: string | undefined
    venue.beforeNext('POST /api/v5/trade/cancel-batch-orders', (body) => {
      const first = (body as { ordId: string }[])[0]!
      filled = first.ordId
      venue.fill(first.ordId)
    })
    const result = await gateway.cancelAll({ scope: 'account', symbols: [SWAP] })
    const filledClOrdId = venue.engine.orders.futures.get(Number(filled))!.clientOrderId
    expect(result.canceled).not.toContain(filledClOrdId)
    expect([...result.canceled].sort()).toEqual(ids.filter((id) => id !== filledClOrdId).sort())
    expect(venue.openCount()).toBe(0)
  })

  // OKX answers 100 open orders a page; ccxt returns one page per call
  it('reads every page of open orders and cancels them all in account scope', async () => {
    const { venue, gateway } = await given()
    const ids = resting(venue, 250, 'page')
    expect((await gateway.fetchOpenOrders([SWAP])).map((o) => o.clientOrderId).sort()).toEqual([...ids].sort())
    const result = await gateway.cancelAll({ scope: 'account', symbols: [SWAP] })
    expect(result.canceled).toHaveLength(250)
    expect(venue.openCount()).toBe(0)
  })

  it("arms OKX's cancel-all-after as a countdown in whole seconds, and disarms it", async () => {
    const { venue, gateway } = await given()
    expect(gateway.capabilities.deadMansSwitch).toBe('countdown')
    const before = Date.now()
    expect(await gateway.armDeadMansSwitch(30_000)).toEqual({ armed: true, method: 'cancelAllOrdersAfter' })
    expect(venue.deadMansSwitch()).toBeGreaterThanOrEqual(before + 30_000)
    expect(venue.requests.at(-1)).toMatchObject({ path: '/api/v5/trade/cancel-all-after', body: { timeOut: 30 } })
    await gateway.disarmDeadMansSwitch()
    expect(venue.deadMansSwitch()).toBeUndefined()
  })

  it("places an order when the venue's clock has moved 45 s away: 50102, one resync from /public/time, then accepted", async () => {
    const { venue, gateway } = await given()
    venue.clockOffsetMs = 45_000
    const ack = await gateway.submit({ clientOrderId: 'hdokx2', symbol: SWAP, side: 'buy', type: 'limit', qty: 0.1, price: 40_000, timeInForce: 'GTC' })
    expect(ack.status).toBe('open')
    expect(venue.faults.hits('GET /api/v5/public/time')).toBe(1)
    expect(venue.openCount()).toBe(1)
  })

  it('reads open orders through two rate-limit answers (HTTP 429, 50011)', async () => {
    const { venue, gateway } = await given()
    resting(venue, 2, 'rl')
    venue.faults.inject('GET /api/v5/trade/orders-pending', okxFaults.rateLimited(), 2)
    expect((await gateway.fetchOpenOrders([SWAP])).map((o) => o.clientOrderId).sort()).toEqual(['rl0', 'rl1'])
    expect(venue.faults.hits('GET /api/v5/trade/orders-pending')).toBe(3)
  })
})
