import { AsyncLocalStorage } from 'node:async_hooks'
import { BadResponse, RequestTimeout, type Exchange } from 'ccxt'
import { noteRateLimitAnswers } from './rate-limit-answers.js'

/** What a gateway call carries down to the HTTP layer: its deadline and a name for errors. */
export type CallContext = { signal: AbortSignal; label: string }

const current = new AsyncLocalStorage<CallContext>()

/** Runs `fn` as a gateway call: requests it makes are guarded and honour `ctx.signal`. */
export const inCall = <T>(ctx: CallContext, fn: () => Promise<T>): Promise<T> => current.run(ctx, fn)

/**
 * Runs `fn` outside any gateway call. Long-lived work (stream loops, and the timers ccxt starts
 * inside them, such as listen-key keep-alives) must not inherit one call's deadline.
 */
export const outsideCall = <T>(fn: () => T): T => current.exit(fn)

type FetchFn = (url: string, method?: string, headers?: unknown, body?: unknown) => Promise<unknown>

const isEmptyObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0

/**
 * Wraps `exchange.fetch` (ccxt's one HTTP seam, after status and error-code handling) so that,
 * for requests made inside a gateway call:
 *
 * - a request still waiting in ccxt's rate-limiter queue when the caller's deadline passes is
 *   never sent (the queue is not covered by ccxt's own `timeout`);
 * - an HTTP 200 whose body is not JSON (a maintenance page, an empty body) raises `BadResponse`
 *   instead of reaching ccxt's parsers, which would turn the characters into bogus orders;
 * - an empty `{}` raises `BadResponse` instead of reading as "no open orders" or "no positions".
 *
 * Rate-limit answers keep their status and `Retry-After` (`rate-limit-answers.ts`).
 *
 * Requests the trading engine makes on the same instance outside gateway calls pass untouched.
 * Returns the function that restores the original.
 */
export function guardTransport(exchange: Exchange): () => void {
  const target = exchange as unknown as { fetch: FetchFn }
  const original = target.fetch
  const guarded: FetchFn = async function (this: unknown, url, method = 'GET', headers, body) {
    const ctx = current.getStore()
    if (!ctx) return original.call(this, url, method, headers, body)
    if (ctx.signal.aborted) {
      throw new RequestTimeout(`${exchange.id} ${method} ${url} not sent: the ${ctx.label} deadline passed while it waited in the rate limiter`)
    }
    const response = await original.call(this, url, method, headers, body)
    if (typeof response === 'string') {
      const excerpt = response.length > 80 ? `${response.slice(0, 80)}…` : response
      throw new BadResponse(`${exchange.id} ${method} ${url} answered with a body that is not JSON: ${JSON.stringify(excerpt)}`)
    }
    if (response === undefined || response === null || isEmptyObject(response)) {
      throw new BadResponse(`${exchange.id} ${method} ${url} answered with an empty body`)
    }
    return response
  }
  target.fetch = guarded
  const restoreAnswers = noteRateLimitAnswers(exchange)
  return () => {
    if (target.fetch === guarded) target.fetch = original
    restoreAnswers()
  }
}
