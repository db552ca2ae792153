import { afterEach, describe, expect, it } from 'vitest'
import { OrderRouter } from '../../src/core/execution/order-router.js'
import { formatShutdownReport } from '../../src/core/shutdown/report.js'
import type { ShutdownOptionsInput } from '../../src/core/shutdown/options.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { order, position } from '../../src/projections/index.js'
import { fakeBybitClient, startFakeBybit } from '../support/fake-bybit/index.js'
import { rig } from './rig.js'
import { replaysClean } from './okx-rig.js'
import { until } from '../support/until.js'

// haltd's own orders on two books of a Bybit unified account (spot, linear USDT), through the real
// ccxt.bybit over CcxtGateway following the whole account, against the fake Bybit.

const VENUE = 'bybit'
const SPOT = 'BTC/USDT'
const PERP = 'BTC/USDT:USDT'
const NO_PERMISSION = { retCode: 10005, retMsg: 'Permission denied, please check your API key permissions.' }

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A buy resting on spot and one on the linear perpetual, placed through haltd's router. */
async function restingOnTwoBooks(options: ShutdownOptionsInput = { graceful: { settleMs: 20, waitTimeoutMs: 300 } }) {
  const venue = await startFakeBybit()
  const gateway = new CcxtGateway({
    venue: VENUE,
    exchange: fakeBybitClient(venue, { enableRateLimit: false }),
    shutdownExchange: fakeBybitClient(venue, { enableRateLimit: false }),
    symbols: [PERP],
    wholeAccount: true,
    stream: false,
    pollIntervalMs: 3_600_000,
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
  })
  await gateway.connect()
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  const r = rig({ venues: [VENUE], gateways: { [VENUE]: () => gateway }, options })
  const engine = new OrderRouter({ log: r.log, gate: r.gate, venues: r.venues, runTag: 'e', submitTimeoutMs: 10_000, positionOf: () => 0 })
  cleanups.push(async () => engine.close())
  const ids: Record<'spot' | 'perp', string> = { spot: '', perp: '' }
  for (const [book, symbol] of [
    ['spot', SPOT],
    ['perp', PERP],
  ] as const) {
    const out = await engine.submit({ venue: VENUE, symbol, side: 'buy', type: 'limit', qty: 0.001, price: 40_000, origin: { kind: 'strategy', id: 'mm' } })
    if (out.status !== 'accepted') throw new Error(`resting order not accepted: ${JSON.stringify(out)}`)
    ids[book] = out.clientOrderId
  }
  return { venue, r, ids }
}

/** The orders the log says were canceled, in the order it says so. */
const canceledIds = (r: Awaited<ReturnType<typeof restingOnTwoBooks>>['r']): string[] =>
  r
    .events()
    .filter((e) => e.type === 'order.canceled')
    .map((e) => (e.data as { clientOrderId: string }).clientOrderId)

const openAtVenue = (venue: Awaited<ReturnType<typeof startFakeBybit>>): string[] =>
  [...venue.account.open('spot'), ...venue.account.open('linear')].map((o) => o.clientOrderId).sort()

describe('settling orders by their absence from a Bybit account listed book by book', () => {
  it('given the spot book refused to haltd once its orders rest there, when the graceful shutdown settles them, then a spot order is not taken for canceled because the linear list lacks it', async () => {
    // given
    const { venue, r, ids } = await restingOnTwoBooks()
    venue.refuse({ category: 'spot' }, NO_PERMISSION)

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then the linear order is canceled on the venue's word
    const canceled = canceledIds(r)
    expect(canceled).toEqual([ids.perp])
    // and the spot order, still resting at the venue, is not said canceled: the report leaves it live
    expect(venue.account.open('spot').map((o) => o.clientOrderId)).toEqual([ids.spot])
    expect(report.openOrders.count).toBe(1)
    const settled = r
      .events()
      .filter((e) => e.type === 'shutdown.command-completed')
      .map((e) => e.data as { detail?: { reasons?: { clientOrderId: string; reason: string }[] } })
      .flatMap((d) => d.detail?.reasons ?? [])
    expect(settled).toContainEqual({
      clientOrderId: ids.spot,
      reason: expect.stringMatching(/did not show its book \(spot: .*Permission denied.*\): its absence is no proof/),
    })
    expect(report).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
    replaysClean(r)
  })
})

