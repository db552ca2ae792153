import type { Exchange } from 'ccxt'
import { VenueError } from '../errors.js'
import { isInvalidNonce, isRetryable, toVenueError } from './errors.js'
import { inCall } from './transport-guard.js'

export type RetryPolicy = {
  /** Attempts in all, the first included. */
  attempts: number
  baseDelayMs: number
  maxDelayMs: number
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 }

/** `all`: every retryable failure (reads, cancels, arming). `nonce-only`: only a stale-clock refusal (submits). */
export type RetryMode = 'all' | 'nonce-only'

/**
 * Runs one gateway call against a ccxt instance: under a deadline that covers ccxt's rate-limiter
 * queue as well as the request (ccxt's own `timeout` covers only the request), retrying with
 * bounded exponential backoff, resyncing the clock once on `InvalidNonce`, and mapping whatever
 * escapes to a VenueError whose `cause` is ccxt's error.
 */
export class CallRunner {
  constructor(
    private readonly venue: string,
    private readonly retry: RetryPolicy,
    private readonly callTimeoutMs: number,
    private readonly closing: AbortSignal,
  ) {}

  /** A signal that fires at the call's deadline, the caller's own signal, or on close. */
  deadline(callerSignal?: AbortSignal): AbortSignal {
    return AbortSignal.any([this.closing, AbortSignal.timeout(this.callTimeoutMs), ...(callerSignal ? [callerSignal] : [])])
  }

  async run<T>(label: string, exchange: Exchange, op: () => Promise<T>, mode: RetryMode, signal: AbortSignal): Promise<T> {
    return inCall({ signal, label }, async () => {
      let resynced = false
      for (let attempt = 1; ; attempt++) {
        try {
          return await untilAborted(op(), signal, () => this.abortError(label, signal))
        } catch (e) {
          if (e instanceof VenueError && e.cause === ABORTED) throw e
          const nonce = isInvalidNonce(e)
          const again = attempt < this.retry.attempts && !signal.aborted && (mode === 'all' ? isRetryable(e) : nonce && !resynced)
          if (!again) throw toVenueError(this.venue, e)
          if (nonce && !resynced) {
            resynced = true
            // a refusal for a stale timestamp: learn the venue's clock, then ask again
            await exchange.loadTimeDifference().catch(() => undefined)
          } else {
            await sleep(Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1)), signal)
          }
          if (signal.aborted) throw this.abortError(label, signal)
        }
      }
    })
  }

  private abortError(label: string, signal: AbortSignal): VenueError {
    const closed = this.closing.aborted
    const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason)
    return new VenueError(this.venue, closed ? 'network' : 'timeout', closed ? `${label}: the gateway is closing` : `${label}: deadline passed (${reason})`, {
      cause: ABORTED,
    })
  }
}

const ABORTED = Symbol('aborted by deadline')

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
