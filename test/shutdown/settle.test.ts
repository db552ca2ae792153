import { afterEach, describe, expect, it } from 'vitest'
import { auditLog } from '../../src/audit/audit.js'
import { replayShutdownDecisions } from '../../src/audit/decision-replay.js'
import type { ShutdownOptionsInput } from '../../src/core/shutdown/options.js'
import { settlementOf } from '../../src/core/shutdown/settle.js'
import type { WorldOrder } from '../../src/core/shutdown/types.js'
import type { Envelope } from '../../src/index.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { OrderRouter } from '../../src/core/execution/order-router.js'
import { order as projectedOrder, position } from '../../src/projections/index.js'
import { fakeBinanceUsdm, faults, startFakeBinance, type FakeBinance, type FetchLike } from '../support/fake-binance/index.js'
import { rig, silentBatchCancel } from './rig.js'

const VENUE = 'binanceusdm'
const SYMBOL = 'BTC/USDT:USDT'
const strategy = { kind: 'strategy' as const, id: 'mm' }
const noSuchOrder = () => faults.error(400, -2013, 'Order does not exist.')

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/**
 * haltd with one venue, the real `ccxt.binanceusdm` over CcxtGateway against the fake Binance,
 * and no update feed: the venue's own cancels and fills reach haltd only when it asks. The venue
 * does `afterFirstList` right after it answers haltd's first open-order list (the cancel-all's).
 */
async function binance(o: { options?: ShutdownOptionsInput; afterFirstList?: (venue: FakeBinance) => void } = {}) {
  const venue = await startFakeBinance()
  let lists = 0
  const fetchImplementation: FetchLike = async (url, init) => {
    const answer = await venue.fetchImplementation(url, init)
    if ((init.method ?? 'GET') === 'GET' && new URL(url).pathname === '/fapi/v1/openOrders' && lists++ === 0) o.afterFirstList?.(venue)
    return answer
  }
  // ccxt's limiter off: by Binance's weights it would hold each open-order list for seconds
  const exchange = await fakeBinanceUsdm(venue, { enableRateLimit: false, config: { fetchImplementation } })
  // cancels order by order, so each one the venue no longer has is answered -2011 on its own
  const gateway = new CcxtGateway({
    venue: VENUE,
    exchange,
    symbols: [SYMBOL],
    stream: false,
    // no background polls: the first open-order list is the shutdown's own, and only the shutdown learns what the venue did
    pollIntervalMs: 3_600_000,
    capabilities: { batchCancel: 0 },
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
  })
  await gateway.connect()
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  const r = rig({ venues: [VENUE], gateways: { [VENUE]: () => gateway }, options: o.options ?? {} })
  // the engine's orders, through a router of its own with room for a busy machine's first requests
  const engine = new OrderRouter({ log: r.log, gate: r.gate, venues: r.venues, runTag: 'e', submitTimeoutMs: 10_000, positionOf: () => 0 })
  cleanups.push(async () => engine.close())
  const ids: string[] = []
  for (let i = 0; i < 4; i++) {
    const side = i % 2 === 0 ? 'buy' : 'sell'
    const out = await engine.submit({ venue: VENUE, symbol: SYMBOL, side, type: 'limit', qty: 0.01, price: side === 'buy' ? 40_000 : 60_000, origin: strategy })
    if (out.status !== 'accepted') throw new Error(`resting order not accepted: ${JSON.stringify(out)}`)
    ids.push(out.clientOrderId)
  }
  const byVenue = (v: FakeBinance, id: string) => v.engine.cancel('futures', 'BTCUSDT', { clientOrderId: id })
  return { r, venue, ids, cancelAtVenue: byVenue }
}

const dataOf = <T>(e: Envelope) => e.data as T
const canceledEvents = (events: Envelope[], id: string) =>
  events.filter((e) => e.type === 'order.canceled' && dataOf<{ clientOrderId: string }>(e).clientOrderId === id)
const stepOf = (events: Envelope[], name: string) =>
  events.find((e) => e.type.startsWith('shutdown.step-') && e.type !== 'shutdown.step-started' && dataOf<{ name: string }>(e).name === name)