describe('cancelling a Bybit account book by book in a shutdown', () => {
  it('given the spot book’s list failing for a passing reason the whole time but its cancels answering, when the graceful shutdown cancels its own orders, then the spot order is cancelled by its id and the linear one by the book’s cancel', async () => {
    // given
    const { venue, r, ids } = await restingOnTwoBooks({
      graceful: { settleMs: 20, waitTimeoutMs: 300, budgets: { 'cancel orders and flatten': 2_000, 'wait for order completion': 1_000 } },
    })
    venue.failBook({ category: 'spot' }, { retCode: 10016, retMsg: 'Internal system error.' }, 1_000_000, 'GET /v5/order/realtime')

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then both orders are gone at the venue and recorded canceled
    expect(openAtVenue(venue)).toEqual([])
    const canceled = canceledIds(r)
    expect(canceled.sort()).toEqual([ids.perp, ids.spot].sort())
    expect(report.openOrders.count).toBe(0)
    // and the report still names the book its cancel-all could not list
    expect(report.booksNotCancelled).toEqual([{ venue: VENUE, book: 'spot', detail: expect.stringMatching(/^its list failed .*10016/) }])
    replaysClean(r)
  })

  it('given the spot book failing for a passing reason the whole time, when the graceful shutdown cancels, then the linear order is canceled, and the report names the spot book whose cancel-all failed and leaves its order live', async () => {
    // given
    const { venue, r, ids } = await restingOnTwoBooks({
      graceful: { settleMs: 20, waitTimeoutMs: 300, budgets: { 'cancel orders and flatten': 2_000, 'wait for order completion': 1_000 } },
    })
    venue.failBook({ category: 'spot' }, { retCode: 10016, retMsg: 'Internal system error.' }, 1_000_000)

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then
    const canceled = canceledIds(r)
    expect(canceled).toEqual([ids.perp])
    expect(venue.account.open('spot').map((o) => o.clientOrderId)).toEqual([ids.spot])
    const unconfirmed = r
      .events()
      .filter((e) => e.type === 'order.cancel-unconfirmed' && (e.data as { clientOrderId: string }).clientOrderId === ids.spot)
      .map((e) => (e.data as { reason: string }).reason)
    // its cancel by id failed as the book's list did
    expect(unconfirmed[0]).toMatch(/10016/)
    expect(report).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
    expect(report.openOrders.count).toBe(1)
    expect(report.booksNotCancelled).toEqual([{ venue: VENUE, book: 'spot', detail: expect.stringMatching(/^its list failed .*10016/) }])
    expect(formatShutdownReport(report)).toMatch(/CANCEL-ALL FAILED on bybit's spot book, its orders unknown: its list failed .*10016/)
    replaysClean(r)
  })
})

describe('the final fill of an order the engine cancelled through haltd at Bybit', () => {
  it('given an order that part-filled, its trade never delivered, when the engine cancels it and Bybit answers with its ids only, then the next poll books what it filled', async () => {
    // given a resting perpetual buy, polled, whose trades the venue's execution list does not deliver
    const venue = await startFakeBybit()
    const gateway = new CcxtGateway({
      venue: VENUE,
      exchange: fakeBybitClient(venue, { enableRateLimit: false }),
      symbols: [PERP],
      stream: false,
      pollIntervalMs: 100,
      retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
    })
    await gateway.connect()
    cleanups.push(async () => {
      await gateway.close()
      await venue.close()
    })
    const r = rig({ venues: [VENUE], gateways: { [VENUE]: () => gateway } })
    const engine = new OrderRouter({ log: r.log, gate: r.gate, venues: r.venues, runTag: 'e', submitTimeoutMs: 10_000, positionOf: () => 0 })
    cleanups.push(async () => engine.close())
    const out = await engine.submit({
      venue: VENUE,
      symbol: PERP,
      side: 'buy',
      type: 'limit',
      qty: 0.01,
      price: 40_000,
      origin: { kind: 'strategy', id: 'mm' },
    })
    if (out.status !== 'accepted') throw new Error(`not accepted: ${JSON.stringify(out)}`)
    const id = out.clientOrderId
    venue.faults.inject('GET /v5/execution/list', { kind: 'status', status: 503, body: '<html>503</html>', contentType: 'text/html' })
    venue.engine.fillResting('futures', id, 0.004)

    // when the engine cancels it through haltd: the answer names the order, not what it filled
    expect(await engine.cancel({ venue: VENUE, clientOrderId: id, symbol: PERP })).toBe('canceled')
    await until('the part filled booked', () => order(r.projections.state, VENUE, id)?.filledQty === 0.004)

    // then it is booked once, from the venue's report of the order's end, and the position holds it
    const fills = r.events().filter((e) => e.type === 'order.filled' && (e.data as { clientOrderId: string }).clientOrderId === id)
    expect(fills.map((e) => e.data)).toEqual([expect.objectContaining({ qty: 0.004, price: 40_000, source: 'order-total' })])
    expect(order(r.projections.state, VENUE, id)?.status).toBe('canceled')
    expect(position(r.projections.state, VENUE, PERP)?.qty).toBe(0.004)
  })
})
