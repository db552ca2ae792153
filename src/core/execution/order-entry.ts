import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { Envelope } from '../../events/envelope.js'
import { HaltdError, problemsOf } from '../../events/errors.js'
import { hasLoneSurrogate, LONE_SURROGATE_MESSAGE } from '../../events/text.js'
import { orderEventKey, orderStream } from '../../events/routing.js'
import { HALTD_TAG } from '../../exchanges/client-order-id.js'
import { evolveOrder, type Order, type OrderFact } from '../../projections/orders.js'
import { StrategyLimits } from '../../strategies/limits.js'
import type { EventLog } from '../log/event-log.js'
import type { OrderRouter, SubmitOutcome } from './order-router.js'
import { EntryBook, engineOf } from './entry-book.js'

/**
 * Order entry for an engine beside haltd (any language): its orders become haltd's orders, through
 * the same router (write-ahead, the gate, the kill switch, the shutdowns), held to limits of its
 * own. Requests and answers have ccxt's unified shapes. A submit is idempotent by the engine's
 * client order id: haltd's id for the order is derived from it (`entryOrderId`), so a retried
 * submit, in flight or long done, even across a restart, finds the order instead of sending another.
 */

// ── what an engine sends ───────────────────────────────────────────────────────────────────

/** The engine's own client order id: what it retries by. */
const EngineOrderId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only, at most 64')

/** A venue, symbol or id as an engine sends it: text the log can store (a lone surrogate is the request's fault, a 400, not a refusal later). */
const EntryText = z
  .string()
  .min(1)
  .max(64)
  .refine((s) => !hasLoneSurrogate(s), { message: LONE_SURROGATE_MESSAGE })

export const EntryOrder = z
  .strictObject({
    /** Which venue; may be left out when haltd has exactly one. */
    venue: EntryText.optional(),
    symbol: EntryText,
    type: z.enum(['market', 'limit']),
    side: z.enum(['buy', 'sell']),
    amount: z.number().finite().positive(),
    price: z.number().finite().positive().optional(),
    reduceOnly: z.boolean().default(false),
    timeInForce: z.enum(['GTC', 'IOC', 'FOK', 'PO']).optional(),
    postOnly: z.boolean().default(false),
    clientOrderId: EngineOrderId.optional(),
  })
  .superRefine((o, ctx) => {
    if (o.type === 'limit' && o.price === undefined) ctx.addIssue({ code: 'custom', path: ['price'], message: 'a limit order needs a price' })
    if (o.type === 'market' && o.postOnly) ctx.addIssue({ code: 'custom', path: ['postOnly'], message: 'a market order cannot be post-only' })
    if (o.postOnly && o.timeInForce !== undefined && o.timeInForce !== 'PO' && o.timeInForce !== 'GTC')
      ctx.addIssue({ code: 'custom', path: ['timeInForce'], message: `post-only contradicts timeInForce ${o.timeInForce}` })
  })
export type EntryOrder = z.output<typeof EntryOrder>

/** A cancel names the order by the engine's client order id, or by haltd's id (`id` in an answer). */
export const EntryCancel = z
  .strictObject({
    venue: EntryText.optional(),
    clientOrderId: EngineOrderId.optional(),
    id: EntryText.optional(),
  })
  .refine((c) => c.clientOrderId !== undefined || c.id !== undefined, { message: 'give clientOrderId or id', path: ['clientOrderId'] })
export type EntryCancel = z.output<typeof EntryCancel>

export const EntryCancelAll = z.strictObject({ venue: EntryText.optional(), symbol: EntryText.optional() })
export type EntryCancelAll = z.output<typeof EntryCancelAll>

export const EntryTicker = z.strictObject({ venue: EntryText.optional(), symbol: EntryText })
export type EntryTicker = z.output<typeof EntryTicker>
/** What positions and balances take: nothing (a filter they would ignore is refused, not read as applied). */
export const EntryNothing = z.strictObject({})

/**
 * An engine's limits: the strategies' (open orders at once, orders per second, absolute position
 * per market), and the notional of one order (amount × its price, or × the market's last mark for
 * a market order), the fat-finger check.
 */
