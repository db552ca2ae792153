import { HaltdError } from '../events/errors.js'

/**
 * What went wrong at a venue, in the terms a shutdown decides on. Every gateway maps its
 * library's errors onto these kinds, so callers never look at ccxt's classes.
 *
 * - network, timeout, rate-limit, unavailable, bad-response: transient; safe to retry a read or a
 *   cancel. A submit that failed this way may still have reached the venue: reconcile by client
 *   order id, never re-send blindly.
 * - auth: credentials or permissions; never retried.
 * - rejected: the venue refused this request (invalid order, insufficient funds, reduce-only
 *   would increase the position); retrying the same request is pointless.
 * - not-found: the venue does not know the order (for a cancel: confirm with fetchOpenOrders).
 * - unsupported: the venue has no such feature.
 */
export type VenueErrorKind = 'network' | 'timeout' | 'rate-limit' | 'unavailable' | 'bad-response' | 'auth' | 'rejected' | 'not-found' | 'unsupported'

/** Failures that mean the venue could not be reached (or never answered), as opposed to an answer it gave. */
export const UNREACHABLE: ReadonlySet<VenueErrorKind> = new Set(['network', 'timeout', 'unavailable'])

const TRANSIENT: ReadonlySet<VenueErrorKind> = new Set(['network', 'timeout', 'rate-limit', 'unavailable', 'bad-response'])

export class VenueError extends HaltdError {
  constructor(
    readonly venue: string,
    readonly kind: VenueErrorKind,
    message: string,
    options?: { cause?: unknown; venueCode?: string },
  ) {
    super(`VENUE_${kind.toUpperCase().replace('-', '_')}`, `${venue}: ${message}`, options)
    this.venueCode = options?.venueCode
  }
  readonly venueCode: string | undefined
  get transient(): boolean {
    return TRANSIENT.has(this.kind)
  }
}

export function isVenueError(e: unknown, kind?: VenueErrorKind): e is VenueError {
  return e instanceof VenueError && (kind === undefined || e.kind === kind)
}
