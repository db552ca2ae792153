import type { Exchange, Order, Position, Trade } from 'ccxt'
import type { UnseenBook } from '../../events/catalogue.js'
import { systemClock, type Clock } from '../../events/clock.js'
import { VenueError } from '../errors.js'
import { clientIdProblem, clientIdRuleFor, HALTD_TAG, isOwnOrderId, type ClientIdRule } from '../client-order-id.js'
import type {
  BookCancel,
  CancelAllResult,
  CancelResult,
  CancelScope,
  Capabilities,
  ConnectionChange,
  ExchangeGateway,
  MarketInfo,
  OrderAck,
  OrderRef,
  OrderRequest,
  OrderUpdate,
  VenueBalance,
  OpenOrdersOptions,
  UnreadableVenueOrder,
  VenueOrder,
  VenuePosition,
} from '../gateway.js'
import { accountListsFor, BAD_REQUESTS_TO_LEARN, inListMarket, refusalOf, refusesBook, type AccountList, type AccountLists } from './account-lists.js'
import { binanceCountdownMethod, canStream, defaultTypeOf, deriveCapabilities, openOrdersNeedSymbol, type CapabilityOverrides } from './capabilities.js'
import { CallRunner, DEFAULT_RETRY, retryDelayMs, sleep, type RetryMode, type RetryPolicy } from './call-runner.js'
import { paceByTheMinute } from './minute-pace.js'
import { isDefiniteRefusal, toVenueError } from './errors.js'
import { assertUsableExchange, whySymbolsAreNeeded } from './instance-check.js'
import { clientIdOf, toAck, toBalances, toMarketInfo, toPositions, toVenueOrder, toVenueOrders } from './mapping.js'
import { matchBatchAnswers, resultIdOf } from './batch-answers.js'
import { bybitCancelBatch, byClientIdParams, fetchOrderParams, withoutCcxtRetries } from './call-shapes.js'
import { pagingFor, readAllPages } from './pages.js'
import { Connectivity, watchSocketsOpening } from './connectivity.js'
import { OrderTracker } from './order-tracker.js'
import { OrderUpdateFeed } from './order-updates.js'
import { quietPendingFutures } from './quiet-futures.js'
import { guardTransport, outsideCall } from './transport-guard.js'

export type CcxtGatewayOptions = {
  /** The venue's name in events; unique per haltd. */
  venue: string
  /** A ready ccxt instance, configured as the trading engine already configures it (keys, options, markets). */
  exchange: Exchange
  /**
   * A second instance for the same account, used for cancel, cancel-all, the dead man's switch
   * and reduce-only (flatten) submits. ccxt queues every request of an instance behind its
   * rate limiter; a shutdown must not wait behind the trading engine's queue. Without it the
   * main instance serves everything.
   */
  shutdownExchange?: Exchange
  /** Prefix of the client order ids counted as ours in `own` scope (see `isOwnOrderId`); haltd's tag by default. */
  tag?: string
  /**
   * The symbols this gateway trades. Used to poll, to arm per-symbol countdowns, and to list
   * open orders on venues that need a symbol. Without it, symbol-less calls are used where the
   * venue has them (Binance then needs `options.fetchOpenOrders.warnWithoutSymbol = false`).
   */
  symbols?: readonly string[]
  /**
   * Open orders and positions are asked of the whole account, not only of `symbols`, wherever the
   * venue answers without a symbol (guardian mode: the engine trades the account, not haltd's
   * markets). Where it cannot (`wholeAccountRefusal`), `symbols` bound them as before.
   */
  wholeAccount?: boolean
  retry?: Partial<RetryPolicy>
  /** Budget of one gateway call: rate-limiter queue, every attempt and the backoff between them. */
  callTimeoutMs?: number
  /** Push updates over ccxt.pro WebSockets; by default when the instance can (`has.watchOrders`). */
  stream?: boolean
  pollIntervalMs?: number
  capabilities?: CapabilityOverrides
  /** Errors of background work (stream, polling) that no caller is waiting for. */
  onError?: (e: VenueError) => void
  clock?: Clock
}

/** Per-call options beyond the port: the caller's own deadline. */
export type CallOptions = { signal?: AbortSignal }

/**
 * `ExchangeGateway` over a ccxt instance. See docs in `CcxtGatewayOptions`; the rules it keeps:
 * every order carries our client order id; a submit is never re-sent after a timeout or lost
 * answer (it is looked up by client order id first, and only then reported); reads and cancels
 * are retried with bounded backoff inside the call's deadline; credentials errors are never
 * retried; an HTTP 200 that is not JSON, or is `{}`, is a `bad-response`, never an answer.
 */
/** The account-wide lists a book can be refused by, each on its own. */
type AccountListKind = 'fetchOpenOrders' | 'fetchPositions'

export class CcxtGateway implements ExchangeGateway {
  readonly venue: string
  readonly capabilities: Capabilities
  private readonly main: Exchange
  private readonly urgent: Exchange
  private readonly tag: string
  /** What the venue accepts as a client order id, from its ccxt exchange id. */
  readonly clientIdRule: ClientIdRule
  /** Learned on the first refusal: the venue lists positions one symbol per call (Bybit). */
  private positionsPerSymbol = false
  /**
   * Why this venue's `fetchOrder` cannot find an order by client order id, once it refused the
   * question `LOOKUP_REFUSALS_TO_LEARN` times in a row: such lookups read its lists from then on.
   */
  private noLookupByClientId: string | undefined
  private lookupRefusals = 0
  private readonly symbols: readonly string[]
  /** Whether open orders, positions and markets are asked of the whole account (asked to, and the venue answers without a symbol). */
  readonly followsAccount: boolean
  /** The list calls that cover the account, for a gateway that follows it where one call without a symbol does not (Bybit). */
  private readonly accountLists: AccountLists | undefined
  /** The symbols open orders and positions are listed on: `symbols`, or none (the whole account) for a gateway that follows it. */
  private readonly listedOn: readonly string[]
  /** Why the venue answers no account-wide list here (the gateway follows its symbols only); undefined where it does. */
  private readonly symbolsNeeded: string | undefined
  /**
   * The books of the account the venue refused to list for good, by list and book, with its answer:
   * not asked again by that list, but after each cancel-all (once more: a key may be granted since;
   * the order books by the cancel-all itself, the position books by the next position list). Kept per list: a key may be refused a book's positions and
   * still list and cancel its orders (Bybit grants orders and positions apart).
   */
  private readonly refusedBooks: Record<AccountListKind, Map<string, string>> = { fetchOpenOrders: new Map(), fetchPositions: new Map() }
  /**
   * A cancel-all asked the refused order books again: the next position list asks the refused
   * position books again too (a shutdown reads the positions after its cancels).
   */
  private askRefusedPositions = false
  /** The rounds in a row each book's list was answered `BadRequest` (see `BAD_REQUESTS_TO_LEARN`), by list and book. */
  private readonly badRequests: Record<AccountListKind, Map<string, number>> = { fetchOpenOrders: new Map(), fetchPositions: new Map() }
  private readonly runner: CallRunner
  private readonly retry: RetryPolicy
  private readonly closing = new AbortController()
  private readonly restoreTransport: (() => void)[] = []
  private readonly tracker = new OrderTracker()
  private readonly connectivity: Connectivity
  private feed: OrderUpdateFeed
  private readonly armedCountdowns = new Set<string>()
  private readonly onError: (e: VenueError) => void
  private connected: Promise<void> | undefined
  private closed = false

