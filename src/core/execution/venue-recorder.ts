import { createHash } from 'node:crypto'
import type { ConnectionChange, ExchangeGateway, Fill, OrderUpdate, VenueOrder } from '../../exchanges/gateway.js'
import { HaltdError } from '../../events/errors.js'
import type { Envelope, EventInput, UnseenBook } from '../../events/index.js'
import { orderEventKey } from '../../events/routing.js'
import type { EventLog } from '../log/event-log.js'

/** Where a recorder puts the facts it makes: the log itself, or a batch bound for it. */
type Appender = { append(input: EventInput): unknown }

/**
 * Append fills as `order.filled`; a fill already recorded (same trade id) is not appended twice.
 * A fill of more than its order (see `moreThanTheOrder`) is recorded as the venue's unreadable
 * report instead, and books nothing. `orders` is where the orders are looked up: the log.
 */
export function recordFills(log: Appender, venue: string, fills: readonly Fill[], orders: Orders): void {
  for (const f of fills) log.append(fillOrRefusal(orders, venue, f))
}

/** Where an order's submission is found: the log. */
type Orders = Pick<EventLog, 'findByKey'>

/**
 * Why a fill, or an order's reported total, cannot be booked: it is more than the order haltd
 * submitted. A venue's answer of 1,000 filled on an order of 0.01 is no fill: booked, it would
 * size a flatten of 1,000 (closing a position that is not haltd's) and leave the order, still open
 * at the venue, taken for filled and never cancelled. Undefined when it fits, or the order is not
 * one haltd submitted (a fill of an order it does not know books nothing anyway).
 */
export function moreThanTheOrder(orders: Orders, venue: string, clientOrderId: string, qty: number): string | undefined {
  const submitted = orders.findByKey(orderEventKey('order.submitted', venue, clientOrderId))
  if (submitted === undefined || submitted.unreadable !== undefined) return undefined
  const orderQty = (submitted.data as { qty: number }).qty
  return qty > orderQty * (1 + 1e-9) ? `the venue reported ${qty} filled on an order of ${orderQty}: more than the order, not booked` : undefined
}

/** A trade as the log takes it: `order.filled`, or, where it is more than its order, the venue's report recorded as unreadable (once per trade). */
export function fillOrRefusal(orders: Orders, venue: string, f: Fill): EventInput {
  const why = moreThanTheOrder(orders, venue, f.clientOrderId, f.qty)
  return why === undefined ? fillEvent(venue, f) : overfill(venue, f.clientOrderId, f.tradeId, why)
}

/** A trade (or total) of more than its order, as the venue's unreadable report of it: once per trade id. */
const overfill = (venue: string, clientOrderId: string, tradeId: string, reason: string): EventInput => ({
  type: 'venue.order-unreadable',
  data: { venue, what: 'trade', clientOrderId, tradeId, reason },
  idempotencyKey: `venue.order-unreadable:${venue}:overfill:${tradeId}`,
})

/** One trade as the `order.filled` it is recorded as. */
export function fillEvent(venue: string, f: Fill): EventInput {
  return {
    type: 'order.filled',
    data: {
      venue,
      clientOrderId: f.clientOrderId,
      tradeId: f.tradeId,
      qty: f.qty,
      price: f.price,
      fee: f.fee,
      feeCurrency: f.feeCurrency,
      liquidity: f.liquidity,
    },
  }
}

/** What a venue said an order has filled in all: an ack, a cancel answer, a lookup. */
export type OrderTotal = { clientOrderId: string; filled: number; average?: number; price?: number }

/** The total a venue's report of an order gives, under the id the log knows the order by. */
export const orderTotalOf = (clientOrderId: string, o: Pick<VenueOrder, 'filled' | 'average' | 'price'>): OrderTotal => ({
  clientOrderId,
  filled: o.filled,
  ...(o.average !== undefined ? { average: o.average } : {}),
  ...(o.price !== undefined ? { price: o.price } : {}),
})

/**
 * Record the filled quantity a venue reported for one of haltd's orders as an `order-total`
 * fill: the part beyond the trades already recorded counts once, whichever of the total and
 * the trades reaches the log first (see `newlyFilled`). Its trade id is derived from the total,
 * so the same report recorded twice (the router and a settling lookup) is one event. Nothing is
 * recorded without a price to book it at, or for an order haltd never submitted.
 */
