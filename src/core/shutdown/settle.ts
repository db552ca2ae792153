import pTimeout from 'p-timeout'
import { orderStream, type EventData, type EventInput } from '../../events/index.js'
import type { ExchangeGateway, VenueOrder } from '../../exchanges/gateway.js'
import type { EventLog } from '../log/event-log.js'
import { observeVenue, recordOpenOrders, totalTradeId } from '../execution/venue-recorder.js'
import { foldOpenOrderList, type ListSoFar } from '../../projections/venues.js'
import { pool } from '../execution/pool.js'
import type { ShutdownCommand, WorldOrder } from './types.js'

/**
 * Settling by observation: an order a venue said it did not know (Binance -2011, ccxt
 * `OrderNotFound`), or whose cancel it never clearly answered, is settled only on what the venue
 * shows of it afterwards. "Not found once" is not "canceled":
 *
 * - a lookup by id that answers with the order's final status settles it as that status
 *   (canceled, expired, rejected, or filled, the venue's filled total recorded as an order total);
 * - failing that, an open-order list fetched after the cancel that does not list an order the
 *   venue had acknowledged settles it canceled;
 * - a lookup or list that shows it live leaves it to be cancelled again;
 * - with neither answer it stays `cancel-unconfirmed`.
 *
 * `settlementOf` decides from the answers (pure); `settleOrders` asks the venue and records.
 */

export type SettleEvidence = NonNullable<EventData<'order.canceled'>['evidence']>

/** What a lookup by id came back with. */
export type Lookup = { kind: 'found'; order: VenueOrder } | { kind: 'unknown' } | { kind: 'failed'; error: string }

/**
 * An open-order list fetched after the cancel: the observation's seq, whether it lists the order,
 * and, where the list left the order's book of the account unseen (refused, or never listed), why.
 */
export type ListSeen = { seq: number; listed: boolean; bookUnseen?: string }

export type Settlement =
  | { kind: 'settled'; as: 'canceled' | 'expired' | 'rejected' | 'filled'; events: EventInput[] }
  /** The venue shows it live: the cancel has not taken (yet); it is to be sent again. */
  | { kind: 'open'; events: EventInput[]; why: string }
  | { kind: 'unsettled'; reason: string }

const FILL_EPS = 1e-12

/** The orders a settlement is for: live, their cancel not confirmed by the venue. */
export const UNCONFIRMED = 'cancel-unconfirmed'
export const toSettle = (orders: readonly WorldOrder[], venue: string): WorldOrder[] => orders.filter((o) => o.venue === venue && o.status === UNCONFIRMED)

/** One `settle-orders` per venue with orders whose cancel it did not confirm, in venue order. Pure. */
export function settleCommands(orders: readonly WorldOrder[], round: number): ShutdownCommand[] {
  const venues = [...new Set(orders.filter((o) => o.status === UNCONFIRMED).map((o) => o.venue))].sort()
  return venues.map((venue) => ({ kind: 'settle-orders', venue, orders: toSettle(orders, venue).length, round }))
}

/**
 * The venue's filled total for the order where it says more than the log has, recorded as an
 * `order-total` fill (see `recordOrderTotal`): its trade id is the total's, so the router and a
 * settlement that both hear it record it once, and the order's later trades do not count again.
 */
function missingFill(order: WorldOrder, found: VenueOrder): EventInput[] | { error: string } {
  if (!(found.filled - order.filledQty > order.qty * FILL_EPS)) return []
  // more filled than the order was for is no total to book: the answer is not to be believed
  if (found.filled > order.qty * (1 + 1e-9)) return { error: `the venue reports ${found.filled} filled on an order of ${order.qty}: more than the order` }
  const price = found.average ?? found.price ?? order.price
  if (price === undefined) return { error: `the venue reports ${found.filled} filled at a price it did not give` }
  const tradeId = totalTradeId({ clientOrderId: order.clientOrderId, filled: found.filled })
  return [
    {
      type: 'order.filled',
      data: { venue: order.venue, clientOrderId: order.clientOrderId, tradeId, qty: found.filled, price, fee: 0, source: 'order-total' },
    },
  ]
}