export const EntryLimits = StrategyLimits.extend({ maxOrderNotional: z.number().finite().positive().optional() })
export type EntryLimits = z.output<typeof EntryLimits>

export const DEFAULT_ENTRY_LIMITS: EntryLimits = { maxPosition: 1e12, maxOpenOrders: 500, maxOrdersPerSecond: 100 }

/** A request that names what is wrong with it (HTTP 400). */
export class InvalidEntryRequest extends HaltdError {
  /** Each thing wrong, by where it is (`symbol`, `price`; empty for the request as a whole), as the admin API's `problems`. */
  readonly problems: readonly { path: string; message: string }[]
  constructor(
    readonly field: string,
    detail: string,
    problems?: readonly { path: string; message: string }[],
  ) {
    super('INVALID_REQUEST', field && !detail.startsWith(`${field}: `) ? `${field}: ${detail}` : detail)
    this.problems = problems ?? [{ path: field, message: detail }]
  }
}

/** A client order id the engine used before for another order (HTTP 409). */
export class ClientOrderIdReused extends HaltdError {
  constructor(clientOrderId: string, detail: string) {
    super('CLIENT_ORDER_ID_REUSED', `clientOrderId '${clientOrderId}' was used for another order: ${detail}`)
  }
}

/** No such order of this engine (HTTP 404). */
export class EntryOrderNotFound extends HaltdError {
  constructor(what: string) {
    super('ORDER_NOT_FOUND', `no order ${what} entered by this engine`)
  }
}

/** Parse a request body with `schema`, or throw naming every field that is wrong. */
/**
 * The request read by its schema; `from` names where it came from in the errors (a GET's query
 * string, or the body). No body at all is an empty one; `null` is not an object and is said so.
 */
export function parseEntry<S extends z.ZodType>(schema: S, body: unknown, from: 'body' | 'query' = 'body'): z.output<S> {
  const r = schema.safeParse(body === undefined ? {} : body)
  if (r.success) return r.data
  const problems = problemsOf(r.error)
  throw new InvalidEntryRequest(problems[0]?.path ?? '', problems.map((p) => `${p.path || `(${from})`}: ${p.message}`).join('; '), problems)
}

// ── what it gets back ─────────────────────────────────────────────────────────────────────

/** ccxt's order statuses, from haltd's. An order whose cancel the venue has not confirmed is still `open`. */
const CCXT_STATUS: Record<Order['status'], 'open' | 'closed' | 'canceled' | 'expired' | 'rejected'> = {
  'pending-new': 'open',
  open: 'open',
  'partially-filled': 'open',
  'cancel-pending': 'open',
  'cancel-unconfirmed': 'open',
  unknown: 'open',
  filled: 'closed',
  canceled: 'canceled',
  rejected: 'rejected',
  expired: 'expired',
}

/** An order as ccxt shapes it, with haltd's id and status beside the venue's. */
export type EntryOrderView = {
  /** haltd's client order id (what the venue knows as the client order id). */
  id: string
  /** The engine's own, where it gave one. */
  clientOrderId?: string
  venueOrderId?: string
  venue: string
  symbol: string
  type: 'market' | 'limit'
  side: 'buy' | 'sell'
  amount: number
  price?: number
  filled: number
  remaining: number
  average?: number
  fee: number
  reduceOnly: boolean
  timeInForce: string
  postOnly: boolean
  status: 'open' | 'closed' | 'canceled' | 'expired' | 'rejected'
  haltdStatus: Order['status']
  reason?: string
}

export type SubmitAnswer = {
  /** What the submit came to: `accepted`, `rejected` (by the venue), `refused` (by haltd: gate or limits), `unknown` (answer lost). */
  outcome: SubmitOutcome['status']
  /** True when the client order id was known already: nothing was sent again. */
  duplicate: boolean
  reason?: string
  order?: EntryOrderView
}

export type EntryUpdate = { type: 'order'; order: EntryOrderView; seq: number } | { type: 'fill'; fill: EntryFill; seq: number }
export type EntryFill = {
  id: string
  clientOrderId?: string
  venue: string
  symbol: string
  side: 'buy' | 'sell'
  tradeId: string
  amount: number
  price: number
  fee: number
  feeCurrency?: string
  liquidity?: 'maker' | 'taker'
}

