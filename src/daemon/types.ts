import type { Envelope } from '../events/envelope.js'
import type { Origin, ShutdownMode } from '../events/primitives.js'
import type { Clock, IdSource } from '../events/clock.js'
import type { ExchangeGateway } from '../exchanges/gateway.js'
import type { TickerSource } from '../exchanges/ticker-source.js'
import type { HaltdState, ReconciliationVerdict, VenueReconciliation } from '../projections/index.js'
import type { StrategyHost, Strategy, StrategyLimits } from '../strategies/index.js'
import type { EventLog } from '../core/log/event-log.js'
import type { ProjectionRunner } from '../core/log/projection-runner.js'
import type { TakenLeadership } from './cluster.js'
import type { DeliberateStop } from './stopped-engine.js'
import type { OrderGate } from '../core/execution/gate.js'
import type { CancelOutcome, CancelRef, SubmitOrder, SubmitOutcome } from '../core/execution/order-router.js'
import type { OrderEntry } from '../core/execution/order-entry.js'
import type { RiskMonitor } from '../core/risk/index.js'
import type { ShutdownReport } from '../core/shutdown/report.js'
import type { HaltdConfig } from './config.js'
import type { Logger } from './logger.js'
import type { NotificationSink } from './notify/index.js'
import type { StartupReconciliation } from './startup.js'
import type { ReplicationStatus } from '../cluster/replication/publisher.js'
import type { FollowerStatus } from '../cluster/replication/follower.js'

export type Lifecycle = 'starting' | 'running' | 'halted' | 'shutting-down' | 'stopped'

/** A venue as a standby sees it: connected or not, and what it heard (it records none of it). */
export type StandbyVenue = { venue: string; connected: boolean; problem?: string; updates: number; lastUpdateAt?: number; ticks: number; lastTickAt?: number }

/** A hot standby: following the engine's stream, or leading once it took over. */
export type StandbyStatus = {
  role: 'standby' | 'leader' | 'stopped'
  instance: string
  engine: string
  follower: FollowerStatus
  /** Who leads the engine, as the bucket last said (absent while nobody holds the lease). */
  leader?: { instance: string; epoch: number }
  /** Why the last chance to take over was not taken. */
  refused?: string
  /**
   * While nobody leads because the last leader stopped the engine on purpose (a shutdown, then its
   * run's end): the lease is left alone until a leader is started again.
   */
  engineStopped?: DeliberateStop & { message: string }
  venues: StandbyVenue[]
}

/** A strategy an embedder brings, with the limits the host holds it to. */
export type StrategyEntry = { strategy: Strategy; limits: StrategyLimits; enabled?: boolean }

/** What an embedder may bring besides the config: venues, strategies, time, ids, a logger, sinks. */
export type HaltdPorts = {
  gateways?: readonly ExchangeGateway[]
  tickerSources?: readonly TickerSource[]
  strategies?: readonly StrategyEntry[]
  clock?: Clock
  ids?: IdSource
  logger?: Logger
  notificationSinks?: readonly NotificationSink[]
  env?: Record<string, string | undefined>
  /** Ends the process when a shutdown completes or the watchdog fires (`haltd run` and the demo). */
  exitProcess?: boolean
  /**
   * Arm the hard watchdog on an emergency: exit 3 past the deadline, SIGKILL from a worker thread
   * if the main thread is stuck. On by default only with `exitProcess`: an embedding engine
   * decides for itself whether haltd may end its process.
   */
  watchdog?: boolean
  /**
   * A standby taking over the engine: the log it followed with its projections, and the lease it
   * took. The daemon leads from where the log ends; no second log is opened.
   */
  takeover?: {
    log: EventLog
    runner: ProjectionRunner
    leadership: TakenLeadership
    /**
     * The stops a standby's signals kept while it took over that cannot wait for the startup (an
     * emergency among them), taken once as the leading haltd's own signal handlers go in and asked
     * of it then, in the order they came, its gate closed before its startup can trade.
     */
    stops?: () => readonly { mode: ShutdownMode; reason: string }[]
  }
  /** This engine's role in its fleet row (the standby's leadership says which); 'leader' without it. */
  fleetRole?: () => 'leader' | 'standby'
}