const commandsOf = (events: Envelope[], kind: string) => {
  const issued = events.filter((e) => e.type === 'shutdown.command-issued' && dataOf<{ command: { kind: string } }>(e).command.kind === kind)
  const ids = new Set(issued.map((e) => dataOf<{ commandId: string }>(e).commandId))
  return {
    issued: issued.map((e) => dataOf<{ command: Record<string, unknown> }>(e).command),
    completed: events
      .filter((e) => e.type === 'shutdown.command-completed' && ids.has(dataOf<{ commandId: string }>(e).commandId))
      .map((e) => dataOf<{ outcome: string; detail: Record<string, unknown> }>(e)),
  }
}

/** `haltd audit` of the log: every decision re-derived, no finding; returns the report for its outcome verdict. */
function auditsClean(r: ReturnType<typeof rig>): ReturnType<typeof auditLog> {
  expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  const report = auditLog(r.log)
  expect(report.findings.filter((f) => f.check === 'decision' || f.check === 'invariant' || f.check === 'schema')).toEqual([])
  expect(report.coverage.decisionsReplayed).toBeGreaterThan(3)
  return report
}

describe('settling an order by what the venue shows of it (pure)', () => {
  const order: WorldOrder = {
    venue: 'v',
    clientOrderId: 'hd-1',
    symbol: 'BTC/USDT:USDT',
    side: 'buy',
    type: 'limit',
    qty: 2,
    filledQty: 0,
    price: 100,
    timeInForce: 'GTC',
    status: 'cancel-unconfirmed',
    origin: { kind: 'strategy', id: 'mm' },
    reduceOnly: false,
    venueOrderId: '77',
  }
  const found = (status: 'canceled' | 'filled' | 'open', filled = 0) =>
    ({ kind: 'found', order: { venueOrderId: '77', clientOrderId: 'hd-1', symbol: order.symbol, side: 'buy', qty: 2, filled, price: 100, status } }) as const

  it('a lookup that answers canceled settles it canceled, with the lookup as evidence', () => {
    expect(settlementOf(order, found('canceled'), undefined)).toEqual({
      kind: 'settled',
      as: 'canceled',
      events: [
        { type: 'order.canceled', data: { venue: 'v', clientOrderId: 'hd-1', confirmedBy: 'lookup', evidence: { kind: 'lookup', venueStatus: 'canceled' } } },
      ],
    })
  })

  it("a lookup that answers filled records the venue's filled total, which counts only what the log lacks, and nothing else", () => {
    expect(settlementOf({ ...order, filledQty: 0.5 }, found('filled', 2), undefined)).toEqual({
      kind: 'settled',
      as: 'filled',
      events: [
        { type: 'order.filled', data: { venue: 'v', clientOrderId: 'hd-1', tradeId: 'total:2:hd-1', qty: 2, price: 100, fee: 0, source: 'order-total' } },
      ],
    })
  })

  it('a lookup that answers more filled than the order was for settles nothing and books nothing, naming the quantities', () => {
    expect(settlementOf(order, found('canceled', 1000), undefined)).toEqual({
      kind: 'unsettled',
      reason: 'the venue reports 1000 filled on an order of 2: more than the order',
    })
  })

  it('an order a lookup does not find is settled canceled only by a list fetched after the cancel that does not list it', () => {
    expect(settlementOf(order, { kind: 'unknown' }, { seq: 40, listed: false })).toMatchObject({
      kind: 'settled',
      as: 'canceled',
      events: [{ data: { confirmedBy: 'open-orders', evidence: { kind: 'open-orders', seq: 40, venueStatus: 'absent' } } }],
    })
    expect(settlementOf(order, { kind: 'unknown' }, undefined)).toMatchObject({ kind: 'unsettled', reason: expect.stringContaining('no open-order list') })
    expect(settlementOf(order, { kind: 'failed', error: 'HTTP 503' }, undefined)).toMatchObject({
      kind: 'unsettled',
      reason: expect.stringContaining('HTTP 503'),
    })
  })

  it('an order of a book of the account the list did not show is not settled by its absence from that list', () => {
    const unseen = { seq: 40, listed: false, bookUnseen: 'spot: PermissionDenied: bybit 10005' }
    expect(settlementOf(order, { kind: 'failed', error: 'PermissionDenied' }, unseen)).toEqual({
      kind: 'unsettled',
      reason: expect.stringContaining('did not show its book (spot: PermissionDenied: bybit 10005): its absence is no proof'),
    })
    // a lookup that answers still settles it
    expect(settlementOf(order, found('canceled'), unseen)).toMatchObject({ kind: 'settled', as: 'canceled' })
  })

  it('an order the venue never acknowledged is not settled by its absence from a list', () => {
    const { venueOrderId: _, ...unacknowledged } = order
    expect(settlementOf(unacknowledged, { kind: 'unknown' }, { seq: 40, listed: false })).toMatchObject({ kind: 'unsettled' })
  })

  it('an order the venue shows live is left to be cancelled again, and nothing is recorded of it', () => {
    expect(settlementOf(order, found('open'), undefined)).toEqual({ kind: 'open', events: [], why: expect.stringContaining('lookup') })
    expect(settlementOf(order, { kind: 'unknown' }, { seq: 40, listed: true })).toEqual({ kind: 'open', events: [], why: expect.stringContaining('seq 40') })
  })
})

