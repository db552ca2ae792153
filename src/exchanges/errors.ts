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

/** Kinds that say the venue did not act on the request, whatever the request was. */
const REFUSALS: ReadonlySet<VenueErrorKind> = new Set(['auth', 'rejected', 'unsupported'])

export class VenueError extends HaltdError {
  constructor(
    readonly venue: string,
    readonly kind: VenueErrorKind,
    message: string,
    options?: { cause?: unknown; venueCode?: string; refused?: boolean },
  ) {
    super(`VENUE_${kind.toUpperCase().replace('-', '_')}`, `${venue}: ${message}`, options)
    this.venueCode = options?.venueCode
    this.refused = options?.refused ?? REFUSALS.has(kind)
    this.detail = message
  }
  readonly venueCode: string | undefined
  /**
   * The venue certainly did not act on the request: it refused it (a rejection, a 429, a stale
   * timestamp), or it was never sent. A submit that failed so placed no order.
   */
  readonly refused: boolean
  /** The message without the venue's name before it. */
  readonly detail: string
  get transient(): boolean {
    return TRANSIENT.has(this.kind)
  }
  /** The same failure, known to be a refusal. */
  asRefusal(): VenueError {
    if (this.refused) return this
    return new VenueError(this.venue, this.kind, this.detail, { cause: this.cause, ...(this.venueCode ? { venueCode: this.venueCode } : {}), refused: true })
  }
}

export function isVenueError(e: unknown, kind?: VenueErrorKind): e is VenueError {
  return e instanceof VenueError && (kind === undefined || e.kind === kind)
}