/**
 * haltd's id for an engine's order: its tag, then 16 base-36 digits of a hash of the engine and its
 * id (fits every venue's rule): the first 64 bits in 13 digits, the next 16 in 3. A retry across a
 * restart or an upgrade must find the same id, so this derivation never changes. `createHash`, not
 * one-shot `hash`: that one is in Node only from 20.12, and haltd runs on any Node 20.
 */
export function entryOrderId(engine: string, clientOrderId: string): string {
  const hex = createHash('sha256').update(`${engine}\u0000${clientOrderId}`).digest('hex')
  const high = BigInt(`0x${hex.slice(0, 16)}`)
    .toString(36)
    .padStart(13, '0')
    .slice(-13)
  const low = Number.parseInt(hex.slice(16, 20), 16).toString(36).padStart(3, '0').slice(-3)
  return `${HALTD_TAG}${high}${low}`
}

/** A figure for a message: at most 8 significant digits (no float dust like 31231.864999999998). */
const roundForHumans = (n: number) => Number(n.toPrecision(8))

const originId = (engine: string, clientOrderId: string | undefined) => `${engine}/${clientOrderId ?? ''}`

function engineIdOf(o: Order): { engine: string; clientOrderId?: string } | undefined {
  if (o.origin.kind !== 'engine' || o.origin.id === undefined) return undefined
  const at = o.origin.id.indexOf('/')
  const clientOrderId = o.origin.id.slice(at + 1)
  return { engine: o.origin.id.slice(0, at), ...(clientOrderId ? { clientOrderId } : {}) }
}

export function viewOf(o: Order): EntryOrderView {
  const mine = engineIdOf(o)
  return {
    id: o.clientOrderId,
    ...(mine?.clientOrderId ? { clientOrderId: mine.clientOrderId } : {}),
    ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}),
    venue: o.venue,
    symbol: o.symbol,
    type: o.type,
    side: o.side,
    amount: o.qty,
    ...(o.price !== undefined ? { price: o.price } : {}),
    filled: o.filledQty,
    remaining: Math.max(0, o.qty - o.filledQty),
    ...(o.filledQty > 0 ? { average: o.avgFillPrice } : {}),
    fee: o.fees,
    reduceOnly: o.reduceOnly,
    timeInForce: o.timeInForce,
    postOnly: o.timeInForce === 'PO',
    status: CCXT_STATUS[o.status],
    haltdStatus: o.status,
    ...(o.reason ? { reason: o.reason } : {}),
  }
}

// ── the service ───────────────────────────────────────────────────────────────────────────

export type OrderEntryPorts = {
  log: EventLog
  router: OrderRouter
  venues: () => readonly string[]
  /** An order as the live projections know it. */
  orderOf: (venue: string, clientOrderId: string) => Order | undefined
  /** Live orders (may still trade): read once, at construction, to seed each engine's book. */
  liveOrders: () => Iterable<Order>
  /** Signed position as projected (the venue's word where it reported). */
  positionOf: (venue: string, symbol: string) => number
  positions: () => unknown
  balances: () => unknown
  /** The last mark haltd recorded for a market (its market data), if any. */
  mark: (venue: string, symbol: string) => number | undefined
  /** The markets haltd knows at a venue (its markets as observed), where it has observed them. */
  marketsAt?: (venue: string) => readonly string[] | undefined
  /** Whether a venue has the market, where haltd has observed its markets (undefined before). */
  knowsMarket?: (venue: string, symbol: string) => boolean | undefined
  /** What one unit of a market's amount is in its base asset (a contract's size), 1 where the venue did not say. */
  contractSizeOf?: (venue: string, symbol: string) => number
  /** Each event once the projections applied it; returns the unsubscribe. */
  onEvent: (listener: (e: Envelope) => void) => () => void
  /** Limits for an engine by its name (the credential's); the default otherwise. */
  limitsOf?: (engine: string) => EntryLimits
  /** Why no order may be entered yet (haltd still reconciling the venues at startup), or undefined. */
  notYet?: () => string | undefined
  now?: () => number
}

