import { describe, expect, it } from 'vitest'
import type { EventInput } from '../../src/events/index.js'
import { ORDER_TRANSITIONS, anomalies, inFlight, openOrders, order, position, type OrderEventKind, type OrderStatus } from '../../src/projections/index.js'
import { ev, given, when } from './given.js'

const C = 'c1'
/** A short history that leaves order c1 (qty 1) in each status. */
const reach: Record<OrderStatus, EventInput[]> = {
  'pending-new': [ev.submitted(C)],
  open: [ev.submitted(C), ev.accepted(C)],
  'partially-filled': [ev.submitted(C), ev.accepted(C), ev.filled(C, 't0', 0.4)],
  filled: [ev.submitted(C), ev.accepted(C), ev.filled(C, 't0', 1)],
  'cancel-pending': [ev.submitted(C), ev.accepted(C), ev.cancelRequested(C)],
  canceled: [ev.submitted(C), ev.accepted(C), ev.canceled(C)],
  'cancel-unconfirmed': [ev.submitted(C), ev.accepted(C), ev.cancelRequested(C), ev.cancelUnconfirmed(C)],
  rejected: [ev.submitted(C), ev.rejected(C)],
  expired: [ev.submitted(C), ev.accepted(C), ev.expired(C)],
  unknown: [ev.submitted(C), ev.statusUnknown(C)],
}

/** The event of each kind for c1; fills are sized from what is already filled. */
function eventOf(kind: OrderEventKind, filled: number): EventInput {
  switch (kind) {
    case 'accepted':
      return ev.accepted(C)
    case 'rejected':
      return ev.rejected(C)
    case 'fill-partial':
      return ev.filled(C, 't-next', 0.1)
    case 'fill-full':
      return ev.filled(C, 't-next', filled >= 1 ? 0.5 : 1 - filled)
    case 'cancel-requested':
      return ev.cancelRequested(C)
    case 'canceled':
      return ev.canceled(C)
    case 'cancel-rejected':
      return ev.cancelRejected(C)
    case 'cancel-unconfirmed':
      return ev.cancelUnconfirmed(C)
    case 'expired':
      return ev.expired(C)
    case 'status-unknown':
      return ev.statusUnknown(C)
  }
}

