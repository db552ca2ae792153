import { afterEach, describe, expect, it } from 'vitest'
import { replayShutdownDecisions } from '../../src/audit/decision-replay.js'
import { auditLog } from '../../src/audit/audit.js'
import { formatShutdownReport, type ShutdownReport } from '../../src/core/shutdown/report.js'
import type { Envelope } from '../../src/events/index.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { order, position, reconciliation } from '../../src/projections/index.js'
import type { ShutdownOptionsInput } from '../../src/core/shutdown/options.js'
import { DEFAULT_SYMBOLS, fakeBinanceUsdm, faults, startFakeBinance, type FakeBinance, type SymbolSpec } from '../support/fake-binance/index.js'
import { rig } from './rig.js'
import { until } from '../support/until.js'

/**
 * The venue's word on positions and fills, against the fake Binance USD-M venue through the
 * real ccxt class: a stream that drops fills, cancels answered "unknown order" for orders the
 * venue filled, a position closed behind haltd's back, an order someone else placed.
 */
const VENUE = 'binanceusdm'
const SOL: SymbolSpec = { id: 'SOLUSDT', base: 'SOL', quote: 'USDT', stepSize: 0.01, tickSize: 0.01, minQty: 0.01, mid: 150 }
const BNB: SymbolSpec = { id: 'BNBUSDT', base: 'BNB', quote: 'USDT', stepSize: 0.01, tickSize: 0.01, minQty: 0.01, mid: 600 }
const BTC = 'BTC/USDT:USDT'
const ETH = 'ETH/USDT:USDT'
const SOL_PERP = 'SOL/USDT:USDT'
const BNB_PERP = 'BNB/USDT:USDT'
const strategy = { kind: 'strategy' as const, id: 'mm' }

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** haltd wired as the daemon wires it, with one venue: the fake Binance USD-M, polled. */
async function onBinance(options: ShutdownOptionsInput = {}) {
  const venue: FakeBinance = await startFakeBinance({ symbols: [...DEFAULT_SYMBOLS, SOL, BNB] })
  const gateway = new CcxtGateway({
    venue: VENUE,
    exchange: await fakeBinanceUsdm(venue, { enableRateLimit: false }),
    symbols: [BTC, ETH, SOL_PERP, BNB_PERP],
    stream: false,
    pollIntervalMs: 100,
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
    callTimeoutMs: 5_000,
  })
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  await gateway.connect()
  const r = rig({ venues: [VENUE], gateways: { [VENUE]: () => gateway }, routerTimeoutMs: 5_000, options })
  const submit = async (symbol: string, side: 'buy' | 'sell', qty: number, price?: number) => {
    const out = await r.router.submit({ venue: VENUE, symbol, side, type: price === undefined ? 'market' : 'limit', qty, price, origin: strategy })
    if (out.status !== 'accepted') throw new Error(`not accepted: ${JSON.stringify(out)}`)
    return out.clientOrderId
  }
  const polls = () => venue.faults.hits('GET /fapi/v1/openOrders')
  /** Wait until the gateway has polled the venue `n` more times. */
  const polled = async (n = 2) => {
    const from = polls()
    await until(`${n} polls`, () => polls() >= from + n)
  }
  return { r, venue, gateway, submit, polled }
}

/**
 * haltd holds 0.5 BNB by its fills, which the desk closed at the venue behind its back; three
 * resting orders (BTC, ETH, SOL) filled at the venue while its fill updates were lost.
 */
async function fillsLost(options: ShutdownOptionsInput) {
  const b = await onBinance(options)
  await b.submit(BNB_PERP, 'buy', 0.5)
  b.venue.engine.place('futures', { symbol: 'BNBUSDT', side: 'SELL', type: 'MARKET', quantity: 0.5, clientOrderId: 'desk-close-1' })
  const resting = [await b.submit(BTC, 'buy', 0.01, 40_000), await b.submit(ETH, 'sell', 0.1, 4_000), await b.submit(SOL_PERP, 'buy', 1, 100)]
  await b.polled()
  // from here on the venue's trades never reach haltd
  b.venue.faults.inject('GET /fapi/v1/userTrades', faults.unavailable())
  for (const id of resting) b.venue.engine.fillResting('futures', id)
  await b.polled()
  return { ...b, resting }
}