export class OrderEntry {
  /**
   * What the engine's submits on their way would add to each position (by engine, venue and
   * symbol; buys positive), counted until the router answers: a burst sent at once is held to the
   * position limit as if each order before it had filled.
   */
  private readonly onTheirWay = new Map<string, number>()
  /** Submits on their way, by venue and id: what each asks for, and its answer to come. */
  private readonly inFlight = new Map<string, { terms: Terms; answer: Promise<SubmitAnswer> }>()
  private readonly recent = new Map<string, RateWindow>()
  private readonly now: () => number
  private readonly book: EntryBook
  private readonly offBook: () => void

  constructor(private readonly ports: OrderEntryPorts) {
    this.now = ports.now ?? Date.now
    this.book = new EntryBook(ports.orderOf, ports.liveOrders())
    this.offBook = ports.onEvent((e) => this.book.apply(e))
    this.countRecentSubmissions()
  }

  /**
   * Each engine's orders-per-second window as the log has it: its orders submitted within the last
   * second, read from the first event of that second on, so a restart does not open the window to
   * a burst and a long log costs no more to start than a short one. Orders stamped after now (a
   * clock set back since) are not counted: the window would hold them until the clock caught up.
   */
  private countRecentSubmissions(): void {
    const log = this.ports.log
    const now = this.now()
    const from = log.firstSeqSince(now - RATE_WINDOW_MS)
    if (from > log.lastSeq) return
    for (const e of log.read({ from, types: ['order.submitted'], untilTs: now })) {
      // one this build cannot read (a newer haltd's) is skipped, as the projections skip it
      if (e.unreadable !== undefined) continue
      const engine = engineOf(e.data as { origin: Order['origin'] })
      if (engine !== undefined) this.windowOf(engine).add(e.ts)
    }
  }

  private windowOf(engine: string): RateWindow {
    let window = this.recent.get(engine)
    if (window === undefined) {
      window = new RateWindow(RATE_WINDOW_MS)
      this.recent.set(engine, window)
    }
    return window
  }

  /** Stop following the log (the daemon closes). */
  close(): void {
    this.offBook()
  }

  private venueFor(given: string | undefined): string {
    const venues = this.ports.venues()
    if (given !== undefined) {
      if (!venues.includes(given)) throw new InvalidEntryRequest('venue', `no venue named '${given}' (configured: ${venues.join(', ') || 'none'})`)
      return given
    }
    if (venues.length === 1) return venues[0]!
    throw new InvalidEntryRequest('venue', `say which venue (configured: ${venues.join(', ') || 'none'})`)
  }

  /**
   * The order as the projections know it, else as the log does (a closed order the projections let
   * go of). An id the log never saw submitted costs one indexed lookup, not a read of its stream.
   */
  private find(venue: string, id: string): Order | undefined {
    const live = this.ports.orderOf(venue, id)
    if (live) return live
    if (this.ports.log.findByKey(orderEventKey('order.submitted', venue, id)) === undefined) return undefined
    let o: Order | undefined
    for (const e of this.ports.log.read({ stream: orderStream(venue, id) })) o = evolveOrder(o, e as unknown as OrderFact)
    return o
  }

  async submit(engine: string, order: EntryOrder): Promise<SubmitAnswer> {
    const venue = this.venueFor(order.venue)
    if (order.clientOrderId === undefined) return this.send(engine, venue, order, undefined)
    const id = entryOrderId(engine, order.clientOrderId)
    const key = `${venue}\u0000${id}`
    const pending = this.inFlight.get(key)
    if (pending) {
      // the same id asking for another order, while the first is on its way, is refused as after it
      const differs = differences(pending.terms, termsOf(order))
      if (differs) throw new ClientOrderIdReused(order.clientOrderId, differs)
      return pending.answer.then((a) => ({ ...a, duplicate: true }))
    }
    // the projections hold every live order and the recent closed ones; an older id is found by
    // the log itself, which keeps one `order.submitted` per id and the router sends no second
    const known = this.ports.orderOf(venue, id)
    if (known) return again(known, order)
    const sending = this.send(engine, venue, order, id)
    this.inFlight.set(key, { terms: termsOf(order), answer: sending })
    try {
      return await sending
    } finally {
      this.inFlight.delete(key)
    }
  }