/** How the venue's answers settle one order. Pure: the same answers always give the same events. */
export function settlementOf(order: WorldOrder, lookup: Lookup, list: ListSeen | undefined): Settlement {
  const key = { venue: order.venue, clientOrderId: order.clientOrderId }
  if (lookup.kind === 'found') {
    const found = lookup.order
    const fills = missingFill(order, found)
    if (!Array.isArray(fills)) return { kind: 'unsettled', reason: fills.error }
    switch (found.status) {
      case 'canceled': {
        const evidence: SettleEvidence = { kind: 'lookup', venueStatus: 'canceled' }
        return { kind: 'settled', as: 'canceled', events: [...fills, { type: 'order.canceled', data: { ...key, confirmedBy: 'lookup', evidence } }] }
      }
      case 'expired':
        return { kind: 'settled', as: 'expired', events: [...fills, { type: 'order.expired', data: key }] }
      case 'rejected':
        return {
          kind: 'settled',
          as: 'rejected',
          events: [{ type: 'order.rejected', data: { ...key, reason: 'rejected, as a lookup of the order at the venue answered' } }],
        }
      case 'filled':
        // the fill the venue reports completes it; one already recorded in full left it out of the live orders
        return { kind: 'settled', as: 'filled', events: fills }
      case 'open':
      case 'partially-filled':
        // its fills so far are facts; the cancel is for the caller to send again
        return { kind: 'open', events: fills, why: `a lookup shows it still ${found.status} at the venue after the cancel` }
    }
  }
  const asked = lookup.kind === 'failed' ? `the lookup failed (${lookup.error})` : 'a lookup found nothing'
  if (list === undefined) return { kind: 'unsettled', reason: `${asked} and no open-order list was had after the cancel` }
  if (list.listed) return { kind: 'open', events: [], why: `the venue still lists it open after the cancel (observation at seq ${list.seq})` }
  // a list of the other books of the account lacks it whatever became of it
  if (list.bookUnseen !== undefined) {
    return {
      kind: 'unsettled',
      reason: `${asked}, and the open-order list at seq ${list.seq} did not show its book (${list.bookUnseen}): its absence is no proof`,
    }
  }
  // an order the venue never acknowledged may still be on its way there: its absence proves nothing
  if (order.venueOrderId === undefined) {
    return { kind: 'unsettled', reason: `${asked}, and the venue never acknowledged it: its absence from the list is no proof` }
  }
  const evidence: SettleEvidence = { kind: 'open-orders', seq: list.seq, venueStatus: 'absent' }
  return { kind: 'settled', as: 'canceled', events: [{ type: 'order.canceled', data: { ...key, confirmedBy: 'open-orders', evidence } }] }
}

export type SettleSummary = {
  settled: Partial<Record<'canceled' | 'expired' | 'rejected' | 'filled', number>>
  /** Live at the venue after all: to be cancelled again. */
  open: WorldOrder[]
  /** Settled canceled by their absence from the list alone, no lookup answering: what they had filled is unknown. */
  fillUnknown: string[]
  unsettled: { clientOrderId: string; reason: string }[]
  /** The open-order list the settlement used, and where it came from. */
  list?: { seq: number; source: 'recorded' | 'fetched' }
  listError?: string
}

export type SettleDeps = {
  log: EventLog
  gateway: ExchangeGateway
  /** The live orders at the venue to settle. */
  orders: readonly WorldOrder[]
  /** Lookups in flight at once. */
  concurrency: number
  /** How long the lookups and a list fetch may take in all. */
  timeoutMs: number
  /** The seq the cancels being settled came after (the shutdown's first step): older lists are not read. */
  since: number
}

/**
 * The newest open-order observation of a venue recorded after every cancel request of `orders`
 * (and the venue's last cancel-all) since `since`, or undefined when there is none: only a list
 * fetched after the cancel can show an order gone.
 */
export function recordedListAfterCancels(log: EventLog, venue: string, orders: readonly WorldOrder[], since: number): EventLogList | undefined {
  let lastCancel = since
  let list: EventLogList | undefined
  let soFar: ListSoFar | undefined
  for (const e of log.read({ stream: venueStream(venue), types: ['venue.cancel-all-requested', 'venue.open-orders-observed'], from: since })) {
    if (e.type === 'venue.cancel-all-requested') {
      lastCancel = e.seq
      continue
    }
    const folded = foldOpenOrderList(soFar, { seq: e.seq, ts: e.ts, data: e.data as EventData<'venue.open-orders-observed'> })
    soFar = folded.soFar
    if (folded.list) list = folded.list
  }
  for (const o of orders) {
    for (const e of log.read({ stream: orderStream(venue, o.clientOrderId), types: ['order.cancel-requested'], from: lastCancel + 1 })) lastCancel = e.seq
  }
  return list && list.seq > lastCancel ? list : undefined
}

/** A venue's stream, where its observations are (see `streamOf`). */
const venueStream = (venue: string): string => `venue:${venue}`

type EventLogList = { seq: number; orders: EventData<'venue.open-orders-observed'>['orders']; unseen?: EventData<'venue.open-orders-observed'>['unseen'] }

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** The open-order list read after the cancels of some orders, and whether it lists each of them. */
export type ListAfterCancels = {
  list?: EventLogList
  source?: 'recorded' | 'fetched'
  /** Why there is no list (it failed, or had no answer in time). */
  error?: string
  /** Whether the list holds the order (by its client or venue id); false without a list. */
  listed: (order: WorldOrder) => boolean
  /** Where the list left the order's book of the account unseen: which book, and why. */
  bookUnseen: (order: WorldOrder) => string | undefined
}

/**
 * The venue's open-order list recorded after every cancel of `orders`, or one fetched now (recorded
 * like any observation of the venue, and read back as evidence) when there is none. A fetch that
 * fails or has no answer within `timeoutMs` gives no list, and says why.
 */
