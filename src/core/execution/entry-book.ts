import type { Envelope } from '../../events/envelope.js'
import { isLive, type Order } from '../../projections/orders.js'

/**
 * Each engine's live orders, kept by order as the projections apply its events, so that the
 * engine's open-order limit and its open-order list cost one lookup per order instead of a scan of
 * every order haltd holds. Seeded once from the live orders (a restart's included), then moved by
 * each `order.*` event. An order on its way (its limit passed, its `order.submitted` not yet
 * applied, as in `power` durability until the group commit) is held as pending, so a burst cannot
 * pass the limit between the check and the event.
 */

/** The engine an order was entered for, from its origin (`engine`, id `<engine>/<client order id>`). */
export function engineOf(o: Pick<Order, 'origin'>): string | undefined {
  if (o.origin.kind !== 'engine' || o.origin.id === undefined) return undefined
  const at = o.origin.id.indexOf('/')
  return at === -1 ? o.origin.id : o.origin.id.slice(0, at)
}

type Book = { live: Map<string, Order>; pending: Set<string> }

/** What the engine's resting orders in one market would add to its position if all filled: buys up, sells down (both positive). */
export type Resting = { buy: number; sell: number }

export class EntryBook {
  private readonly books = new Map<string, Book>()
  /** The engine of each live order, by its key, to find its book when it finishes. */
  private readonly engineByKey = new Map<string, string>()
  /** The resting amounts of each engine's live orders per market (reduce-only ones add nothing), kept as orders move. */
  private readonly resting = new Map<string, Resting>()
  /** What each live order adds to `resting`, by its key, to take back when it moves. */
  private readonly adds = new Map<string, { market: string; side: 'buy' | 'sell'; amount: number }>()
  /** Orders whose submit has not settled: the order entry counts them as on their way, so they rest only once it has. */
  private readonly unsettled = new Set<string>()

  constructor(
    /** An order as the live projections hold it. */
    private readonly orderOf: (venue: string, clientOrderId: string) => Order | undefined,
    live: Iterable<Order>,
  ) {
    for (const o of live) this.place(o)
  }

  private book(engine: string): Book {
    let b = this.books.get(engine)
    if (b === undefined) {
      b = { live: new Map(), pending: new Set() }
      this.books.set(engine, b)
    }
    return b
  }

  private place(o: Order): void {
    const engine = engineOf(o)
    if (engine === undefined) return
    const key = keyOf(o.venue, o.clientOrderId)
    const b = this.book(engine)
    this.unrest(key)
    if (isLive(o.status)) {
      b.live.set(key, o)
      b.pending.delete(key)
      this.engineByKey.set(key, engine)
      const amount = Math.max(0, o.qty - o.filledQty)
      if (!o.reduceOnly && amount > 0 && !this.unsettled.has(key)) {
        const market = marketOf(engine, o.venue, o.symbol)
        const r = this.resting.get(market) ?? { buy: 0, sell: 0 }
        r[o.side] += amount
        this.resting.set(market, r)
        this.adds.set(key, { market, side: o.side, amount })
      }
    } else {
      b.live.delete(key)
      b.pending.delete(key)
      this.engineByKey.delete(key)
    }
  }

  /** Take back what an order added to its market's resting amounts. */
  private unrest(key: string): void {
    const add = this.adds.get(key)
    if (add === undefined) return
    this.adds.delete(key)
    const r = this.resting.get(add.market)
    if (r === undefined) return
    r[add.side] -= add.amount
    // sums of decimal amounts leave dust: a market with nothing resting is forgotten
    if (r.buy < 1e-12 && r.sell < 1e-12) this.resting.delete(add.market)
  }

  /** The amounts the engine's live orders rest with in a market, each side. */
  restingIn(engine: string, venue: string, symbol: string): Resting {
    const r = this.resting.get(marketOf(engine, venue, symbol))
    return r === undefined ? { buy: 0, sell: 0 } : { buy: Math.max(0, r.buy), sell: Math.max(0, r.sell) }
  }

  /** Apply one event the projections applied (any event; only `order.*` ones move the book). */
  apply(e: Envelope): void {
    if (!e.type.startsWith('order.')) return
    const d = e.data as { venue: string; clientOrderId: string }
    const o = this.orderOf(d.venue, d.clientOrderId)
    if (o) {
      this.place(o)
      return
    }
    // the projections let go of it (closed, past retention): it is no longer live
    const key = keyOf(d.venue, d.clientOrderId)
    const engine = this.engineByKey.get(key)
    if (engine === undefined) return
    this.engineByKey.delete(key)
    this.unrest(key)
    this.books.get(engine)?.live.delete(key)
  }

  /** Live orders of `engine`, those on their way included. */
  openCount(engine: string): number {
    const b = this.books.get(engine)
    return b === undefined ? 0 : b.live.size + b.pending.size
  }

  /** The engine's live orders as the projections hold them now (never the pending ones). */
  *live(engine: string): Generator<Order> {
    const b = this.books.get(engine)
    if (b === undefined) return
    for (const [key, o] of b.live) {
      const now = this.orderOf(o.venue, o.clientOrderId) ?? o
      if (isLive(now.status)) yield now
      else {
        b.live.delete(key)
        this.unrest(key)
      }
    }
  }

  /** Hold an order as live from its limit check until its submit settles; returns the release. */
  reserve(engine: string, venue: string, clientOrderId: string): () => void {
    const key = keyOf(venue, clientOrderId)
    const b = this.book(engine)
    if (!b.live.has(key)) b.pending.add(key)
    this.unsettled.add(key)
    return () => {
      b.pending.delete(key)
      this.unsettled.delete(key)
      // from now on what it leaves resting counts here, not as on its way
      const o = this.orderOf(venue, clientOrderId)
      if (o) this.place(o)
    }
  }
}

const keyOf = (venue: string, clientOrderId: string) => `${venue}\u0000${clientOrderId}`
const marketOf = (engine: string, venue: string, symbol: string) => `${engine}\u0000${venue}\u0000${symbol}`
