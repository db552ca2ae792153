import type { Exchange, Order, Trade } from 'ccxt'
import type { OrderUpdate, UnreadableVenueOrder, VenueOrder } from '../gateway.js'
import { VenueError } from '../errors.js'
import { toVenueError } from './errors.js'
import { toFill, toVenueOrder } from './mapping.js'
import type { OrderTracker } from './order-tracker.js'
import { quietPendingFutures } from './quiet-futures.js'
import { outsideCall } from './transport-guard.js'
import { ReportedOnce } from '../reported-once.js'

/** What the feeds need from the gateway: its reads (with deadlines, retries and the guard). */
export type FeedPorts = {
  venue: string
  exchange: Exchange
  tracker: OrderTracker
  fetchOpenOrders(symbols: readonly string[] | undefined, unreadable?: (order: UnreadableVenueOrder) => void): Promise<VenueOrder[]>
  fetchOrder(ref: { clientOrderId: string; symbol: string; venueOrderId?: string }): Promise<VenueOrder | undefined>
  fetchTrades(symbol: string, since: number): Promise<Trade[]>
  /** Symbols to poll besides those of tracked orders. */
  symbols: readonly string[]
  now(): number
  onError(e: VenueError): void
  /** Told of every background failure and answer, to follow whether the venue is reachable. */
  connectivity?: { failed(e: VenueError): void; answered(): void }
}

type Handler = (u: OrderUpdate) => void

/** Open orders the poll could not read, remembered as reported so a poll does not report them again. */
const UNREADABLE_REPORTED = 1000

/**
 * Order status changes and fills, either pushed (ccxt.pro `watchOrders` + `watchMyTrades`) or
 * polled (open orders, the orders that left them, and recent trades). The stream runs from
 * `start()` until `stop()` so that no update falls between a subscription and the first order;
 * after a stream error one poll fills the gap before watching again. Polling runs only while
 * someone listens.
 */
/** How long a trade that could not be taken is asked for again by the polls (from its own time). */
const UNTAKEN_TRADE_RETRY_MS = 10 * 60_000

export class OrderUpdateFeed {
  private readonly handlers = new Set<Handler>()
  private running = false
  private pollTimer: NodeJS.Timeout | undefined
  private polling: Promise<void> | undefined
  private readonly stopped = new AbortController()
  private readonly unreadableReported = new ReportedOnce(UNREADABLE_REPORTED)
  private tradesSince: number
  /** The time of the oldest trade this poll could not take, to ask for it again from there. */
  private oldestUntaken: number | undefined

  constructor(
    private readonly ports: FeedPorts,
    private readonly mode: 'stream' | 'poll',
    private readonly pollIntervalMs: number,
  ) {
    // trades shortly before start count: an order placed just before may fill just after
    this.tradesSince = ports.now() - 60_000
  }

  get streaming(): boolean {
    return this.mode === 'stream'
  }

  subscribe(handler: Handler): () => void {
    this.handlers.add(handler)
    if (this.mode === 'poll') this.schedulePoll()
    return () => {
      this.handlers.delete(handler)
      if (this.handlers.size === 0 && this.pollTimer) {
        clearTimeout(this.pollTimer)
        this.pollTimer = undefined
      }
    }
  }

  /** Starts the stream loops (no-op when polling). */
  start(): void {
    if (this.mode !== 'stream' || this.running) return
    this.running = true
    outsideCall(() => {
      void this.loop('orders', () => this.watch('watchOrders').then((orders) => this.onOrders(orders as Order[])))
      void this.loop('trades', () => this.watch('watchMyTrades').then((trades) => this.onTrades(trades as Trade[])))
    })
  }

  async stop(): Promise<void> {
    this.stopped.abort()
    this.running = false
    if (this.pollTimer) clearTimeout(this.pollTimer)
    this.pollTimer = undefined
    await this.polling
  }