describe('an emergency settles by observation the orders the venue said it did not know', () => {
  it('orders the venue cancelled between the listing and the cancel (-2011) settle canceled on a lookup, and the step succeeds', async () => {
    // given four resting orders, two of which the venue cancels right after haltd lists them
    const { r, ids, cancelAtVenue } = await binance({
      afterFirstList: (v) => {
        cancelAtVenue(v, ids[0]!)
        cancelAtVenue(v, ids[1]!)
      },
    })

    // when haltd shuts down in an emergency
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    // then the venue's -2011 left them unconfirmed, and a lookup of each showed them canceled
    const events = r.events()
    for (const id of ids.slice(0, 2)) {
      expect(events.some((e) => e.type === 'order.cancel-unconfirmed' && dataOf<{ clientOrderId: string; reason: string }>(e).clientOrderId === id)).toBe(true)
      // the venue's own word: a lookup's answer, or its update feed where that spoke first
      const [canceled, ...more] = canceledEvents(events, id).map((e) => e.data)
      expect(more).toEqual([])
      if ((canceled as { confirmedBy: string }).confirmedBy !== 'stream')
        expect(canceled).toEqual({ venue: VENUE, clientOrderId: id, confirmedBy: 'lookup', evidence: { kind: 'lookup', venueStatus: 'canceled' } })
    }
    expect(stepOf(events, 'cancel all orders')?.type).toBe('shutdown.step-completed')
    expect(report).toMatchObject({ outcome: 'emergency', exitCode: 3 })
    expect(report.cancelUnconfirmed).toEqual([])
    expect(r.world().orders).toEqual([])
    const audit = auditsClean(r)
    // a settlement reports where the venue already was: the observation after the cancels still
    // verifies it (a stream update after that observation would be news, and is not read here)
    if (!events.some((e) => e.type === 'order.canceled' && dataOf<{ confirmedBy: string }>(e).confirmedBy === 'stream')) {
      expect(report.reconciliation.verdict).toBe('OK')
      expect(audit.outcome).toMatchObject({ verdict: 'FLAT_VERIFIED', safe: true })
    }
  })

  it('when a lookup no longer finds them, the emergency’s own open-order list after the cancels settles them, its seq the evidence', async () => {
    // given two orders the venue cancelled after haltd listed them, and lookups the venue answers -2013
    const { r, ids, cancelAtVenue } = await binance({
      afterFirstList: (v) => {
        cancelAtVenue(v, ids[0]!)
        cancelAtVenue(v, ids[1]!)
        v.faults.inject('GET /fapi/v1/order', noSuchOrder())
      },
    })

    // when haltd shuts down in an emergency
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    // then each is settled canceled on the observation the emergency made after its cancels
    const events = r.events()
    const cancelAll = events.find((e) => e.type === 'venue.cancel-all-requested')!
    const observed = events.filter((e) => e.type === 'venue.open-orders-observed' && e.seq > cancelAll.seq)
    expect(observed).toHaveLength(1)
    for (const id of ids.slice(0, 2)) {
      expect(canceledEvents(events, id).map((e) => e.data)).toEqual([
        { venue: VENUE, clientOrderId: id, confirmedBy: 'open-orders', evidence: { kind: 'open-orders', seq: observed[0]!.seq, venueStatus: 'absent' } },
      ])
    }
    expect(commandsOf(events, 'settle-orders').completed[0]?.detail).toMatchObject({ list: { seq: observed[0]!.seq, source: 'recorded' } })
    expect(stepOf(events, 'cancel all orders')?.type).toBe('shutdown.step-completed')
    expect(report).toMatchObject({ outcome: 'emergency', exitCode: 3 })
    expect(report.cancelUnconfirmed).toEqual([])
    auditsClean(r)
  })

  it('an order the venue filled meanwhile is settled filled, its fill recorded from the lookup', async () => {
    // given a resting buy the venue fills right after haltd lists it
    const { r, ids } = await binance({ afterFirstList: (v) => v.engine.fillResting('futures', ids[0]!) })

    // when haltd shuts down in an emergency
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    // then the lookup's answer settles it filled: the fill is in the log and the position holds it
    const o = projectedOrder(r.projections.state, VENUE, ids[0]!)
    expect(o).toMatchObject({ status: 'filled', filledQty: 0.01 })
    expect(canceledEvents(r.events(), ids[0]!)).toEqual([])
    expect(position(r.projections.state, VENUE, SYMBOL)?.qty).toBeCloseTo(0.01, 9)
    expect(commandsOf(r.events(), 'settle-orders').completed).toMatchObject([{ outcome: 'ok', detail: { settled: { filled: 1 } } }])
    expect(stepOf(r.events(), 'cancel all orders')?.type).toBe('shutdown.step-completed')
    expect(report.cancelUnconfirmed).toEqual([])
    auditsClean(r)
  })

  it('a venue that answers not-found and never answers the open-order list leaves them cancel-unconfirmed, and the step fails', async () => {
    // given two orders the venue cancelled after haltd listed them; from then on lookups answer
    // -2013 and every open-order list is a maintenance page
    const { r, ids, cancelAtVenue } = await binance({
      options: { emergency: { observeTimeoutMs: 1_000 } },
      afterFirstList: (v) => {
        cancelAtVenue(v, ids[0]!)
        cancelAtVenue(v, ids[1]!)
        v.faults.inject('GET /fapi/v1/order', noSuchOrder())
        v.faults.inject('GET /fapi/v1/openOrders', faults.maintenancePage())
      },
    })

    // when haltd shuts down in an emergency
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    // then "not found" alone settles nothing: both stay cancel-unconfirmed and the step fails
    const events = r.events()
    for (const id of ids.slice(0, 2)) expect(canceledEvents(events, id)).toEqual([])
    expect(report.cancelUnconfirmed.map((o) => o.clientOrderId).sort()).toEqual(ids.slice(0, 2).sort())
    expect(commandsOf(events, 'settle-orders').completed).toMatchObject([
      { outcome: 'failed', detail: { unsettled: 2, listError: expect.any(String), error: expect.stringContaining('not shown gone') } },
    ])
    expect(stepOf(events, 'cancel all orders')).toMatchObject({ type: 'shutdown.step-failed', data: { error: expect.stringContaining('2 order(s)') } })
    const audit = auditsClean(r)
    expect(audit.outcome?.safe).toBe(false)
    expect(audit.outcomes[0]?.concerns.map((c) => c.verdict)).toContain('CANCEL_UNCONFIRMED')
  })
})