// The order lifecycle as a runbook reads it: given status, when event, then status (and anomaly).
const spec: [OrderStatus, OrderEventKind, OrderStatus, string?][] = [
  ['pending-new', 'accepted', 'open'],
  ['pending-new', 'rejected', 'rejected'],
  ['pending-new', 'fill-partial', 'partially-filled'],
  ['pending-new', 'fill-full', 'filled'],
  ['pending-new', 'cancel-requested', 'cancel-pending'],
  ['pending-new', 'canceled', 'canceled'],
  ['pending-new', 'cancel-rejected', 'pending-new'],
  ['pending-new', 'cancel-unconfirmed', 'cancel-unconfirmed'],
  ['pending-new', 'status-unknown', 'unknown'],
  ['pending-new', 'expired', 'expired'],
  ['open', 'fill-partial', 'partially-filled'],
  ['open', 'fill-full', 'filled'],
  ['open', 'cancel-requested', 'cancel-pending'],
  ['open', 'canceled', 'canceled'],
  ['open', 'cancel-rejected', 'open'],
  ['open', 'cancel-unconfirmed', 'cancel-unconfirmed'],
  ['open', 'expired', 'expired'],
  ['open', 'status-unknown', 'unknown'],
  ['open', 'accepted', 'open', 'duplicate-report'],
  ['open', 'rejected', 'rejected', 'out-of-order-report'],
  ['partially-filled', 'fill-partial', 'partially-filled'],
  ['partially-filled', 'fill-full', 'filled'],
  ['partially-filled', 'cancel-requested', 'cancel-pending'],
  ['partially-filled', 'canceled', 'canceled'],
  ['partially-filled', 'cancel-rejected', 'partially-filled'],
  ['partially-filled', 'cancel-unconfirmed', 'cancel-unconfirmed'],
  ['partially-filled', 'expired', 'expired'],
  ['partially-filled', 'status-unknown', 'unknown'],
  ['partially-filled', 'accepted', 'partially-filled'],
  ['filled', 'accepted', 'filled'],
  ['filled', 'cancel-requested', 'filled'],
  ['filled', 'cancel-rejected', 'filled'],
  ['filled', 'cancel-unconfirmed', 'filled'],
  ['filled', 'status-unknown', 'filled'],
  ['filled', 'fill-full', 'filled', 'overfill'],
  ['filled', 'canceled', 'filled', 'cancel-after-fill'],
  ['filled', 'expired', 'filled', 'out-of-order-report'],
  ['filled', 'rejected', 'filled', 'out-of-order-report'],
  ['cancel-pending', 'accepted', 'cancel-pending'],
  ['cancel-pending', 'rejected', 'rejected'],
  ['cancel-pending', 'cancel-requested', 'cancel-pending'],
  ['cancel-pending', 'canceled', 'canceled'],
  ['cancel-pending', 'cancel-rejected', 'open'],
  ['cancel-pending', 'cancel-unconfirmed', 'cancel-unconfirmed'],
  ['cancel-pending', 'fill-partial', 'cancel-pending'],
  ['cancel-pending', 'fill-full', 'filled'],
  ['cancel-pending', 'expired', 'expired'],
  ['cancel-pending', 'status-unknown', 'cancel-pending'],
  ['canceled', 'cancel-requested', 'canceled'],
  ['canceled', 'cancel-rejected', 'canceled'],
  ['canceled', 'cancel-unconfirmed', 'canceled'],
  ['canceled', 'status-unknown', 'canceled'],
  ['canceled', 'fill-partial', 'canceled', 'fill-after-cancel'],
  ['canceled', 'fill-full', 'filled', 'fill-after-cancel'],
  ['canceled', 'canceled', 'canceled', 'duplicate-report'],
  ['canceled', 'accepted', 'canceled', 'out-of-order-report'],
  ['canceled', 'expired', 'canceled', 'out-of-order-report'],
  ['cancel-unconfirmed', 'accepted', 'cancel-unconfirmed'],
  ['cancel-unconfirmed', 'rejected', 'rejected'],
  ['cancel-unconfirmed', 'canceled', 'canceled'],
  ['cancel-unconfirmed', 'fill-partial', 'cancel-unconfirmed'],
  ['cancel-unconfirmed', 'fill-full', 'filled'],
  ['cancel-unconfirmed', 'cancel-rejected', 'open'],
  ['cancel-unconfirmed', 'cancel-requested', 'cancel-pending'],
  ['cancel-unconfirmed', 'cancel-unconfirmed', 'cancel-unconfirmed'],
  ['cancel-unconfirmed', 'expired', 'expired'],
  ['cancel-unconfirmed', 'status-unknown', 'cancel-unconfirmed'],
  ['rejected', 'cancel-requested', 'rejected'],
  ['rejected', 'cancel-rejected', 'rejected'],
  ['rejected', 'cancel-unconfirmed', 'rejected'],
  ['rejected', 'status-unknown', 'rejected'],
  ['rejected', 'fill-partial', 'partially-filled', 'fill-after-reject'],
  ['rejected', 'fill-full', 'filled', 'fill-after-reject'],
  ['rejected', 'accepted', 'open', 'out-of-order-report'],
  ['rejected', 'canceled', 'canceled', 'out-of-order-report'],
  ['rejected', 'expired', 'expired', 'out-of-order-report'],
  ['rejected', 'rejected', 'rejected', 'duplicate-report'],
  ['expired', 'cancel-requested', 'expired'],
  ['expired', 'cancel-rejected', 'expired'],
  ['expired', 'cancel-unconfirmed', 'expired'],
  ['expired', 'status-unknown', 'expired'],
  ['expired', 'fill-partial', 'expired', 'fill-after-expiry'],
  ['expired', 'fill-full', 'filled', 'fill-after-expiry'],
  ['expired', 'expired', 'expired', 'duplicate-report'],
  ['unknown', 'accepted', 'open'],
  ['unknown', 'rejected', 'rejected'],
  ['unknown', 'fill-partial', 'partially-filled'],
  ['unknown', 'fill-full', 'filled'],
  ['unknown', 'cancel-requested', 'cancel-pending'],
  ['unknown', 'canceled', 'canceled'],
  ['unknown', 'cancel-rejected', 'unknown'],
  ['unknown', 'cancel-unconfirmed', 'cancel-unconfirmed'],
  ['unknown', 'expired', 'expired'],
  ['unknown', 'status-unknown', 'unknown'],
]

