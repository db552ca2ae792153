/** What the HTTP answer behind a ccxt error said about the rate: its status and how long to wait. */
type Answer = { status: number; retryAfterMs: number | undefined }

const answers = new WeakMap<object, Answer>()

type HeadersLike = { get?: (name: string) => string | null } & Record<string, unknown>
type ResponseLike = { status?: number; headers?: HeadersLike }
type HandleRestResponse = (response: ResponseLike, ...rest: unknown[]) => unknown

/** `Retry-After` as seconds or as an HTTP date, in ms from `nowMs`; undefined when absent or unreadable. */
export function parseRetryAfter(value: unknown, nowMs = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs)
}

const headerOf = (headers: HeadersLike | undefined, name: string): unknown => {
  if (!headers) return undefined
  if (typeof headers.get === 'function') return headers.get(name) ?? undefined
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name)
  return key === undefined ? undefined : headers[key]
}

/**
 * Wraps the instance's `handleRestResponse` (where ccxt reads an HTTP answer and throws its
 * error) so that the error it throws carries the answer's status and `Retry-After`, which ccxt
 * itself drops. Returns the function that restores the original.
 */
export function noteRateLimitAnswers(exchange: object): () => void {
  const target = exchange as { handleRestResponse?: HandleRestResponse }
  const original = target.handleRestResponse
  if (typeof original !== 'function') return () => undefined
  const noted: HandleRestResponse = function (this: unknown, response, ...rest) {
    const record = (e: unknown): never => {
      if (typeof e === 'object' && e !== null && typeof response?.status === 'number') {
        answers.set(e, { status: response.status, retryAfterMs: parseRetryAfter(headerOf(response.headers, 'retry-after')) })
      }
      throw e
    }
    try {
      const result = original.call(this, response, ...rest)
      return result instanceof Promise ? result.catch(record) : result
    } catch (e) {
      return record(e)
    }
  }
  target.handleRestResponse = noted
  return () => {
    if (target.handleRestResponse === noted) target.handleRestResponse = original
  }
}

/** The HTTP status of the answer behind a ccxt error, where one came. */
export const httpStatusOf = (e: unknown): number | undefined => (typeof e === 'object' && e !== null ? answers.get(e)?.status : undefined)

/**
 * The longest wait a venue's answer can impose before haltd asks again (one probe), in ms. A
 * `Retry-After` of years, or a ban's end in 2286, would otherwise shut haltd off from the venue:
 * no dead man's switch refresh, no observation, no emergency cancel. A venue still banning haltd
 * when the probe goes says so again, so haltd asks at most once per this span meanwhile.
 */
export const MAX_NAMED_WAIT_MS = 120_000

/** How long the venue asked to wait: its `Retry-After`, or a ban's end named in the body (Binance 418 "banned until <ms>"), at most MAX_NAMED_WAIT_MS. */
export function retryAfterOf(e: unknown, nowMs = Date.now()): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined
  const fromHeader = answers.get(e)?.retryAfterMs
  if (fromHeader !== undefined) return Math.min(fromHeader, MAX_NAMED_WAIT_MS)
  const until = /banned until (\d{13,})/.exec(String((e as { message?: unknown }).message))?.[1]
  return until === undefined ? undefined : Math.min(Math.max(0, Number(until) - nowMs), MAX_NAMED_WAIT_MS)
}
