import type { Envelope } from '../../events/envelope.js'
import type { Origin } from '../../events/primitives.js'
import type { SinkCancel, SinkCancelOutcome, SinkOrder } from '../../strategies/ports.js'
import { HaltdError } from '../../events/errors.js'
import { orderStream } from '../../events/routing.js'
import type { ExchangeGateway, OrderAck, VenueOrder } from '../../exchanges/gateway.js'
import { makeClientOrderId } from '../../exchanges/client-order-id.js'
import { isVenueError } from '../../exchanges/errors.js'
import { evolveOrder, type Order, type OrderFact } from '../../projections/orders.js'
import type { EventLog } from '../log/event-log.js'
import type { OrderGate } from './gate.js'
import { LogWriteFailed } from '../log/errors.js'
import { recordFills, recordOrderTotal, type OrderTotal } from './venue-recorder.js'
import { withinMs } from './time-limit.js'

export class UnknownVenue extends HaltdError {
  constructor(
    readonly venue: string,
    known: readonly string[],
  ) {
    super('UNKNOWN_VENUE', `no venue named '${venue}' (configured: ${known.join(', ') || 'none'})`)
  }
}

/** A cancel the gate refuses (a handover under way): nothing was sent and nothing was recorded. */
export class CancelRefused extends HaltdError {
  constructor(ref: { venue: string; clientOrderId: string }, why: string) {
    super('CANCEL_REFUSED', `cancel of ${ref.clientOrderId} on ${ref.venue} refused, nothing sent or recorded: ${why}`)
  }
}

/** `clientOrderId` is generated (with haltd's tag) when absent. */
export type SubmitOrder = SinkOrder & { clientOrderId?: string }

export type SubmitOutcome =
  /**
   * The venue has the order. `ack` is absent when only its update stream told of it after the
   * answer was lost (fills, a cancel or an expiry), and then so is the venue's id if it never sent one.
   */
  | { status: 'accepted'; clientOrderId: string; venueOrderId: string; ack: OrderAck }
  | { status: 'accepted'; clientOrderId: string; venueOrderId?: string; ack?: undefined; seen: 'filled' | 'partially-filled' | 'canceled' | 'expired' }
  | { status: 'rejected'; clientOrderId: string; reason: string }
  /**
   * Nothing was sent and nothing was logged: the gate refused it, or its client order id names an
   * order submitted before (the log holds its `order.submitted`: `alreadySubmitted`).
   */
  | { status: 'refused'; clientOrderId?: undefined; reason: string }
  /** The answer was lost and the venue could not be asked: the order may be live. */
  | { status: 'unknown'; clientOrderId: string; reason: string }

export type CancelRef = SinkCancel
export type CancelOutcome = SinkCancelOutcome

export type RouterOptions = {
  log: EventLog
  gate: OrderGate
  venues: ReadonlyMap<string, ExchangeGateway>
  /** A short tag that keeps client order ids unique across runs. */
  runTag: string
  /** Signed position as projected, for the reduce-only check at the gate. */
  positionOf?: (venue: string, symbol: string) => number
  /**
   * An order as the projections know it, for what the venue said of an order whose submit
   * answer was lost (the daemon reads its live projections). Without it the router folds the
   * order's own stream through the orders projection's reducer when it needs to know.
   */
  orderOf?: (venue: string, clientOrderId: string) => Order | undefined
  /**
   * Also bounds the lookups after a lost answer: the first look and every re-check, waits
   * included, fit within it.
   */
  submitTimeoutMs?: number
  cancelTimeoutMs?: number
  /**
   * The wait before each re-check of an order whose submit answer was lost and that the venue
   * did not know: an order still on its way to the matching engine can miss a lookup made right
   * after the timeout. Shortened when the re-checks would not otherwise fit in `submitTimeoutMs`.
   */
  lostRecheckMs?: number
  /**
   * A second write-ahead after the log's own: resolves once the `order.submitted` is also held
   * elsewhere (the replicated stream, in sync mode). An order whose write-ahead fails is not sent,
   * is recorded rejected (`NOT_SENT`), and the gate closes.
   */
  writeAhead?: (submitted: Envelope) => Promise<void>
}

/** What only the venue can say about an order: any of these settles a submit whose answer was lost. */
const VENUE_FACTS: ReadonlySet<string> = new Set(['order.accepted', 'order.rejected', 'order.filled', 'order.canceled', 'order.expired'])

/** Why an order whose client order id the log already holds is not sent: its reason names the seq. */
export const alreadySubmitted = (clientOrderId: string, seq: number) => `not sent again: client order id ${clientOrderId} was submitted before (seq ${seq})`

