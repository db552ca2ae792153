import { VenueError, type VenueErrorKind } from '../errors.js'
import { httpStatusOf } from './rate-limit-answers.js'

/**
 * ccxt's error class names onto haltd's VenueError kinds. Errors are recognised by the names of
 * their class chain, not by `instanceof`: an engine may build its exchange from ccxt's CommonJS
 * build (`require('ccxt')`) or another accepted version, whose classes are not haltd's copy.
 * Order matters: the most specific class first (OrderNotFound is an InvalidOrder,
 * RateLimitExceeded a NetworkError, and so on).
 */
const KINDS: ReadonlyArray<[string, VenueErrorKind]> = [
  ['AuthenticationError', 'auth'], // ⊃ PermissionDenied, AccountNotEnabled, AccountSuspended
  ['OrderNotFound', 'not-found'],
  ['NotSupported', 'unsupported'],
  ['ExchangeClosedByUser', 'network'],
  ['ExchangeError', 'rejected'], // BadRequest, BadSymbol, InvalidOrder, InsufficientFunds, OperationRejected, …
  ['RateLimitExceeded', 'rate-limit'],
  ['DDoSProtection', 'rate-limit'],
  ['RequestTimeout', 'timeout'],
  ['ExchangeNotAvailable', 'unavailable'], // ⊃ OnMaintenance
  ['InvalidNonce', 'network'],
  ['NetworkError', 'network'],
  ['BadResponse', 'bad-response'], // ⊃ NullResponse
  ['OperationFailed', 'unavailable'], // the venue's "unknown error, try again" family, CancelPending
]

/** The root every ccxt error class descends from, in every build. */
const CCXT_ROOT = 'BaseError'

/** Names along a class's prototype chain, itself first, up to (not including) Function.prototype. */
export function classNames(cls: unknown): string[] {
  const names: string[] = []
  for (let c = cls; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) names.push((c as { name: string }).name)
  return names
}

/** The class names of a ccxt error, leaf first (`OrderNotFound, InvalidOrder, ExchangeError, BaseError`); empty for anything else. */
export function ccxtChain(e: unknown): readonly string[] {
  if (typeof e !== 'object' || e === null || e instanceof VenueError) return []
  const names = classNames((e as { constructor?: unknown }).constructor)
  return names.includes(CCXT_ROOT) ? names : []
}

const isA = (e: unknown, ...names: string[]): boolean => {
  const chain = ccxtChain(e)
  return names.some((n) => chain.includes(n))
}

/** Binance-style `"code":-2011` inside ccxt's message, kept for the record. */
const venueCodeOf = (message: string): string | undefined => /"code"\s*:\s*"?(-?\d+)/.exec(message)?.[1]

/** The ccxt ids of one venue family: each family's answers read alike whichever of its ids ccxt was made with. */
const BINANCE = ['binance', 'binanceusdm', 'binancecoinm', 'binanceus']
const BYBIT = ['bybit', 'bybiteu', 'bybitid']
const OKX = ['okx', 'okxus', 'myokx']

/**
 * Each venue family's own "system error / busy / timed out, try again" answers that ccxt leaves a
 * refusal class (a plain `ExchangeError`, or `InvalidOrder`/`BadRequest` for a few), by the ccxt
 * ids of the family and the answer in the body ccxt puts after the id in its message. Surveyed in
 * ccxt 4.5.84's exception maps: the answers a venue family maps to `OperationFailed` and its
 * children (Binance -1000 on spot, OKX 50013 and 50026, Kraken's `EService:Busy`, KuCoin 500000)
 * are retryable already and need no entry. The venue failed, it did not refuse: a read is worth
 * another attempt, a book it was listing is not learned refused, and an order sent may or may not
 * have been placed, so it is looked up, never recorded rejected.
 */
