import pTimeout from 'p-timeout'
import { HaltdError } from '../events/errors.js'
import type { Clock } from '../events/clock.js'
import type { ExchangeGateway } from '../exchanges/gateway.js'
import { UNREACHABLE, VenueError } from '../exchanges/errors.js'
import { SimExchange, SimStateUnsaved } from '../exchanges/sim/index.js'
import type { TickerSource } from '../exchanges/ticker-source.js'
import { simTickerSource } from '../exchanges/sim/ticker-source.js'
import { applyUrlOverrides } from '../exchanges/ccxt/endpoints.js'
import type { HaltdState } from '../projections/index.js'
import type { EventLog } from '../core/log/event-log.js'
import type { HaltdConfig, VenueConfig } from './config.js'
import type { Logger } from './logger.js'
import { createVenueHealth, type VenueHealth } from './venue-health.js'

/** Bad input in the config that only shows once it is used (an unknown ccxt exchange id). */
export class VenueSetupFailed extends HaltdError {
  constructor(
    readonly venue: string,
    detail: string,
  ) {
    super('VENUE_SETUP_FAILED', `venue '${venue}': ${detail}`)
  }
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** Venue errors reported, and counted by the risk monitor once it is wired in. */
export type VenueErrors = { onVenueError(e: unknown): void; countWith(note: () => void): void }

/**
 * Where a venue's own background failures go (its order stream, its polling). They count toward
 * the risk monitor's error burst, like the rejects and unconfirmed cancels the log already shows:
 * the answers a reachable venue gives (rate limits, bad responses, refusals), each time. A venue
 * that cannot be reached counts once, as its `venue.disconnected`; the retries while the outage
 * lasts are not counted again, so a short network blip does not read as a burst. Ticker polls
 * are left out: a feed that stays dead is the feed-loss trigger's to notice.
 */
export function createVenueErrors(onError: (e: unknown) => void): VenueErrors {
  // the risk monitor is built after the venues: until it is wired in, errors are only reported
  let noteVenueError = () => {}
  return {
    onVenueError(e) {
      onError(e)
      if (e instanceof VenueError && !UNREACHABLE.has(e.kind)) noteVenueError()
    },
    countWith(note) {
      noteVenueError = note
    },
  }
}

/**
 * This run's venues: the config's and the embedder's (`buildVenues`), every call timed by `health`,
 * their background errors reported through `errors` (counted once the risk monitor is wired in).
 * Their connections close with the daemon's cleanups.
 */
export async function createVenues(input: {
  config: Pick<HaltdConfig, 'venues' | 'guardian'>
  ports: { gateways?: readonly ExchangeGateway[]; tickerSources?: readonly TickerSource[] }
  clock: Clock
  onError: (e: unknown) => void
  cleanups: { push(cleanup: () => unknown): void }
}): Promise<{ venues: Map<string, ExchangeGateway>; sources: TickerSource[]; health: VenueHealth; errors: VenueErrors }> {
  const { clock, onError } = input
  const health = createVenueHealth({ now: () => clock.now() })
  const errors = createVenueErrors(onError)
  const { venues, sources } = await buildVenues({
    venues: input.config.venues,
    // a guardian follows the engine's whole account, not only the markets it watches prices of
    wholeAccount: input.config.guardian !== undefined,
    gateways: input.ports.gateways ?? [],
    tickerSources: input.ports.tickerSources ?? [],
    clock,
    health,
    onVenueError: errors.onVenueError,
    onError,
  })
  input.cleanups.push(() => Promise.all([...venues.values()].map((g) => g.close().catch(() => undefined))))
  return { venues, sources, health, errors }
}

/**
 * The venues of the config (sim or ccxt) and then the embedder's gateways, each wrapped so every
 * call is timed (/health and /status show a recent latency, not the startup connect's), with the
 * ticker sources that feed market data.
 */
export async function buildVenues(input: {
  venues: HaltdConfig['venues']
  /** The config's ccxt venues list open orders and positions account-wide where they can (`CcxtGateway`'s `wholeAccount`). */
  wholeAccount?: boolean
  gateways: readonly ExchangeGateway[]
  tickerSources: readonly TickerSource[]
  clock: Clock
  health: VenueHealth
  onVenueError: (e: unknown) => void
  onError: (e: unknown) => void
}): Promise<{ venues: Map<string, ExchangeGateway>; sources: TickerSource[] }> {
  const { clock, health } = input
  const venues = new Map<string, ExchangeGateway>()
  const sources: TickerSource[] = [...input.tickerSources]
  for (const v of input.venues) {
    if (v.kind === 'sim') {
      const { kind: _k, name, feedMs, ...sim } = v
      // a state file fallen behind is said, not only kept in `unsaved`: a restart then would find the venue as it was
      const gw = new SimExchange({ ...sim, venue: name, clock, onUnsaved: (why) => input.onError(new SimStateUnsaved(why)) })
      venues.set(name, health.wrap(gw))
      sources.push(
        simTickerSource(
          gw,
          v.symbols.map((s) => s.symbol),
          feedMs,
        ),
      )
    } else {
      const { gateway, tickers } = await ccxtVenue(v, clock, input.wholeAccount ?? false, { gateway: input.onVenueError, tickers: input.onError })
      venues.set(v.name, health.wrap(gateway))
      // an embedder's own feed for this venue wins over polling
      if (tickers && !sources.some((s) => s.venue === v.name)) sources.push(tickers)
    }
  }
  for (const gw of input.gateways) {
    if (venues.has(gw.venue)) throw new VenueSetupFailed(gw.venue, 'configured twice (in the config and as a gateway)')
    venues.set(gw.venue, health.wrap(gw))
  }
  return { venues, sources }
}

async function ccxtVenue(
  v: Extract<VenueConfig, { kind: 'ccxt' }>,
  clock: Clock,
  wholeAccount: boolean,
  onError: { gateway: (e: unknown) => void; tickers: (e: unknown) => void },
): Promise<{ gateway: ExchangeGateway; tickers: TickerSource | undefined }> {
  // the default export: the namespace's own `exchanges` is the class map, not the list of ids
  const ccxt = (await import('ccxt')).default as unknown as Record<string, unknown> & { exchanges: string[] }
  const ctor = (ccxt as Record<string, unknown>)[v.exchange] as (new (o: Record<string, unknown>) => import('ccxt').Exchange) | undefined
  if (!ccxt.exchanges.includes(v.exchange) || typeof ctor !== 'function') throw new VenueSetupFailed(v.name, `ccxt has no exchange '${v.exchange}'`)
  const make = () => {
    const ex = new ctor({
      enableRateLimit: true,
      ...v.options,
      ...(v.apiKey ? { apiKey: v.apiKey } : {}),
      ...(v.secret ? { secret: v.secret } : {}),
      ...(v.password ? { password: v.password } : {}),
      ...(v.uid ? { uid: v.uid } : {}),
    })
    if (v.sandbox) ex.setSandboxMode(true)
    paceByTheMinute(ex)
    const problems = v.urls ? applyUrlOverrides(ex, v.urls) : []
    if (problems.length > 0) throw new VenueSetupFailed(v.name, `urls: ${problems.join('; ')}`)
    return ex
  }
  const { CcxtGateway } = await import('../exchanges/ccxt/gateway.js')
  const { paceByTheMinute } = await import('../exchanges/ccxt/minute-pace.js')
  const { defaultTypeOf } = await import('../exchanges/ccxt/capabilities.js')
  const main = make()
  const type = defaultTypeOf(main)
  if (!v.symbols.length && (type === 'spot' || type === 'margin')) {
    // a spot account has no positions to read: its symbols are what haltd lists, cancels and watches
    throw new VenueSetupFailed(
      v.name,
      `a ${v.exchange} ${type} venue needs \`symbols\` (the markets haltd lists open orders on, cancels in and polls prices of, e.g. ["BTC/USDT"]); or set options.defaultType to a derivatives type (swap, future)`,
    )
  }
  const { whySymbolsAreNeeded } = await import('../exchanges/ccxt/instance-check.js')
  const why = v.symbols.length ? undefined : whySymbolsAreNeeded(main)
  if (why) throw new VenueSetupFailed(v.name, `${why}: list the symbols haltd watches there in "symbols"`)
  const gateway = new CcxtGateway({
    venue: v.name,
    exchange: main,
    shutdownExchange: make(),
    ...(v.symbols.length ? { symbols: v.symbols } : {}),
    ...(wholeAccount ? { wholeAccount } : {}),
    clock,
    onError: onError.gateway,
  })
  if (!v.symbols.length) return { gateway, tickers: undefined }
  // market data polls on its own instance, so it never shares a rate-limit queue with order entry
  const { ccxtTickerSource } = await import('../exchanges/ccxt/ticker-source.js')
  const { backoffGateOf } = await import('../exchanges/ccxt/call-runner.js')
  return {
    gateway,
    tickers: ccxtTickerSource({
      venue: v.name,
      exchange: make(),
      symbols: v.symbols,
      pollMs: v.tickerPollMs,
      clock,
      onError: onError.tickers,
      gate: () => backoffGateOf(main),
    }),
  }
}

/** Connect every venue at once, each within the budget; the outcome of each is in the log. */
export async function connectVenues(log: EventLog, venues: ReadonlyMap<string, ExchangeGateway>, budgetMs: number, logger: Logger): Promise<void> {
  await Promise.all(
    [...venues.values()].map(async (gw) => {
      const t0 = performance.now()
      try {
        await pTimeout(gw.connect(), { milliseconds: budgetMs })
        log.append({ type: 'venue.connected', data: { venue: gw.venue, latencyMs: Math.round((performance.now() - t0) * 10) / 10 } })
      } catch (e) {
        log.append({ type: 'venue.disconnected', data: { venue: gw.venue, reason: `connect failed: ${messageOf(e)}` } })
        logger.error({ venue: gw.venue, err: e }, 'venue connect failed')
      }
    }),
  )
}

/** The venues the log last saw connected. */
export function connectedVenues(venues: ReadonlyMap<string, ExchangeGateway>, state: HaltdState): ExchangeGateway[] {
  return [...venues.values()].filter((gw) => state.venues.get(gw.venue)?.connected === true)
}
