import type { EventData } from '../events/index.js'
import type { AnomalyKind, AnomalySink } from './anomalies.js'
import type { FactOf } from './fact.js'

export type OrderStatus =
  | 'pending-new'
  | 'open'
  | 'partially-filled'
  | 'filled'
  | 'cancel-pending'
  | 'canceled'
  | 'cancel-unconfirmed'
  | 'rejected'
  | 'expired'
  | 'unknown'

/** One order as haltd knows it: what was submitted, plus what the venue said since. */
export type Order = EventData<'order.submitted'> & {
  status: OrderStatus
  venueOrderId?: string
  filledQty: number
  /** Quantity-weighted average of the fill prices, 0 before the first fill. */
  avgFillPrice: number
  fees: number
  /** Trade ids already applied, so a repeated venue report is not counted twice. */
  tradeIds: string[]
  /**
   * Filled quantity booked from the venue's order totals (`source: 'order-total'`) that no
   * trade has accounted for yet: the order's later trades count against it, not again.
   * Undefined while zero.
   */
  coveredQty?: number
  /** The last reject / cancel-reject / unconfirmed / unknown reason the venue or gateway gave. */
  reason?: string
  /**
   * What confirmed it canceled: the venue's own word (its ack, its stream, its mass cancel) or
   * haltd's inference from the venue's open orders (`open-orders`), which is no proof the venue
   * ever had the order. A venue's word is kept over a later inference.
   */
  canceledBy?: EventData<'order.canceled'>['confirmedBy']
  submittedSeq: number
  updatedSeq: number
  updatedTs: number
}

export type OrderFact =
  | FactOf<'order.submitted'>
  | FactOf<'order.accepted'>
  | FactOf<'order.rejected'>
  | FactOf<'order.filled'>
  | FactOf<'order.cancel-requested'>
  | FactOf<'order.canceled'>
  | FactOf<'order.cancel-rejected'>
  | FactOf<'order.cancel-unconfirmed'>
  | FactOf<'order.expired'>
  | FactOf<'order.status-unknown'>

/** What happened to an order, as the transition table sees it. A fill is full once the cumulative quantity reaches the order's. */
export type OrderEventKind =
  | 'accepted'
  | 'rejected'
  | 'fill-partial'
  | 'fill-full'
  | 'cancel-requested'
  | 'canceled'
  | 'cancel-rejected'
  | 'cancel-unconfirmed'
  | 'expired'
  | 'status-unknown'

/**
 * `working`: open, or partially filled once something has filled. A row with `report` is a
 * real-world possibility (the venue matched before it processed the cancel, a late ack…):
 * it is applied and reported as an anomaly. A pair missing from the table is an invalid
 * transition: the status stays, the anomaly is recorded, and fills still count.
 */
type Target = OrderStatus | 'working'
type Row = Target | { to: Target; report: AnomalyKind }
const real = (to: Target, report: AnomalyKind): Row => ({ to, report })