describe('a graceful shutdown settles in its second round with the same module', () => {
  it('orders the venue cancelled between the listing and the cancel are settled on a lookup, not cancelled blindly again', async () => {
    // given four resting orders, two of which the venue cancels right after haltd lists them
    const { r, ids, venue, cancelAtVenue } = await binance({
      options: { graceful: { settleMs: 20 } },
      afterFirstList: (v) => {
        cancelAtVenue(v, ids[0]!)
        cancelAtVenue(v, ids[1]!)
      },
    })

    // when haltd shuts down gracefully
    await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

    // then round 1's cancel-all left them unconfirmed, and round 2 settled them by lookup
    const events = r.events()
    const settle = commandsOf(events, 'settle-orders')
    expect(settle.issued).toEqual([{ kind: 'settle-orders', venue: VENUE, orders: 2, round: 2 }])
    expect(settle.completed).toMatchObject([{ outcome: 'ok', detail: { settled: { canceled: 2 } } }])
    for (const id of ids.slice(0, 2)) {
      expect(canceledEvents(events, id).map((e) => e.data)).toMatchObject([{ confirmedBy: 'lookup', evidence: { kind: 'lookup', venueStatus: 'canceled' } }])
    }
    expect(commandsOf(events, 'cancel-order').issued).toEqual([])
    // one cancel per order, all in round 1's cancel-all
    expect(venue.faults.hits('DELETE /fapi/v1/order')).toBe(4)
    expect(stepOf(events, 'cancel orders and flatten')?.type).toBe('shutdown.step-completed')
    auditsClean(r)
  })

  it('orders still unconfirmed when step 5 ends are settled the same way while step 6 waits', async () => {
    // given one cancel round only, and two orders the venue cancels right after haltd lists them
    const { r, ids, cancelAtVenue } = await binance({
      options: { graceful: { settleMs: 20, maxCancelRounds: 1 } },
      afterFirstList: (v) => {
        cancelAtVenue(v, ids[0]!)
        cancelAtVenue(v, ids[1]!)
      },
    })

    // when haltd shuts down gracefully
    await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

    // then step 6 settles them by lookup instead of cancelling them again
    const events = r.events()
    const settle = commandsOf(events, 'settle-orders')
    expect(settle.issued).toEqual([{ kind: 'settle-orders', venue: VENUE, orders: 2, round: 1 }])
    expect(settle.completed).toMatchObject([{ outcome: 'ok', detail: { settled: { canceled: 2 } } }])
    expect(commandsOf(events, 'cancel-order').issued).toEqual([])
    expect(stepOf(events, 'wait for order completion')).toMatchObject({ type: 'shutdown.step-completed', data: { detail: { remaining: 0 } } })
    auditsClean(r)
  })
})

