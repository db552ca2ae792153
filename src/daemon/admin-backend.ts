import pTimeout from 'p-timeout'
import type { ShutdownMode, Origin } from '../events/primitives.js'
import type { ExchangeGateway } from '../exchanges/gateway.js'
import { inFlight, openOrders, pnl, positions, reconciliation, type HaltdState } from '../projections/index.js'
import type { ActionRequest, AdminBackend, FleetAdmin, Health } from '../admin/backend.js'
import { dashboardView, type StatusPart } from '../admin/dashboard/view.js'
import { type HandoverView, watchHandovers } from '../admin/dashboard/handover-view.js'
import type { Clock } from '../events/clock.js'
import type { EventLog } from '../core/log/event-log.js'
import type { OrderGate } from '../core/execution/gate.js'
import type { OrderRouter } from '../core/execution/order-router.js'
import type { RiskMonitor } from '../core/risk/index.js'
import type { MarketData } from './market-data.js'
import type { VenueHealth } from './venue-health.js'
import { daemonMetrics, sampleProcess } from './metrics.js'
import type { ReplicationStatus } from '../cluster/replication/publisher.js'
import { watchEventLoop, type EventLoopLag } from './event-loop.js'
import { HaltdError } from '../events/errors.js'
import { LogWriteFailed } from '../core/log/errors.js'
import type { DrainController } from '../core/execution/drain.js'
import { observeVenue } from '../core/execution/venue-recorder.js'
import type { PauseController } from '../core/execution/pause.js'
import { startAdminServer, type AdminServer } from '../admin/server.js'
import type { Route } from '../admin/route.js'
import { adminInfoPath, removeAdminInfo, writeAdminInfo } from '../admin/info-file.js'
import type { HaltdConfig } from './config.js'
import type { ShutdownController } from '../core/shutdown/controller.js'
import type { Cleanups, DaemonLifecycle } from './lifecycle.js'
import type { Logger } from './logger.js'

export type AdminBackendInput = {
  log: EventLog
  /** The first write the log could not make this run (a full disk, an I/O error), if any. */
  logFault?: () => string | undefined
  state: () => HaltdState
  status: () => unknown
  router: OrderRouter
  risk: RiskMonitor
  drain: DrainController
  pause: PauseController
  /** How long a started drain waits for in-flight orders before it records itself timed out. */
  drainWaitMs: number
  /** How long `/reconciliation` waits for a venue's fresh open orders and positions. */
  observeTimeoutMs?: number
  onError: (e: unknown) => void
  venues: ReadonlyMap<string, ExchangeGateway>
  venueHealth: VenueHealth
  marketData: MarketData
  gate: OrderGate
  clock: Clock
  startedAt: number
  requestShutdown: (r: { mode: ShutdownMode; reason: string; origin: Origin; by: string }) => unknown
  shuttingDown: () => boolean
  lifecycle: () => string
  /** The log's way to the engine's stream, when replication is configured. */
  replication?: () => (ReplicationStatus & { mode: string }) | undefined
  /** Why this haltd no longer leads its engine (its lease taken or expired), when it has a failover section. */
  leadershipLost?: () => string | undefined
  /** Why this haltd cannot say it still leads (its lease not renewed in time, neither lost nor given up), when it has a failover section. */
  leaseUnrenewed?: () => string | undefined
  /** This engine in its fleet, when it has one: whether it sees it, and why not. */
  fleet?: () => { seen: boolean; since: string; problem?: string } | undefined
  fleetAdmin?: () => FleetAdmin | undefined
  /** A planned handover to a standby. */
  handover?: (r: { to: string; reason: string; by?: string }) => unknown
  /** Which optional controls this daemon has now (a standby to hand over to, a fleet): the page offers them only then. */
  controls?: () => { handover: boolean; fleet: boolean }
  /** The latest handover's timeline, for the page. */
  handoverView?: () => HandoverView | null
  /** This haltd's reading of the event loop's lag since the last scrape. */
  eventLoopLag?: () => EventLoopLag
}

/**
 * The events of most actions have no `by` field: who asked leads the reason, so the log says it
 * and no clipping of a long reason drops it (a reason cannot say `[by …]` itself).
 */
export const reasonWithBy = (r: { reason: string; by: string }): string => `[by ${r.by}] ${r.reason}`

