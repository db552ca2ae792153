import type { EventLog } from '../log/event-log.js'
import type { ExchangeGateway, Fill, OrderUpdate, VenueOrder } from '../../exchanges/gateway.js'
import type { Order } from '../../projections/orders.js'
import { observeVenue, recordFills, recordOrderTotal } from './venue-recorder.js'

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

  /** The id an order goes by in the log: the engine's client order id, else the venue's id. */
  const idOf = (o: VenueOrder) => o.clientOrderId || `v${o.venueOrderId}`

  const adopt = (o: VenueOrder) => {
    const clientOrderId = idOf(o)
    if (orderOf(venue, clientOrderId)) return
    log.appendBatch([
      {
        type: 'order.submitted',
        data: {
          venue,
          clientOrderId,
          symbol: o.symbol,
          side: o.side,
          type: o.price === undefined ? 'market' : 'limit',
          qty: o.qty,
          ...(o.price !== undefined ? { price: o.price } : {}),
          reduceOnly: o.reduceOnly ?? false,
          origin: GUARDIAN_ORIGIN,
        },
      },
      { type: 'order.accepted', data: { venue, clientOrderId, venueOrderId: o.venueOrderId } },
    ])
    // its trades first, each booked at its own price; the total then adds only what they miss
    const trades = held.get(clientOrderId)
    held.delete(clientOrderId)
    if (trades) recordFills(log, venue, trades.fills)
    if (o.filled > 0)
      recordOrderTotal(log, venue, {
        clientOrderId,
        filled: o.filled,
        ...(o.average !== undefined ? { average: o.average } : {}),
        ...(o.price !== undefined ? { price: o.price } : {}),
      })
  }

  /** An adopted order the open list no longer shows: what the venue says became of it. */
  const settle = async (o: Order) => {
    const found = await gateway.fetchOrder({ clientOrderId: o.clientOrderId, symbol: o.symbol, ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}) })
    const key = { venue, clientOrderId: o.clientOrderId }
    if (found && found.filled > 0)
      recordOrderTotal(log, venue, {
        clientOrderId: o.clientOrderId,
        filled: found.filled,
        ...(found.average !== undefined ? { average: found.average } : {}),
        ...(found.price !== undefined ? { price: found.price } : {}),
      })
    if (found === undefined || found.status === 'canceled')
      log.append({ type: 'order.canceled', data: { ...key, confirmedBy: found ? 'lookup' : 'open-orders' } })
    else if (found.status === 'expired') log.append({ type: 'order.expired', data: key })
    else if (found.status === 'rejected') log.append({ type: 'order.rejected', data: { ...key, reason: 'rejected, as the venue reported it' } })
  }

  /** Orders known only by their trades: asked for by the trade's market and venue id, adopted with their trades. */
  const adoptTraded = async () => {
    for (const [clientOrderId, h] of [...held]) {
      if (orderOf(venue, clientOrderId)) {
        // adopted meanwhile (or haltd's own after all): the trades are plain fills now
        held.delete(clientOrderId)
        recordFills(log, venue, h.fills)
        continue
      }
      if (h.symbol === undefined) {
        await placeUnnamed(clientOrderId, h)
        continue
      }
      const found = await gateway.fetchOrder({ clientOrderId, symbol: h.symbol, ...(h.venueOrderId ? { venueOrderId: h.venueOrderId } : {}) })
      if (found) adopt(found)
      else {
        // the venue would not say which order: the trades are recorded as the facts they are
        held.delete(clientOrderId)
        recordFills(log, venue, h.fills)
      }
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
      adopt(found.value)
      return
    }
    const failed = asked.filter((_, i) => answers[i]!.status === 'rejected')
    if (failed.length > 0 && ++h.failedLookups < LOOKUPS_BEFORE_GIVING_UP) return
    held.delete(clientOrderId)
    const reason =
      asked.length === 0
        ? 'haltd knows no market this account trades on the venue to ask for its order'
        : [
            `its order is on none of the ${asked.length} market(s) asked`,
            ...(failed.length > 0 ? [`the lookup failed ${h.failedLookups} time(s) on ${failed.join(', ')}`] : []),
            ...(markets.length > asked.length ? [`${markets.length - asked.length} further market(s) not asked`] : []),
          ].join('; ')
    for (const f of h.fills) {
      log.append({
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
          marketsAsked: asked,
          reason,
        },
      })
    }
  }

  const lookOnce = async () => {
    await observeVenue(log, gateway, { openOrders: true, positions: true })
    const open = await gateway.fetchOpenOrders()
    const listed = new Set<string>()
    for (const o of open) {
      listed.add(idOf(o))
      adopt(o)
    }
    await adoptTraded()
    for (const o of [...input.adoptedLive(venue)]) if (!listed.has(o.clientOrderId)) await settle(o)
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
      timer = setInterval(() => void look(), input.pollMs)
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