describe('orders a batch cancel left unanswered are settled like those the venue said it did not know', () => {
  it('a lookup finds them still open, so they are cancelled again in the same command and end canceled on the venue’s word', async () => {
    // given a venue whose batch cancel answers nothing for any order
    const r = rig({ venues: ['bravo'], capabilities: { bravo: { massCancel: 'none', batchCancel: 20 } }, gateways: { bravo: silentBatchCancel } })
    await r.rest(2)

    // when haltd shuts down in an emergency
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    // then the round left them unconfirmed, and the settlement cancelled them again, confirmed
    const events = r.events()
    expect(r.types('order.cancel-unconfirmed')).toHaveLength(2)
    const confirmations = events.filter((e) => e.type === 'order.canceled').map((e) => dataOf<{ confirmedBy: string }>(e).confirmedBy)
    expect(confirmations).toHaveLength(2)
    // the venue's stream or its answer to the cancel, whichever came first
    for (const by of confirmations) expect(['ack', 'stream']).toContain(by)
    expect(commandsOf(events, 'settle-orders').completed).toMatchObject([{ outcome: 'ok', detail: { orders: 2, canceledAgain: 2, notCanceled: 0 } }])
    expect(stepOf(events, 'cancel all orders')?.type).toBe('shutdown.step-completed')
    expect(report.cancelUnconfirmed).toEqual([])
    auditsClean(r)
  })
})
