import type { FleetAdmin } from '../backend.js'

/** What the page's fleet panel shows: the fleet as last read (one row per engine, the kill switch), and when. */
export type FleetPanel = { view: unknown; readAt: number | null; error?: string }

/**
 * The fleet for the page, read from NATS in the background at most every `everyMs` while pages
 * ask, never inside a frame: a frame takes the last reading (a slow or unreachable NATS makes the
 * panel older, and says so, but never delays the view). `null` where this haltd is in no fleet.
 */
export function fleetPanel(fleet: () => FleetAdmin | undefined, options: { everyMs?: number; now?: () => number } = {}): () => FleetPanel | null {
  const everyMs = options.everyMs ?? 1_000
  const now = options.now ?? Date.now
  let last: FleetPanel = { view: null, readAt: null }
  let reading = false
  let askedAt = Number.NEGATIVE_INFINITY
  return () => {
    const f = fleet()
    if (!f) return null
    if (!reading && now() - askedAt >= everyMs) {
      reading = true
      askedAt = now()
      f.view()
        .then(
          (view) => {
            last = { view, readAt: now() }
          },
          (e: unknown) => {
            last = { view: last.view, readAt: last.readAt, error: e instanceof Error ? e.message : String(e) }
          },
        )
        .finally(() => {
          reading = false
        })
    }
    return last
  }
}