const flattens = (events: Envelope[]) =>
  events
    .filter((e) => e.type === 'shutdown.command-issued' && (e.data as { command: { kind: string } }).command.kind === 'flatten')
    .map((e) => (e.data as unknown as { command: { symbol: string; side: string; qty: number } }).command)
    .map((c) => [c.symbol, c.side, c.qty])

describe("positions rest on the venue's word", () => {
  it('when the fills were lost and the cancels find the orders filled, the flatten closes exactly the three positions the venue holds, and nothing it does not', async () => {
    // given fills lost on three orders the venue filled, and a position haltd's fills invent
    const { r, venue } = await fillsLost({ graceful: { flatten: 'aggressive', settleMs: 20 } })

    // when haltd shuts down gracefully
    const report: ShutdownReport = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

    // then step 5 asked the venue what it holds, and sent reduce-only orders for exactly its three positions
    expect(flattens(r.events())).toEqual([
      [BTC, 'sell', 0.01],
      [ETH, 'buy', 0.1],
      [SOL_PERP, 'sell', 1],
    ])
    const reduceOnly = [...venue.engine.orders.futures.values()].filter((o) => o.reduceOnly).map((o) => [o.symbol, o.side, o.qty, o.status])
    expect(reduceOnly).toEqual([
      ['BTCUSDT', 'SELL', 0.01, 'FILLED'],
      ['ETHUSDT', 'BUY', 0.1, 'FILLED'],
      ['SOLUSDT', 'SELL', 1, 'FILLED'],
    ])
    // the venue is flat, and the report, resting on its final observation, says so
    expect([...venue.engine.positions.keys()]).toEqual([])
    expect(report.positions).toEqual([])
    expect(report.residualExposure).toEqual([])
    // where haltd's fills differ from the venue (the BNB the desk closed), the report shows both
    expect(report.reconciliation.problems).toEqual([
      expect.objectContaining({ kind: 'position', venue: VENUE, symbol: BNB_PERP, internal: 0.5, observed: 0, status: 'MISSING_AT_VENUE' }),
    ])
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it("given an order that part-filled and then was canceled at the venue, its trade never delivered, when haltd sees it end, then the part it filled is booked from the venue's report of its end", async () => {
    // given a resting order whose trades the venue's trade list does not deliver
    const { r, venue, submit, polled } = await onBinance()
    const id = await submit(SOL_PERP, 'buy', 1, 100)
    venue.faults.inject('GET /fapi/v1/userTrades', faults.unavailable())
    venue.engine.fillResting('futures', id, 0.4)

    // when the venue cancels the rest (another session's cancel), and haltd's polls see it gone
    venue.engine.cancel('futures', 'SOLUSDT', { clientOrderId: id })
    await until('the order ended', () => order(r.projections.state, VENUE, id)?.status === 'canceled')
    await polled()

    // then what it filled is booked once, from the venue's total, and the position holds it
    const fills = r.events().filter((e) => e.type === 'order.filled' && (e.data as { clientOrderId: string }).clientOrderId === id)
    expect(fills.map((e) => e.data)).toEqual([expect.objectContaining({ qty: 0.4, price: 100, source: 'order-total' })])
    expect(order(r.projections.state, VENUE, id)).toMatchObject({ status: 'canceled', filledQty: 0.4 })
    expect(position(r.projections.state, VENUE, SOL_PERP)?.qty).toBe(0.4)
  })

  it('a cancel answered "unknown order" for an order the venue filled records the fill the lookup reports, and its trade, delivered later, does not count twice', async () => {
    // given a resting order whose fill the venue's trade list does not deliver
    const { r, venue, submit, polled } = await onBinance()
    const id = await submit(SOL_PERP, 'buy', 1, 100)
    venue.faults.inject('GET /fapi/v1/userTrades', faults.unavailable())
    venue.engine.fillResting('futures', id)

    // when haltd cancels it
    const outcome = await r.router.cancel({ venue: VENUE, clientOrderId: id, symbol: SOL_PERP })

    // then the venue's answer (-2011, then the lookup: FILLED) is recorded as the fill
    expect(outcome).toBe('filled')
    const fills = () => r.events().filter((e) => e.type === 'order.filled' && (e.data as { clientOrderId: string }).clientOrderId === id)
    expect(fills().map((e) => e.data)).toEqual([expect.objectContaining({ qty: 1, price: 100, source: 'order-total' })])
    expect(order(r.projections.state, VENUE, id)).toMatchObject({ status: 'filled', filledQty: 1 })
    expect(position(r.projections.state, VENUE, SOL_PERP)?.qty).toBe(1)

    // and when the trade list works again, its trade is known by id without counting again
    venue.faults.clear('GET /fapi/v1/userTrades')
    await until('the trade from the list', () => fills().length === 2)
    await polled()
    expect(fills()[1]!.data).toMatchObject({ qty: 1, price: 100 })
    expect(fills()[1]!.data).not.toHaveProperty('source')
    expect(order(r.projections.state, VENUE, id)).toMatchObject({ status: 'filled', filledQty: 1 })
    expect(position(r.projections.state, VENUE, SOL_PERP)?.qty).toBe(1)
    expect(r.projections.state.anomalies.map((a) => a.kind)).not.toContain('overfill')
  })

  it('an emergency whose venue lost the fills reports as residual exposure exactly the positions the venue holds after its cancels', async () => {
    // given the same lost fills and invented position
    const { r } = await fillsLost({})

    // when haltd stops in an emergency (no flatten)
    const report: ShutdownReport = await r.controller.requestShutdown({ mode: 'emergency', reason: 'risk', origin: 'signal' }).done

    // then the residual exposure is the venue's three positions, as the venue sized them, and not the one it does not hold
    expect(report.residualExposure.map((p) => [p.venue, p.symbol, p.qty])).toEqual([
      [VENUE, BTC, 0.01],
      [VENUE, ETH, -0.1],
      [VENUE, SOL_PERP, 1],
    ])
    expect(report.residualExposure.every((p) => p.basis === 'venue')).toBe(true)
    expect(formatShutdownReport(report)).toContain(`RESIDUAL EXPOSURE on 3 position(s): ${VENUE} ${BTC} 0.01, ${VENUE} ${ETH} -0.1, ${VENUE} ${SOL_PERP} 1`)
  })
})

describe('foreign orders stay foreign', () => {
  it('an order someone else placed on the account is listed as UNKNOWN_TO_US, never recorded as an order of haltd, and the audit finds no report for an unknown order', async () => {
    // given an order the desk placed on the account, seen in the gateway's open-order polls
    const { r, venue, submit, polled } = await onBinance({ graceful: { settleMs: 20 } })
    await submit(BTC, 'buy', 0.01, 40_000)
    const desk = venue.engine.place('futures', { symbol: 'ETHUSDT', side: 'BUY', type: 'LIMIT', quantity: 0.1, price: 2_000, clientOrderId: 'desk-7' })
    await polled(3)

    // when haltd shuts down gracefully (its own orders only)
    const report: ShutdownReport = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

    // then nothing in the log speaks of it as an order of haltd's
    const about = r.events().filter((e) => e.type.startsWith('order.') && (e.data as { clientOrderId?: string }).clientOrderId === 'desk-7')
    expect(about).toEqual([])
    // the desk's order still rests at the venue, and the reconciliation lists it as unknown to haltd
    expect(venue.engine.open('futures').map((o) => o.clientOrderId)).toEqual(['desk-7'])
    expect(report.reconciliation.problems).toEqual([
      expect.objectContaining({ kind: 'order', venue: VENUE, symbol: ETH, clientOrderId: 'desk-7', internal: 0, observed: 0.1, status: 'UNKNOWN_TO_US' }),
    ])
    expect(reconciliation(r.projections.state).rows.find((row) => row.clientOrderId === 'desk-7')).toMatchObject({
      venueOrderId: String(desk.orderId),
      status: 'UNKNOWN_TO_US',
    })
    // and the audit has no report for an unknown order
    expect(auditLog(r.log).anomalies.map((a) => a.kind)).not.toContain('report-for-unknown-order')
  })
})