  /** One REST pass: statuses of open and recently finished orders, then new trades. */
  async poll(): Promise<void> {
    const p = this.ports
    const symbols = [...new Set([...p.symbols, ...p.tracker.symbols()])]
    const openIds = new Set<string>()
    // one order the venue lists in a shape that cannot be read does not hide the others' updates
    const open = await p.fetchOpenOrders(symbols.length > 0 ? symbols : undefined, (u) => {
      if (u.clientOrderId) openIds.add(u.clientOrderId)
      this.reportUnreadable(u)
    })
    for (const o of open) {
      if (o.clientOrderId) openIds.add(o.clientOrderId)
      // an open-order list that calls an order canceled (or filled, or expired) contradicts itself:
      // the order is taken as listed, its end is left to a lookup or the venue's trades
      if (o.status !== 'open' && o.status !== 'partially-filled') {
        this.reportContradiction(o)
        continue
      }
      this.onOrder(o)
    }
    for (const gone of p.tracker.active().filter((a) => !openIds.has(a.clientOrderId))) {
      try {
        const found = await p.fetchOrder(gone)
        if (found) this.onOrder(found)
      } catch (e) {
        // one lookup that fails leaves the others, and the trades, to this poll
        const failure = toVenueError(p.venue, e)
        if (failure.kind !== 'bad-response') throw failure
        p.onError(failure)
      }
    }
    const since = this.tradesSince
    const pollStarted = p.now()
    this.oldestUntaken = undefined
    for (const symbol of symbols) {
      for (const t of await p.fetchTrades(symbol, since)) await this.onTrade(t)
    }
    // Overlap by a little: venue clocks and ours differ; trade ids dedupe the rest. A trade not
    // taken this time (unreadable, or its order not found) is asked for again from its own time,
    // for as long as it is recent: a venue that never answers it readably is not read back for ever.
    const retry = this.oldestUntaken !== undefined && this.oldestUntaken >= pollStarted - UNTAKEN_TRADE_RETRY_MS ? this.oldestUntaken - 1 : undefined
    this.tradesSince = Math.min(pollStarted - 5_000, retry ?? Number.POSITIVE_INFINITY)
  }

  /** An order the venue's open-order list gives an end to: reported once while remembered, its status not taken. */
  private reportContradiction(o: VenueOrder): void {
    const key = `status\u0000${o.venueOrderId}\u0000${o.clientOrderId ?? ''}\u0000${o.status}`
    if (this.unreadableReported.has(key)) return
    this.unreadableReported.add(key)
    const which = o.clientOrderId ?? `venue order ${o.venueOrderId}`
    this.ports.onError(
      new VenueError(
        this.ports.venue,
        'bad-response',
        `the venue listed order ${which} among its open orders with status ${o.status}: taken as open, its status not believed`,
      ),
    )
  }

  /** An open order the venue listed unreadably: reported once while remembered. */
  private reportUnreadable(u: UnreadableVenueOrder): void {
    const key = `${u.venueOrderId ?? ''}\u0000${u.clientOrderId ?? ''}`
    if (this.unreadableReported.has(key)) return
    this.unreadableReported.add(key)
    const which = u.clientOrderId ?? (u.venueOrderId === undefined ? 'an order without ids' : `venue order ${u.venueOrderId}`)
    this.ports.onError(new VenueError(this.ports.venue, 'bad-response', `open order ${which} could not be read, left out: ${u.reason}`))
  }

  private emit(u: OrderUpdate): void {
    for (const h of [...this.handlers]) {
      try {
        h(u)
      } catch (e) {
        this.ports.onError(toVenueError(this.ports.venue, e))
      }
    }
  }

  private onOrder(o: VenueOrder): void {
    if (!o.clientOrderId) return
    if (!this.ports.tracker.observeOrder(o)) return
    // an order's end carries what it filled in all: the part that beat a cancel, whose trade may never come
    const ended = o.status === 'canceled' || o.status === 'expired'
    const total = ended && o.filled > 0 ? { filled: o.filled, ...(o.average ? { average: o.average } : {}), ...(o.price ? { price: o.price } : {}) } : {}
    this.emit({ kind: 'status', clientOrderId: o.clientOrderId, venueOrderId: o.venueOrderId, status: o.status, ...total })
  }

