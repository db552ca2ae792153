import { isEventType, type OrderOrigin } from '../events/index.js'
import { ANOMALIES_KEPT, type Anomaly, type AnomalyKind, type AnomalySink } from './anomalies.js'
import { bookKey, marketKey, orderKey, venueOfKey, type Fact } from './fact.js'
import { evolveOrder, isLive, type Order } from './orders.js'
import { applyFill, emptyPosition, unrealizedAt, withUnrealized, type Position } from './positions.js'
import { evolveShutdown, initialShutdownState, type ShutdownState } from './shutdowns.js'
import { evolveStrategy, evolveTrading, initialTrading, type StrategyView, type TradingView } from './trading.js'
import { contractSizeOf, evolveVenue, type VenueView } from './venues.js'

/** Running totals over every venue, kept per event so peak equity sees every intermediate value. */
export type PnlTotals = {
  realized: number
  fees: number
  unrealized: number
  /** realized − fees + unrealized since the log began. */
  equity: number
  peakEquity: number
  /** peakEquity − equity, never negative. */
  drawdown: number
  maxDrawdown: number
}

/**
 * What a venue's observation must be newer than to be evidence of what the venue holds: the
 * venue's newest order event, and its newest observation request that failed.
 */
export type VenueEvidence = {
  /** The seq of the newest order event for this venue (a cancel the open-order list itself confirmed excepted). */
  lastOrderSeq?: number
  /** The newest observation request a shutdown made of this venue that did not succeed. */
  failedObservation?: { seq: number; ts: number; why: string }
}

export type Retention = {
  /** Finished orders kept (oldest dropped first) so the state, and a snapshot, stay bounded. */
  closedOrders: number
  anomalies: number
}

/**
 * Everything haltd knows, as one value. Keyed collections are Maps (keys from `fact.ts`).
 *
 * The contract: entity reducers (`evolveOrder`, `applyFill`, `evolveVenue`, …) are pure and
 * return new entities; `evolve` below is the one place that writes them into this container,
 * in place, and returns the same object. Copying whole maps per event would make every event
 * cost O(state). A shutdown is the one entity folded in place too (`evolveShutdown`): its
 * command list grows to thousands in one step, and the shutdown's decider reads the same fold. So a state handed to `evolve` belongs to it: callers that need a frozen view
 * at some seq take `serializeState` or `stateHash` then, not a reference.
 */
export type HaltdState = {
  /** The seq and time of the last event applied (0 before any). */
  seq: number
  ts: number
  orders: Map<string, Order>
  /** Finished orders in the order they finished, oldest first, from index `closedHead`. */
  closedOrders: string[]
  closedHead: number
  inFlight: number
  positions: Map<string, Position>
  /**
   * Per venue and symbol (keyed like `positions`), the signed quantity traded since the venue's
   * newest positions observation (see `noteSinceObserved`): what has changed since the venue last
   * said what it holds (see `exposure.ts`). Cleared for a venue by each observation of its positions.
   */
  sinceObserved: Map<string, number>
  /** The same fills booked per venue, symbol and strategy (origin), for P&L by strategy. */
  books: Map<string, Position>
  marks: Map<string, number>
  pnl: PnlTotals
  venues: Map<string, VenueView>
  /** Per venue, what an observation of it must be newer than to count as evidence (see `VenueEvidence`). */
  venueEvidence: Map<string, VenueEvidence>
  trading: TradingView
  strategies: Map<string, StrategyView>
  /** Each shutdown's stream folded (see `ShutdownState`: written in place, like this container). */
  shutdowns: Map<string, ShutdownState>
  /** The newest anomalies (see `retention.anomalies`); `anomalyCount` counts all of them. */
  anomalies: Anomaly[]
  anomalyCount: number
  retention: Retention
}

