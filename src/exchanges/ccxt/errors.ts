import {
  AuthenticationError,
  BadResponse,
  BaseError,
  DDoSProtection,
  ExchangeClosedByUser,
  ExchangeError,
  ExchangeNotAvailable,
  InvalidNonce,
  NetworkError,
  NotSupported,
  OperationFailed,
  OrderNotFound,
  RateLimitExceeded,
  RequestTimeout,
} from 'ccxt'
import { VenueError, type VenueErrorKind } from '../errors.js'

/**
 * ccxt's error classes onto haltd's VenueError kinds. Order matters: the most specific class
 * first (OrderNotFound is an InvalidOrder, RateLimitExceeded a NetworkError, and so on).
 */
const KINDS: ReadonlyArray<[abstract new (...args: never[]) => Error, VenueErrorKind]> = [
  [AuthenticationError, 'auth'], // ⊃ PermissionDenied, AccountNotEnabled, AccountSuspended
  [OrderNotFound, 'not-found'],
  [NotSupported, 'unsupported'],
  [ExchangeClosedByUser, 'network'],
  [ExchangeError, 'rejected'], // BadRequest, BadSymbol, InvalidOrder, InsufficientFunds, OperationRejected, …
  [RateLimitExceeded, 'rate-limit'],
  [DDoSProtection, 'rate-limit'],
  [RequestTimeout, 'timeout'],
  [ExchangeNotAvailable, 'unavailable'], // ⊃ OnMaintenance
  [InvalidNonce, 'network'],
  [NetworkError, 'network'],
  [BadResponse, 'bad-response'], // ⊃ NullResponse
  [OperationFailed, 'unavailable'], // the venue's "unknown error, try again" family, CancelPending
]

/** Binance-style `"code":-2011` inside ccxt's message, kept for the record. */
const venueCodeOf = (message: string): string | undefined => /"code"\s*:\s*"?(-?\d+)/.exec(message)?.[1]

export function toVenueError(venue: string, e: unknown): VenueError {
  if (e instanceof VenueError) return e
  if (e instanceof BaseError) {
    const kind = KINDS.find(([cls]) => e instanceof cls)?.[1] ?? 'rejected'
    return new VenueError(venue, kind, `${e.constructor.name}: ${e.message}`, { cause: e, venueCode: venueCodeOf(e.message) })
  }
  // Anything else came from parsing something the venue sent that ccxt did not expect.
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e)
  return new VenueError(venue, 'bad-response', `unexpected ${message}`, { cause: e })
}

/** Worth another attempt for an idempotent call (reads, cancels, arming): ccxt's OperationFailed root. */
export const isRetryable = (e: unknown): boolean => e instanceof OperationFailed || (e instanceof VenueError && e.transient)

/**
 * The venue certainly did not act on the request: it answered with a refusal (an ExchangeError
 * with a code, a 429/418, a stale timestamp). Everything else after a submit (timeouts, dropped
 * connections, 5xx, garbage bodies) leaves the order's fate unknown.
 */
export const isDefiniteRefusal = (e: unknown): boolean =>
  e instanceof ExchangeError || e instanceof DDoSProtection || e instanceof RateLimitExceeded || e instanceof InvalidNonce