  private onOrders(orders: Order[]): void {
    for (const raw of orders) {
      try {
        this.onOrder(toVenueOrder(raw))
      } catch (e) {
        this.ports.onError(toVenueError(this.ports.venue, e))
      }
    }
  }

  private async onTrades(trades: Trade[]): Promise<void> {
    for (const t of trades) await this.onTrade(t)
  }

  private async onTrade(t: Trade): Promise<void> {
    if (!t.id) return
    const id = String(t.id)
    if (!this.ports.tracker.firstSight(id)) return
    try {
      const clientOrderId = await this.clientIdOfTrade(t)
      if (clientOrderId)
        this.emit({
          kind: 'fill',
          ...toFill(t, clientOrderId),
          ...(t.symbol ? { symbol: t.symbol } : {}),
          ...(t.order ? { venueOrderId: String(t.order) } : {}),
        })
    } catch (e) {
      // A trade that could not be read, or whose order could not be asked for, is not done with:
      // the next poll or stream message that reports it takes it up again, so a readable answer
      // later is booked. Reported once per trade and reason, however often it comes back so.
      this.ports.tracker.forgetTrade(id)
      if (typeof t.timestamp === 'number' && Number.isFinite(t.timestamp)) this.oldestUntaken = Math.min(this.oldestUntaken ?? t.timestamp, t.timestamp)
      const error = toVenueError(this.ports.venue, e)
      const key = `trade\u0000${id}\u0000${error.message}`
      if (this.unreadableReported.has(key)) return
      this.unreadableReported.add(key)
      this.ports.onError(error)
    }
  }

  /** Streams can deliver a trade before the order's answer: ask the venue which order it was. */
  private async clientIdOfTrade(t: Trade): Promise<string | undefined> {
    const known = this.ports.tracker.clientIdFor(t.order ?? undefined)
    if (known) return known
    if (!t.order || !t.symbol) return undefined
    const order = await this.ports.fetchOrder({ clientOrderId: '', venueOrderId: t.order, symbol: t.symbol })
    return order?.clientOrderId
  }

  private watch(method: 'watchOrders' | 'watchMyTrades'): Promise<unknown> {
    const ex = this.ports.exchange as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
    const watching = ex[method]!.call(this.ports.exchange)
    quietPendingFutures(this.ports.exchange)
    return watching
  }

  private async loop(name: string, step: () => Promise<void>): Promise<void> {
    let failures = 0
    while (!this.stopped.signal.aborted) {
      try {
        await step()
        failures = 0
        this.ports.connectivity?.answered()
      } catch (e) {
        if (this.stopped.signal.aborted) return
        failures++
        this.failed(e)
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)), this.stopped.signal)
        // the stream may have missed updates while it was down; its answer is REST's, not the stream's
        if (name === 'orders' && !this.stopped.signal.aborted) await this.poll().catch((pe: unknown) => this.failed(pe))
      }
    }
  }

  private failed(e: unknown): void {
    const error = toVenueError(this.ports.venue, e)
    this.ports.onError(error)
    this.ports.connectivity?.failed(error)
  }

  private schedulePoll(): void {
    if (this.pollTimer || this.stopped.signal.aborted || this.handlers.size === 0) return
    this.pollTimer = setTimeout(() => {
      this.polling = this.poll()
        .then(() => this.ports.connectivity?.answered())
        .catch((e: unknown) => {
          // a poll cut short by stop() is not an error anyone needs to hear about
          if (!this.stopped.signal.aborted) this.failed(e)
        })
        .finally(() => {
          this.pollTimer = undefined
          this.polling = undefined
          this.schedulePoll()
        })
    }, this.pollIntervalMs)
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
