import type { EventLog } from '../log/event-log.js'
import { isVenueError } from '../../exchanges/errors.js'
import type { ExchangeGateway, Fill, OrderUpdate, UnreadableVenueOrder, VenueOrder } from '../../exchanges/gateway.js'
import type { Order } from '../../projections/orders.js'
import type { EventData } from '../../events/index.js'
import { ReportedOnce } from '../../exchanges/reported-once.js'
import { adoptionEvents, logIdOf, orderUnreadableData, rememberedKey, tradeRef, whyOrderUnrecordable, whyUnrecordable } from './unrecordable.js'
import {
  fillOrRefusal,
  observeVenue,
  OPEN_ORDERS_PER_EVENT,
  openOrdersObserved,
  orderTotalEvent,
  orderTotalOf,
  recordOrderTotal,
  unseenAfterList,
} from './venue-recorder.js'

/**
 * Guardian mode: an engine keeps its own order entry on an account haltd holds the keys of too.
 * haltd follows the account: it asks the venue for its open orders and positions every `pollMs`,
 * and at once when the venue's stream reports an order it does not know; every order it sees is
 * adopted into the log (origin `adopted`, id `guardian`) as an observed fact, and every adopted
 * order that leaves the open list is looked up and settled on the venue's word (filled, canceled,
 * expired). From then on the projections, the reconciliation, the risk triggers and the shutdowns
 * see the account's orders as haltd's own.
 *
 * Trades are followed one by one where the venue reports them (its stream, or the gateway's polls
 * of the account's trades): a trade of an order haltd already follows is the venue recorder's to
 * record; one of an order it does not know yet (placed and filled between two looks) is held here,
 * the order looked up by the trade's market and venue id and adopted, and then the trade recorded,
 * so it is booked like any fill. A trade reported without its market (some venues' user streams
 * leave it out, or ccxt leaves it undefined) is looked up on each market the account trades (at
 * most MAX_MARKETS_ASKED, at once) and booked where its order is found; where it is not, it is
 * recorded as `venue.trade-unresolved`, which the projections raise as an anomaly. Where the venue
 * reports no trades, an order's fills are known by its total, as the open-order list or a lookup
 * gives it.
 *
 * An order the venue reports in a shape the log refuses (a quantity of 0, a price that is not a
 * number, an id too long) is recorded once as `venue.order-unreadable`, naming the field, and
 * raised as an anomaly; the orders reported with it are adopted and settled as ever, each on its
 * own. The trades held for such an order are recorded as `venue.trade-unresolved`, and a trade
 * that is itself unreadable as `venue.order-unreadable` with its trade id. Reported readably
 * later, the order is adopted then. While the open-order list holds an unreadable order it is not
 * recorded as an observation: a list without an order the venue shows would be taken for
 * evidence that the order is gone.
 *
 * What it cannot promise: nothing is written ahead (haltd learns of an order when the venue
 * reports it, a poll later at worst), and an order placed and filled between two looks on a venue
 * that reports no trades is known only by the position it left.
 */
export type Guardian = {
  /** Start looking (the venue is connected); trades seen before are held until then. */
  start(): void
  stop(): void
  /** Look now (and wait for it). */
  look(): Promise<void>
}

export const GUARDIAN_ORIGIN = { kind: 'adopted' as const, id: 'guardian' }

/** Markets asked at once for the order of a trade reported without its market. */
export const MAX_MARKETS_ASKED = 20
/** Looks in which a lookup may fail before its trade is recorded unresolved. */
const LOOKUPS_BEFORE_GIVING_UP = 3
/** Unreadable orders and trades remembered as recorded, so a look does not record them again. */
export const UNREADABLE_REMEMBERED = 1000

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))
const lookupUnreadable = (e: Error) => `the venue's answer to its lookup could not be read: ${messageOf(e.cause ?? e)}`

/** Trades of one order not adopted yet. */
type Held = { fills: Fill[]; symbol?: string; venueOrderId?: string; failedLookups: number }