/** The admin API over a running daemon: reads from the projections, actions through the same paths the daemon uses. */
export function createAdminBackend(d: AdminBackendInput): AdminBackend {
  /**
   * Each venue's observation for /reconciliation while it is under way: readers asking together (a
   * dashboard, scripts) share it, since each costs the venue's rate limit and two events in the
   * log; a request after it has ended asks again. Resolves with what went wrong, if anything.
   */
  const asking = new Map<string, Promise<string | undefined>>()
  const refuseDuringShutdown = (what: string) => {
    if (d.shuttingDown()) throw new HaltdError('SHUTTING_DOWN', `cannot ${what}: a shutdown is under way`)
  }
  const withBy = (r: ActionRequest): ActionRequest => ({ ...r, reason: reasonWithBy(r) })
  const health = (): Health => {
    const s = d.state()
    const logError = d.logFault?.()
    const logOk = !d.log.isClosed && logError === undefined
    const venues = [...d.venues.keys()].map((venue) => {
      const v = s.venues.get(venue)
      // The recent calls' median when there are any; before the first, the connect's own time.
      const measured = d.venueHealth.latency(venue)
      return {
        venue,
        connected: v?.connected === true,
        ...(measured
          ? { latencyMs: measured.latencyMs, latencySamples: measured.samples, lastCallAt: new Date(measured.lastCallAt).toISOString() }
          : v?.latencyMs !== undefined
            ? { latencyMs: v.latencyMs, latencySamples: 0 }
            : {}),
        ...(v?.disconnectReason ? { lastError: v.disconnectReason } : {}),
      }
    })
    const lifecycle = d.lifecycle()
    const replication = replicationHealth(d.replication?.())
    const lost = d.leadershipLost?.()
    // cut off from NATS it cannot know whether another instance took the lease: not healthy, and said so as what it knows
    const unrenewed = lost === undefined ? d.leaseUnrenewed?.() : undefined
    const leadership =
      lost !== undefined
        ? `this haltd no longer leads its engine: ${lost}`
        : unrenewed !== undefined
          ? `this haltd cannot confirm it still leads its engine: ${unrenewed}; it sends no order until it renews, and another instance may take the lease once it expires`
          : undefined
    const ok =
      logOk &&
      leadership === undefined &&
      replication.replication?.ok !== false &&
      (lifecycle === 'shutting-down' || lifecycle === 'stopped' || venues.every((v) => v.connected))
    return {
      ok,
      state: lifecycle,
      log: {
        ok: logOk,
        lastSeq: d.log.lastSeq,
        lastEventAt: s.ts ? new Date(s.ts).toISOString() : null,
        ...(logError !== undefined ? { error: logError, problem: 'the event log cannot be written: haltd is HALTED' } : {}),
        ...(d.log.isClosed ? { problem: 'the event log is closed' } : {}),
      },
      venues,
      marketData: { running: d.marketData.running, ticks: Object.fromEntries(d.marketData.ticks) },
      ...replication,
      ...(leadership !== undefined ? { leadership: { ok: false, problem: leadership } } : {}),
      ...fleetHealth(d.fleet?.()),
    }
  }
  return {
    log: d.log,
    // a fenced gate (a handover under way or done, a lease not renewed) means this haltd may no longer write its log
    recordRefused: (data) => {
      const fenced = d.gate.fenced
      if (fenced !== undefined) throw new HaltdError('LOG_FENCED', `the log takes nothing while the gate is fenced: ${fenced}`)
      d.log.append({ type: 'access.refused', data })
    },
    get fleet() {
      return d.fleetAdmin?.()
    },
    health,
    status: () => d.status(),
    dashboard: () =>
      dashboardView({
        state: d.state(),
        status: d.status() as StatusPart,
        venues: health().venues,
        risk: d.risk.status().readings,
        now: d.clock.now(),
        since: d.startedAt,
        ...(d.controls ? { controls: d.controls() } : {}),
        ...(d.handoverView ? { handover: d.handoverView() } : {}),
      }),
    metrics: () =>
      daemonMetrics({
        state: d.state(),
        lastSeq: d.log.lastSeq,
        startedAt: d.startedAt,
        now: d.clock.now(),
        lifecycle: d.lifecycle(),
        gateHalted: d.gate.halted,
        gateRefusals: d.router.refusedCount,
        ticks: d.marketData.ticks,
        shuttingDown: d.shuttingDown(),
        replication: d.replication?.(),
        process: sampleProcess(d.eventLoopLag?.()),
        latencyMs: new Map(
          [...d.venues.keys()].flatMap((v) => {
            const l = d.venueHealth.latency(v)
            return l ? [[v, l.latencyMs] as const] : []
          }),
        ),
      }),
    positions: () => ({ positions: positions(d.state()), pnl: pnl(d.state()) }),
    orders: () => ({ open: openOrders(d.state()) }),
    // Against what the venues hold now: the last observation may be from startup, and a
    // position that has traded since would read as a mismatch that is not there.
    reconciliation: async () => {
      /** The venue observed now, or by the ask another reader has under way: what went wrong, if anything. */
      const askNow = (gw: ExchangeGateway, ms: number): Promise<string | undefined> => {
        const under = asking.get(gw.venue)
        if (under !== undefined) return under
        const outcome = pTimeout(observeVenue(d.log, gw, { openOrders: true, positions: true }), { milliseconds: ms, message: `no answer within ${ms} ms` })
          .then(
            () => undefined,
            (e: unknown) => (e instanceof Error ? e.message : String(e)),
          )
          .finally(() => asking.delete(gw.venue))
        asking.set(gw.venue, outcome)
        return outcome
      }
      const observed: Record<string, string> = {}
      const unanswered = new Map<string, string>()
      const lifecycle = d.lifecycle()
      const ms = d.observeTimeoutMs ?? 5_000
      await Promise.all(
        [...d.venues.values()].map(async (gw) => {
          if (lifecycle !== 'running' && lifecycle !== 'halted') {
            observed[gw.venue] = `not asked: haltd is ${lifecycle}`
            return
          }
          if (d.state().venues.get(gw.venue)?.connected !== true) {
            observed[gw.venue] = 'not asked: the venue is disconnected'
            return
          }
          const why = await askNow(gw, ms)
          if (why === undefined) observed[gw.venue] = 'asked now'
          else {
            observed[gw.venue] = `asked, no answer: ${why}`
            unanswered.set(gw.venue, why)
          }
        }),
      )
      // a venue asked now that did not answer is UNVERIFIED, whatever an older observation said
      return { ...reconciliation(d.state(), unanswered), observed }
    },
    inflight: () => {
      const orders = openOrders(d.state())
      return {
        count: inFlight(d.state()),
        byVenue: Object.fromEntries([...d.venues.keys()].map((v) => [v, orders.filter((o) => o.venue === v).length])),
        orders,
      }
    },
    // what the drain waits for: every live order, the number /inflight and /metrics show too
    drainStatus: () => ({ ...d.state().trading.drain, inFlight: inFlight(d.state()) }),
    shutdown: (r) => d.requestShutdown(r),
    killswitchActivate: (r) => {
      const trip = d.risk.activate({ reason: r.reason, action: r.action, origin: r.origin, by: r.by })
      return trip ? { activated: true, action: trip.action } : { activated: false, note: 'already latched at this level or higher' }
    },
    killswitchReset: (r) => {
      d.risk.reset({ reason: r.reason, origin: r.origin, by: r.by })
      return { reset: true, mode: d.state().trading.mode }
    },
    drainStart: (r) => {
      refuseDuringShutdown('drain')
      d.drain.start(withBy(r).reason, r.origin)
      // Completes itself once nothing is in flight (or records that it timed out).
      d.drain.waitForDrain(d.drainWaitMs).catch((e: unknown) => {
        if (!(e instanceof HaltdError)) d.onError(e)
      })
      return { phase: d.drain.state.phase, inFlight: d.drain.inFlight }
    },
    drainCancel: (r) => {
      d.drain.cancel(withBy(r).reason, r.origin)
      return { phase: d.drain.state.phase }
    },
    drainForce: (r) => d.drain.force({ reason: withBy(r).reason, origin: r.origin, force: r.force }),
    pause: async (r) => {
      refuseDuringShutdown('pause')
      return { paused: true, cancels: await d.pause.pause(withBy(r).reason, r.origin) }
    },
    resume: (r) => {
      refuseDuringShutdown('resume')
      d.pause.resume(withBy(r).reason, r.origin)
      return { resumed: true }
    },
    lockDeployments: (r) => {
      d.pause.freeze(withBy(r).reason, r.origin)
      return { locked: true }
    },
    ...(d.handover ? { handover: (r: { to: string; reason: string; by: string }) => d.handover!({ to: r.to, reason: r.reason, by: r.by }) } : {}),
    unlockDeployments: (r) => {
      refuseDuringShutdown('unlock deployments')
      d.pause.unfreeze(withBy(r).reason, r.origin)
      return { locked: false }
    },
  }
}