  constructor(private readonly options: CcxtGatewayOptions) {
    if (!options.venue) throw new VenueError('(unnamed)', 'unsupported', 'a CcxtGateway needs a venue name')
    this.venue = options.venue
    assertUsableExchange(this.venue, options.exchange, 'exchange')
    if (options.shutdownExchange !== undefined) assertUsableExchange(this.venue, options.shutdownExchange, 'shutdownExchange')
    if (options.shutdownExchange !== undefined && options.shutdownExchange !== options.exchange) paceByTheMinute(options.shutdownExchange)
    this.main = options.exchange
    this.urgent = options.shutdownExchange ?? options.exchange
    this.tag = options.tag ?? HALTD_TAG
    this.clientIdRule = clientIdRuleFor(this.main.id)
    this.symbols = options.symbols ?? []
    const symbolsNeeded = options.wholeAccount ? whySymbolsAreNeeded(this.main) : undefined
    this.followsAccount = options.wholeAccount === true && symbolsNeeded === undefined
    this.accountLists = this.followsAccount ? accountListsFor(this.main) : undefined
    this.symbolsNeeded = symbolsNeeded
    this.listedOn = this.followsAccount ? [] : this.symbols
    this.retry = { ...DEFAULT_RETRY, ...options.retry }
    this.runner = new CallRunner(
      this.venue,
      this.retry,
      options.callTimeoutMs ?? 20_000,
      this.closing.signal,
      this.urgent === this.main ? undefined : this.urgent,
    )
    this.onError = options.onError ?? (() => undefined)
    this.connectivity = new Connectivity((e) => this.onError(toVenueError(this.venue, e)))
    for (const ex of new Set([this.main, this.urgent])) this.restoreTransport.push(guardTransport(ex))
    const stream = options.stream ?? canStream(this.main)
    if (stream && !canStream(this.main))
      throw new VenueError(this.venue, 'unsupported', `${this.main.id} cannot stream order updates: pass a ccxt.pro instance`)
    this.capabilities = deriveCapabilities(this.main, { stream, overrides: options.capabilities })
    if (stream) this.restoreTransport.push(watchSocketsOpening(this.main, () => this.connectivity.answered()))
    this.feed = this.makeFeed(stream ? 'stream' : 'poll')
  }

  /**
   * Why this gateway, asked to follow the whole account, does not see all of it: it follows only its
   * symbols, or its lists leave part of the account out (Bybit's inverse and option orders, and any
   * book the venue refused to list). Undefined where it follows all of the account, or was not asked to.
   */
  get wholeAccountRefusal(): string | undefined {
    if (this.symbolsNeeded !== undefined) return this.symbolsNeeded
    if (this.accountLists === undefined) return undefined
    const refused = [
      ...[...this.refusedBooks.fetchOpenOrders].map(([book, why]) => `the venue refused to list its ${book} book (${why})`),
      ...[...this.refusedBooks.fetchPositions].map(([book, why]) => `the venue refused to list its ${book} positions (${why})`),
    ]
    return [this.accountLists.uncovered, ...refused].join('; ')
  }

  unseenBooks(): readonly UnseenBook[] {
    if (this.accountLists === undefined) return []
    // a book refused by either list, once (the open-order list's word first)
    const refused = new Map([...this.refusedBooks.fetchPositions, ...this.refusedBooks.fetchOpenOrders])
    const order = [...new Set([...this.refusedBooks.fetchOpenOrders.keys(), ...this.refusedBooks.fetchPositions.keys()])]
    return [...this.accountLists.notListed, ...order.map((book): UnseenBook => ({ book, why: refused.get(book)!, refused: true }))]
  }

  bookOf(symbol: string): string | undefined {
    const market = this.accountLists === undefined ? undefined : this.main.markets?.[symbol]
    return market === undefined ? undefined : this.accountLists!.bookOf(market)
  }

  /** Loads markets on both instances and, when streaming, waits until the order stream is subscribed. */
  connect(options: CallOptions = {}): Promise<void> {
    this.connected ??= this.doConnect(options).catch((e: unknown) => {
      this.connected = undefined
      throw e
    })
    return this.connected
  }

  async submit(order: OrderRequest, options: CallOptions = {}): Promise<OrderAck> {
    const { clientOrderId, symbol } = order
    if (!clientOrderId) throw new VenueError(this.venue, 'rejected', `an order on ${symbol} without a client order id: haltd always sends its own`)
    const idProblem = clientIdProblem(this.clientIdRule, clientOrderId)
    if (idProblem) throw new VenueError(this.venue, 'rejected', `${idProblem}; not sent`)
    if (order.type === 'limit' && !(order.price && order.price > 0)) throw new VenueError(this.venue, 'rejected', `limit order ${clientOrderId} has no price`)
    if (order.reduceOnly && !this.capabilities.reduceOnly) {
      throw new VenueError(this.venue, 'unsupported', `${this.main.id} ${defaultTypeOf(this.main)} has no reduce-only orders (order ${clientOrderId})`)
    }
    const ex = order.reduceOnly ? this.urgent : this.main
    const params: Record<string, unknown> = { clientOrderId }
    if (order.reduceOnly) params.reduceOnly = true
    if (order.type === 'limit') {
      if (order.timeInForce === 'PO') params.postOnly = true
      else params.timeInForce = order.timeInForce ?? 'GTC'
    }
    const signal = this.runner.deadline(options.signal)
    try {
      return await this.run(
        'submit',
        ex,
        async () => {
          // never let ccxt's own retry (options.maxRetriesOnFailure) re-send an order
          const placed = await withoutCcxtRetries(ex, () =>
            ex.createOrder(symbol, order.type, order.side, order.qty, order.type === 'limit' ? order.price : undefined, params),
          )
          const ack = toAck(placed, clientOrderId)
          this.remember(ack, symbol)
          return ack
        },
        'nonce-only',
        signal,
      )
    } catch (e) {
      const failure = e as VenueError
      if (failure.refused || isDefiniteRefusal(failure.cause)) throw failure.asRefusal()
      // The order's fate is unknown (timeout, dropped connection, 5xx, unreadable answer): the
      // venue may hold it. Look it up by our client order id before saying anything.
      if (signal.aborted) {
        throw new VenueError(this.venue, failure.kind, `${failure.message}; no time left to look order ${clientOrderId} up: its fate is unknown`, {
          cause: failure,
        })
      }
      let found: VenueOrder | undefined
      try {
        found = await this.reconcile({ clientOrderId, symbol }, ex, signal)
      } catch (lookupError) {
        const why = toVenueError(this.venue, lookupError).message
        throw new VenueError(this.venue, failure.kind, `${failure.message}; looking order ${clientOrderId} up failed too (${why}): its fate is unknown`, {
          cause: failure,
        })
      }
      if (found) {
        const ack: OrderAck = {
          clientOrderId,
          venueOrderId: found.venueOrderId,
          status: found.status,
          filled: found.filled,
          ...(found.average ? { average: found.average } : {}),
        }
        this.remember(ack, symbol)
        return ack
      }
      throw new VenueError(
        this.venue,
        failure.kind,
        `${failure.message}; order ${clientOrderId} was not found by its client order id afterwards, but may still arrive: reconcile before sending it again`,
        { cause: failure },
      )
    }
  }