export function initialState(retention: Partial<Retention> = {}): HaltdState {
  return {
    seq: 0,
    ts: 0,
    orders: new Map(),
    closedOrders: [],
    closedHead: 0,
    inFlight: 0,
    positions: new Map(),
    sinceObserved: new Map(),
    books: new Map(),
    marks: new Map(),
    pnl: { realized: 0, fees: 0, unrealized: 0, equity: 0, peakEquity: 0, drawdown: 0, maxDrawdown: 0 },
    venues: new Map(),
    venueEvidence: new Map(),
    trading: initialTrading(),
    strategies: new Map(),
    shutdowns: new Map(),
    anomalies: [],
    anomalyCount: 0,
    retention: { closedOrders: retention.closedOrders ?? 10_000, anomalies: retention.anomalies ?? ANOMALIES_KEPT },
  }
}

/** The book a fill is booked to for P&L by strategy: the strategy id, or what else sent it. */
export function strategyOf(origin: OrderOrigin): string {
  if (origin.kind === 'strategy' && origin.id !== undefined) return origin.id
  // an engine's orders are one book per engine, not one per client order id
  if (origin.kind === 'engine' && origin.id !== undefined) return `engine:${origin.id.split('/')[0]}`
  return origin.id === undefined ? origin.kind : `${origin.kind}:${origin.id}`
}

function record(state: HaltdState, kind: AnomalyKind, detail: string, where?: { venue?: string; clientOrderId?: string; shutdownId?: string }): void {
  state.anomalies.push({ seq: state.seq, ts: state.ts, kind, detail, ...where })
  state.anomalyCount++
  // trim in steps, not per event: the list's length alone decides when, so replay trims alike
  const kept = state.retention.anomalies
  if (state.anomalies.length > kept + (kept >> 2) + 1) state.anomalies.splice(0, state.anomalies.length - kept)
}

function sinkFor(state: HaltdState): AnomalySink {
  return (kind, detail, where) => record(state, kind, detail, where)
}

/**
 * Apply one stored event. Mutates and returns `state` (see the contract on `HaltdState`).
 * Never throws: an event it cannot apply is recorded as a `projection-error` anomaly.
 */
export function evolve(state: HaltdState, fact: Fact): HaltdState {
  state.seq = fact.seq
  state.ts = fact.ts
  if (fact.unreadable !== undefined) {
    // its fields may mean something else in the version that wrote it: applying it could corrupt the state
    record(state, 'unreadable-event', `${fact.type} v${fact.v ?? '?'} not applied: ${fact.unreadable}`)
    return state
  }
  try {
    apply(state, fact)
  } catch (e) {
    record(state, 'projection-error', `${fact.type}: ${e instanceof Error ? e.message : String(e)}`)
  }
  return state
}