export type HaltdEvents = {
  /** Every event appended to the log, after the projections applied it. */
  event: (e: Envelope) => void
  lifecycle: (to: Lifecycle) => void
  /** A shutdown completed; the log is still open. */
  shutdown: (report: ShutdownReport) => void
  /** Everything is closed; `code` is the process exit code this run ends with. */
  exit: (code: number) => void
  /** Errors of background work no caller waits for. */
  error: (e: unknown) => void
}

export type DaemonStatus = {
  /** `standby`: following the leader's stream; it sends no order (`standby` says more). */
  state: Lifecycle | 'standby'
  mode: string
  pid: number
  runId: string
  version: string
  seq: number
  uptimeMs: number
  /** `fenced`: why every order is refused beyond the trading state (this haltd does not lead, its replication lags). */
  gate: { halted: boolean; reason?: string; fenced?: string }
  killSwitch: { latched: boolean; reason?: string; by?: string; action?: string }
  openOrders: number
  /**
   * `amountStep` is the market's where the venue reported it: quantities print at its precision.
   * `unpriced`: haltd has no price for the market, so `unrealized` (0) is unknown, and `pnl` leaves it out.
   */
  positions: { venue: string; symbol: string; qty: number; avgEntry: number; unrealized: number; amountStep?: number; unpriced?: true }[]
  pnl: { realized: number; fees: number; unrealized: number; equity: number; drawdown: number }
  venues: { venue: string; connected: boolean; latencyMs?: number }[]
  /**
   * The reconciliation as the log knows it (no venue asked: `/reconciliation` asks them), each
   * venue's verdict with the observation it rests on.
   */
  reconciliation: { verdict: ReconciliationVerdict; venues: VenueReconciliation[] }
  strategies: { id: string; enabled: boolean; reason?: string }[]
  drain: string
  paused: boolean
  deploymentsLocked: boolean
  shutdown: { shutdownId: string; mode: string; procedure: string; status: string; step?: number; stepName?: string } | null
  startup: StartupReconciliation | undefined
  anomalies: number
  admin?: { url: string }
  /** Present once the event log failed a write this run: haltd is HALTED until restarted. */
  log?: { ok: false; error: string; since: string; failedWrites: number }
  /** The log's way to the engine's JetStream stream, when configured. */
  replication?: ReplicationStatus & { mode: 'async' | 'sync' }
  /** Present with a fleet: whether this engine sees it (NATS reachable), since when, and why not. */
  fleet?: { engine: string; instance: string; seen: boolean; since: string; problem?: string }
  /** Present while this haltd is a standby (`failover.role: "standby"`). */
  standby?: StandbyStatus
}

export type Haltd = {
  readonly runId: string
  readonly config: HaltdConfig
  readonly log: EventLog
  readonly logger: Logger
  /** The gated, write-ahead order router: the engine's way to the venues while haltd runs. */
  readonly orders: {
    submit(order: SubmitOrder): Promise<SubmitOutcome>
    cancel(ref: CancelRef, options?: { reason?: string; origin?: Origin }): Promise<CancelOutcome>
  }
  readonly gate: OrderGate
  readonly venues: ReadonlyMap<string, ExchangeGateway>
  readonly strategies: StrategyHost
  readonly risk: RiskMonitor
  readonly startup: StartupReconciliation
  readonly admin: { url: string; token: string } | undefined
  /** Order entry for engines beside haltd (`orderEntry` in the config), the service its HTTP routes and socket call; undefined when off. */
  readonly orderEntry: OrderEntry | undefined
  /** The live projections. Read, never write. */
  state(): HaltdState
  status(): DaemonStatus
  /** Start (or escalate) a shutdown; resolves with its report once it completed. */
  shutdown(request: { mode: ShutdownMode; reason: string; origin?: Origin }): Promise<ShutdownReport>
  on<K extends keyof HaltdEvents>(name: K, listener: HaltdEvents[K]): () => void
  /** Stop everything without a shutdown procedure (embedders, tests); records the run's end. */
  close(exitCode?: number): Promise<void>
  /** A planned handover to the named standby (failover configured); resolves once handed over or rolled back. */
  handover(request: { to: string; reason: string; by?: string }): Promise<{ handoverId: string; outcome: 'handed-over' | 'rolled-back'; reason?: string }>
  /** Resolves with the exit code once this haltd has stopped. */
  readonly exited: Promise<number>
}