const SERVER_ERRORS: readonly { ids: readonly string[]; answer: RegExp }[] = [
  // -1001 internal error (a plain ExchangeError on Portfolio Margin), -1006/-1007 "execution
  // status unknown" (plain ExchangeError on options), and the rest of Binance's server family
  { ids: BINANCE, answer: /"code"\s*:\s*"?(-1000|-1001|-1004|-1006|-1007|-1008)(?!\d)/ },
  // 5004 and 10000 server timeout, 10016 system error, 170001/131201 internal error, 170032 network
  // error, 170146/170147 order creation/cancellation timeout, 170191 "cannot cancel, try again
  // later", 170234 and 340099 system/server error
  {
    ids: BYBIT,
    answer: /"(?:retCode|ret_code)"\s*:\s*"?(5004|10000|10016|131201|170001|170032|170146|170147|170191|170234|340099)(?!\d)/,
  },
  // 63999 internal system error
  { ids: OKX, answer: /"s?[cC]ode"\s*:\s*"?63999(?!\d)/ },
  { ids: ['krakenfutures'], answer: /"(?:error|message)"\s*:\s*"(Server Error|unknownError)"/ },
  { ids: ['coinbase'], answer: /"error"\s*:\s*"internal_server_error"/ },
  // 11094 internal_server_error
  { ids: ['deribit'], answer: /"code"\s*:\s*11094(?!\d)/ },
  // 408000 network timeout (a BadRequest in ccxt)
  { ids: ['kucoin', 'kucoinfutures'], answer: /"code"\s*:\s*"?408000(?!\d)/ },
]

/**
 * Each venue family's own "too many requests / orders" answers that ccxt files as a refusal class
 * rather than `RateLimitExceeded` (Binance -1003 on options and -1015 on Portfolio Margin, Bybit
 * 170005 on spot, OKX 50061 for the account's order rate): a rate limit, to be waited out as any
 * other, holding the venue's calls, never taken for the request's own fault.
 */
const RATE_LIMIT_ANSWERS: readonly { ids: readonly string[]; answer: RegExp }[] = [
  { ids: BINANCE, answer: /"code"\s*:\s*"?(-1003|-1015)(?!\d)/ },
  { ids: BYBIT, answer: /"(?:retCode|ret_code)"\s*:\s*"?170005(?!\d)/ },
  { ids: OKX, answer: /"s?[cC]ode"\s*:\s*"?50061(?!\d)/ },
]

/**
 * Each venue family's own "the order is not open" answers that ccxt files as `InvalidOrder` or a
 * plain refusal rather than `OrderNotFound` (Bybit 110008 finished or canceled, 110010 already
 * cancelled, 170142 canceled, 170143 not on the book; Binance -2011 on options and Portfolio
 * Margin): a cancel answered so did nothing to an order already ended, whose end is for a lookup
 * to tell, as an unknown order's is.
 */
const NOT_OPEN_ANSWERS: readonly { ids: readonly string[]; answer: RegExp }[] = [
  { ids: BINANCE, answer: /"code"\s*:\s*"?-2011(?!\d)/ },
  { ids: BYBIT, answer: /"(?:retCode|ret_code)"\s*:\s*"?(110008|110010|170142|170143)(?!\d)/ },
]

/** Whether a ccxt error filed as a refusal carries one of the venue's answers in `table`. */
function answeredAs(e: unknown, table: readonly { ids: readonly string[]; answer: RegExp }[]): boolean {
  const chain = ccxtChain(e)
  if (!chain.includes('ExchangeError') || chain.includes('OperationFailed')) return false
  const message = String((e as Error).message)
  return table.some(({ ids, answer }) => ids.some((id) => message.startsWith(`${id} `)) && answer.test(message))
}

export const isServerError = (e: unknown): boolean => answeredAs(e, SERVER_ERRORS)

/** The venue's own "that order is not open" answer that ccxt files as a refusal (see `NOT_OPEN_ANSWERS`). */
const isNotOpenAnswer = (e: unknown): boolean => !isA(e, 'OrderNotFound') && answeredAs(e, NOT_OPEN_ANSWERS)

/** The venue's own "too many requests" answer that ccxt files as a refusal (see `RATE_LIMIT_ANSWERS`). */
const isRateAnswer = (e: unknown): boolean => answeredAs(e, RATE_LIMIT_ANSWERS)

const kindOf = (chain: readonly string[]): VenueErrorKind => KINDS.find(([name]) => chain.includes(name))?.[1] ?? 'rejected'

export function toVenueError(venue: string, e: unknown): VenueError {
  if (e instanceof VenueError) return e
  const chain = ccxtChain(e)
  if (chain.length > 0) {
    // a 429 or 418, or a venue's own "too many requests", is a rate limit whatever class ccxt made of it
    const kind = isRateStatus(e) || isRateAnswer(e) ? 'rate-limit' : isServerError(e) ? 'unavailable' : isNotOpenAnswer(e) ? 'not-found' : kindOf(chain)
    const message = String((e as Error).message)
    return new VenueError(venue, kind, `${chain[0]}: ${message}`, { cause: e, venueCode: venueCodeOf(message) })
  }
  // Anything else came from parsing something the venue sent that ccxt did not expect.
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e)
  return new VenueError(venue, 'bad-response', `unexpected ${message}`, { cause: e })
}

/** Worth another attempt for an idempotent call (reads, cancels, arming): ccxt's OperationFailed root. */
export const isRetryable = (e: unknown): boolean => isA(e, 'OperationFailed') || isServerError(e) || (e instanceof VenueError && e.transient)

/** A refusal for a stale timestamp (Binance -1021): the clock needs a resync. */
export const isInvalidNonce = (e: unknown): boolean => isA(e, 'InvalidNonce')

/** HTTP 429 (too many requests) and 418 (Binance: banned for ignoring 429s). */
const RATE_STATUSES = new Set([429, 418])
const isRateStatus = (e: unknown): boolean => RATE_STATUSES.has(httpStatusOf(e) ?? 0)

/** The venue said "too many requests": ccxt's rate-limit classes, or the HTTP status whatever class ccxt chose. */
export const isRateLimited = (e: unknown): boolean =>
  isA(e, 'RateLimitExceeded', 'DDoSProtection') || isRateStatus(e) || isRateAnswer(e) || (e instanceof VenueError && e.kind === 'rate-limit')

/**
 * The venue certainly did not act on the request: it answered with a refusal (an ExchangeError
 * with a code, a 429/418, a stale timestamp). Everything else after a submit (timeouts, dropped
 * connections, 5xx, garbage bodies) leaves the order's fate unknown.
 */
export const isDefiniteRefusal = (e: unknown): boolean =>
  (isA(e, 'ExchangeError', 'DDoSProtection', 'RateLimitExceeded', 'InvalidNonce') && !isServerError(e)) || isRateStatus(e)