export function recordOrderTotal(log: EventLog, venue: string, total: OrderTotal, fallbackPrice?: number): boolean {
  const event = orderTotalEvent(venue, total, fallbackPrice)
  if (event === undefined || !isOurs(log, venue, total.clientOrderId)) return false
  const why = moreThanTheOrder(log, venue, total.clientOrderId, total.filled)
  if (why !== undefined) {
    log.append(overfill(venue, total.clientOrderId, totalTradeId(total), why))
    return false
  }
  log.append(event)
  return true
}

/** The `order-total` fill an order's reported total is recorded as; undefined when it says nothing filled, or gives no price. */
export function orderTotalEvent(venue: string, total: OrderTotal, fallbackPrice?: number): EventInput | undefined {
  const price = total.average ?? total.price ?? fallbackPrice
  if (!(total.filled > 0) || !(price !== undefined && price > 0)) return undefined
  return {
    type: 'order.filled',
    data: { venue, clientOrderId: total.clientOrderId, tradeId: totalTradeId(total), qty: total.filled, price, source: 'order-total' },
  }
}

/** The trade id of an order total: the same report, from whichever caller, is one event. */
export function totalTradeId(total: Pick<OrderTotal, 'clientOrderId' | 'filled'>): string {
  const id = `total:${total.filled}:${total.clientOrderId}`
  // a trade id has room for 200 characters; a client order id near that length is hashed
  return id.length <= 200 ? id : `total:${total.filled}:${createHash('sha256').update(total.clientOrderId).digest('hex')}`
}

/** Whether haltd itself submitted (or adopted) this order: only then is a status the venue reports about it haltd's to record. */
export function isOurs(log: EventLog, venue: string, clientOrderId: string): boolean {
  return log.findByKey(orderEventKey('order.submitted', venue, clientOrderId)) !== undefined
}

/**
 * Turn one pushed or polled update into the event it means. Fills of untagged orders are
 * recorded too: they are facts. A status of an order haltd never submitted (someone else's,
 * seen in a stream or an open-order list) is not: that order stays foreign, and the venue's
 * open-order observations list it as UNKNOWN_TO_US.
 */
function recordUpdate(
  log: Appender,
  venue: string,
  update: OrderUpdate,
  ours: (clientOrderId: string) => boolean,
  leaveForeignFills: boolean,
  orders: Orders,
): void {
  if (update.kind === 'fill') {
    if (!leaveForeignFills || ours(update.clientOrderId)) recordFills(log, venue, [update], orders)
    return
  }
  if (!ours(update.clientOrderId)) return
  const key = { venue, clientOrderId: update.clientOrderId }
  switch (update.status) {
    case 'canceled':
      recordEndTotal(log, venue, update, orders)
      log.append({ type: 'order.canceled', data: { ...key, confirmedBy: 'stream' } })
      return
    case 'expired':
      recordEndTotal(log, venue, update, orders)
      log.append({ type: 'order.expired', data: key })
      return
    case 'rejected':
      log.append({ type: 'order.rejected', data: { ...key, reason: update.reason ?? 'rejected by the venue' } })
      return
    case 'open':
      if (update.venueOrderId) log.append({ type: 'order.accepted', data: { ...key, venueOrderId: update.venueOrderId } })
      return
    default:
      // partially-filled / filled: the fills themselves carry the quantities
      return
  }
}

/**
 * What an order's end, as the venue reported it, says it filled in all, as an `order-total` fill
 * (see `recordOrderTotal`): counted once, against its trades whichever reaches the log first. A
 * total of more than the order is the venue's unreadable report, booking nothing.
 */
function recordEndTotal(log: Appender, venue: string, update: Extract<OrderUpdate, { kind: 'status' }>, orders: Orders): void {
  if (update.filled === undefined) return
  const total = { clientOrderId: update.clientOrderId, filled: update.filled, average: update.average, price: update.price }
  const event = orderTotalEvent(venue, total)
  if (event === undefined) return
  const why = moreThanTheOrder(orders, venue, total.clientOrderId, total.filled)
  log.append(why === undefined ? event : overfill(venue, total.clientOrderId, totalTradeId(total), why))
}

/** Turn a connection lost or regained while running into `venue.disconnected` / `venue.connected`. */
function recordConnectionChange(log: Appender, venue: string, change: ConnectionChange): void {
  if (change.connected) log.append({ type: 'venue.connected', data: { venue } })
  else log.append({ type: 'venue.disconnected', data: { venue, reason: change.reason.slice(0, 2000) } })
}