  async cancel(ref: OrderRef, options: CallOptions = {}): Promise<CancelResult> {
    const ex = this.urgent
    const { clientOrderId } = ref
    if (!ref.venueOrderId && !clientOrderId)
      throw new VenueError(this.venue, 'rejected', `a cancel on ${ref.symbol} names no order (no venue or client order id)`)
    try {
      const answer = await this.run(
        'cancel',
        ex,
        () =>
          ref.venueOrderId
            ? ex.cancelOrder(ref.venueOrderId, ref.symbol)
            : ex.cancelOrder(undefined as unknown as string, ref.symbol, byClientIdParams(ex.id, clientOrderId)),
        'all',
        this.runner.deadline(options.signal),
      )
      const order = answer as Order | undefined
      const status = order?.status
      // An answer without a status (OKX, Bybit) confirms the cancel of the order it names; one that
      // names no order at all (`{"result": true}`) confirms nothing: the order's fate is looked up.
      if ((status === undefined || status === null) && !order?.id && !order?.clientOrderId)
        throw new VenueError(
          this.venue,
          'bad-response',
          `the venue answered the cancel of ${clientOrderId ?? ref.venueOrderId} without naming the order or its status`,
        )
      if (status === undefined || status === null || status === 'canceled') {
        const filled = order?.filled ? { filled: order.filled, ...(order.average ? { average: order.average } : {}) } : {}
        return { clientOrderId, outcome: 'canceled', ...filled }
      }
      return { clientOrderId, outcome: 'rejected', reason: `the venue answered the cancel with order status '${status}'` }
    } catch (e) {
      const failure = e as VenueError
      if (failure.kind === 'not-found') return { clientOrderId, outcome: 'not-found' }
      if (failure.kind === 'rejected') return { clientOrderId, outcome: 'rejected', reason: failure.message }
      throw failure
    }
  }

  async cancelAll(request: { scope: CancelScope; symbols?: readonly string[] }, options: CallOptions & { timeoutMs?: number } = {}): Promise<CancelAllResult> {
    const ex = this.urgent
    const signal = this.runner.deadline(options.signal, options.timeoutMs)
    // the account listed book by book (Bybit): each book's cancels stand on their own
    const lists = request.symbols === undefined && this.listedOn.length === 0 ? this.accountLists : undefined
    if (lists !== undefined) return this.cancelEachBook(ex, request.scope, lists, signal)
    const list: Lister = (unreadable) => this.openOrders(ex, request.symbols, signal, unreadable)
    const unread: UnreadableVenueOrder[] = []
    const open = await list((u) => unread.push(u))
    return { scope: request.scope, ...(await this.cancelListed(ex, request.scope, { open, unread }, list, request.symbols, signal)) }
  }

  /**
   * The orders of one list (the venue's, or one book's), cancelled: the own ones one by one (in
   * batches where the venue has them), or all of them through the venue's cancel-all; the answers
   * checked against the same list read again (`notStillListed`).
   */
  private async cancelListed(
    ex: Exchange,
    scope: CancelScope,
    listed: { open: VenueOrder[]; unread: UnreadableVenueOrder[] },
    list: Lister,
    symbols: readonly string[] | undefined,
    signal: AbortSignal,
  ): Promise<Omit<CancelAllResult, 'scope'>> {
    // an order listed in a shape that cannot be read (a status ccxt does not know) is still an order:
    // the rest of the list is cancelled as read, and it by its id
    const { open, unread } = listed
    const stillListed = <R extends Omit<CancelAllResult, 'scope'>>(r: R) => this.notStillListed(list, r, signal)
    if (scope === 'own') {
      const mine = open.filter((o) => this.isOwn(o.clientOrderId))
      const each = await this.cancelEach(ex, mine, signal)
      return stillListed(
        await this.cancelUnread(
          unread.filter((u) => this.isOwn(u.clientOrderId)),
          each,
          signal,
        ),
      )
    }
    if (this.capabilities.massCancel === 'none') return stillListed(await this.cancelUnread(unread, await this.cancelEach(ex, open, signal), signal))
    // the venue's cancel-all takes them with the rest; its list afterwards says which are gone
    const { checked, ...mass } = await this.massCancel(ex, [...open, ...unread.flatMap(listedOf)], symbols, list, signal)
    for (const u of unread) if (listedOf(u).length === 0) mass.failed.push(cannotCancel(u))
    const result = { method: 'mass-cancel' as const, ...mass }
    // a list the mass cancel read after its answers already took back what it still holds
    return checked ? result : stillListed(result)
  }

  /**
   * The account's books (Bybit: one list and one cancel-all per book), each cancelled on its own,
   * at once: a book whose list fails for a passing reason (a timeout, a 5xx, a rate limit) fails no
   * other. Its orders are unknown, so it is given the venue's cancel-all for the whole book (account
   * scope) and, failing that, its list is asked again with backoff until the call's deadline; only
   * then is the book `failed`, named with the venue's last answer. A book refused to this key is
   * `refused`, one haltd does not list `not-listed`: the result says per book what is known.
   */
  private async cancelEachBook(ex: Exchange, scope: CancelScope, lists: AccountLists, signal: AbortSignal): Promise<CancelAllResult> {
    const unread = new Map<string, UnreadableVenueOrder[]>()
    const listOf =
      (call: AccountList): Lister =>
      (unreadable) =>
        this.run(
          'fetchOpenOrders',
          ex,
          async () =>
            toVenueOrders(
              (await this.openOrderPages(ex, undefined, call.params)).map((o) => inListMarket(ex, o, call)),
              unreadable,
            ),
          'all',
          signal,
        )
    // the first lists together: a refusal of one book while others answer is learned as any list's.
    // A book refused before is asked once more: a key granted the permission since (the start
    // warning named the book) has its orders cancelled too, and the book is no longer named refused;
    // so are its positions, by the next position list
    if (this.refusedBooks.fetchPositions.size > 0) this.askRefusedPositions = true
    const first = await this.eachBookSettled(
      'fetchOpenOrders',
      lists.calls,
      (call) => {
        const mine: UnreadableVenueOrder[] = []
        unread.set(call.book, mine)
        return listOf(call)((u) => mine.push(u))
      },
      { askRefused: true },
    )
    const byBook = await Promise.all([
      ...first.answered.map(async ({ call, rows }) => {
        const r = await this.cancelListed(ex, scope, { open: rows, unread: unread.get(call.book) ?? [] }, listOf(call), undefined, signal)
        return { r, book: { book: call.book, outcome: 'cancelled' as const } }
      }),
      ...first.unknown.map(({ call, failure }) => this.cancelUnlistedBook(ex, scope, call, listOf(call), failure, signal)),
    ])
    const canceled = byBook.flatMap((b) => b.r.canceled)
    const failed = byBook.flatMap((b) => b.r.failed)
    const unanswered = byBook.flatMap((b) => b.r.unanswered ?? [])
    const methods = new Set(byBook.map((b) => b.r.method))
    const books: BookCancel[] = [
      ...byBook.map((b) => b.book),
      ...[...this.refusedBooks.fetchOpenOrders].map(([book, why]): BookCancel => ({ book, outcome: 'refused', detail: why })),
      ...lists.notListed.map((u): BookCancel => ({ book: u.book, outcome: 'not-listed', detail: u.why })),
    ]
    return {
      scope,
      method: methods.has('mass-cancel') ? 'mass-cancel' : methods.has('batched') ? 'batched' : 'per-order',
      canceled,
      failed,
      ...(unanswered.length > 0 ? { unanswered } : {}),
      books,
    }
  }