export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, Partial<Record<OrderEventKind, Row>>>> = {
  'pending-new': {
    accepted: 'open',
    rejected: 'rejected',
    'fill-partial': 'partially-filled',
    'fill-full': 'filled',
    'cancel-requested': 'cancel-pending',
    canceled: 'canceled',
    'cancel-rejected': 'pending-new',
    'cancel-unconfirmed': 'cancel-unconfirmed',
    expired: 'expired',
    'status-unknown': 'unknown',
  },
  open: {
    accepted: real('open', 'duplicate-report'),
    rejected: real('rejected', 'out-of-order-report'),
    'fill-partial': 'partially-filled',
    'fill-full': 'filled',
    'cancel-requested': 'cancel-pending',
    canceled: 'canceled',
    'cancel-rejected': 'open',
    'cancel-unconfirmed': 'cancel-unconfirmed',
    expired: 'expired',
    'status-unknown': 'unknown',
  },
  'partially-filled': {
    // the ack raced the first fill on another channel: normal, nothing to report
    accepted: 'partially-filled',
    'fill-partial': 'partially-filled',
    'fill-full': 'filled',
    'cancel-requested': 'cancel-pending',
    canceled: 'canceled',
    'cancel-rejected': 'partially-filled',
    'cancel-unconfirmed': 'cancel-unconfirmed',
    expired: 'expired',
    'status-unknown': 'unknown',
  },
  filled: {
    accepted: 'filled',
    'fill-full': 'filled', // only reachable as an overfill, reported by the fill itself
    'cancel-requested': 'filled', // the cancel raced the last fill; the venue will reject it
    'cancel-rejected': 'filled',
    'cancel-unconfirmed': 'filled',
    canceled: real('filled', 'cancel-after-fill'),
    expired: real('filled', 'out-of-order-report'),
    rejected: real('filled', 'out-of-order-report'),
    'status-unknown': 'filled',
  },
  'cancel-pending': {
    accepted: 'cancel-pending',
    rejected: 'rejected',
    'fill-partial': 'cancel-pending',
    'fill-full': 'filled',
    'cancel-requested': 'cancel-pending',
    canceled: 'canceled',
    'cancel-rejected': 'working',
    'cancel-unconfirmed': 'cancel-unconfirmed',
    expired: 'expired',
    'status-unknown': 'cancel-pending',
  },
  canceled: {
    // Real world: the venue matched the order before it processed the cancel.
    'fill-partial': real('canceled', 'fill-after-cancel'),
    'fill-full': real('filled', 'fill-after-cancel'),
    accepted: real('canceled', 'out-of-order-report'),
    canceled: real('canceled', 'duplicate-report'),
    'cancel-requested': 'canceled',
    'cancel-rejected': 'canceled',
    'cancel-unconfirmed': 'canceled', // the confirmation already came
    expired: real('canceled', 'out-of-order-report'),
    'status-unknown': 'canceled',
  },
  'cancel-unconfirmed': {
    accepted: 'cancel-unconfirmed',
    rejected: 'rejected',
    'fill-partial': 'cancel-unconfirmed', // still not known whether the rest is canceled
    'fill-full': 'filled',
    'cancel-requested': 'cancel-pending',
    canceled: 'canceled',
    'cancel-rejected': 'working',
    'cancel-unconfirmed': 'cancel-unconfirmed',
    expired: 'expired',
    'status-unknown': 'cancel-unconfirmed',
  },
  rejected: {
    // Real world: a reject inferred from a lost answer (code LOST), then the venue reports the
    // order alive. The fact wins: the order is live again, so drain, cancel and reconciliation see it.
    accepted: real('open', 'out-of-order-report'),
    'fill-partial': real('partially-filled', 'fill-after-reject'),
    'fill-full': real('filled', 'fill-after-reject'),
    // it was at the venue after all, and has ended there: the venue's last word is its status
    canceled: real('canceled', 'out-of-order-report'),
    expired: real('expired', 'out-of-order-report'),
    rejected: real('rejected', 'duplicate-report'),
    'cancel-requested': 'rejected',
    'cancel-rejected': 'rejected',
    'cancel-unconfirmed': 'rejected',
    'status-unknown': 'rejected',
  },
  expired: {
    'fill-partial': real('expired', 'fill-after-expiry'),
    'fill-full': real('filled', 'fill-after-expiry'),
    expired: real('expired', 'duplicate-report'),
    'cancel-requested': 'expired',
    'cancel-rejected': 'expired',
    'cancel-unconfirmed': 'expired',
    'status-unknown': 'expired',
  },
  unknown: {
    accepted: 'open',
    rejected: 'rejected',
    'fill-partial': 'partially-filled',
    'fill-full': 'filled',
    'cancel-requested': 'cancel-pending',
    canceled: 'canceled',
    'cancel-rejected': 'unknown',
    'cancel-unconfirmed': 'cancel-unconfirmed',
    expired: 'expired',
    'status-unknown': 'unknown',
  },
}

/** Orders that may still trade at the venue: what drain waits for and shutdown cancels. */
export function isLive(status: OrderStatus): boolean {
  return status !== 'filled' && status !== 'canceled' && status !== 'rejected' && status !== 'expired'
}

/**
 * What a fill adds to an order's filled quantity: all of a trade, less whatever of it the
 * venue's order total already booked (a trade the stream delivers after a lookup counted it);
 * of an order total, what it says beyond the quantity already filled (in whichever order the
 * total and the trades reach the log, each unit counts once).
 */
export function newlyFilled(order: Pick<Order, 'coveredQty' | 'filledQty'>, fill: { qty: number; source?: 'trade' | 'order-total' }): number {
  // an order total is cumulative: only what it says beyond the quantity already known is new
  if (fill.source === 'order-total') return Math.max(0, fill.qty - order.filledQty)
  return Math.max(0, fill.qty - (order.coveredQty ?? 0))
}

/** The quantity still able to trade (0 for finished orders). */
export function remainingQty(order: Order): number {
  return isLive(order.status) ? Math.max(0, order.qty - order.filledQty) : 0
}

const quiet: AnomalySink = () => {}

// Every order is built by one of two literals with the same fields in the same order, so they
// share one hidden class and copying one is a plain field copy (a spread of a zod-made object
// is several times slower on the hot path). Absent optionals are undefined, which the state's
// serialization leaves out.
function copyOrder(o: Order, seq: number, ts: number): Order {
  return {
    venue: o.venue,
    clientOrderId: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    qty: o.qty,
    price: o.price,
    timeInForce: o.timeInForce,
    reduceOnly: o.reduceOnly,
    origin: o.origin,
    status: o.status,
    venueOrderId: o.venueOrderId,
    filledQty: o.filledQty,
    avgFillPrice: o.avgFillPrice,
    fees: o.fees,
    tradeIds: o.tradeIds,
    coveredQty: o.coveredQty,
    reason: o.reason,
    canceledBy: o.canceledBy,
    submittedSeq: o.submittedSeq,
    updatedSeq: seq,
    updatedTs: ts,
  }
}

// A fill within this fraction of the order's quantity counts as completing it, so float sums of
// partial fills (0.1 + 0.2) still reach "filled".
const FILL_EPS = 1e-12