  private async send(engine: string, venue: string, order: EntryOrder, given: string | undefined): Promise<SubmitAnswer> {
    const id = given ?? this.ports.router.nextClientOrderId()
    const timeInForce = order.postOnly ? 'PO' : order.timeInForce
    const request = {
      venue,
      symbol: order.symbol,
      side: order.side,
      type: order.type,
      qty: order.amount,
      ...(order.price !== undefined ? { price: order.price } : {}),
      ...(timeInForce ? { timeInForce } : {}),
      reduceOnly: order.reduceOnly,
      clientOrderId: id,
      origin: { kind: 'engine' as const, id: originId(engine, order.clientOrderId) },
    }
    if (this.ports.knowsMarket?.(venue, order.symbol) === false) {
      // a retry of an order the log holds is answered with it, whatever became of its market
      const known = given === undefined ? undefined : this.find(venue, given)
      if (known) return again(known, order)
      const some = this.ports.marketsAt?.(venue) ?? []
      throw new InvalidEntryRequest(
        'symbol',
        `no market '${order.symbol}' at ${venue} (it has: ${some.slice(0, 20).join(', ')}${some.length > 20 ? ', …' : ''})`,
      )
    }
    // the gate first (a halt says more than a limit), then the engine's own limits
    const refused = this.ports.notYet?.() ?? this.ports.router.refusal(request) ?? this.overLimit(engine, venue, order)
    if (refused) return this.refusedUnlessKnown(venue, given, order, refused)
    const release = this.book.reserve(engine, venue, id)
    const way = wayOf(engine, venue, order.symbol)
    const signed = order.reduceOnly ? 0 : order.side === 'buy' ? order.amount : -order.amount
    this.onTheirWay.set(way, (this.onTheirWay.get(way) ?? 0) + signed)
    let out: SubmitOutcome
    try {
      out = await this.ports.router.submit(request)
    } finally {
      release()
      const left = (this.onTheirWay.get(way) ?? 0) - signed
      if (Math.abs(left) < 1e-12) this.onTheirWay.delete(way)
      else this.onTheirWay.set(way, left)
    }
    if (out.status === 'refused') return this.refusedUnlessKnown(venue, given, order, out.reason)
    const o = this.find(venue, out.clientOrderId)
    return {
      outcome: out.status,
      duplicate: false,
      ...('reason' in out ? { reason: out.reason } : {}),
      ...(o ? { order: viewOf(o) } : {}),
    }
  }

  /** A refusal, unless the engine's client order id names an order the log holds: then that order, as a retry's answer. */
  private refusedUnlessKnown(venue: string, id: string | undefined, order: EntryOrder, reason: string): SubmitAnswer {
    const known = id === undefined ? undefined : this.find(venue, id)
    return known ? again(known, order) : { outcome: 'refused', duplicate: false, reason }
  }