function apply(state: HaltdState, fact: Fact): void {
  switch (fact.type) {
    case 'order.submitted':
    case 'order.accepted':
    case 'order.rejected':
    case 'order.filled':
    case 'order.cancel-requested':
    case 'order.canceled':
    case 'order.cancel-rejected':
    case 'order.cancel-unconfirmed':
    case 'order.expired':
    case 'order.status-unknown': {
      // A cancel confirmed by a fetched open-order list follows from that observation, and one
      // settled by observation reports where the venue already was: neither outdates an observation.
      if (fact.type !== 'order.canceled' || (fact.data.confirmedBy !== 'open-orders' && fact.data.evidence === undefined))
        noteEvidence(state, fact.data.venue, { lastOrderSeq: fact.seq })
      const key = orderKey(fact.data.venue, fact.data.clientOrderId)
      const before = state.orders.get(key)
      const after = evolveOrder(before, fact, sinkFor(state))
      if (after === undefined || after === before) return
      state.orders.set(key, after)
      const was = before !== undefined && isLive(before.status)
      const is = isLive(after.status)
      if (was !== is) {
        state.inFlight += is ? 1 : -1
        if (!is) closeOrder(state, key)
      }
      if (fact.type === 'order.filled' && before !== undefined && after.tradeIds.length > before.tradeIds.length) {
        // a trade the venue's order total already counted adds only its fee
        const qty = after.filledQty - before.filledQty
        if (qty > 0) {
          book(state, after, qty, fact.data.price, fact.data.fee)
          noteSinceObserved(state, after, qty, fact.data.source !== 'order-total' && isLive(before.status))
        } else moveEquity(state, 0, fact.data.fee, 0)
      }
      return
    }
    case 'market.mark': {
      const key = marketKey(fact.data.venue, fact.data.symbol)
      state.marks.set(key, fact.data.price)
      const pos = state.positions.get(key)
      if (pos === undefined || pos.qty === 0) return
      const unrealized = unrealizedAt(pos, fact.data.price)
      state.positions.set(key, withUnrealized(pos, unrealized))
      moveEquity(state, 0, 0, unrealized - pos.unrealized)
      return
    }
    case 'venue.positions-observed':
      for (const key of [...state.sinceObserved.keys()]) if (venueOfKey(key) === fact.data.venue) state.sinceObserved.delete(key)
      state.venues.set(fact.data.venue, evolveVenue(state.venues.get(fact.data.venue), fact))
      return
    case 'venue.balances-observed':
    case 'venue.open-orders-observed':
    case 'venue.markets-observed':
    case 'venue.connected':
    case 'venue.disconnected':
    case 'venue.dead-mans-switch-armed':
    case 'venue.dead-mans-switch-disarmed':
    case 'venue.cancel-all-requested':
    case 'marketdata.subscribed':
    case 'marketdata.unsubscribed':
      state.venues.set(fact.data.venue, evolveVenue(state.venues.get(fact.data.venue), fact))
      return
    case 'venue.trade-unresolved': {
      const d = fact.data
      const order = d.clientOrderId ?? (d.venueOrderId === undefined ? 'an order it did not name' : `venue order ${d.venueOrderId}`)
      record(state, 'trade-unresolved', `trade ${d.tradeId} of ${d.qty} @ ${d.price} for ${order}, booked to no position: ${d.reason}`, {
        venue: d.venue,
        ...(d.clientOrderId === undefined ? {} : { clientOrderId: d.clientOrderId }),
      })
      return
    }
    case 'venue.order-unreadable': {
      const d = fact.data
      const order = d.clientOrderId ?? (d.venueOrderId === undefined ? 'an order it did not name readably' : `venue order ${d.venueOrderId}`)
      const what = d.what === 'order' ? `order ${order}` : d.tradeId === undefined ? `a trade of ${order}` : `trade ${d.tradeId} of ${order}`
      record(state, 'order-unreadable', `${what}${d.symbol === undefined ? '' : ` on ${d.symbol}`} could not be recorded: ${d.reason}`, {
        venue: d.venue,
        ...(d.clientOrderId === undefined ? {} : { clientOrderId: d.clientOrderId }),
      })
      return
    }
    case 'strategy.enabled':
    case 'strategy.disabled':
    case 'strategy.limits-changed':
      state.strategies.set(fact.data.strategyId, evolveStrategy(state.strategies.get(fact.data.strategyId), fact))
      return
    case 'trading.state-changed':
    case 'killswitch.activated':
    case 'killswitch.reset':
    case 'drain.started':
    case 'drain.canceled':
    case 'drain.completed':
    case 'trading.paused':
    case 'trading.resumed':
    case 'deployments.locked':
    case 'deployments.unlocked':
      state.trading = evolveTrading(state.trading, fact)
      return
    case 'shutdown.requested':
    case 'shutdown.step-started':
    case 'shutdown.step-completed':
    case 'shutdown.step-failed':
    case 'shutdown.step-timed-out':
    case 'shutdown.step-skipped':
    case 'shutdown.command-issued':
    case 'shutdown.command-completed':
    case 'shutdown.escalated':
    case 'shutdown.request-ignored':
    case 'shutdown.completed': {
      let shutdown = state.shutdowns.get(fact.data.shutdownId)
      if (shutdown === undefined) {
        shutdown = initialShutdownState()
        state.shutdowns.set(fact.data.shutdownId, shutdown)
      }
      evolveShutdown(shutdown, fact, sinkFor(state))
      if (fact.type === 'shutdown.command-completed' && fact.data.outcome !== 'ok') {
        const command = shutdown.commands.get(fact.data.commandId)?.command
        if (command?.kind === 'observe-venue') {
          const error = fact.data.detail?.error
          const why = typeof error === 'string' ? error : `the observation ${fact.data.outcome}`
          noteEvidence(state, command.venue, { failedObservation: { seq: fact.seq, ts: fact.ts, why } })
        }
      }
      return
    }
    default:
      // runs (folded on their own, in runs.ts), checkpoints and notifications: nothing to project
      // here. A type this build does not know may be a fact it should have applied: say so.
      if (!isEventType(fact.type)) record(state, 'unreadable-event', `'${String(fact.type)}' is not an event type this build knows: not applied`)
      return
  }
}

