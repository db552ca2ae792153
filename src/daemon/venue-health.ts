import { type ExchangeGateway, VENUE_CALLS } from '../exchanges/gateway.js'
import { isVenueError, UNREACHABLE } from '../exchanges/errors.js'

/** What `/health` and `/status` show for a venue: measured on the calls haltd makes anyway. */
export type VenueLatency = {
  /** Median round trip of the last calls, in ms. */
  latencyMs: number
  /** How many calls the median is taken over. */
  samples: number
  /** When the last call answered (ms since the epoch). */
  lastCallAt: number
}

export type VenueHealth = {
  /**
   * The same gateway with every venue call timed. Connectivity itself comes from the gateway
   * (`onConnectionChange`, recorded by the venue recorder); this only measures round trips.
   */
  wrap(gateway: ExchangeGateway): ExchangeGateway
  latency(venue: string): VenueLatency | undefined
}

const TIMED: ReadonlySet<PropertyKey> = new Set(VENUE_CALLS)

const round = (ms: number) => Math.round(ms * 10) / 10

export function createVenueHealth(input: { now: () => number; window?: number }): VenueHealth {
  const window = input.window ?? 20
  const samples = new Map<string, number[]>()
  const lastCallAt = new Map<string, number>()

  const record = (venue: string, ms: number, error: unknown) => {
    // a call that never reached the venue or never came back says nothing about a round trip
    if (error !== undefined && (!isVenueError(error) || UNREACHABLE.has(error.kind))) return
    const list = samples.get(venue) ?? []
    list.push(ms)
    if (list.length > window) list.shift()
    samples.set(venue, list)
    lastCallAt.set(venue, input.now())
  }

  return {
    wrap(gateway) {
      const venue = gateway.venue
      const cache = new Map<PropertyKey, unknown>()
      return new Proxy(gateway, {
        get(target, prop) {
          const value = Reflect.get(target, prop, target) as unknown
          if (typeof value !== 'function') return value
          const hit = cache.get(prop)
          if (hit) return hit
          const fn = value as (...args: unknown[]) => unknown
          // Bound to the gateway itself: its private fields do not answer to a proxy.
          const wrapped = !TIMED.has(prop)
            ? fn.bind(target)
            : (...args: unknown[]) => {
                const t0 = performance.now()
                const result = fn.apply(target, args)
                if (!(result instanceof Promise)) return result
                return result.then(
                  (ok: unknown) => {
                    record(venue, performance.now() - t0, undefined)
                    return ok
                  },
                  (e: unknown) => {
                    record(venue, performance.now() - t0, e)
                    throw e
                  },
                )
              }
          cache.set(prop, wrapped)
          return wrapped
        },
      })
    },
    latency(venue) {
      const list = samples.get(venue)
      if (!list?.length) return undefined
      const sorted = [...list].sort((a, b) => a - b)
      const mid = sorted.length >> 1
      const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
      return { latencyMs: round(median), samples: list.length, lastCallAt: lastCallAt.get(venue)! }
    },
  }
}