  /** Why the engine's limits refuse this order, or undefined. Counted before the order is sent, so a burst cannot pass them. */
  private overLimit(engine: string, venue: string, order: EntryOrder): string | undefined {
    const limits = this.ports.limitsOf?.(engine) ?? DEFAULT_ENTRY_LIMITS
    const now = this.now()
    const window = this.windowOf(engine)
    if (window.count(now) + 1 > limits.maxOrdersPerSecond) return `over engine ${engine}'s limit of ${limits.maxOrdersPerSecond} orders per second`
    const open = this.book.openCount(engine)
    if (open + 1 > limits.maxOpenOrders) return `engine ${engine} has ${open} open orders, at its limit of ${limits.maxOpenOrders}`
    if (!order.reduceOnly) {
      // The position if every order of the engine on this side filled: its submits still on their
      // way and its resting orders count as filled, so neither a burst nor a ladder of resting
      // orders can pass the limit. An order that brings the position back toward it passes.
      const position = this.ports.positionOf(venue, order.symbol) + (this.onTheirWay.get(wayOf(engine, venue, order.symbol)) ?? 0)
      const resting = this.book.restingIn(engine, venue, order.symbol)
      const signed = order.side === 'buy' ? order.amount : -order.amount
      const before = order.side === 'buy' ? position + resting.buy : position - resting.sell
      const worst = before + signed
      if (Math.abs(worst) > limits.maxPosition + 1e-12 && Math.abs(worst) > Math.abs(before)) {
        const withResting = before !== position ? ` with the engine's resting ${order.side}s filled too` : ''
        return `a fill would take ${venue} ${order.symbol} to ${roundForHumans(worst)}${withResting}, over engine ${engine}'s limit of ${limits.maxPosition}`
      }
    }
    // a reduce-only order can only bring a position back: the fat-finger check is for what opens one
    if (limits.maxOrderNotional !== undefined && !order.reduceOnly) {
      const mark = this.ports.mark(venue, order.symbol)
      // A buy pays at most its limit; a sell's limit is only the least it takes, so one priced far
      // below the market (a fat finger, or a way round the check) trades at the market: counted at
      // the mark where that is higher, and, like a market order, not judged at all without one.
      const price = order.price === undefined || order.side === 'sell' ? (mark === undefined ? undefined : Math.max(order.price ?? mark, mark)) : order.price
      if (price === undefined)
        return `engine ${engine}'s limit of ${limits.maxOrderNotional} notional per order needs ${order.price === undefined ? 'a price' : "the market's price for a sell (its limit is only the least it takes)"}: no mark for ${venue} ${order.symbol} yet`
      const size = this.ports.contractSizeOf?.(venue, order.symbol) ?? 1
      const notional = order.amount * size * price
      if (notional > limits.maxOrderNotional * (1 + 1e-12))
        return `an order of ${order.amount} ${order.symbol}${size !== 1 ? ` (contracts of ${size})` : ''} at ${price}${order.price !== undefined && price !== order.price ? ` (the mark: its limit ${order.price} would trade there)` : ''} is ${roundForHumans(notional)} notional, over engine ${engine}'s limit of ${limits.maxOrderNotional} per order`
    }
    window.add(now)
    return undefined
  }

  private mine(engine: string, venue: string | undefined, cancel: EntryCancel): Order {
    const v = this.venueFor(venue)
    const id = cancel.id ?? entryOrderId(engine, cancel.clientOrderId!)
    const o = this.find(v, id)
    if (!o || engineIdOf(o)?.engine !== engine)
      throw new EntryOrderNotFound(cancel.clientOrderId !== undefined ? `with clientOrderId '${cancel.clientOrderId}'` : `'${id}'`)
    return o
  }

  /**
   * Once the submit of this order (sent on a pipelined socket, or on another connection) has its
   * answer: a cancel sent right behind its submit must not reach the venue before the order does.
   */
  private async submitted(venue: string, id: string): Promise<void> {
    await this.inFlight.get(`${venue}\u0000${id}`)?.answer.catch(() => undefined)
  }

