import type { Exchange } from 'ccxt'
import { timeoutSignal } from '../../events/clock.js'
import { VenueError } from '../errors.js'
import { BackoffGate, DEFAULT_BACKOFF, GateRefusal, type Priority, type Ticket } from './backoff-gate.js'
import { ClockResync } from './clock-resync.js'
import { isInvalidNonce, isRateLimited, isRetryable, toVenueError } from './errors.js'
import { retryAfterOf } from './rate-limit-answers.js'
import { inCall } from './transport-guard.js'

export type RetryPolicy = {
  /** Attempts in all, the first included. */
  attempts: number
  baseDelayMs: number
  maxDelayMs: number
  /** After a rate-limit refusal without `Retry-After`: every call to the venue waits this long, doubling per refusal in a row … */
  rateLimitBaseMs: number
  /** … up to this. */
  rateLimitMaxMs: number
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
  rateLimitBaseMs: DEFAULT_BACKOFF.baseMs,
  rateLimitMaxMs: DEFAULT_BACKOFF.maxMs,
}

/** The wait before `attempt` (1 for the first retry): doubling from the base, at most the policy's cap. */
export const retryDelayMs = (retry: RetryPolicy, attempt: number): number => Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1))

/** `all`: every retryable failure (reads, cancels, arming). `nonce-only`: only a stale-clock refusal (submits). */
export type RetryMode = 'all' | 'nonce-only'

/** Each instance's venue gate, once a gateway has used the instance: others reading the venue (its ticker source) keep to it too. */
const gates = new WeakMap<Exchange, BackoffGate>()
export const backoffGateOf = (exchange: Exchange): BackoffGate | undefined => gates.get(exchange)

/** The calls a shutdown cannot do without go first when a rate-limited venue takes requests again: its mass cancel before anything. */
const PRIORITY: Readonly<Record<string, Priority>> = {
  cancelAllOrders: 0,
  cancel: 1,
  cancelOrders: 1,
  armDeadMansSwitch: 1,
  disarmDeadMansSwitch: 1,
}

/**
 * Runs one gateway call against a ccxt instance: under a deadline that covers ccxt's rate-limiter
 * queue as well as the request (ccxt's own `timeout` covers only the request), retrying with
 * bounded exponential backoff, mapping whatever escapes to a VenueError whose `cause` is ccxt's
 * error. Per venue (one runner per gateway): a rate-limit refusal holds every call at the venue's
 * backoff gate, and a stale-timestamp refusal resyncs the clock once for all calls.
 */
export class CallRunner {
  private readonly gate: BackoffGate
  private readonly clock = new ClockResync()
  /** When each signal made by `deadline()` fires, on `performance.now()`'s clock. */
  private readonly deadlines = new WeakMap<AbortSignal, number>()

  constructor(
    private readonly venue: string,
    private readonly retry: RetryPolicy,
    private readonly callTimeoutMs: number,
    private readonly closing: AbortSignal,
    /** The instance kept for the shutdown (when it is not the main one): its calls go before the engine's. */
    private readonly shutdownExchange?: Exchange,
  ) {
    this.gate = new BackoffGate({ baseMs: retry.rateLimitBaseMs, maxMs: retry.rateLimitMaxMs })
    if (shutdownExchange) {
      this.clock.track(shutdownExchange)
      gates.set(shutdownExchange, this.gate)
    }
  }

  /** A signal that fires at the call's deadline, the caller's own signal, or on close. */
  deadline(callerSignal?: AbortSignal, timeoutMs?: number): AbortSignal {
    const ms = Math.max(1, Math.min(this.callTimeoutMs, timeoutMs ?? Number.POSITIVE_INFINITY))
    const signal = AbortSignal.any([this.closing, timeoutSignal(ms), ...(callerSignal ? [callerSignal] : [])])
    // a call made inside another (a cancel of a cancel-all) keeps the outer call's deadline where it comes first
    const outer = callerSignal ? this.deadlines.get(callerSignal) : undefined
    this.deadlines.set(signal, Math.min(performance.now() + ms, outer ?? Number.POSITIVE_INFINITY))
    return signal
  }