function noteEvidence(state: HaltdState, venue: string, change: VenueEvidence): void {
  state.venueEvidence.set(venue, { ...state.venueEvidence.get(venue), ...change })
}

/**
 * Whether a fill recorded after the venue's newest positions report changes what the venue
 * holds beyond it. An order sent after the report cannot be in it: its fills come on top. So does
 * a trade of an order that rested across the report (it traded since, as far as haltd can tell).
 * A venue-reported order total, or a trade of an order haltd had finished already, tells of the
 * past, which the report already holds: counting it again would invent a position.
 */
function noteSinceObserved(state: HaltdState, order: Order, qty: number, restingTrade: boolean): void {
  const observed = state.venues.get(order.venue)?.positions
  if (observed === undefined || !(order.submittedSeq > observed.seq || restingTrade)) return
  const key = marketKey(order.venue, order.symbol)
  state.sinceObserved.set(key, (state.sinceObserved.get(key) ?? 0) + (order.side === 'buy' ? qty : -qty))
}

function book(state: HaltdState, order: Order, qty: number, price: number, fee: number): void {
  const key = marketKey(order.venue, order.symbol)
  const mark = state.marks.get(key)
  const pos = state.positions.get(key) ?? emptyPosition(order.venue, order.symbol)
  const size = contractSizeOf(state.venues, order.venue, order.symbol)
  const next = applyFill(pos, order.side, qty, price, fee, mark, size)
  state.positions.set(key, next)
  moveEquity(state, next.realized - pos.realized, fee, next.unrealized - pos.unrealized)

  const strategy = strategyOf(order.origin)
  const bk = bookKey(order.venue, order.symbol, strategy)
  const bookPos = state.books.get(bk) ?? emptyPosition(order.venue, order.symbol, strategy)
  state.books.set(bk, applyFill(bookPos, order.side, qty, price, fee, undefined, size))
}

function moveEquity(state: HaltdState, realized: number, fees: number, unrealized: number): void {
  const p = state.pnl
  p.realized += realized
  p.fees += fees
  p.unrealized += unrealized
  p.equity = p.realized - p.fees + p.unrealized
  if (p.equity > p.peakEquity) p.peakEquity = p.equity
  p.drawdown = p.peakEquity - p.equity
  if (p.drawdown > p.maxDrawdown) p.maxDrawdown = p.drawdown
}

/** Queue a finished order for eviction and drop the oldest beyond the retention. */
function closeOrder(state: HaltdState, key: string): void {
  state.closedOrders.push(key)
  while (state.closedOrders.length - state.closedHead > state.retention.closedOrders) {
    const old = state.closedOrders[state.closedHead++]!
    const order = state.orders.get(old)
    // an order revived by a late fill and finished again is queued twice; drop it only if finished now
    if (order !== undefined && !isLive(order.status)) state.orders.delete(old)
  }
  if (state.closedHead > 4096 && state.closedHead * 2 > state.closedOrders.length) {
    state.closedOrders = state.closedOrders.slice(state.closedHead)
    state.closedHead = 0
  }
}