  /** Cancel one of the engine's orders; answers the venue's word (`canceled`, `filled`, `unconfirmed`…) and the order as it stands. */
  async cancel(engine: string, cancel: EntryCancel): Promise<{ result: string; order: EntryOrderView }> {
    const first = this.mine(engine, cancel.venue, cancel)
    await this.submitted(first.venue, first.clientOrderId)
    const o = this.find(first.venue, first.clientOrderId) ?? first
    const result = await this.ports.router.cancel(
      { venue: o.venue, clientOrderId: o.clientOrderId, symbol: o.symbol, ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}) },
      { reason: `engine ${engine} canceled it`, origin: 'api' },
    )
    return { result, order: viewOf(this.find(o.venue, o.clientOrderId) ?? o) }
  }

  /** Cancel every live order of the engine (on one venue, one symbol, if given). Never touches another engine's or haltd's own. */
  async cancelAll(engine: string, filter: EntryCancelAll): Promise<{ results: Record<string, number>; orders: EntryOrderView[] }> {
    for (const o of this.openOrders(engine, filter)) await this.submitted(o.venue, o.id)
    const targets = this.listed(engine, filter)
    const results = await Promise.all(
      targets.map((o) =>
        this.ports.router.cancel(
          { venue: o.venue, clientOrderId: o.id, symbol: o.symbol, ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}) },
          { reason: `engine ${engine} canceled all its orders`, origin: 'api' },
        ),
      ),
    )
    const counts: Record<string, number> = {}
    for (const r of results) counts[r] = (counts[r] ?? 0) + 1
    return { results: counts, orders: targets.map((o) => viewOf(this.find(o.venue, o.id)!)) }
  }

  /**
   * The engine's live orders (on one venue, one symbol, if given). A venue haltd does not have, or a
   * market the venue does not list and the engine has no order on, is a 400 naming it: an engine
   * with a typo in its filter must not read "nothing open" while its orders stand.
   */
  openOrders(engine: string, filter: EntryCancelAll = {}): EntryOrderView[] {
    if (filter.venue !== undefined) this.venueFor(filter.venue)
    const out = this.listed(engine, filter)
    if (out.length === 0 && filter.symbol !== undefined) this.knownSymbol(filter.venue, filter.symbol)
    return out
  }

  /** Throws unless some venue asked (`venue`, else every one) lists the market `symbol`, or none says which markets it lists. */
  private knownSymbol(venue: string | undefined, symbol: string): void {
    const venues = venue !== undefined ? [venue] : this.ports.venues()
    const known = venues.map((v) => ({ v, markets: this.ports.marketsAt?.(v), knows: this.ports.knowsMarket?.(v, symbol) }))
    if (known.some((k) => k.knows !== false)) return
    const some = (markets: readonly string[] = []) => `${markets.slice(0, 20).join(', ')}${markets.length > 20 ? ', …' : ''}`
    const only = known.length === 1 ? known[0]! : undefined
    throw new InvalidEntryRequest(
      'symbol',
      only
        ? `no market '${symbol}' at ${only.v} (it has: ${some(only.markets)})`
        : `no market '${symbol}' at any venue (${known.map((k) => `${k.v} has: ${some(k.markets)}`).join('; ')})`,
    )
  }

  private listed(engine: string, filter: EntryCancelAll): EntryOrderView[] {
    const out: EntryOrderView[] = []
    for (const o of this.book.live(engine)) {
      if (filter.venue !== undefined && o.venue !== filter.venue) continue
      if (filter.symbol !== undefined && o.symbol !== filter.symbol) continue
      out.push(viewOf(o))
    }
    return out
  }

  /** The order by the engine's client order id or haltd's id, open or not. */
  order(engine: string, ref: EntryCancel): EntryOrderView {
    return viewOf(this.mine(engine, ref.venue, ref))
  }

  positions(): unknown {
    return this.ports.positions()
  }

  balances(): unknown {
    return this.ports.balances()
  }

  /** The market's last mark as haltd recorded it (ccxt's ticker, `last` only). */
  ticker(q: EntryTicker): { venue: string; symbol: string; last: number | null } {
    const venue = this.venueFor(q.venue)
    const last = this.ports.mark(venue, q.symbol)
    // null is "no price yet" for a market haltd knows; a market it does not know is named as such
    const known = this.ports.marketsAt?.(venue)
    if (last === undefined && known !== undefined && known.length > 0 && !known.includes(q.symbol)) {
      const some = known.slice(0, 20).join(', ')
      throw new InvalidEntryRequest('symbol', `no market '${q.symbol}' at ${venue} (it has: ${some}${known.length > 20 ? ', …' : ''})`)
    }
    return { venue, symbol: q.symbol, last: last ?? null }
  }

  /** The engine's own order updates and fills, from the next event on, as the projections apply them. */
  subscribe(engine: string, send: (u: EntryUpdate) => void): () => void {
    return this.ports.onEvent((e) => {
      if (!e.type.startsWith('order.')) return
      const d = e.data as { venue: string; clientOrderId: string }
      const o = this.ports.orderOf(d.venue, d.clientOrderId)
      if (!o) return
      const mine = engineIdOf(o)
      if (mine?.engine !== engine) return
      if (e.type === 'order.filled') {
        const f = e.data as { tradeId: string; qty: number; price: number; fee: number; feeCurrency?: string; liquidity?: 'maker' | 'taker'; source?: string }
        send({
          type: 'fill',
          seq: e.seq,
          fill: {
            id: o.clientOrderId,
            ...(mine.clientOrderId ? { clientOrderId: mine.clientOrderId } : {}),
            venue: o.venue,
            symbol: o.symbol,
            side: o.side,
            tradeId: f.tradeId,
            amount: f.qty,
            price: f.price,
            fee: f.fee,
            ...(f.feeCurrency ? { feeCurrency: f.feeCurrency } : {}),
            ...(f.liquidity ? { liquidity: f.liquidity } : {}),
          },
        })
      }
      send({ type: 'order', seq: e.seq, order: viewOf(o) })
    })
  }
}