  /** What is left of the time of a signal made by `deadline()` (0 once it fired). */
  remainingMs(signal: AbortSignal): number {
    if (signal.aborted) return 0
    const at = this.deadlines.get(signal)
    return at === undefined ? Number.POSITIVE_INFINITY : Math.max(0, at - performance.now())
  }

  async run<T>(label: string, exchange: Exchange, op: () => Promise<T>, mode: RetryMode, signal: AbortSignal): Promise<T> {
    this.clock.track(exchange)
    gates.set(exchange, this.gate)
    const priority = PRIORITY[label] ?? (exchange === this.shutdownExchange ? 1 : 2)
    const deadlineAt = this.deadlines.get(signal)
    return inCall({ signal, label }, async () => {
      let resynced = false
      for (let attempt = 1; ; attempt++) {
        if (signal.aborted) throw this.abortError(label, signal)
        const ticket = await this.gate.pass(priority, signal, deadlineAt).catch((e: unknown) => {
          throw this.refusalError(label, signal, e)
        })
        const clockGeneration = this.clock.generation
        try {
          const result = await untilAborted(op(), signal, () => this.abortError(label, signal))
          this.gate.settled(ticket, 'answered')
          return result
        } catch (e) {
          const limited = this.report(ticket, e)
          if (e instanceof VenueError && e.cause === ABORTED) throw e
          const nonce = isInvalidNonce(e)
          const again = attempt < this.retry.attempts && !signal.aborted && (mode === 'all' ? limited || isRetryable(e) : nonce && !resynced)
          if (!again) throw toVenueError(this.venue, e)
          if (nonce && !resynced) {
            resynced = true
            // a refusal for a stale timestamp: learn the venue's clock (once for every call refused meanwhile), then ask again
            await this.clock.resync(exchange, clockGeneration)
          } else if (!limited) {
            await sleep(retryDelayMs(this.retry, attempt), signal)
          }
          // after a rate-limit refusal the gate holds the next attempt
          if (signal.aborted) throw this.abortError(label, signal)
        }
      }
    })
  }

  /** Tells the gate how the attempt ended; true when the venue refused it for its rate. */
  private report(ticket: Ticket, e: unknown): boolean {
    if (isRateLimited(e)) {
      this.gate.refused(ticket, retryAfterOf(e))
      return true
    }
    const aborted = e instanceof VenueError && e.cause === ABORTED
    const answered = !aborted && (isInvalidNonce(e) || !['network', 'timeout'].includes(toVenueError(this.venue, e).kind))
    this.gate.settled(ticket, answered ? 'answered' : 'no-answer')
    return false
  }

  private refusalError(label: string, signal: AbortSignal, e: unknown): VenueError {
    if (!(e instanceof GateRefusal)) return toVenueError(this.venue, e)
    if (this.closing.aborted) return new VenueError(this.venue, 'network', `${label}: the gateway is closing`, { cause: ABORTED })
    const held =
      e.waitMs > 0
        ? `the venue asked haltd to slow down (rate limit) and holds its calls for another ${Math.ceil(e.waitMs / 100) / 10} s`
        : 'the venue asked haltd to slow down (rate limit) and holds its calls until it answers a first one'
    const why = e.reason === 'too-late' ? 'past this call’s deadline' : `and this call's deadline passed while it waited (${reasonOf(signal)})`
    return new VenueError(this.venue, 'rate-limit', `${label}: not sent: ${held}, ${why}`, { cause: e, refused: true })
  }

  private abortError(label: string, signal: AbortSignal): VenueError {
    const closed = this.closing.aborted
    return new VenueError(
      this.venue,
      closed ? 'network' : 'timeout',
      closed ? `${label}: the gateway is closing` : `${label}: deadline passed (${reasonOf(signal)})`,
      {
        cause: ABORTED,
      },
    )
  }
}

const ABORTED = Symbol('aborted by deadline')

const reasonOf = (signal: AbortSignal): string => (signal.reason instanceof Error ? signal.reason.message : String(signal.reason))

/** Settles with `p`, or rejects when `signal` fires first (`p` is left to finish on its own). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal, error: () => Error): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined)
    return Promise.reject(error())
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      p.catch(() => undefined)
      reject(error())
    }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = (): void => {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const t = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