  /** A book whose list failed: its cancel-all, then its list asked again until the deadline (see `cancelEachBook`). */
  private async cancelUnlistedBook(
    ex: Exchange,
    scope: CancelScope,
    call: AccountList,
    list: Lister,
    failure: VenueError,
    signal: AbortSignal,
  ): Promise<{ r: Omit<CancelAllResult, 'scope'>; book: BookCancel }> {
    let last = failure
    const tried = [`its list failed (${failure.detail})`]
    if (scope === 'account' && this.capabilities.massCancel !== 'none') {
      try {
        const answers = await this.run('cancelAllOrders', ex, () => ex.cancelAllOrders(undefined, call.params), 'all', signal)
        const named = answers.filter((a) => a.id)
        const canceled = named.filter((a) => a.status === 'canceled' || a.status === undefined).map((a) => clientIdOf(a) ?? String(a.id))
        const r = await this.notStillListed(list, { method: 'mass-cancel' as const, canceled, failed: [] }, signal)
        const said = named.length > 0 ? `its cancel-all named ${named.length} order(s) canceled` : 'its cancel-all answered done without naming orders'
        return { r, book: { book: call.book, outcome: 'cancelled', detail: `${tried[0]}; ${said}` } }
      } catch (e) {
        last = toVenueError(this.venue, e)
        tried.push(`its cancel-all failed (${last.detail})`)
      }
    }
    for (let attempt = 1; ; attempt++) {
      const wait = retryDelayMs(this.retry, attempt)
      if (this.runner.remainingMs(signal) <= wait) break
      await sleep(wait, signal).catch(() => undefined)
      if (signal.aborted) break
      const unread: UnreadableVenueOrder[] = []
      let open: VenueOrder[]
      try {
        open = await list((u) => unread.push(u))
      } catch (e) {
        // one cut short by the deadline said nothing of the venue: the last answer stands
        if (signal.aborted) break
        last = toVenueError(this.venue, e)
        if (refusesBook(last.cause)) break
        continue
      }
      const r = await this.cancelListed(ex, scope, { open, unread }, list, undefined, signal)
      return { r, book: { book: call.book, outcome: 'cancelled', detail: `${tried.join('; ')}; listed again on attempt ${attempt + 1}` } }
    }
    const why = `${tried.join('; ')}; asked again until the deadline, its last answer: ${last.detail}`
    return { r: { method: 'mass-cancel', canceled: [], failed: [] }, book: { book: call.book, outcome: 'failed', detail: why } }
  }

  /**
   * A cancel the venue answered done is a confirmation only if its own list, read after the
   * answers, no longer holds the order: one it still lists is failed, to be looked up and cancelled
   * again. A list that cannot be read (or holds an order without ids) takes no answer back: it
   * shows nothing either way.
   */
  private async notStillListed<R extends Omit<CancelAllResult, 'scope'>>(list: Lister, result: R, signal: AbortSignal): Promise<R> {
    if (result.canceled.length === 0 || signal.aborted) return result
    const open = await this.idsListedOpen(list)
    if (open === undefined) return result
    const listed = open.ids
    const canceled = result.canceled.filter((id) => !listed.has(id))
    if (canceled.length === result.canceled.length) return result
    const failed = [...result.failed]
    for (const id of result.canceled) if (listed.has(id)) failed.push({ id, reason: listedAfterCancel(this.venue) })
    return { ...result, canceled, failed }
  }

  /**
   * The ids (client and venue) of every order the list shows open now, those listed unreadably
   * included (listed all the same), and whether one came without ids; undefined when the list
   * cannot be read.
   */
  private async idsListedOpen(list: Lister): Promise<{ ids: Set<string>; withoutIds: boolean } | undefined> {
    try {
      const unread: UnreadableVenueOrder[] = []
      const read: Listed[] = await list((u) => unread.push(u))
      const listed = [...read, ...unread.flatMap(listedOf)]
      return {
        ids: new Set(listed.flatMap((o) => (o.clientOrderId ? [o.clientOrderId, o.venueOrderId] : [o.venueOrderId]))),
        withoutIds: unread.some((u) => listedOf(u).length === 0),
      }
    } catch {
      return undefined
    }
  }

  /** Orders listed unreadably, cancelled one by one by their venue id, their outcomes added to `into`. */
  private async cancelUnread<R extends Omit<CancelAllResult, 'scope'>>(unread: readonly UnreadableVenueOrder[], into: R, signal: AbortSignal): Promise<R> {
    await Promise.all(
      unread.map(async (u) => {
        const id = u.clientOrderId ?? u.venueOrderId
        if (!u.venueOrderId || !u.symbol || !id) {
          into.failed.push(cannotCancel(u))
          return
        }
        try {
          const r = await this.cancel(
            { venueOrderId: u.venueOrderId, symbol: u.symbol, ...(u.clientOrderId ? { clientOrderId: u.clientOrderId } : {}) } as OrderRef,
            { signal },
          )
          if (r.outcome === 'canceled') into.canceled.push(id)
          else into.failed.push({ id, reason: r.outcome === 'rejected' ? r.reason : r.outcome })
        } catch (e) {
          into.failed.push({ id, reason: toVenueError(this.venue, e).message })
        }
      }),
    )
    return into
  }

  fetchOpenOrders(symbols?: readonly string[], options: CallOptions & OpenOrdersOptions = {}): Promise<VenueOrder[]> {
    return this.openOrders(this.main, symbols, this.runner.deadline(options.signal), options.unreadable)
  }

  async fetchOrder(ref: OrderRef, options: CallOptions = {}): Promise<VenueOrder | undefined> {
    return this.lookup(ref, this.main, this.runner.deadline(options.signal))
  }

  async fetchPositions(options: CallOptions = {}): Promise<VenuePosition[]> {
    if (!this.capabilities.positions) return []
    const ex = this.main
    const signal = this.runner.deadline(options.signal)
    const symbols = this.listedOn.length > 0 ? [...this.listedOn] : undefined
    if (!symbols && this.accountLists) {
      const askRefused = this.askRefusedPositions
      this.askRefusedPositions = false
      return this.eachBook(
        'fetchPositions',
        this.accountLists.positionCalls,
        (call) => this.run('fetchPositions', ex, async () => toPositions(await this.positionPages(ex, undefined, call.params)), 'all', signal),
        { askRefused },
      )
    }
    if (!this.positionsPerSymbol || !symbols) {
      try {
        return await this.run('fetchPositions', ex, async () => toPositions(await this.positionPages(ex, symbols)), 'all', signal)
      } catch (e) {
        // Bybit takes at most one symbol per call: learn it once, then ask per symbol
        if (!(symbols && symbols.length > 1 && isArgumentsRequired((e as VenueError).cause))) throw e
        this.positionsPerSymbol = true
      }
    }
    const perSymbol = await Promise.all(
      symbols.map((symbol) => this.run('fetchPositions', ex, async () => toPositions(await this.positionPages(ex, [symbol])), 'all', signal)),
    )
    return perSymbol.flat()
  }

  async fetchBalances(options: CallOptions = {}): Promise<VenueBalance[]> {
    const ex = this.main
    return this.run('fetchBalances', ex, async () => toBalances(await ex.fetchBalance()), 'all', this.runner.deadline(options.signal))
  }