function kindOf(fact: OrderFact, cumulative: number, qty: number): OrderEventKind {
  switch (fact.type) {
    case 'order.accepted':
      return 'accepted'
    case 'order.rejected':
      return 'rejected'
    case 'order.filled':
      return cumulative >= qty * (1 - FILL_EPS) ? 'fill-full' : 'fill-partial'
    case 'order.cancel-requested':
      return 'cancel-requested'
    case 'order.canceled':
      return 'canceled'
    case 'order.cancel-rejected':
      return 'cancel-rejected'
    case 'order.cancel-unconfirmed':
      return 'cancel-unconfirmed'
    case 'order.expired':
      return 'expired'
    case 'order.status-unknown':
      return 'status-unknown'
    case 'order.submitted':
      throw new Error('unreachable: submitted is handled before the table')
  }
}

/**
 * The order entity's reducer: returns a new order (never mutates `order`), or undefined when
 * the fact concerns an order haltd never saw submitted (reported, not invented: such a fill has
 * no symbol or side to apply).
 */
export function evolveOrder(order: Order | undefined, fact: OrderFact, note: AnomalySink = quiet): Order | undefined {
  const where = { venue: fact.data.venue, clientOrderId: fact.data.clientOrderId }
  if (fact.type === 'order.submitted') {
    if (order) {
      note('duplicate-submit', `order ${fact.data.clientOrderId} was already submitted at seq ${order.submittedSeq}`, where)
      return order
    }
    const d = fact.data
    return {
      venue: d.venue,
      clientOrderId: d.clientOrderId,
      symbol: d.symbol,
      side: d.side,
      type: d.type,
      qty: d.qty,
      price: d.price,
      timeInForce: d.timeInForce,
      reduceOnly: d.reduceOnly,
      origin: d.origin,
      status: 'pending-new',
      venueOrderId: undefined,
      filledQty: 0,
      avgFillPrice: 0,
      fees: 0,
      tradeIds: [],
      coveredQty: undefined,
      reason: undefined,
      canceledBy: undefined,
      submittedSeq: fact.seq,
      updatedSeq: fact.seq,
      updatedTs: fact.ts,
    }
  }
  if (!order) {
    if (fact.type === 'order.filled') {
      note('fill-for-unknown-order', `fill ${fact.data.tradeId} of ${fact.data.qty} @ ${fact.data.price} for an order haltd never submitted`, where)
    } else {
      note('report-for-unknown-order', `${fact.type} for an order haltd never submitted`, where)
    }
    return undefined
  }

  const next = copyOrder(order, fact.seq, fact.ts)
  if (fact.type === 'order.filled') {
    const { tradeId, price, fee } = fact.data
    if (order.tradeIds.includes(tradeId)) {
      note('duplicate-fill', `trade ${tradeId} was already applied`, where)
      return order
    }
    const qty = newlyFilled(order, fact.data)
    const covered = order.coveredQty ?? 0
    const left = fact.data.source === 'order-total' ? covered + qty : covered - (fact.data.qty - qty)
    next.coveredQty = left > FILL_EPS * order.qty ? left : undefined
    const filled = order.filledQty + qty
    if (qty > 0) next.avgFillPrice = (order.avgFillPrice * order.filledQty + price * qty) / filled
    next.filledQty = filled
    next.fees = order.fees + fee
    next.tradeIds = [...order.tradeIds, tradeId]
    // a trade the venue's total already counted, or a total the trades already reached: known now by its id, nothing more happened
    if (qty === 0) return next
    if (filled > order.qty * (1 + FILL_EPS)) {
      note('overfill', `filled ${filled} of an order for ${order.qty} (trade ${tradeId})`, where)
    }
  } else if (fact.type === 'order.accepted') {
    if (order.venueOrderId !== undefined && order.venueOrderId !== fact.data.venueOrderId) {
      note('out-of-order-report', `venue order id changed from ${order.venueOrderId} to ${fact.data.venueOrderId}`, where)
    }
    next.venueOrderId = fact.data.venueOrderId
  } else if (fact.type === 'order.canceled') {
    if (order.canceledBy === undefined || order.canceledBy === 'open-orders') next.canceledBy = fact.data.confirmedBy
  } else if ('reason' in fact.data && fact.data.reason !== undefined && fact.type !== 'order.cancel-requested') {
    next.reason = fact.data.reason
  }

  const kind = kindOf(fact, next.filledQty, order.qty)
  const row = ORDER_TRANSITIONS[order.status][kind]
  if (row === undefined) {
    note('invalid-transition', `${kind} while ${order.status}`, where)
    return next
  }
  let target: Target
  if (typeof row === 'object') {
    // a reject may have been inferred (a lost answer the venue did not know yet): its reason tells which
    const why = order.status === 'rejected' && order.reason !== undefined ? ` (${order.reason})` : ''
    note(row.report, `${kind} while ${order.status}${why}`, where)
    target = row.to
  } else {
    target = row
  }
  next.status = target === 'working' ? (next.filledQty > 0 ? 'partially-filled' : 'open') : target
  return next
}