/** Lookups after the first before an order whose answer was lost is called lost. */
const LOST_RECHECKS = 2

/** What the lookups after a lost answer came to: settled (found, or the stream spoke), or not found. */
type Looked = { kind: 'settled'; outcome: SubmitOutcome } | { kind: 'not-found'; looks: number; failures: string[]; elapsedMs: number }

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))
// a venue's error text can run long; an event that fails validation would lose the fact itself
const clip = (reason: string) => (reason.length > 2000 ? `${reason.slice(0, 1997)}...` : reason)

/**
 * The one way orders reach a venue. Gate check (synchronous) → `order.submitted` appended
 * (write-ahead: durable before the order leaves) → the venue → the answer appended. An order
 * whose answer is lost is never re-sent: it is looked up by client order id first.
 */
export class OrderRouter {
  private seq = 0
  private refusals = 0
  private inFlight = 0
  private cancelling = 0
  private readonly submitTimeoutMs: number
  private readonly cancelTimeoutMs: number
  private readonly lostRecheckMs: number
  private readonly orderOf: (venue: string, clientOrderId: string) => Order | undefined
  private readonly offFault: () => void

  constructor(private readonly options: RouterOptions) {
    this.submitTimeoutMs = options.submitTimeoutMs ?? 10_000
    this.cancelTimeoutMs = options.cancelTimeoutMs ?? 10_000
    this.lostRecheckMs = Math.max(0, options.lostRecheckMs ?? 1_000)
    this.orderOf = options.orderOf ?? foldedFrom(options.log)
    this.offFault = options.log.on('fault', ({ error }) => options.gate.halt(`event log cannot be written: ${error.message}`))
  }

  /** Submits past the gate whose venue answer has not come back (a handover waits for them). */
  get submitsInFlight(): number {
    return this.inFlight
  }

  /** Cancels sent and not answered yet: their answers are still to be recorded. */
  get cancelsInFlight(): number {
    return this.cancelling
  }

  /** How many orders the gate refused since start. */
  get refusedCount(): number {
    return this.refusals
  }

  venue(name: string): ExchangeGateway {
    const gateway = this.options.venues.get(name)
    if (!gateway) throw new UnknownVenue(name, [...this.options.venues.keys()])
    return gateway
  }

  nextClientOrderId(): string {
    return makeClientOrderId(this.options.runTag, ++this.seq)
  }

  /** The gate's verdict without sending: undefined when the order would pass. */
  refusal(order: SubmitOrder): string | undefined {
    const reduceOnly = order.reduceOnly ?? false
    const closed = this.options.gate.refusal({ origin: order.origin, reduceOnly })
    if (closed) return closed
    if (reduceOnly && this.options.positionOf) {
      const position = this.options.positionOf(order.venue, order.symbol)
      const closes = order.side === 'buy' ? position < 0 : position > 0
      if (!closes) return `reduce-only ${order.side} would not reduce a position of ${position}`
      if (order.qty > Math.abs(position) + 1e-12) return `reduce-only ${order.side} of ${order.qty} exceeds the position of ${position}`
    }
    return undefined
  }

  async submit(order: SubmitOrder): Promise<SubmitOutcome> {
    const gateway = this.venue(order.venue)
    if (this.refusal(order) !== undefined) return this.submitPastGate(gateway, order)
    this.inFlight++
    try {
      return await this.submitPastGate(gateway, order)
    } finally {
      this.inFlight--
    }
  }