  async fetchMarkets(options: CallOptions = {}): Promise<MarketInfo[]> {
    const ex = this.main
    const markets = await this.run('fetchMarkets', ex, () => ex.loadMarkets(), 'all', this.runner.deadline(options.signal))
    const derivative = this.capabilities.positions
    // following the whole account, a derivatives venue's markets are all the engine may hold: each
    // position sized by its own contract, not taken as one unit per contract; where the account is
    // listed in several calls (Bybit), the markets those lists cover
    const lists = this.accountLists
    const wanted = this.symbols.length > 0 && !(this.followsAccount && (derivative || lists)) ? new Set(this.symbols) : undefined
    const out: MarketInfo[] = []
    for (const m of Object.values(markets)) {
      if (!m || m.active === false) continue
      if (wanted ? !wanted.has(m.symbol) : lists ? !lists.covers(m) : derivative ? !m.contract : !m.spot) continue
      const info = toMarketInfo(m, ex.precisionMode ?? 4)
      if (info) out.push(info)
    }
    return out
  }

  onUpdate(handler: (update: OrderUpdate) => void): () => void {
    if (this.closed) return () => undefined
    return this.feed.subscribe(handler)
  }

  /** Followed through the update feed: the stream, or the polls (which run while someone listens to updates). */
  onConnectionChange(handler: (change: ConnectionChange) => void): () => void {
    if (this.closed) return () => undefined
    return this.connectivity.subscribe(handler)
  }

  /**
   * Binance futures: the implicit `countdownCancelAll` per symbol (the configured symbols and
   * those of orders this gateway follows); elsewhere ccxt's `cancelAllOrdersAfter`: a countdown,
   * or Bybit's disconnect protection (DCP), whose window is 3–300 s. Call again to refresh it
   * before it runs out.
   */
  async armDeadMansSwitch(ms: number, options: CallOptions = {}): Promise<{ armed: boolean; method?: string }> {
    if (!(Number.isInteger(ms) && ms > 0)) throw new VenueError(this.venue, 'rejected', `a dead man's switch needs a positive whole number of ms, got ${ms}`)
    const ex = this.urgent
    const signal = this.runner.deadline(options.signal)
    if (this.capabilities.deadMansSwitch === 'cancel-on-disconnect' && disconnectWindowed(ex)) {
      // ccxt sends whole seconds, and a window of 0 would disarm it instead
      if (ms < DCP_WINDOW_MS.min || ms > DCP_WINDOW_MS.max) {
        throw new VenueError(
          this.venue,
          'rejected',
          `${ex.id}'s disconnect protection takes a window of ${DCP_WINDOW_MS.min / 1000}–${DCP_WINDOW_MS.max / 1000} s, got ${ms} ms`,
        )
      }
      await this.run('armDeadMansSwitch', ex, () => ex.cancelAllOrdersAfter(ms), 'all', signal)
      return { armed: true, method: 'cancelAllOrdersAfter (disconnect protection)' }
    }
    if (this.capabilities.deadMansSwitch !== 'countdown') return { armed: false }
    const countdown = await this.binanceCountdowns(ex)
    if (countdown) {
      if (countdown.symbols.length === 0) return { armed: false }
      await Promise.all(countdown.symbols.map((symbol) => this.setCountdown(ex, symbol, ms, signal)))
      return { armed: true, method: countdown.method }
    }
    await this.run('armDeadMansSwitch', ex, () => ex.cancelAllOrdersAfter(ms), 'all', signal)
    return { armed: true, method: 'cancelAllOrdersAfter' }
  }

  /**
   * Stops a countdown. Bybit's disconnect protection has nothing to stop: it runs out only when
   * the account's protected connection drops, and its window cannot be set to 0 (3–300 s), so
   * it is left as it is.
   */
  async disarmDeadMansSwitch(options: CallOptions = {}): Promise<void> {
    const ex = this.urgent
    if (this.capabilities.deadMansSwitch !== 'countdown') return
    const signal = this.runner.deadline(options.signal)
    if (await this.binanceCountdowns(ex)) {
      await Promise.all([...this.armedCountdowns].map((symbol) => this.setCountdown(ex, symbol, 0, signal)))
      return
    }
    await this.run('disarmDeadMansSwitch', ex, () => ex.cancelAllOrdersAfter(0), 'all', signal)
  }

  /** Stops the update feed, abandons calls in flight, closes the WebSockets the feed opened, and unwraps the instances. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.closing.abort(new Error('gateway closed'))
    await this.feed.stop()
    this.connectivity.clear()
    if (this.feed.streaming) await this.main.close().catch(() => undefined)
    for (const restore of this.restoreTransport.splice(0)) restore()
  }

  // ── internals ──

  private run<T>(label: string, ex: Exchange, op: () => Promise<T>, mode: RetryMode, signal: AbortSignal): Promise<T> {
    if (this.closed) return Promise.reject(new VenueError(this.venue, 'network', `${label}: the gateway is closed`))
    return this.runner.run(label, ex, op, mode, signal)
  }

  private isOwn(clientOrderId: string | undefined): boolean {
    return isOwnOrderId(clientOrderId, this.tag)
  }

  private async doConnect(options: CallOptions): Promise<void> {
    const signal = this.runner.deadline(options.signal)
    await Promise.all([...new Set([this.main, this.urgent])].map((ex) => this.run('connect', ex, () => ex.loadMarkets(), 'all', signal)))
    await this.subscribeStream(signal)
    // which books the account answers is learned before anyone reads `wholeAccountRefusal`; a list
    // that fails for another reason says so where it is next asked for. After the stream, on a
    // deadline of its own: a list that hangs must not spend the subscription's time (the gateway
    // would poll for the rest of its run)
    if (this.accountLists) await this.openOrders(this.main, undefined, this.runner.deadline(options.signal)).catch(() => undefined)
  }

  /** Subscribe the order stream where the gateway streams; where the WebSocket does not work, poll instead and say so. */
  private async subscribeStream(signal: AbortSignal): Promise<void> {
    if (!this.feed.streaming) return
    try {
      // subscribe first, then watch: ccxt.pro marks a private stream subscribed before the venue
      // confirms it, so an authenticate() racing the watch loops would return too early
      await this.streamReady(signal)
      this.feed.start()
    } catch (e) {
      // the WebSocket does not work here: poll instead, and say so
      this.onError(toVenueError(this.venue, e))
      await this.feed.stop()
      await this.main.close().catch(() => undefined)
      this.feed = this.makeFeed('poll')
      this.capabilities.streamingUpdates = false
    }
  }

  /** ccxt.pro subscribes private streams in `authenticate` (Binance spot: `userDataStream.subscribe.signature`). */
  private async streamReady(signal: AbortSignal): Promise<void> {
    const auth = (this.main as unknown as { authenticate?: (params?: object) => Promise<unknown> }).authenticate
    if (typeof auth !== 'function') return
    await this.run(
      'stream subscribe',
      this.main,
      () =>
        outsideCall(() => {
          const subscribing = auth.call(this.main)
          quietPendingFutures(this.main)
          return subscribing
        }),
      'all',
      signal,
    )
  }

  private makeFeed(mode: 'stream' | 'poll'): OrderUpdateFeed {
    return new OrderUpdateFeed(
      {
        venue: this.venue,
        exchange: this.main,
        tracker: this.tracker,
        symbols: this.symbols,
        now: () => (this.options.clock ?? systemClock).now(),
        onError: (e) => this.onError(e),
        connectivity: this.connectivity,
        fetchOpenOrders: (symbols, unreadable) => this.openOrders(this.main, symbols, this.runner.deadline(), unreadable),
        fetchOrder: (ref) => this.lookup(ref, this.main, this.runner.deadline()),
        fetchTrades: (symbol, since) => this.run('fetchMyTrades', this.main, () => this.tradePages(this.main, symbol, since), 'all', this.runner.deadline()),
      },
      mode,
      this.options.pollIntervalMs ?? 1_000,
    )
  }