/** How long replication may recover from a failed publish (a stream leader moving, a server restarting) before it counts as down. */
export const REPLICATION_RECOVERY_GRACE_MS = 10_000

/**
 * Replication is unhealthy once it cannot go on by itself (an event it cannot carry, a stream that
 * refused this writer), or once it has tried to recover for longer than a server takes to come back.
 */
export function replicationHealth(r: (ReplicationStatus & { mode: string; halted?: string }) | undefined): { replication?: Record<string, unknown> } {
  if (!r) return {}
  const stuck = r.state === 'recovering' && r.stateForMs > REPLICATION_RECOVERY_GRACE_MS
  // a gate replication closed stays closed once the stream answers again: not healthy until a restart
  const ok = r.state !== 'blocked' && r.state !== 'fenced' && !stuck && r.halted === undefined
  const problem =
    r.halted !== undefined
      ? `trading is halted until haltd restarts: ${r.halted}`
      : r.reason !== undefined && r.state !== 'live'
        ? stuck
          ? `recovering for ${Math.round(r.stateForMs / 1000)} s: ${r.reason}`
          : r.reason
        : undefined
  return {
    replication: {
      ok,
      mode: r.mode,
      state: r.state,
      ackedSeq: r.ackedSeq,
      lagEvents: r.lagEvents,
      ...(problem !== undefined ? { problem } : {}),
    },
  }
}