/**
 * Record every update a venue pushes, and every connection loss and recovery it reports, from
 * now until the returned function is called.
 *
 * A venue pushes in bursts (a mass cancel confirms thousands of orders in one message): its facts
 * go through `appendSoon`, so a burst is one transaction instead of one per fact, in the log's
 * order of the calls.
 */
export function recordUpdates(
  log: EventLog,
  gateway: ExchangeGateway,
  onError: (e: unknown) => void = () => {},
  /** A quick "haltd knows this order" (the live projections); the log is asked only when it says no. */
  knows?: (venue: string, clientOrderId: string) => boolean,
  /**
   * Leave the fills of orders haltd does not know to someone else: the guardian, which adopts the
   * order first and then records its trades, so they are booked (a fill of an unknown order is
   * recorded but books nothing, and its trade id is then taken).
   */
  options: {
    leaveForeignFills?: boolean
    /** Where each fact goes first: recorded at once, or held back for a while (a handover offering the lease). */
    hold?: { run(record: () => void): void }
  } = {},
): () => void {
  // These run in the venue's callbacks: an append that fails (a full disk) is reported, never
  // thrown into the venue's code, where it would be an uncaught exception.
  const now = (record: () => void) => {
    try {
      record()
    } catch (e) {
      onError(e)
    }
  }
  const { hold } = options
  const safely = hold ? (record: () => void) => hold.run(() => now(record)) : now
  const burst: Appender = { append: (input) => log.appendSoon(input, onError) }
  const ours = (clientOrderId: string) => knows?.(gateway.venue, clientOrderId) === true || isOurs(log, gateway.venue, clientOrderId)
  const offUpdates = gateway.onUpdate((update) => safely(() => recordUpdate(burst, gateway.venue, update, ours, options.leaveForeignFills === true, log)))
  // rare and read at once by whoever watches the venue's health: written on the spot (after the burst before it)
  const offConnection = gateway.onConnectionChange?.((change) => safely(() => recordConnectionChange(log, gateway.venue, change)))
  return () => {
    offUpdates()
    offConnection?.()
  }
}

/**
 * Orders per event of an open-order list: at most a few hundred KiB, well inside the log's
 * default event cap (1 MiB) with ids and symbols at their longest.
 */
export const OPEN_ORDERS_PER_EVENT = 1_000

/**
 * A venue's open-order list as the observation it is recorded as: one event, or parts of
 * `OPEN_ORDERS_PER_EVENT` orders to append together (`appendBatch`) where the list is longer;
 * `unseen`, the books of the account it does not show, on the whole list or its last part.
 */
export function openOrdersObserved(
  venue: string,
  orders: readonly VenueOrder[],
  perEvent = OPEN_ORDERS_PER_EVENT,
  unseen?: readonly UnseenBook[],
): EventInput[] {
  const shown = orders.map((o) => ({
    symbol: o.symbol,
    venueOrderId: o.venueOrderId,
    clientOrderId: o.clientOrderId,
    side: o.side,
    qty: o.qty,
    filled: o.filled,
    price: o.price,
  }))
  const books = unseen && unseen.length > 0 ? { unseen: [...unseen] } : {}
  if (shown.length <= perEvent) return [{ type: 'venue.open-orders-observed', data: { venue, orders: shown, ...books } }]
  const of = Math.ceil(shown.length / perEvent)
  return Array.from({ length: of }, (_, i) => ({
    type: 'venue.open-orders-observed',
    data: { venue, orders: shown.slice(i * perEvent, (i + 1) * perEvent), ...(i + 1 === of ? books : {}), part: { index: i + 1, of } },
  }))
}

/** The books of the account a gateway's last list left unseen, read after the list (a refusal is learned by asking). */
export const unseenAfterList = (gateway: ExchangeGateway): readonly UnseenBook[] | undefined => gateway.unseenBooks?.()

/** Ask a venue for its open orders and record the list (in parts where it is long): the events stored. */
export async function recordOpenOrders(log: EventLog, gateway: ExchangeGateway): Promise<Envelope[]> {
  const orders = await gateway.fetchOpenOrders()
  return log.appendBatch(openOrdersObserved(gateway.venue, orders, OPEN_ORDERS_PER_EVENT, unseenAfterList(gateway)))
}