export async function listAfterCancels(deps: Omit<SettleDeps, 'concurrency'> & { fresh?: boolean }): Promise<ListAfterCancels> {
  const { log, gateway, orders } = deps
  const venue = gateway.venue
  // `fresh`: a list recorded after the cancel requests may have been asked for before the venue
  // answered them (another order's check, still under way): only one asked for now is read
  const recorded = deps.fresh ? undefined : recordedListAfterCancels(log, venue, orders, deps.since)
  let list = recorded
  let error: string | undefined
  if (deps.fresh) {
    const recording = recordOpenOrders(log, gateway)
    recording.catch(() => {})
    try {
      const stored = await pTimeout(recording, {
        milliseconds: Math.max(1, deps.timeoutMs),
        message: `the open-order list had no answer within ${deps.timeoutMs} ms`,
      })
      const unseen = (stored.at(-1)!.data as EventData<'venue.open-orders-observed'>).unseen
      list = {
        seq: stored.at(-1)!.seq,
        orders: stored.flatMap((e) => (e.data as EventData<'venue.open-orders-observed'>).orders),
        ...(unseen === undefined ? {} : { unseen }),
      }
    } catch (e) {
      error = messageOf(e)
    }
  } else if (!list) {
    const observing = observeVenue(log, gateway, { openOrders: true })
    observing.catch(() => {})
    try {
      await pTimeout(observing, { milliseconds: Math.max(1, deps.timeoutMs), message: `the open-order list had no answer within ${deps.timeoutMs} ms` })
      list = recordedListAfterCancels(log, venue, orders, deps.since)
    } catch (e) {
      error = messageOf(e)
    }
  }
  const ids = new Set<string>()
  for (const o of list?.orders ?? []) {
    ids.add(`v:${o.venueOrderId}`)
    if (o.clientOrderId) ids.add(`c:${o.clientOrderId}`)
  }
  return {
    ...(list ? { list, source: recorded ? ('recorded' as const) : ('fetched' as const) } : {}),
    ...(error !== undefined ? { error } : {}),
    listed: (o) => list !== undefined && (ids.has(`c:${o.clientOrderId}`) || (o.venueOrderId !== undefined && ids.has(`v:${o.venueOrderId}`))),
    bookUnseen: (o) => {
      const book = list?.unseen?.length ? gateway.bookOf?.(o.symbol) : undefined
      const unseen = book === undefined ? undefined : list?.unseen?.find((u) => u.book === book)
      return unseen === undefined ? undefined : `${unseen.book}: ${unseen.why}`
    },
  }
}

/**
 * Whether an order settled `as` on `lookup` may have filled more than the log holds: settled on
 * a list's absence, or on a lookup that gave its end without saying what it filled.
 */
const finalFillUntold = (as: Extract<Settlement, { kind: 'settled' }>['as'], lookup: Lookup): boolean =>
  lookup.kind !== 'found' || (lookup.order.filledUnknown === true && (as === 'canceled' || as === 'expired'))

/**
 * Ask the venue about each order (lookups, and an open-order list fetched now when none was
 * recorded after the cancel), then record what its answers settle. Answers that do not come
 * within `timeoutMs` count as none. Returns the events they settle, for the caller to append.
 */
export async function settleOrders(deps: SettleDeps): Promise<{ summary: SettleSummary; events: EventInput[] }> {
  const { gateway, orders } = deps
  const summary: SettleSummary = { settled: {}, open: [], unsettled: [], fillUnknown: [] }
  if (orders.length === 0) return { summary, events: [] }
  const bound = <T>(p: Promise<T>, what: string) => {
    p.catch(() => {})
    return pTimeout(p, { milliseconds: Math.max(1, deps.timeoutMs), message: `${what} had no answer within ${deps.timeoutMs} ms` })
  }
  const listing = listAfterCancels(deps).then((seen) => {
    if (seen.error !== undefined) summary.listError = seen.error
    return seen
  })
  const lookups = pool(orders, deps.concurrency, async (o): Promise<Lookup> => {
    try {
      const found = await bound(
        gateway.fetchOrder({ clientOrderId: o.clientOrderId, symbol: o.symbol, ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}) }),
        'the lookup',
      )
      return found ? { kind: 'found', order: found } : { kind: 'unknown' }
    } catch (e) {
      return { kind: 'failed', error: messageOf(e) }
    }
  })
  const [{ list, source, listed, bookUnseen }, answers] = await Promise.all([listing, lookups])
  if (list && source) summary.list = { seq: list.seq, source }
  const events: EventInput[] = []
  orders.forEach((o, i) => {
    const unseen = list ? bookUnseen(o) : undefined
    const seen = list ? { seq: list.seq, listed: listed(o), ...(unseen === undefined ? {} : { bookUnseen: unseen }) } : undefined
    const s = settlementOf(o, answers[i]!, seen)
    if (s.kind === 'unsettled') {
      summary.unsettled.push({ clientOrderId: o.clientOrderId, reason: s.reason })
      return
    }
    if (s.kind === 'open') summary.open.push(o)
    else summary.settled[s.as] = (summary.settled[s.as] ?? 0) + 1
    if (s.kind === 'settled' && finalFillUntold(s.as, answers[i]!)) summary.fillUnknown.push(o.clientOrderId)
    events.push(...s.events)
  })
  return { summary, events }
}
