import pTimeout from 'p-timeout'
import type { Clock } from '../events/clock.js'
import type { ExchangeGateway } from '../exchanges/gateway.js'
import type { TickerSource } from '../exchanges/ticker-source.js'
import type { HaltdConfig } from './config.js'
import type { Logger } from './logger.js'
import type { StandbyVenue } from './types.js'
import { buildVenues } from './venues.js'
import { createVenueHealth } from './venue-health.js'

/**
 * A standby's venues, read-only: connected, their market data and order updates taken in as they
 * come, so the connections, the markets and the feeds are warm when it takes over. It records
 * nothing (its log is the leader's, through the stream, and a write of its own would fork it) and it
 * never calls a venue's order methods: it has no router. What it saw shows in its status.
 */
export type StandbyVenues = {
  readonly gateways: ReadonlyMap<string, ExchangeGateway>
  status(): StandbyVenue[]
  /** Let go before taking over: the venues built from the config are closed (the leader builds its own), the embedder's only unsubscribed. */
  release(): Promise<void>
}

type Seen = { connected: boolean; problem?: string; updates: number; lastUpdateAt?: number; ticks: number; lastTickAt?: number }

export async function watchVenues(input: {
  config: Pick<HaltdConfig, 'venues' | 'shutdown' | 'guardian'>
  ports: { gateways?: readonly ExchangeGateway[]; tickerSources?: readonly TickerSource[] }
  clock: Clock
  logger: Logger
}): Promise<StandbyVenues> {
  const { clock, logger } = input
  const seen = new Map<string, Seen>()
  const note = (venue: string) => {
    const known = seen.get(venue)
    if (known) return known
    const s: Seen = { connected: false, updates: 0, ticks: 0 }
    seen.set(venue, s)
    return s
  }
  const onError = (e: unknown) => logger.warn({ err: e }, 'standby: a venue reported an error')
  const { venues, sources } = await buildVenues({
    venues: input.config.venues,
    wholeAccount: input.config.guardian !== undefined,
    gateways: [],
    tickerSources: input.ports.tickerSources ?? [],
    clock,
    health: createVenueHealth({ now: () => clock.now() }),
    onVenueError: onError,
    onError,
  })
  const own = new Set(venues.values())
  for (const gw of input.ports.gateways ?? []) venues.set(gw.venue, gw)

  const offs: (() => void)[] = []
  for (const gw of venues.values()) {
    const s = note(gw.venue)
    offs.push(
      gw.onUpdate(() => {
        s.updates++
        s.lastUpdateAt = clock.now()
      }),
    )
    if (gw.onConnectionChange) {
      offs.push(
        gw.onConnectionChange((c) => {
          s.connected = c.connected
          if (c.connected) delete s.problem
          else s.problem = c.reason
        }),
      )
    }
  }
  await Promise.all(
    [...venues.values()].map(async (gw) => {
      const s = note(gw.venue)
      try {
        await pTimeout(gw.connect(), { milliseconds: input.config.shutdown.graceful.budgets.reconcile ?? 15_000 })
        s.connected = true
      } catch (e) {
        // a venue away does not stop the standby from following: it says so and the leader's startup retries
        s.problem = `connect failed: ${e instanceof Error ? e.message : String(e)}`
        logger.warn({ venue: gw.venue, err: e }, 'standby: venue connect failed')
      }
    }),
  )
  // the embedder's feeds run on its terms: the standby listens, and starts and stops only its own
  const ownSources = sources.slice((input.ports.tickerSources ?? []).length)
  for (const src of sources) {
    const s = note(src.venue)
    offs.push(
      src.onTicker(() => {
        s.ticks++
        s.lastTickAt = clock.now()
      }),
    )
  }
  for (const src of ownSources) src.start()

  return {
    gateways: venues,
    status: () => [...seen].map(([venue, s]) => ({ venue, ...s })),
    async release() {
      for (const off of offs.splice(0)) off()
      for (const src of ownSources) src.stop()
      await Promise.all([...own].map((gw) => gw.close().catch(() => undefined)))
    },
  }
}