/** The answer to a retried submit: the order its client order id names, unless the retry asks for another. */
function again(known: Order, order: EntryOrder): SubmitAnswer {
  const differs = sameOrder(known, order)
  if (differs) throw new ClientOrderIdReused(order.clientOrderId!, differs)
  // an order whose submit answer was lost (or cut short by a restart) is not known to be accepted
  const outcome = known.status === 'rejected' ? 'rejected' : known.status === 'unknown' || known.status === 'pending-new' ? 'unknown' : 'accepted'
  return { outcome, duplicate: true, order: viewOf(known), ...(outcome === 'unknown' && known.reason ? { reason: known.reason } : {}) }
}

/** What an order asks the venue for: two submits under one client order id are one order only where these agree. */
type Terms = { symbol: string; side: string; type: string; amount: number; price: number | undefined; reduceOnly: boolean; timeInForce: string }

/** The time in force the router sends where none is given: a market order's is IOC, a limit order's GTC. */
const defaultTimeInForce = (type: string) => (type === 'market' ? 'IOC' : 'GTC')

/** An entry's terms as the router sends them (post-only is timeInForce PO; the router's default where none is said). */
function termsOf(o: EntryOrder): Terms {
  return {
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    amount: o.amount,
    price: o.type === 'limit' ? o.price : undefined,
    reduceOnly: o.reduceOnly,
    timeInForce: o.postOnly ? 'PO' : (o.timeInForce ?? defaultTimeInForce(o.type)),
  }
}

const knownTerms = (o: Order): Terms => ({
  symbol: o.symbol,
  side: o.side,
  type: o.type,
  amount: o.qty,
  price: o.type === 'limit' ? o.price : undefined,
  reduceOnly: o.reduceOnly ?? false,
  timeInForce: o.timeInForce ?? defaultTimeInForce(o.type),
})

/** Where a resubmitted order's terms differ from the first's, as the first had them; undefined when they agree. */
function differences(first: Terms, again: Terms): string | undefined {
  const diffs: string[] = []
  for (const key of ['symbol', 'side', 'type', 'amount', 'price', 'reduceOnly', 'timeInForce'] as const) {
    if (first[key] !== again[key]) diffs.push(`${key} ${first[key]}`)
  }
  return diffs.length ? `it was ${diffs.join(', ')}` : undefined
}

/** Where a resubmitted order differs from the one its client order id already names; undefined when it is the same. */
const sameOrder = (known: Order, order: EntryOrder): string | undefined => differences(knownTerms(known), termsOf(order))

/** The key of an engine's market in `onTheirWay`. */
const wayOf = (engine: string, venue: string, symbol: string) => `${engine}\u0000${venue}\u0000${symbol}`

/** The span `maxOrdersPerSecond` counts over. */
const RATE_WINDOW_MS = 1_000

/** Times within the last `ms`, oldest first: counted and added in O(1) amortized, without a copy per order. */
class RateWindow {
  private times: number[] = []
  private head = 0

  constructor(private readonly ms: number) {}

  count(now: number): number {
    const since = now - this.ms
    while (this.head < this.times.length && this.times[this.head]! <= since) this.head++
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head)
      this.head = 0
    }
    return this.times.length - this.head
  }

  add(now: number): void {
    this.times.push(now)
  }
}