/** Ask a venue what it holds and record each answer as an observation. */
export async function observeVenue(
  log: EventLog,
  gateway: ExchangeGateway,
  what: { positions?: boolean; balances?: boolean; openOrders?: boolean; markets?: boolean } = {},
): Promise<void> {
  const venue = gateway.venue
  const all = Object.keys(what).length === 0
  if (all || what.markets) {
    const markets = await gateway.fetchMarkets()
    log.append({
      type: 'venue.markets-observed',
      data: {
        venue,
        markets: markets.map((m) => ({
          symbol: m.symbol,
          amountStep: m.amountStep,
          priceStep: m.priceStep,
          ...(m.contractSize !== undefined ? { contractSize: m.contractSize } : {}),
        })),
      },
    })
  }
  if (all || what.openOrders) await recordOpenOrders(log, gateway)
  if ((all || what.positions) && gateway.capabilities.positions) {
    const positions = await gateway.fetchPositions()
    const unseen = unseenAfterList(gateway)
    log.append({ type: 'venue.positions-observed', data: { venue, positions, ...(unseen && unseen.length > 0 ? { unseen: [...unseen] } : {}) } })
  }
  if (all || what.balances) {
    const balances = await gateway.fetchBalances()
    log.append({ type: 'venue.balances-observed', data: { venue, balances } })
  }
}

export class InvalidDeadMansSwitch extends HaltdError {
  constructor(
    readonly venue: string,
    field: 'timeoutMs' | 'refreshMs',
    detail: string,
  ) {
    super('INVALID_DEAD_MANS_SWITCH', `dead man's switch at ${venue}: ${field} ${detail}`)
  }
}

export type DeadMansSwitchKeeper = {
  /** Resolves once the first arm was answered: true when the venue has a switch and armed it. */
  readonly ready: Promise<boolean>
  /** Stop refreshing and leave the switch armed: if haltd goes away now, the venue cancels. */
  stop(): void
  /** Stop refreshing and disarm, recorded; only after a shutdown verified nothing is left open. */
  disarm(): Promise<void>
}

/**
 * Arm a venue's dead man's switch (cancel-all-after / countdown) and refresh it every
 * `refreshMs` while haltd runs, so that a haltd that dies or hangs leaves the venue to cancel
 * everything within `timeoutMs`. The arm and the disarm are recorded; refreshes are not (one
 * per interval would flood the log), a refresh that fails is reported to `onError`.
 */
export function keepDeadMansSwitch(
  log: EventLog,
  gateway: ExchangeGateway,
  options: {
    timeoutMs: number
    refreshMs: number
    onError?: (e: unknown) => void
    /** The timer; setInterval by default. Returns the cancel. */
    every?: (ms: number, fn: () => void) => () => void
  },
): DeadMansSwitchKeeper {
  const { timeoutMs, refreshMs } = options
  if (!(Number.isInteger(timeoutMs) && timeoutMs > 0))
    throw new InvalidDeadMansSwitch(gateway.venue, 'timeoutMs', `must be a positive whole number of ms, got ${timeoutMs}`)
  if (!(refreshMs > 0 && refreshMs < timeoutMs))
    throw new InvalidDeadMansSwitch(gateway.venue, 'refreshMs', `must be positive and below timeoutMs (${timeoutMs}), got ${refreshMs}`)
  const onError = options.onError ?? (() => undefined)
  const every =
    options.every ??
    ((ms: number, fn: () => void) => {
      const t = setInterval(fn, ms)
      t.unref?.()
      return () => clearInterval(t)
    })
  let cancelTimer: (() => void) | undefined
  let armed = false
  let stopped = false
  const ready = gateway.armDeadMansSwitch(timeoutMs).then((answer) => {
    if (!answer.armed) return false
    // armed at the venue: a fact, even if stop() came while the answer was on its way
    armed = true
    log.append({ type: 'venue.dead-mans-switch-armed', data: { venue: gateway.venue, timeoutMs, method: answer.method ?? 'unknown' } })
    if (!stopped) {
      cancelTimer = every(refreshMs, () => {
        gateway.armDeadMansSwitch(timeoutMs).catch(onError)
      })
    }
    return true
  })
  const stop = () => {
    stopped = true
    cancelTimer?.()
    cancelTimer = undefined
  }
  return {
    ready,
    stop,
    async disarm() {
      stop()
      await ready.catch(() => false)
      if (!armed) return
      await gateway.disarmDeadMansSwitch()
      armed = false
      log.append({ type: 'venue.dead-mans-switch-disarmed', data: { venue: gateway.venue } })
    },
  }
}