export function followAccount(input: {
  log: EventLog
  gateway: ExchangeGateway
  /** An order as the live projections know it. */
  orderOf: (venue: string, clientOrderId: string) => Order | undefined
  /** The account's orders haltd adopted that are still live, per the projections. */
  adoptedLive: (venue: string) => Iterable<Order>
  /** The markets the account trades on the venue, most likely first: where a trade without its market is looked for. */
  markets: () => readonly string[]
  pollMs: number
  onError: (e: unknown) => void
}): Guardian {
  const { log, gateway, orderOf, onError } = input
  const venue = gateway.venue
  let started = false
  let stopped = false
  let running: Promise<void> | undefined
  let again = false
  let timer: ReturnType<typeof setInterval> | undefined
  /** Trades of orders not adopted yet, by the order's client order id, recorded once it is. */
  const held = new Map<string, Held>()
  /** Orders and trades recorded as unreadable. */
  const remembered = new ReportedOnce(UNREADABLE_REMEMBERED)

  const whyUnreadable = (o: VenueOrder) => whyOrderUnrecordable(venue, o, GUARDIAN_ORIGIN)

  /** What the venue reported that haltd cannot record: recorded once, as long as it is remembered (a failed append is tried again next time). */
  const recordOnce = (key: string, data: EventData<'venue.order-unreadable'>) => {
    if (remembered.has(key)) return
    log.append({ type: 'venue.order-unreadable', data })
    remembered.add(key)
  }
  const unreadable = (o: Partial<Pick<VenueOrder, 'clientOrderId' | 'venueOrderId' | 'symbol'>>, reason: string) =>
    recordOnce(rememberedKey(o), orderUnreadableData(venue, o, reason))

  /** Trades, each booked as an `order.filled`, or recorded as unreadable where the log refuses it. */
  const recordTrades = (fills: readonly Fill[], order: { symbol?: string; venueOrderId?: string } = {}) => {
    for (const f of fills) {
      const event = fillOrRefusal(log, venue, f)
      const why = whyUnrecordable([event])
      if (why === undefined) log.append(event)
      else tradeUnreadable(f, order, why)
    }
  }

  const tradeUnreadable = (f: Fill, order: { symbol?: string; venueOrderId?: string }, reason: string) =>
    recordOnce(`t\u0000${String(f.tradeId).slice(0, 256)}`, orderUnreadableData(venue, tradeRef(f, order), reason, f))

  const adopt = (o: VenueOrder) => {
    const clientOrderId = logIdOf(o)
    if (orderOf(venue, clientOrderId)) return
    log.appendBatch(adoptionEvents(venue, o, GUARDIAN_ORIGIN))
    // its trades first, each booked at its own price; the total then adds only what they miss
    const trades = held.get(clientOrderId)
    held.delete(clientOrderId)
    if (trades) recordTrades(trades.fills, { symbol: o.symbol, venueOrderId: o.venueOrderId })
    if (o.filled > 0) recordOrderTotal(log, venue, orderTotalOf(clientOrderId, o))
  }

  /** An adopted order the open list no longer shows: what the venue says became of it. */
  const settle = async (o: Order) => {
    const ref = { clientOrderId: o.clientOrderId, symbol: o.symbol, ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}) }
    let found: VenueOrder | undefined
    try {
      found = await gateway.fetchOrder(ref)
    } catch (e) {
      if (!isVenueError(e, 'bad-response')) throw e
      // said once, not at every look; the order stays live until the venue answers readably
      unreadable(ref, lookupUnreadable(e))
      return
    }
    const key = { venue, clientOrderId: o.clientOrderId }
    if (found && found.filled > 0) {
      const total = orderTotalOf(o.clientOrderId, found)
      const event = orderTotalEvent(venue, total)
      const why = event && whyUnrecordable([event])
      // what the venue says became of it stands even where its filled total cannot be read
      if (why) unreadable(found, `its filled total: ${why}`)
      else recordOrderTotal(log, venue, total)
    }
    if (found === undefined || found.status === 'canceled')
      log.append({ type: 'order.canceled', data: { ...key, confirmedBy: found ? 'lookup' : 'open-orders' } })
    else if (found.status === 'expired') log.append({ type: 'order.expired', data: key })
    else if (found.status === 'rejected') log.append({ type: 'order.rejected', data: { ...key, reason: 'rejected, as the venue reported it' } })
  }

  /** Orders known only by their trades: asked for by the trade's market and venue id, adopted with their trades. */
  const adoptTraded = async () => {
    for (const [clientOrderId, h] of [...held]) await each(() => adoptTradedOne(clientOrderId, h))
  }

  const adoptTradedOne = async (clientOrderId: string, h: Held) => {
    if (orderOf(venue, clientOrderId)) {
      // adopted meanwhile (or haltd's own after all): the trades are plain fills now
      held.delete(clientOrderId)
      recordTrades(h.fills, h)
      return
    }
    if (h.symbol === undefined) {
      await placeUnnamed(clientOrderId, h)
      return
    }
    let found: VenueOrder | undefined
    try {
      found = await gateway.fetchOrder({ clientOrderId, symbol: h.symbol, ...(h.venueOrderId ? { venueOrderId: h.venueOrderId } : {}) })
    } catch (e) {
      // an answer the gateway cannot read, look after look: the order is unreadable, its trades unresolved
      if (!isVenueError(e, 'bad-response') || ++h.failedLookups < LOOKUPS_BEFORE_GIVING_UP) throw e
      const why = lookupUnreadable(e)
      unreadable({ clientOrderId, symbol: h.symbol, ...(h.venueOrderId ? { venueOrderId: h.venueOrderId } : {}) }, why)
      unresolve(clientOrderId, h, [h.symbol], `its order could not be recorded: ${why}`)
      return
    }
    if (found) adoptWithTrades(clientOrderId, h, found, [h.symbol])
    else {
      // the venue would not say which order: the trades are recorded as the facts they are
      held.delete(clientOrderId)
      recordTrades(h.fills, h)
    }
  }

  /** The order a lookup found for held trades: adopted with them, or, where the log refuses it, recorded unreadable and the trades unresolved. */
  const adoptWithTrades = (clientOrderId: string, h: Held, found: VenueOrder, marketsAsked: string[]) => {
    const why = whyUnreadable(found)
    if (why === undefined) {
      adopt(found)
      return
    }
    unreadable(found, why)
    unresolve(clientOrderId, h, marketsAsked, `its order could not be recorded: ${why}`)
  }

  /** Held trades booked to no position, each recorded as `venue.trade-unresolved` with why (or unreadable, where the trade itself is). */
  const unresolve = (clientOrderId: string, h: Held, marketsAsked: string[], reason: string) => {
    held.delete(clientOrderId)
    for (const f of h.fills) {
      const event = {
        type: 'venue.trade-unresolved',
        data: {
          venue,
          tradeId: f.tradeId,
          clientOrderId,
          ...(h.venueOrderId ? { venueOrderId: h.venueOrderId } : {}),
          qty: f.qty,
          price: f.price,
          fee: f.fee,
          ...(f.feeCurrency ? { feeCurrency: f.feeCurrency } : {}),
          ...(f.liquidity ? { liquidity: f.liquidity } : {}),
          marketsAsked,
          reason,
        },
      }
      const why = whyUnrecordable([event])
      if (why === undefined) log.append(event)
      else tradeUnreadable(f, h, `${why}; ${reason}`)
    }
  }

  /** One order's part of a look: what goes wrong with it is reported and the look goes on with the next. */
  const each = async (part: () => unknown) => {
    try {
      await part()
    } catch (e) {
      onError(e)
    }
  }

  /**
   * Trades reported without their market: their order asked for on each market the account
   * trades, all at once, and adopted with them where found. A lookup that failed is asked again
   * at the next look, up to LOOKUPS_BEFORE_GIVING_UP; not found anywhere, the trades are recorded
   * as unresolved, booked to no position.
   */
  const placeUnnamed = async (clientOrderId: string, h: Held) => {
    const markets = [...new Set(input.markets())]
    const asked = markets.slice(0, MAX_MARKETS_ASKED)
    const ref = { clientOrderId, ...(h.venueOrderId ? { venueOrderId: h.venueOrderId } : {}) }
    const answers = await Promise.allSettled(asked.map((symbol) => gateway.fetchOrder({ ...ref, symbol })))
    if (orderOf(venue, clientOrderId)) return // adopted while it asked: the next look books the trades
    const found = answers.find((a): a is PromiseFulfilledResult<VenueOrder> => a.status === 'fulfilled' && a.value !== undefined)
    if (found) {
      adoptWithTrades(clientOrderId, h, found.value, asked)
      return
    }
    const failed = asked.filter((_, i) => answers[i]!.status === 'rejected')
    if (failed.length > 0 && ++h.failedLookups < LOOKUPS_BEFORE_GIVING_UP) return
    const reason =
      asked.length === 0
        ? 'haltd knows no market this account trades on the venue to ask for its order'
        : [
            `its order is on none of the ${asked.length} market(s) asked`,
            ...(failed.length > 0 ? [`the lookup failed ${h.failedLookups} time(s) on ${failed.join(', ')}`] : []),
            ...(markets.length > asked.length ? [`${markets.length - asked.length} further market(s) not asked`] : []),
          ].join('; ')
    unresolve(clientOrderId, h, asked, reason)
  }

  const lookOnce = async () => {
    const unread: UnreadableVenueOrder[] = []
    const open = await gateway.fetchOpenOrders(undefined, { unreadable: (u) => unread.push(u) })
    const observed = openOrdersObserved(venue, open, OPEN_ORDERS_PER_EVENT, unseenAfterList(gateway))
    const whole = whyUnrecordable(observed) === undefined
    // an order haltd follows was readable when adopted: only the list needs reading again
    const unreadableWhy = new Map(
      open.map((o) => [o, orderOf(venue, logIdOf(o)) ? (whole ? undefined : whyUnrecordable(openOrdersObserved(venue, [o]))) : whyUnreadable(o)] as const),
    )
    // recorded only whole: a list without an order the venue shows would read as that order gone
    if (unread.length === 0 && [...unreadableWhy.values()].every((why) => why === undefined)) log.appendBatch(observed)
    await observeVenue(log, gateway, { positions: true })
    const listed = new Set<string>()
    /** Venue ids of the orders listed that could not be read: still open, whatever shape they are reported in. */
    const listedUnread = new Set<string>()
    for (const u of unread) {
      if (u.clientOrderId) listed.add(u.clientOrderId)
      if (u.venueOrderId) listedUnread.add(u.venueOrderId)
      await each(() => unreadable(u, `the venue's order could not be read: ${u.reason}`))
    }
    for (const o of open) {
      listed.add(logIdOf(o))
      const why = unreadableWhy.get(o)
      await each(() => (why === undefined ? adopt(o) : unreadable(o, why)))
    }
    await adoptTraded()
    for (const o of [...input.adoptedLive(venue)]) {
      if (!listed.has(o.clientOrderId) && !(o.venueOrderId !== undefined && listedUnread.has(o.venueOrderId))) await each(() => settle(o))
    }
  }

  const look = (): Promise<void> => {
    if (!started || stopped) return Promise.resolve()
    if (running) {
      again = true
      return running
    }
    running = (async () => {
      try {
        do {
          again = false
          await lookOnce()
        } while (again && !stopped)
      } catch (e) {
        onError(e)
      } finally {
        running = undefined
      }
    })()
    return running
  }

  const onUpdate = (u: OrderUpdate) => {
    if (stopped || orderOf(venue, u.clientOrderId)) return
    if (u.kind === 'fill') {
      const { kind: _, symbol, venueOrderId, ...fill } = u
      const h = held.get(u.clientOrderId) ?? { fills: [], failedLookups: 0 }
      h.fills.push(fill)
      if (symbol) h.symbol = symbol
      if (venueOrderId) h.venueOrderId = venueOrderId
      held.set(u.clientOrderId, h)
    }
    // The venue names an order haltd does not know: someone placed it; look now.
    void look()
  }
  // Listening from the start, so no trade reported before the first look is missed.
  const offUpdates = gateway.onUpdate(onUpdate)
  return {
    look,
    start() {
      if (started || stopped) return
      started = true
      // A poll that comes due during a look is skipped, not queued: where a look takes longer than
      // `pollMs` (an account-wide list a venue charges heavily for) looks would follow back to back
      // and fill the rate limit the venue's other calls wait in.
      timer = setInterval(() => {
        if (!running) void look()
      }, input.pollMs)
      timer.unref()
      void look()
    },
    stop() {
      stopped = true
      clearInterval(timer)
      offUpdates()
    },
  }
}