  private async submitPastGate(gateway: ExchangeGateway, order: SubmitOrder): Promise<SubmitOutcome> {
    const reason = this.refusal(order)
    if (reason) {
      this.refusals++
      return { status: 'refused', reason }
    }
    const clientOrderId = order.clientOrderId ?? this.nextClientOrderId()
    const reduceOnly = order.reduceOnly ?? false
    const timeInForce = order.timeInForce ?? (order.type === 'market' ? 'IOC' : 'GTC')
    const { log } = this.options
    const before = log.lastSeq
    let submitted: Envelope
    try {
      submitted = await log.appendDurable({
        type: 'order.submitted',
        data: {
          venue: order.venue,
          clientOrderId,
          symbol: order.symbol,
          side: order.side,
          type: order.type,
          qty: order.qty,
          price: order.price,
          timeInForce,
          reduceOnly,
          origin: order.origin,
        },
      })
    } catch (e) {
      if (e instanceof LogWriteFailed) {
        this.options.gate.halt(`event log cannot be written: ${e.message}`)
        this.refusals++
        return { status: 'refused', reason: `not sent: ${e.message}` }
      }
      throw e
    }
    // The log keeps one `order.submitted` per client order id and answered with the one it holds:
    // that order went out before (a retry, perhaps from before a restart). Sending it again could
    // only make a second order or a reject that would be booked against the first.
    if (submitted.seq <= before) return { status: 'refused', reason: alreadySubmitted(clientOrderId, submitted.seq) }
    if (this.options.writeAhead) {
      try {
        await this.options.writeAhead(submitted)
      } catch (e) {
        const reason = `not sent: ${messageOf(e)}`
        this.options.gate.halt(reason)
        log.append({ type: 'order.rejected', data: { venue: order.venue, clientOrderId, reason: clip(reason), code: 'NOT_SENT' } })
        return { status: 'rejected', clientOrderId, reason }
      }
    }
    // the write-ahead took time: an instance that stopped leading meanwhile (paused past its lease) sends nothing
    const fenced = this.options.gate.fenced
    if (fenced !== undefined) {
      const reason = `not sent: ${fenced}`
      log.append({ type: 'order.rejected', data: { venue: order.venue, clientOrderId, reason: clip(reason), code: 'NOT_SENT' } })
      return { status: 'rejected', clientOrderId, reason }
    }
    const request = { clientOrderId, symbol: order.symbol, side: order.side, type: order.type, qty: order.qty, price: order.price, timeInForce, reduceOnly }
    try {
      const ack = await withinMs(gateway.submit(request), this.submitTimeoutMs, `submit timed out after ${this.submitTimeoutMs} ms`)
      this.recordAck(order.venue, ack)
      return { status: 'accepted', clientOrderId, venueOrderId: ack.venueOrderId, ack }
    } catch (e) {
      // a refusal placed nothing: a rejection, a 429, a call the rate limit never let out
      if (isVenueError(e) && e.refused) {
        log.append({ type: 'order.rejected', data: { venue: order.venue, clientOrderId, reason: clip(messageOf(e)), code: e.venueCode ?? e.kind } })
        return { status: 'rejected', clientOrderId, reason: messageOf(e) }
      }
      return this.findAfterLostAnswer(gateway, order.venue, order.symbol, clientOrderId, messageOf(e))
    }
  }

  /**
   * The submit's answer was lost: ask the venue by client order id before deciding anything, and
   * call the order lost only when every look, a while apart, says the venue does not know it.
   */
  private async findAfterLostAnswer(gateway: ExchangeGateway, venue: string, symbol: string, clientOrderId: string, why: string): Promise<SubmitOutcome> {
    // the venue's stream may already have told us while the answer itself was lost
    const heard = this.heardFromVenue(venue, clientOrderId)
    if (heard) return heard
    this.options.log.append({ type: 'order.status-unknown', data: { venue, clientOrderId, reason: clip(why) } })
    const looked = await this.lookUntilFound(gateway, venue, { clientOrderId, symbol })
    if (looked.kind === 'settled') return looked.outcome
    const { looks, failures, elapsedMs } = looked
    const searched = `${looks} lookup${looks === 1 ? '' : 's'} by client order id over ${Math.round(elapsedMs)} ms`
    if (failures.length > 0) {
      // the venue could not always answer: its silence is not evidence the order is absent
      return { status: 'unknown', clientOrderId, reason: clip(`${why}; ${failures.length} of ${searched} failed (last: ${failures.at(-1)}), none found it`) }
    }
    if (looks < LOST_RECHECKS + 1) {
      return { status: 'unknown', clientOrderId, reason: clip(`${why}; ${searched} found nothing before the time to look ran out`) }
    }
    const reason = clip(`not at the venue after a lost answer (${why}): ${searched} found nothing`)
    this.options.log.append({ type: 'order.rejected', data: { venue, clientOrderId, reason, code: 'LOST' } })
    return { status: 'rejected', clientOrderId, reason }
  }