  private remember(ack: OrderAck, symbol: string): void {
    this.tracker.observe({ clientOrderId: ack.clientOrderId, symbol, venueOrderId: ack.venueOrderId, status: ack.status, filled: ack.filled })
    for (const f of ack.fills ?? []) this.tracker.firstSight(f.tradeId)
  }

  private async openOrders(
    ex: Exchange,
    symbols: readonly string[] | undefined,
    signal: AbortSignal,
    unreadable?: OpenOrdersOptions['unreadable'],
  ): Promise<VenueOrder[]> {
    const read = (list: Order[]) => toVenueOrders(list, unreadable)
    const needsSymbol = openOrdersNeedSymbol(ex)
    if (symbols === undefined && this.listedOn.length === 0 && needsSymbol) {
      // an empty answer here would read as "nothing open"
      throw new VenueError(this.venue, 'unsupported', `${ex.id} lists open orders per symbol only: configure the gateway's symbols`)
    }
    const list = symbols ?? (this.listedOn.length > 0 ? this.listedOn : undefined)
    if (list === undefined) {
      // the account's lists where one call does not cover it (Bybit: one per category)
      const calls = this.accountLists?.calls
      if (calls === undefined) return this.run('fetchOpenOrders', ex, async () => read(await this.openOrderPages(ex, undefined)), 'all', signal)
      return this.eachBook('fetchOpenOrders', calls, (call) =>
        this.run(
          'fetchOpenOrders',
          ex,
          async () => read((await this.openOrderPages(ex, undefined, call.params)).map((o) => inListMarket(ex, o, call))),
          'all',
          signal,
        ),
      )
    }
    const perSymbol = await Promise.all(
      list.map((symbol) => this.run('fetchOpenOrders', ex, async () => read(await this.openOrderPages(ex, symbol)), 'all', signal)),
    )
    return perSymbol.flat()
  }

  /**
   * The account's lists, one per book, each asked on its own: a book the venue refuses for good
   * (`refusalOf`: at once, or a `BadRequest` rounds in a row) while another book of the same round
   * answers is learned, named by `unseenBooks` and not listed again (a cancel-all asks it once
   * more), and the others' rows stand. A refusal of every book asked alike is of the
   * key or the account (a request IP the key is not bound to, Bybit 10010; a ban), not of a book:
   * it throws and nothing is learned, so the lists are asked again once that is mended. Any other
   * failure (a timeout, a 5xx, a rate limit) leaves that book's list unknown this round, and so the
   * account's: it throws, naming the book, rather than read as an empty book.
   */
  private async eachBook<C extends { book: string }, T>(
    label: AccountListKind,
    calls: readonly C[],
    list: (call: C) => Promise<T[]>,
    options: { askRefused?: boolean } = {},
  ): Promise<T[]> {
    const { answered, unknown } = await this.eachBookSettled(label, calls, list, options)
    // a refused book asked again that failed for a passing reason said nothing new: it stays refused,
    // named as not seen, and leaves the other books' round standing as it did before it was asked
    const first = unknown.find((u) => !this.refusedBooks[label].has(u.call.book))
    if (first !== undefined)
      throw new VenueError(
        this.venue,
        first.failure.kind,
        `${label}: the account's ${first.call.book} list failed (${first.failure.detail}): the list is unknown this round`,
        {
          cause: first.failure,
        },
      )
    return answered.flatMap((a) => a.rows)
  }

  /**
   * The account's lists, each asked on its own (see `eachBook`), and what each answered: its rows,
   * or the failure that leaves it unknown this round. A refusal of one book while another answers
   * is learned (and the book left out); a refusal of every book asked alike throws.
   */
  private async eachBookSettled<C extends { book: string }, T>(
    label: AccountListKind,
    calls: readonly C[],
    list: (call: C) => Promise<T[]>,
    options: { askRefused?: boolean } = {},
  ): Promise<{ answered: { call: C; rows: T[] }[]; unknown: { call: C; failure: VenueError }[] }> {
    const refusedHere = this.refusedBooks[label]
    const asked = options.askRefused ? calls : calls.filter((c) => !refusedHere.has(c.book))
    if (asked.length === 0) throw new VenueError(this.venue, 'rejected', `${label}: the venue refused every book of the account (${this.wholeAccountRefusal})`)
    const answers = await Promise.allSettled(asked.map(list))
    const answered: { call: C; rows: T[] }[] = []
    const unknown: { call: C; failure: VenueError }[] = []
    const refusals: { book: string; failure: VenueError }[] = []
    answers.forEach((answer, i) => {
      const call = asked[i]!
      if (answer.status === 'fulfilled') {
        this.badRequests[label].delete(call.book)
        refusedHere.delete(call.book)
        answered.push({ call, rows: answer.value })
        return
      }
      const failure = toVenueError(this.venue, answer.reason)
      const refusal = refusalOf(failure.cause)
      const inARow = refusal === 'request' ? (this.badRequests[label].get(call.book) ?? 0) + 1 : 0
      if (refusal === 'request') this.badRequests[label].set(call.book, inARow)
      if (refusal === 'book' || inARow >= BAD_REQUESTS_TO_LEARN) refusals.push({ book: call.book, failure })
      else unknown.push({ call, failure })
    })
    if (answered.length === 0 && unknown.length === 0) {
      const why = refusals.map((r) => `${r.book}: ${r.failure.detail}`).join('; ')
      throw new VenueError(this.venue, 'rejected', `${label}: the venue refused every book of the account (${why}): a refusal of all alike is not learned`, {
        cause: refusals[0]!.failure,
      })
    }
    if (answered.length > 0) {
      for (const { book, failure } of refusals) {
        const before = refusedHere.get(book)
        refusedHere.set(book, failure.detail)
        if (before !== undefined) continue
        this.badRequests[label].delete(book)
        this.onError(
          new VenueError(
            this.venue,
            failure.kind,
            `the venue refused to list the account's ${book} ${label === 'fetchPositions' ? 'positions' : 'book'} (${failure.detail}): it is not listed again until a cancel-all asks, and named as not seen`,
            { cause: failure },
          ),
        )
      }
    }
    return { answered, unknown }
  }

  /** One order by venue id or client order id; undefined when the venue does not know it. */
  private async lookup(ref: OrderRef, ex: Exchange, signal: AbortSignal): Promise<VenueOrder | undefined> {
    const has = ex.has as Record<string, unknown>
    try {
      if (has.fetchOrder && (ref.venueOrderId || this.noLookupByClientId === undefined)) {
        if (ex.id === 'bybit') return await this.bybitLookup(ref, ex, signal)
        const params = fetchOrderParams(ex.id)
        try {
          const raw = await this.run(
            'fetchOrder',
            ex,
            () =>
              ref.venueOrderId
                ? ex.fetchOrder(ref.venueOrderId, ref.symbol, params)
                : ex.fetchOrder(undefined as unknown as string, ref.symbol, { ...params, ...byClientIdParams(ex.id, ref.clientOrderId) }),
            'all',
            signal,
          )
          const found = toVenueOrder(raw)
          if (!ref.venueOrderId) this.lookupRefusals = 0
          return found
        } catch (e) {
          const failure = toVenueError(this.venue, e)
          // a venue that looks orders up by its own id only (Kraken's QueryOrders wants a txid) refuses
          // the question, not the order: its lists answer it instead, and after a few refusals in a
          // row, from then on (one refusal can be the call's own: a bad symbol)
          if (ref.venueOrderId || (failure.kind !== 'rejected' && failure.kind !== 'unsupported')) throw failure
          if (++this.lookupRefusals >= LOOKUP_REFUSALS_TO_LEARN) this.noLookupByClientId = failure.message
        }
      }
      return await this.lookupInLists(ref, ex, signal)
    } catch (e) {
      const failure = toVenueError(this.venue, e)
      if (failure.kind === 'not-found') return undefined
      throw failure
    }
  }