/** The fleet in `/health`: a detail, never a failure (an engine that cannot see the fleet trades on, or halts, as configured). */
function fleetHealth(f: ReturnType<NonNullable<AdminBackendInput['fleet']>>): { fleet?: Record<string, unknown> } {
  if (!f) return {}
  return {
    fleet: {
      seen: f.seen,
      since: f.since,
      ...(f.seen ? {} : { problem: `cannot see the fleet: the fleet kill switch cannot reach this engine${f.problem ? ` (${f.problem})` : ''}` }),
    },
  }
}

/**
 * Start the admin API over this daemon, its shutdown requests going where every other one goes,
 * and write the file `haltd` commands find it by (beside the log); both are released with the
 * daemon's cleanups.
 */
export async function startAdmin(input: {
  backend: Omit<AdminBackendInput, 'requestShutdown' | 'shuttingDown' | 'lifecycle' | 'drainWaitMs'>
  life: Pick<DaemonLifecycle, 'requestShutdown' | 'state'>
  controller: Pick<ShutdownController, 'running'>
  config: HaltdConfig
  token: string
  logger: Logger
  cleanups: Cleanups
  /** Served beside the admin's own (the engine's order entry). */
  routes?: Record<string, Route>
  /** The handover that made this haltd leader, if one did: the page shows its steps. */
  handoverSince?: { handoverId: string } | undefined
}): Promise<AdminServer> {
  const { life, controller, config, token, logger, cleanups } = input
  const handovers = watchHandovers(input.backend.log, input.handoverSince)
  cleanups.push(() => handovers.stop())
  // /metrics reports the event loop's lag: sample it from now on, not from the first scrape
  const eventLoop = watchEventLoop()
  cleanups.push(() => eventLoop.stop())
  const backend = createAdminBackend({
    ...input.backend,
    eventLoopLag: eventLoop.read,
    handoverView: () => handovers.current(),
    drainWaitMs: config.shutdown.graceful.waitTimeoutMs,
    requestShutdown: (r) => {
      try {
        // during a handover the answer waits for its outcome: the shutdown started then, or the engine handed over
        return life.requestShutdown(r.mode, reasonWithBy(r), r.origin).answer
      } catch (e) {
        if (!(e instanceof LogWriteFailed)) throw e
        // the stop goes ahead all the same, unrecorded: the operator is told that, not that it was refused
        return {
          outcome: 'STOPPING_UNRECORDED',
          message: `the request could not be recorded (${e.message}): haltd cancels at every venue without recording it, then stops with exit 1`,
        }
      }
    },
    shuttingDown: () => controller.running !== undefined,
    lifecycle: () => life.state,
  })
  const admin = await startAdminServer({
    backend,
    token,
    users: config.admin.users,
    host: config.admin.host,
    port: config.admin.port,
    logger,
    ...(input.routes ? { routes: input.routes } : {}),
    ...(config.admin.feed ? { feed: config.admin.feed } : {}),
    ...(config.admin.loginLimit ? { loginLimit: config.admin.loginLimit } : {}),
    ...(config.admin.tokenLimit ? { tokenLimit: config.admin.tokenLimit } : {}),
    maxConnections: config.admin.maxConnections,
  })
  cleanups.push(() => admin.close())
  const infoPath = adminInfoPath(config.db.path)
  writeAdminInfo(infoPath, { url: admin.url, token, pid: process.pid, db: config.db.path, startedAt: new Date(input.backend.startedAt).toISOString() })
  cleanups.push(() => removeAdminInfo(infoPath))
  logger.info({ url: admin.url, adminFile: infoPath }, 'admin API listening')
  return admin
}