  /**
   * Look the order up, then re-check up to LOST_RECHECKS times, all within the submit timeout.
   * Ends early when a lookup finds the order (recorded accepted) or the venue's stream settles it.
   */
  private async lookUntilFound(gateway: ExchangeGateway, venue: string, ref: { clientOrderId: string; symbol: string }): Promise<Looked> {
    const started = performance.now()
    const deadline = started + this.submitTimeoutMs
    // leave a share of the budget to the lookups themselves
    const spacing = Math.min(this.lostRecheckMs, this.submitTimeoutMs / (LOST_RECHECKS + 1))
    const failures: string[] = []
    let looks = 0
    for (let look = 0; look <= LOST_RECHECKS; look++) {
      if (look > 0) await this.waitForVenue(venue, ref.clientOrderId, Math.min(spacing, deadline - performance.now()))
      const heard = this.heardFromVenue(venue, ref.clientOrderId)
      if (heard) return { kind: 'settled', outcome: heard }
      const left = deadline - performance.now()
      if (left <= 0) break
      looks++
      try {
        const found = await withinMs(gateway.fetchOrder(ref), left, `lookup timed out after ${Math.round(left)} ms`)
        if (found) return { kind: 'settled', outcome: this.acceptFound(venue, ref.clientOrderId, found) }
      } catch (e) {
        failures.push(messageOf(e))
      }
    }
    // the stream may have spoken while the last lookup was out
    const heard = this.heardFromVenue(venue, ref.clientOrderId)
    if (heard) return { kind: 'settled', outcome: heard }
    return { kind: 'not-found', looks, failures, elapsedMs: performance.now() - started }
  }

  private acceptFound(venue: string, clientOrderId: string, found: VenueOrder): SubmitOutcome {
    const ack: OrderAck = {
      clientOrderId,
      venueOrderId: found.venueOrderId,
      status: found.status,
      filled: found.filled,
      ...(found.average !== undefined ? { average: found.average } : {}),
    }
    this.recordAck(venue, ack)
    return { status: 'accepted', clientOrderId, venueOrderId: found.venueOrderId, ack }
  }

  /**
   * The venue's own word on the order, as the projections hold it, if it settles the submit: any
   * fact from the venue (accepted, a fill, canceled, expired) proves it has the order. An IOC or
   * market order that fills at once is often told of only through its fills.
   */
  private heardFromVenue(venue: string, clientOrderId: string): SubmitOutcome | undefined {
    const order = this.orderOf(venue, clientOrderId)
    if (order === undefined) return undefined
    if (order.status === 'rejected') return { status: 'rejected', clientOrderId, reason: order.reason ?? 'rejected' }
    const { venueOrderId } = order
    let seen: 'filled' | 'partially-filled' | 'canceled' | 'expired' | undefined
    if (order.status === 'expired') seen = 'expired'
    // 'open-orders' is haltd's own inference that the venue no longer lists it: no proof it ever had it
    else if (order.status === 'canceled' && order.canceledBy !== 'open-orders') seen = 'canceled'
    else if (order.status === 'filled' || (order.filledQty > 0 && order.filledQty >= order.qty - 1e-12)) seen = 'filled'
    else if (order.filledQty > 0) seen = 'partially-filled'
    if (seen !== undefined) return { status: 'accepted', clientOrderId, ...(venueOrderId !== undefined ? { venueOrderId } : {}), seen }
    if (venueOrderId === undefined) return undefined
    const ack: OrderAck = { clientOrderId, venueOrderId, status: 'open', filled: 0 }
    return { status: 'accepted', clientOrderId, venueOrderId, ack }
  }

  /** Wait `ms`, or less if the venue's stream records a fact about the order meanwhile. */
  private waitForVenue(venue: string, clientOrderId: string, ms: number): Promise<void> {
    if (!(ms > 0)) return Promise.resolve()
    const { log } = this.options
    return new Promise((resolve) => {
      let settled = false
      let off: (() => void) | undefined
      const done = () => {
        settled = true
        clearTimeout(timer)
        off?.()
        resolve()
      }
      const timer = setTimeout(done, ms)
      const stream = orderStream(venue, clientOrderId)
      off = log.subscribe(log.lastSeq + 1, (e) => {
        if (e.stream === stream && VENUE_FACTS.has(e.type) && !(e.type === 'order.canceled' && e.data.confirmedBy === 'open-orders')) done()
      })
      // subscribe's catch-up can already have called done, before `off` was known
      if (settled) off()
    })
  }

  private recordAck(venue: string, ack: OrderAck): void {
    const { log } = this.options
    // the venue's stream usually tells first: the same acceptance is not written twice (a different venue id still is, and is a conflict)
    if (this.orderOf(venue, ack.clientOrderId)?.venueOrderId !== ack.venueOrderId) {
      log.append({ type: 'order.accepted', data: { venue, clientOrderId: ack.clientOrderId, venueOrderId: ack.venueOrderId } })
    }
    if (ack.fills?.length) recordFills(log, venue, ack.fills, log)
    // an answer that says more filled than the trades it carries: the total is recorded too
    const carried = (ack.fills ?? []).reduce((n, f) => n + f.qty, 0)
    if (ack.filled > carried + 1e-12) this.recordTotal(venue, ack)
    if (ack.status === 'canceled') log.append({ type: 'order.canceled', data: { venue, clientOrderId: ack.clientOrderId, confirmedBy: 'ack' } })
    else if (ack.status === 'expired') log.append({ type: 'order.expired', data: { venue, clientOrderId: ack.clientOrderId } })
  }