  /**
   * An order found in the venue's open orders, then its recent closed ones, where it cannot be
   * looked up by itself. Absent from lists that stop at the most recent orders is not absent from
   * the venue: that is an error (its fate stays unknown), never "the venue does not know it".
   */
  private async lookupInLists(ref: OrderRef, ex: Exchange, signal: AbortSignal): Promise<VenueOrder | undefined> {
    const mine = (o: VenueOrder) => (ref.venueOrderId ? o.venueOrderId === ref.venueOrderId : o.clientOrderId === ref.clientOrderId)
    const open = (await this.openOrders(ex, [ref.symbol], signal)).find(mine)
    if (open) return open
    const has = ex.has as Record<string, unknown>
    const closedOf = has.fetchClosedOrders
      ? (symbol: string) => ex.fetchClosedOrders(symbol)
      : has.fetchCanceledAndClosedOrders
        ? (symbol: string) => ex.fetchCanceledAndClosedOrders(symbol)
        : has.fetchOrders
          ? (symbol: string) => ex.fetchOrders(symbol)
          : undefined
    if (!has.fetchOrder && !closedOf) return undefined
    const closed = closedOf ? (await this.run('fetchOrder', ex, () => closedOf(ref.symbol), 'all', signal)).map(toVenueOrder).find(mine) : undefined
    if (closed) return closed
    const how = this.noLookupByClientId
      ? `it cannot be looked up by client order id (${this.noLookupByClientId})`
      : 'the venue refused to look it up by client order id'
    throw new VenueError(
      this.venue,
      'unavailable',
      `order ${ref.clientOrderId ?? ref.venueOrderId} is in neither the open nor the recent closed orders of ${ref.symbol}, and ${how}: its fate is unknown`,
    )
  }

  /**
   * Bybit's `fetchOrder` reads the open orders only (`openOnly=0`; and fails on an empty answer
   * without an `orderId`): an order closed or canceled there reads as unknown. So by `orderId` or
   * `orderLinkId`, the open list, then the closed and canceled one.
   */
  private async bybitLookup(ref: OrderRef, ex: Exchange, signal: AbortSignal): Promise<VenueOrder | undefined> {
    const params = ref.venueOrderId ? { orderId: ref.venueOrderId } : byClientIdParams(ex.id, ref.clientOrderId)
    const mine = (list: Order[]) =>
      list.map(toVenueOrder).find((o) => (ref.venueOrderId ? o.venueOrderId === ref.venueOrderId : o.clientOrderId === ref.clientOrderId))
    const open = await this.run('fetchOrder', ex, () => ex.fetchOpenOrders(ref.symbol, undefined, undefined, params), 'all', signal)
    return mine(open) ?? mine(await this.run('fetchOrder', ex, () => ex.fetchCanceledAndClosedOrders(ref.symbol, undefined, undefined, params), 'all', signal))
  }

  /** Every page of the venue's positions (one call where the venue answers all of them at once); `params` name one of the account's lists. */
  private positionPages(ex: Exchange, symbols: string[] | undefined, params: Record<string, unknown> = {}): Promise<Position[]> {
    return readAllPages(
      pagingFor(ex.id, 'positions'),
      (limit, params) => ex.fetchPositions(symbols, limit === undefined ? params : { ...params, limit }),
      (p) => `${p.symbol}:${String(p.side)}:${String(p.marginMode ?? '')}`,
      params,
    )
  }

  /** Every page of a symbol's open orders (or, without a symbol, of the account's list that `params` name). */
  private openOrderPages(ex: Exchange, symbol: string | undefined, params: Record<string, unknown> = {}): Promise<Order[]> {
    return readAllPages(
      pagingFor(ex.id, 'openOrders'),
      (limit, params) => ex.fetchOpenOrders(symbol, undefined, limit, params),
      (o) => String(o.id),
      params,
    )
  }

  /** Every page of a symbol's fills since `since`. */
  private tradePages(ex: Exchange, symbol: string, since: number | undefined): Promise<Trade[]> {
    return readAllPages(
      pagingFor(ex.id, 'trades'),
      (limit, params) => ex.fetchMyTrades(symbol, since, limit, params),
      (t) => String(t.id),
    )
  }

  /** After an unanswered submit: look the order up by client order id, twice, a backoff apart. */
  private async reconcile(ref: OrderRef, ex: Exchange, signal: AbortSignal): Promise<VenueOrder | undefined> {
    for (let attempt = 1; attempt <= 2 && !signal.aborted; attempt++) {
      const found = await this.lookup(ref, ex, signal)
      if (found) return found
      if (attempt < 2) await sleep(this.retry.baseDelayMs, signal)
    }
    return undefined
  }

  /** Cancels the given orders in batches where the venue has them, otherwise one by one. */
  private async cancelEach(ex: Exchange, orders: VenueOrder[], signal: AbortSignal): Promise<Omit<CancelAllResult, 'scope'>> {
    const canceled: string[] = []
    const failed: { id: string; reason: string }[] = []
    const unanswered: string[] = []
    const idOf = resultIdOf
    const batch = this.capabilities.batchCancel
    if (batch > 0) {
      const bySymbol = new Map<string, VenueOrder[]>()
      for (const o of orders) bySymbol.set(o.symbol, [...(bySymbol.get(o.symbol) ?? []), o])
      const chunks: { symbol: string; orders: VenueOrder[] }[] = []
      for (const [symbol, list] of bySymbol) for (let i = 0; i < list.length; i += batch) chunks.push({ symbol, orders: list.slice(i, i + batch) })
      await Promise.all(
        chunks.map(async ({ symbol, orders: chunk }) => {
          try {
            const ids = chunk.map((o) => o.venueOrderId)
            const answers = await this.run(
              'cancelOrders',
              ex,
              () => (ex.id === 'bybit' ? bybitCancelBatch(ex, ids, symbol) : ex.cancelOrders(ids, symbol)),
              'all',
              signal,
            )
            const matched = matchBatchAnswers(chunk, answers)
            canceled.push(...matched.canceled)
            failed.push(...matched.failed)
            unanswered.push(...matched.unanswered)
          } catch (e) {
            const failure = toVenueError(this.venue, e)
            // a batch refused as a whole for unknown orders (OKX code 1 when every item failed)
            // says nothing of any one order: each is looked up, none is called failed
            if (failure.kind === 'not-found') unanswered.push(...chunk.map(idOf))
            else for (const o of chunk) failed.push({ id: idOf(o), reason: failure.message })
          }
        }),
      )
      return { method: 'batched', canceled, failed, ...(unanswered.length > 0 ? { unanswered } : {}) }
    }
    await Promise.all(
      orders.map(async (o) => {
        try {
          const r = await this.cancel(
            o.clientOrderId
              ? { clientOrderId: o.clientOrderId, symbol: o.symbol, venueOrderId: o.venueOrderId }
              : { clientOrderId: '', symbol: o.symbol, venueOrderId: o.venueOrderId },
            { signal },
          )
          if (r.outcome === 'canceled') canceled.push(idOf(o))
          else failed.push({ id: idOf(o), reason: r.outcome === 'rejected' ? r.reason : 'not-found' })
        } catch (e) {
          failed.push({ id: idOf(o), reason: toVenueError(this.venue, e).message })
        }
      }),
    )
    return { method: 'per-order', canceled, failed }
  }