describe('order lifecycle', () => {
  it.each(spec)('given %s, when %s, then %s %s', (from, kind, to, anomaly) => {
    const state = given(...reach[from])
    expect(order(state, 'sim-a', C)!.status).toBe(from)
    expect(anomalies(state)).toEqual([])
    when(state, eventOf(kind, order(state, 'sim-a', C)!.filledQty))
    expect(order(state, 'sim-a', C)!.status).toBe(to)
    expect(anomalies(state).map((a) => a.kind)).toEqual(anomaly ? [anomaly] : [])
  })

  it('has an example above for every row of the transition table, and the table for every example', () => {
    const table = Object.entries(ORDER_TRANSITIONS)
      .flatMap(([from, row]) => Object.keys(row).map((kind) => `${from} + ${kind}`))
      .sort()
    const examples = spec.map(([from, kind]) => `${from} + ${kind}`).sort()
    expect(examples).toEqual(table)
  })

  it('keeps the status and reports an invalid transition for every pair missing from the table', () => {
    let checked = 0
    for (const from of Object.keys(reach) as OrderStatus[]) {
      for (const kind of [
        'accepted',
        'rejected',
        'fill-partial',
        'fill-full',
        'cancel-requested',
        'canceled',
        'cancel-rejected',
        'cancel-unconfirmed',
        'expired',
        'status-unknown',
      ] as OrderEventKind[]) {
        // any fill on a filled order completes it (an overfill, covered above)
        if (ORDER_TRANSITIONS[from][kind] !== undefined || (from === 'filled' && kind === 'fill-partial')) continue
        const state = given(...reach[from])
        when(state, eventOf(kind, order(state, 'sim-a', C)!.filledQty))
        expect(order(state, 'sim-a', C)!.status, `${from} + ${kind}`).toBe(from)
        expect(
          anomalies(state).map((a) => a.kind),
          `${from} + ${kind}`,
        ).toContain('invalid-transition')
        checked++
      }
    }
    expect(checked).toBeGreaterThan(0)
  })

  it('books a fill that arrives after the venue confirmed the cancel, and reports it with its seq', () => {
    const state = given(ev.submitted(C, { qty: 2 }), ev.accepted(C), ev.cancelRequested(C), ev.canceled(C), ev.filled(C, 'late', 0.5, 101))
    expect(order(state, 'sim-a', C)).toMatchObject({ status: 'canceled', filledQty: 0.5 })
    expect(position(state, 'sim-a', 'BTC/USDT')).toMatchObject({ qty: 0.5, avgEntry: 101 })
    expect(anomalies(state)).toMatchObject([{ kind: 'fill-after-cancel', seq: 5, venue: 'sim-a', clientOrderId: C }])
  })

  it('tracks filled quantity, average fill price, fees, venue order id, origin and reduce-only', () => {
    const state = given(
      ev.submitted(C, { qty: 3, reduceOnly: true, origin: { kind: 'shutdown', id: 'sd-1' } }),
      ev.accepted(C, 'V-77'),
      ev.filled(C, 't1', 1, 100, 0.1),
      ev.filled(C, 't2', 2, 103, 0.2),
    )
    const o = order(state, 'sim-a', C)!
    expect(o).toMatchObject({ status: 'filled', filledQty: 3, venueOrderId: 'V-77', reduceOnly: true, origin: { kind: 'shutdown', id: 'sd-1' } })
    expect(o.avgFillPrice).toBeCloseTo(102, 12)
    expect(o.fees).toBeCloseTo(0.3, 12)
  })

  it('reaches filled when decimal partial fills sum to the quantity up to float noise', () => {
    const state = given(ev.submitted(C, { qty: 0.3 }), ev.filled(C, 'a', 0.1), ev.filled(C, 'b', 0.1), ev.filled(C, 'c', 0.1))
    expect(order(state, 'sim-a', C)!.status).toBe('filled')
    expect(anomalies(state)).toEqual([])
  })

  it('applies a repeated trade id once and reports the duplicate', () => {
    const state = given(ev.submitted(C), ev.filled(C, 't1', 0.5), { ...ev.filled(C, 't1', 0.5), idempotencyKey: 'replayed-by-venue' })
    expect(order(state, 'sim-a', C)!.filledQty).toBe(0.5)
    expect(anomalies(state).map((a) => a.kind)).toEqual(['duplicate-fill'])
  })

  it('reports a fill for an order haltd never submitted, with its seq, and books nothing', () => {
    const state = given(ev.submitted('known'), ev.filled('ghost', 'tx', 1))
    expect(order(state, 'sim-a', 'ghost')).toBeUndefined()
    expect(state.positions.size).toBe(0)
    expect(anomalies(state)).toMatchObject([{ kind: 'fill-for-unknown-order', seq: 2, venue: 'sim-a', clientOrderId: 'ghost' }])
  })

  it('reports a second submit of the same order and keeps the first', () => {
    const state = given(ev.submitted(C, { qty: 1 }), { ...ev.submitted(C, { qty: 9 }), idempotencyKey: 'other' })
    expect(order(state, 'sim-a', C)!.qty).toBe(1)
    expect(anomalies(state).map((a) => a.kind)).toEqual(['duplicate-submit'])
  })

  it('counts orders in flight until each one is finished, and lists open orders per venue oldest first', () => {
    const state = given(ev.submitted('a'), ev.submitted('b'), ev.submitted('c', { venue: 'sim-b' }), ev.accepted('a'), ev.filled('b', 't', 1))
    expect(inFlight(state)).toBe(2)
    expect(openOrders(state).map((o) => o.clientOrderId)).toEqual(['a', 'c'])
    expect(openOrders(state, 'sim-b').map((o) => o.clientOrderId)).toEqual(['c'])
    when(state, ev.rejected('c', 'sim-b'), ev.cancelRequested('a'))
    expect(inFlight(state)).toBe(1)
    when(state, ev.canceled('a'))
    expect(inFlight(state)).toBe(0)
    // a fill after the cancel revives nothing: the order stays finished
    when(state, ev.filled('a', 'late', 0.2))
    expect(inFlight(state)).toBe(0)
  })

  it('never mutates the order it was given', () => {
    const state = given(ev.submitted(C), ev.accepted(C))
    const before = order(state, 'sim-a', C)!
    const copy = structuredClone(before)
    when(state, ev.filled(C, 't1', 0.5), ev.cancelRequested(C))
    expect(before).toEqual(copy)
    expect(order(state, 'sim-a', C)).not.toBe(before)
  })

  it('forgets the oldest finished orders beyond the retention, never a live one', () => {
    const state = given()
    state.retention.closedOrders = 2
    when(state, ev.submitted('live'), ev.submitted('a'), ev.filled('a', 'ta', 1), ev.submitted('b'), ev.rejected('b'), ev.submitted('c'), ev.canceled('c'))
    expect([...state.orders.keys()].map((k) => k.split('\u001f')[1]).sort()).toEqual(['b', 'c', 'live'])
    expect(state.positions.get('sim-a\u001fBTC/USDT')!.qty).toBe(1)
  })
})