  /**
   * Record the filled quantity the venue reported for an order, where it is more than haltd has
   * (see `recordOrderTotal`); the shutdown's lookups after a cancel answered without it come here
   * too. Whether a fill was recorded.
   */
  recordTotal(venue: string, total: OrderTotal): boolean {
    if (!(total.filled > 0)) return false
    const known = this.orderOf(venue, total.clientOrderId)
    if (known !== undefined && known.filledQty >= total.filled - 1e-12) return false
    return recordOrderTotal(this.options.log, venue, total, known?.price ?? (known && known.avgFillPrice > 0 ? known.avgFillPrice : undefined))
  }

  /**
   * Ask the venue to cancel, and record only what it confirms. `not-found` is checked against
   * the venue's own view of the order; a cancel without an answer is `cancel-unconfirmed`.
   * Throws `CancelRefused` while the gate refuses cancels (a handover under way).
   */
  async cancel(ref: CancelRef, options: { reason?: string; origin?: Origin; timeoutMs?: number } = {}): Promise<CancelOutcome> {
    const outcome = await this.cancelAnswered(ref, options, true)
    return outcome === 'answered-canceled' ? 'canceled' : outcome
  }

  /**
   * A cancel whose "canceled" answer is not recorded as proof (`answered-canceled`): for an order
   * the venue listed open after answering an earlier cancel of it canceled, whose word is not
   * enough any more; the caller confirms it by the venue's list. Every other outcome as `cancel`.
   */
  cancelAwaitingList(ref: CancelRef, options: { reason?: string; origin?: Origin; timeoutMs?: number } = {}): Promise<CancelOutcome | 'answered-canceled'> {
    return this.cancelAnswered(ref, options, false)
  }

  private async cancelAnswered(
    ref: CancelRef,
    options: { reason?: string; origin?: Origin; timeoutMs?: number },
    ackConfirms: boolean,
  ): Promise<CancelOutcome | 'answered-canceled'> {
    const gateway = this.venue(ref.venue)
    const held = this.options.gate.cancelRefusal(options.origin)
    if (held !== undefined) {
      this.refusals++
      throw new CancelRefused(ref, held)
    }
    const { log } = this.options
    const timeoutMs = options.timeoutMs ?? this.cancelTimeoutMs
    const key = { venue: ref.venue, clientOrderId: ref.clientOrderId }
    log.append({ type: 'order.cancel-requested', data: { ...key, reason: options.reason, origin: options.origin } })
    this.cancelling++
    try {
      const result = await withinMs(gateway.cancel(ref), timeoutMs, `cancel timed out after ${timeoutMs} ms`)
      if (result.outcome === 'canceled') {
        if (result.filled !== undefined) this.recordTotal(ref.venue, { clientOrderId: ref.clientOrderId, filled: result.filled, average: result.average })
        if (!ackConfirms) return 'answered-canceled'
        log.append({ type: 'order.canceled', data: { ...key, confirmedBy: 'ack' } })
        return 'canceled'
      }
      if (result.outcome === 'rejected') {
        log.append({ type: 'order.cancel-rejected', data: { ...key, reason: result.reason } })
        return 'rejected'
      }
      const order = await withinMs(gateway.fetchOrder(ref), timeoutMs, `lookup timed out after ${timeoutMs} ms`)
      // what the venue says the order filled is a fact, whether or not its trades ever arrive
      if (order) this.recordTotal(ref.venue, { ...order, clientOrderId: ref.clientOrderId })
      if (order?.status === 'filled') return 'filled'
      if (order && (order.status === 'open' || order.status === 'partially-filled')) return 'open'
      log.append({ type: 'order.canceled', data: { ...key, confirmedBy: 'open-orders' } })
      return 'canceled'
    } catch (e) {
      log.append({ type: 'order.cancel-unconfirmed', data: { ...key, reason: messageOf(e) } })
      return 'unconfirmed'
    } finally {
      this.cancelling--
    }
  }

  close(): void {
    this.offFault()
  }
}

/** An order folded from its own stream through the orders projection's reducer: for a router without the live projections. */
function foldedFrom(log: EventLog): (venue: string, clientOrderId: string) => Order | undefined {
  return (venue, clientOrderId) => {
    let order: Order | undefined
    for (const e of log.read({ stream: orderStream(venue, clientOrderId) })) order = evolveOrder(order, e as OrderFact)
    return order
  }
}