  /**
   * One cancel-all per symbol (or one for the account where the venue's covers every pair). An
   * empty book answering OrderNotFound means done. Where the venue lists what it canceled, that
   * list is the confirmation. Where it only says "done" (Binance futures), a word is not a
   * confirmation: the venue's open orders are listed again, and only the orders it no longer
   * lists are canceled; those it still lists failed, and all of them stay unanswered when the
   * list cannot be read. That list covers the markets whose answers listed their orders too, so
   * those are checked against it (`checked`) and the caller need not list a second time.
   */
  private async massCancel(
    ex: Exchange,
    open: readonly Listed[],
    symbols: readonly string[] | undefined,
    list: Lister,
    signal: AbortSignal,
  ): Promise<Omit<CancelAllResult, 'scope' | 'method'> & { checked: boolean }> {
    const canceled: string[] = []
    const failed: { id: string; reason: string }[] = []
    const saidDone: Listed[] = []
    /** The markets whose cancel-all listed what it canceled. */
    const answered = new Set<string>()
    const idOf = (o: Listed): string => o.clientOrderId ?? o.venueOrderId
    const accountWide = this.capabilities.massCancel === 'account' && symbols === undefined
    const targets: (string | undefined)[] = accountWide ? [undefined] : [...new Set([...(symbols ?? []), ...open.map((o) => o.symbol)])]
    await Promise.all(
      targets.map(async (symbol) => {
        const before = open.filter((o) => symbol === undefined || o.symbol === symbol)
        try {
          const answers = await this.run('cancelAllOrders', ex, () => ex.cancelAllOrders(symbol), 'all', signal)
          const listed = answers.filter((a) => a.id)
          if (listed.length > 0) {
            if (symbol !== undefined) answered.add(symbol)
            for (const a of listed) if (a.status === 'canceled' || a.status === undefined) canceled.push(clientIdOf(a) ?? String(a.id))
          } else {
            saidDone.push(...before)
          }
        } catch (e) {
          const failure = toVenueError(this.venue, e)
          if (failure.kind === 'not-found') return // nothing was open there
          for (const o of before) failed.push({ id: idOf(o), reason: failure.message })
          if (before.length === 0) failed.push({ id: symbol ?? '*', reason: failure.message })
        }
      }),
    )
    if (saidDone.length === 0) return { canceled, failed, checked: false }
    const listAgain = [...new Set([...saidDone.map((o) => o.symbol), ...answered])]
    const after = await this.idsListedOpen(accountWide ? list : (unreadable) => this.openOrders(ex, listAgain, signal, unreadable))
    // one listed without an id could be any of them: none is shown gone
    if (after === undefined || after.withoutIds) return { canceled, failed, unanswered: saidDone.map(idOf), checked: false }
    const stillOpen = after.ids
    const confirmed = canceled.filter((id) => !stillOpen.has(id))
    for (const id of canceled) if (stillOpen.has(id)) failed.push({ id, reason: listedAfterCancel(this.venue) })
    for (const o of saidDone) {
      if (stillOpen.has(o.venueOrderId) || (o.clientOrderId !== undefined && stillOpen.has(o.clientOrderId)))
        failed.push({ id: idOf(o), reason: `${this.venue} answered its cancel-all "done" and still lists the order open` })
      else confirmed.push(idOf(o))
    }
    return { canceled: confirmed, failed, checked: true }
  }

  private async binanceCountdowns(ex: Exchange): Promise<{ method: string; symbols: string[] } | undefined> {
    const markets = ex.markets ?? {}
    const anyContract = Object.values(markets).find((m) => m && binanceCountdownMethod(ex, m))
    if (!anyContract) return undefined
    const symbols = [...new Set([...this.symbols, ...this.tracker.active().map((a) => a.symbol)])].filter(
      (s) => markets[s] && binanceCountdownMethod(ex, markets[s]),
    )
    return { method: binanceCountdownMethod(ex, anyContract)!, symbols }
  }

  private async setCountdown(ex: Exchange, symbol: string, ms: number, signal: AbortSignal): Promise<void> {
    const market = ex.market(symbol)
    const method = binanceCountdownMethod(ex, market)!
    const call = (ex as unknown as Record<string, (p: object) => Promise<unknown>>)[method]!
    await this.run(ms > 0 ? 'armDeadMansSwitch' : 'disarmDeadMansSwitch', ex, () => call.call(ex, { symbol: market.id, countdownTime: ms }), 'all', signal)
    if (ms > 0) this.armedCountdowns.add(symbol)
    else this.armedCountdowns.delete(symbol)
  }
}

/** Why an order a venue answered canceled is not taken for canceled. */
const listedAfterCancel = (venue: string): string => `${venue} answered the order canceled and still lists it open`

/** Refusals in a row of a lookup by client order id after which a gateway reads the venue's lists instead. */
const LOOKUP_REFUSALS_TO_LEARN = 3

/** Bybit's disconnect protection window (`timeWindow`, seconds on the wire). */
const DCP_WINDOW_MS = { min: 3_000, max: 300_000 }

/** A cancel-on-disconnect venue whose window haltd arms through ccxt's `cancelAllOrdersAfter` (Bybit's DCP). */
const disconnectWindowed = (ex: Exchange): boolean => ex.id === 'bybit' && !!(ex.has as Record<string, unknown>).cancelAllOrdersAfter

function isArgumentsRequired(e: unknown): boolean {
  for (let proto = e ? Object.getPrototypeOf(e) : null; proto && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
    if ((proto as { constructor?: { name?: string } }).constructor?.name === 'ArgumentsRequired') return true
  }
  return false
}

/** One of the venue's open-order lists (the account's, some symbols', or one book's), read again as often as asked. */
type Lister = (unreadable?: (u: UnreadableVenueOrder) => void) => Promise<VenueOrder[]>

/** What a cancel-all needs of an order its venue lists: its ids and its market. */
type Listed = Pick<VenueOrder, 'venueOrderId' | 'clientOrderId' | 'symbol'>

/** An order listed in a shape that cannot be read, as a cancel-all takes it: none where it lacks a venue id or a market. */
function listedOf(u: UnreadableVenueOrder): Listed[] {
  if (!u.venueOrderId || !u.symbol) return []
  return [{ venueOrderId: u.venueOrderId, ...(u.clientOrderId ? { clientOrderId: u.clientOrderId } : {}), symbol: u.symbol }]
}

/** Why an order listed unreadably, without a venue id or a market, is not cancelled: nothing to cancel it by. */
const cannotCancel = (u: UnreadableVenueOrder): { id: string; reason: string } => ({
  id: u.clientOrderId ?? u.venueOrderId ?? '(an order without ids)',
  reason: `listed in a shape that cannot be read, without a venue id and a market to cancel it by: ${u.reason}`,
})