describe('an order rejected as lost after its submit answer was lost', () => {
  const LOST_REASON = 'not at the venue after a lost answer (submit timed out): 3 lookups by client order id over 2000 ms found nothing'
  const lost = (cid: string): EventInput => ({ type: 'order.rejected', data: { venue: 'sim-a', clientOrderId: cid, reason: LOST_REASON, code: 'LOST' } })
  const lostOrder = () => given(ev.submitted(C, { qty: 2 }), ev.statusUnknown(C), lost(C))

  it('is finished until the venue says otherwise', () => {
    const state = lostOrder()
    expect(order(state, 'sim-a', C)!.status).toBe('rejected')
    expect(inFlight(state)).toBe(0)
  })

  it('comes back open when the venue accepts it after all, where drain, cancel and reconciliation see it, and reports the anomaly', () => {
    const state = lostOrder()
    when(state, ev.accepted(C, 'V-9'))
    expect(order(state, 'sim-a', C)).toMatchObject({ status: 'open', venueOrderId: 'V-9' })
    expect(openOrders(state).map((o) => o.clientOrderId)).toEqual([C])
    expect(inFlight(state)).toBe(1)
    expect(anomalies(state)).toMatchObject([
      { kind: 'out-of-order-report', seq: 4, venue: 'sim-a', clientOrderId: C, detail: expect.stringContaining(LOST_REASON) },
    ])
  })

  it('comes back partially filled when a fill arrives first, the fill counting in the position and the P&L books', () => {
    const state = lostOrder()
    when(state, ev.filled(C, 't1', 0.5, 101, 0.01))
    expect(order(state, 'sim-a', C)).toMatchObject({ status: 'partially-filled', filledQty: 0.5 })
    expect(openOrders(state).map((o) => o.clientOrderId)).toEqual([C])
    expect(inFlight(state)).toBe(1)
    expect(position(state, 'sim-a', 'BTC/USDT')).toMatchObject({ qty: 0.5, avgEntry: 101, fills: 1 })
    expect(state.pnl.fees).toBeCloseTo(0.01, 12)
    expect(anomalies(state)).toMatchObject([{ kind: 'fill-after-reject', seq: 4, clientOrderId: C, detail: expect.stringContaining(LOST_REASON) }])
  })

  it('ends as the venue says when it reports the order canceled: it was there after all, an out-of-order report', () => {
    const state = lostOrder()
    when(state, ev.canceled(C))
    expect(order(state, 'sim-a', C)!.status).toBe('canceled')
    expect(inFlight(state)).toBe(0)
    expect(anomalies(state)).toMatchObject([{ kind: 'out-of-order-report', seq: 4, clientOrderId: C, detail: expect.stringContaining(LOST_REASON) }])
  })

  it('once revived, lives on as any order does: its acceptance after the fill is no news, and a cancel finishes it', () => {
    const state = lostOrder()
    when(state, ev.filled(C, 't1', 0.5), ev.accepted(C), ev.cancelRequested(C), ev.canceled(C))
    expect(order(state, 'sim-a', C)).toMatchObject({ status: 'canceled', filledQty: 0.5 })
    expect(inFlight(state)).toBe(0)
    expect(anomalies(state).map((a) => a.kind)).toEqual(['fill-after-reject'])
  })
})

describe('what confirmed a cancel', () => {
  const byOpenOrders: EventInput = { type: 'order.canceled', data: { venue: 'sim-a', clientOrderId: C, confirmedBy: 'open-orders' } }

  it("records the venue's word, and haltd's inference from the venue's open orders as such", () => {
    expect(order(given(ev.submitted(C), ev.accepted(C), ev.canceled(C)), 'sim-a', C)).toMatchObject({ status: 'canceled', canceledBy: 'ack' })
    expect(order(given(ev.submitted(C), byOpenOrders), 'sim-a', C)).toMatchObject({ status: 'canceled', canceledBy: 'open-orders' })
    expect(order(given(ev.submitted(C), ev.accepted(C)), 'sim-a', C)!.canceledBy).toBeUndefined()
  })

  it("takes the venue's later word over an inference, and keeps it over a later inference", () => {
    expect(order(given(ev.submitted(C), byOpenOrders, ev.canceled(C)), 'sim-a', C)!.canceledBy).toBe('ack')
    expect(order(given(ev.submitted(C), ev.canceled(C), byOpenOrders), 'sim-a', C)!.canceledBy).toBe('ack')
  })
})
