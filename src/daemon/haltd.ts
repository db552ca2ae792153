import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { EventEmitter } from 'eventemitter3'
import pTimeout from 'p-timeout'
import type { Envelope } from '../events/envelope.js'
import { HaltdError } from '../events/errors.js'
import type { Origin, ShutdownMode } from '../events/primitives.js'
import type { ExchangeGateway } from '../exchanges/gateway.js'
import { UNREACHABLE, VenueError } from '../exchanges/errors.js'
import { SimExchange } from '../exchanges/sim/index.js'
import { bookKey, openOrders, order as orderOf, type HaltdState } from '../projections/index.js'
import { MarketMaker, MomentumTaker, StrategyHost, type Strategy, type StrategyLimits } from '../strategies/index.js'
import { startAdminServer, type AdminServer } from '../admin/server.js'
import { generateToken } from '../admin/auth.js'
import { adminInfoPath, removeAdminInfo, writeAdminInfo } from '../admin/info-file.js'
import { systemClock, uuidIds, type Clock, type IdSource } from '../events/clock.js'
import { configHash, parseConfig, redactConfig, type HaltdConfig, type HaltdConfigInput, type VenueConfig } from './config.js'
import { openEventLog, type EventLog } from '../core/log/event-log.js'
import { OrderGate } from '../core/execution/gate.js'
import { createLogger, Secrets, type Logger } from './logger.js'
import { createNotifier, logSink, webhookSink, type NotificationSink, type Notifier } from './notify/index.js'
import { OrderRouter, type CancelOutcome, type CancelRef, type SubmitOrder, type SubmitOutcome } from '../core/execution/order-router.js'
import { createProjectionRunner, type ProjectionRunner } from '../core/log/projection-runner.js'
import { RiskMonitor } from '../core/risk/index.js'
import { createCheckpointer } from '../core/shutdown/checkpoint.js'
import { ShutdownController, findUnfinishedShutdown, type ShutdownHandle } from '../core/shutdown/controller.js'
import { DrainController } from '../core/execution/drain.js'
import { PauseController } from '../core/execution/pause.js'
import type { ShutdownReport } from '../core/shutdown/report.js'
import { worldOf } from '../core/shutdown/world.js'
import { recordUpdates } from '../core/execution/venue-recorder.js'
import { createAdminBackend } from './admin-backend.js'
import { EXIT } from './exit-codes.js'
import { createMarketData, type MarketData } from './market-data.js'
import type { TickerSource } from '../exchanges/ticker-source.js'
import { simTickerSource } from '../exchanges/sim/ticker-source.js'
import { endRun, startRun } from './runs.js'
import { installSignalHandlers } from './signals.js'
import { reconcileAtStartup, StartupMismatch, type StartupReconciliation } from './startup.js'
import { restoreStrategyState } from './strategy-restore.js'
import { keepSwitches, type KeptSwitches } from './dead-mans-switches.js'
import { createVenueHealth } from './venue-health.js'
import { createWatchdog, emergencyWatchdogTimes, type Watchdog } from './watchdog.js'

export const HALTD_VERSION = '0.1.0'

/** A graceful shutdown still running this long past its own deadline is escalated. */
export const GRACEFUL_OVERRUN_MS = 5_000

export type Lifecycle = 'starting' | 'running' | 'halted' | 'shutting-down' | 'stopped'

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
  state: Lifecycle
  mode: string
  pid: number
  runId: string
  version: string
  seq: number
  uptimeMs: number
  gate: { halted: boolean; reason?: string }
  killSwitch: { latched: boolean; reason?: string; by?: string; action?: string }
  openOrders: number
  positions: { venue: string; symbol: string; qty: number; avgEntry: number; unrealized: number }[]
  pnl: { realized: number; fees: number; unrealized: number; equity: number; drawdown: number }
  venues: { venue: string; connected: boolean; latencyMs?: number }[]
  strategies: { id: string; enabled: boolean; reason?: string }[]
  drain: string
  paused: boolean
  deploymentsLocked: boolean
  shutdown: { shutdownId: string; mode: string; procedure: string; status: string; step?: number; stepName?: string } | null
  startup: StartupReconciliation | undefined
  anomalies: number
  admin?: { url: string }
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
  /** The live projections. Read, never write. */
  state(): HaltdState
  status(): DaemonStatus
  /** Start (or escalate) a shutdown; resolves with its report once it completed. */
  shutdown(request: { mode: ShutdownMode; reason: string; origin?: Origin }): Promise<ShutdownReport>
  on<K extends keyof HaltdEvents>(name: K, listener: HaltdEvents[K]): () => void
  /** Stop everything without a shutdown procedure (embedders, tests); records the run's end. */
  close(exitCode?: number): Promise<void>
  /** Resolves with the exit code once this haltd has stopped. */
  readonly exited: Promise<number>
}

/** Bad input in the config that only shows once it is used (an unknown ccxt exchange id). */
export class VenueSetupFailed extends HaltdError {
  constructor(readonly venue: string, detail: string) {
    super('VENUE_SETUP_FAILED', `venue '${venue}': ${detail}`)
  }
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

async function ccxtVenue(
  v: Extract<VenueConfig, { kind: 'ccxt' }>,
  clock: Clock,
  onError: { gateway: (e: unknown) => void; tickers: (e: unknown) => void },
): Promise<{ gateway: ExchangeGateway; tickers: TickerSource | undefined }> {
  // the default export: the namespace's own `exchanges` is the class map, not the list of ids
  const ccxt = (await import('ccxt')).default as unknown as Record<string, unknown> & { exchanges: string[] }
  const ctor = (ccxt as Record<string, unknown>)[v.exchange] as (new (o: Record<string, unknown>) => import('ccxt').Exchange) | undefined
  if (!ccxt.exchanges.includes(v.exchange) || typeof ctor !== 'function') throw new VenueSetupFailed(v.name, `ccxt has no exchange '${v.exchange}'`)
  const make = () => {
    const ex = new ctor({ enableRateLimit: true, ...v.options, ...(v.apiKey ? { apiKey: v.apiKey } : {}), ...(v.secret ? { secret: v.secret } : {}), ...(v.password ? { password: v.password } : {}), ...(v.uid ? { uid: v.uid } : {}) })
    if (v.sandbox) ex.setSandboxMode(true)
    return ex
  }
  const { CcxtGateway } = await import('../exchanges/ccxt/gateway.js')
  const gateway = new CcxtGateway({ venue: v.name, exchange: make(), shutdownExchange: make(), ...(v.symbols.length ? { symbols: v.symbols } : {}), clock, onError: onError.gateway })
  if (!v.symbols.length) return { gateway, tickers: undefined }
  // market data polls on its own instance, so it never shares a rate-limit queue with order entry
  const { ccxtTickerSource } = await import('../exchanges/ccxt/ticker-source.js')
  return { gateway, tickers: ccxtTickerSource({ venue: v.name, exchange: make(), symbols: v.symbols, pollMs: v.tickerPollMs, clock, onError: onError.tickers }) }
}

function strategyOf(s: HaltdConfig['strategies'][number]): StrategyEntry {
  const { kind, enabled, limits, ...params } = s
  return { strategy: kind === 'market-maker' ? new MarketMaker(params as never) : new MomentumTaker(params as never), limits, enabled }
}

/**
 * Start haltd: open the log (snapshot + tail), record the run (and a crash before it), come up
 * HALTED if the kill switch is latched or a shutdown was left unfinished (and finish it), reconcile
 * with every venue, and only then enable the strategies.
 */
export async function createHaltd(input: HaltdConfigInput | HaltdConfig, ports: HaltdPorts = {}): Promise<Haltd> {
  const config = parseConfig(input, ports.env ?? process.env)
  const clock = ports.clock ?? systemClock
  const ids = ports.ids ?? uuidIds
  const secrets = new Secrets()
  const adminToken = config.admin.token ?? generateToken()
  secrets.add(adminToken)
  for (const v of config.venues) if (v.kind === 'ccxt') [v.apiKey, v.secret, v.password, v.uid].forEach((s) => secrets.add(s))
  for (const w of config.notify.webhooks) secrets.add(w.url)
  const logger = ports.logger ?? createLogger({ level: config.log.level, format: config.log.format, secrets })
  const emitter = new EventEmitter<HaltdEvents>()
  const startedAt = clock.now()
  const runId = `${new Date(startedAt).toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`
  let lifecycle: Lifecycle = 'starting'
  const setLifecycle = (to: Lifecycle) => {
    if (lifecycle === to) return
    lifecycle = to
    emitter.emit('lifecycle', to)
  }
  const onError = (e: unknown) => {
    logger.error({ err: e }, 'background error')
    emitter.emit('error', e)
  }
  // A venue's own background failures (its order stream, its polling) count toward the risk
  // monitor's error burst, like the rejects and unconfirmed cancels the log already shows: the
  // answers a reachable venue gives (rate limits, bad responses, refusals), each time. A venue
  // that cannot be reached counts once, as its `venue.disconnected`; the retries while the
  // outage lasts are not counted again, so a short network blip does not read as a burst.
  // Ticker polls are left out: a feed that stays dead is the feed-loss trigger's to notice.
  let noteVenueError = () => {}
  const onVenueError = (e: unknown) => {
    onError(e)
    if (e instanceof VenueError && !UNREACHABLE.has(e.kind)) noteVenueError()
  }

  // ── the log and its projections ────────────────────────────────────────────────────────
  const log = openEventLog({ path: config.db.path, durability: config.db.durability, clock, ids })
  let runner: ProjectionRunner
  try {
    runner = createProjectionRunner({ log, snapshotEvery: config.db.snapshotEvery, clock, warn: (message) => logger.warn(message) })
  } catch (e) {
    log.close()
    throw e
  }
  const state = () => runner.state
  // released with the log on close
  log.on('conflict', ({ key, stored, offered }) =>
    logger.warn({ key, storedSeq: stored.seq, storedType: stored.type, offeredType: offered.type, offered: offered.data }, 'an event reused a stored idempotency key with other content: the stored event stands, the new one was not written'),
  )
  logger.info({ db: config.db.path, seq: log.lastSeq, snapshot: runner.restoredFrom?.seq }, 'event log open')
  const run = startRun(log, { runId, version: HALTD_VERSION, configHash: configHash(config) })
  if (run.crashed) logger.warn({ crashedRun: run.crashed.runId, pid: run.crashed.pid }, 'the previous run ended without recording its end: recorded as crashed')

  // Everything from here on must release the log if startup fails.
  const cleanups: (() => unknown)[] = []
  try {
    // ── gate, venues, router ─────────────────────────────────────────────────────────────
    const gate = new OrderGate(() => {
      const t = runner.state.trading
      const block = t.paused ? `trading is paused: ${t.paused.reason}` : t.drain.state !== 'Active' ? `draining (${t.drain.state})` : undefined
      return { mode: t.mode, strategyBlock: block }
    })
    const venues = new Map<string, ExchangeGateway>()
    // Every venue call is timed: /health and /status show a recent latency, not the startup connect's.
    const venueHealth = createVenueHealth({ now: () => clock.now() })
    const sources: TickerSource[] = [...(ports.tickerSources ?? [])]
    for (const v of config.venues) {
      if (v.kind === 'sim') {
        const { kind: _k, name, feedMs, ...sim } = v
        const gw = new SimExchange({ ...sim, venue: name, clock })
        venues.set(name, venueHealth.wrap(gw))
        sources.push(simTickerSource(gw, v.symbols.map((s) => s.symbol), feedMs))
      } else {
        const { gateway, tickers } = await ccxtVenue(v, clock, { gateway: onVenueError, tickers: onError })
        venues.set(v.name, venueHealth.wrap(gateway))
        // an embedder's own feed for this venue wins over polling
        if (tickers && !sources.some((s) => s.venue === v.name)) sources.push(tickers)
      }
    }
    for (const gw of ports.gateways ?? []) {
      if (venues.has(gw.venue)) throw new VenueSetupFailed(gw.venue, 'configured twice (in the config and as a gateway)')
      venues.set(gw.venue, venueHealth.wrap(gw))
    }
    cleanups.push(() => Promise.all([...venues.values()].map((g) => g.close().catch(() => undefined))))
    const router = new OrderRouter({
      log, gate, venues, runTag: runId.slice(-6),
      positionOf: (venue, symbol) => runner.state.positions.get(`${venue}\u001f${symbol}`)?.qty ?? 0,
      orderOf: (venue, clientOrderId) => orderOf(runner.state, venue, clientOrderId),
      submitTimeoutMs: config.shutdown.graceful.budgets['cancel-and-flatten'] ?? 10_000,
    })
    cleanups.push(() => router.close())
    for (const gw of venues.values()) cleanups.push(recordUpdates(log, gw))

    // ── notifications, risk, strategies ──────────────────────────────────────────────────
    const notifier: Notifier = createNotifier({
      sinks: [logSink(logger), ...config.notify.webhooks.map((w) => webhookSink(w)), ...(ports.notificationSinks ?? [])],
      budgetMs: config.notify.budgetMs,
      log,
    })
    let controller: ShutdownController | undefined
    let switches: KeptSwitches | undefined
    const risk = new RiskMonitor({
      config: config.risk, log, state, gate, clock, onError,
      startEmergency: (reason) => requestShutdown('emergency', reason, 'risk').done,
    })
    noteVenueError = () => risk.noteVenueError()
    // The strategies a run starts with are its deployment; the lock guards changes to a running daemon.
    let deployed = false
    const host = new StrategyHost({
      sink: router,
      recorder: log,
      clock,
      lockedBecause: () => {
        const lock = runner.state.trading.deploymentsLocked
        return deployed && lock ? `${lock.reason}, by ${lock.origin}` : undefined
      },
      book: {
        position: (id, venue, symbol) => runner.state.books.get(bookKey(venue, symbol, id))?.qty ?? 0,
        openOrders: (id) =>
          openOrders(runner.state)
            .filter((o) => o.origin.kind === 'strategy' && o.origin.id === id)
            .map((o) => ({ venue: o.venue, clientOrderId: o.clientOrderId, symbol: o.symbol, side: o.side, qty: o.qty, filledQty: o.filledQty, reduceOnly: o.reduceOnly, ...(o.price !== undefined ? { price: o.price } : {}) })),
        ownerOf: (venue, clientOrderId) => {
          const o = orderOf(runner.state, venue, clientOrderId)
          return o?.origin.kind === 'strategy' ? o.origin.id : undefined
        },
      },
    })
    const marketData: MarketData = createMarketData({
      log, sources, clock, onError,
      onTick: (tick) => {
        risk.feedTick(tick.venue)
        host.onTick(tick).catch(onError)
      },
    })
    cleanups.push(() => marketData.stop())
    const world = () => worldOf(runner.state)
    const drain = new DrainController({ log, world })
    const pause = new PauseController({ log, router, world, strategies: host })

    let heldBack: string[] = []
    const releaseHeldBack = () => {
      if (lifecycle !== 'halted' || controller?.running || gate.halted) return
      for (const id of heldBack.splice(0)) host.enable(id, 'the kill switch was reset', 'operator')
      setLifecycle('running')
      logger.info('kill switch reset: strategies enabled, trading')
    }
    /** Each step of a shutdown as a log line too: what an operator tails while it runs. */
    const logStep = (e: Envelope) => {
      const d = e.data as { step: number; name: string; error?: string; reason?: string; budgetMs?: number }
      const what = e.type.slice('shutdown.step-'.length)
      const line = `shutdown step ${d.step} ${d.name}: ${what}${d.error ? ` (${d.error})` : d.reason ? ` (${d.reason})` : ''}`
      if (what === 'failed' || what === 'timed-out') logger.warn({ step: d.step }, line)
      else logger.info({ step: d.step }, line)
    }
    // Each event: strategies hear about their orders, risk re-checks, drains complete, people are told.
    const offEvents = log.subscribe(log.lastSeq + 1, (e) => {
      host.onLogEvent(e).catch(onError)
      risk.observe(e)
      if (e.type === 'killswitch.activated' || e.type === 'killswitch.reset') {
        const d = e.data as { reason: string; action?: string; origin: string; by?: string }
        const text = e.type === 'killswitch.activated' ? `kill switch ACTIVATED (${d.action}): ${d.reason}` : `kill switch reset: ${d.reason}`
        queueMicrotask(() => void notifier.notify({ topic: e.type, text, severity: e.type === 'killswitch.activated' ? 'critical' : 'warning', fields: { origin: d.origin, ...(d.by ? { by: d.by } : {}) } }))
      }
      if (e.type.startsWith('shutdown.step-')) logStep(e)
      if (e.type === 'killswitch.reset') queueMicrotask(releaseHeldBack)
      // The emergency path arms its own, shorter countdown: a refresh must not lengthen it again.
      if (e.type === 'shutdown.escalated' || (e.type === 'shutdown.requested' && (e.data as { mode: string }).mode === 'emergency')) switches?.stopRefreshing()
      emitter.emit('event', e)
    })
    cleanups.push(offEvents)

    // ── the shutdown engine ──────────────────────────────────────────────────────────────
    const checkpointer = createCheckpointer({
      primary: config.shutdown.checkpoint.path ?? `${config.db.path}.checkpoint.json`,
      fallback: config.shutdown.checkpoint.fallbackPath ?? join(tmpdir(), `haltd-${basename(config.db.path)}.checkpoint.json`),
      logPath: config.db.path,
    })
    controller = new ShutdownController({
      log, gate, router, venues, clock, ids,
      world,
      strategies: host,
      deadMansSwitches: { release: (venue, verified) => switches?.release(venue, verified) ?? Promise.resolve('not-kept') },
      checkpointer,
      notifier,
      marketData: { stop: () => marketData.stop() },
      services: {
        strategies: () => host.stop(),
        risk: () => risk.stop(),
        'order-management': () => router.close(),
        'market-data': () => marketData.stop(),
      },
      config: redactConfig(config),
      healthChecks: {
        'market data stopped': () => (marketData.running ? 'market data feeds still running' : undefined),
        'event log writable': () => (log.isClosed ? 'the event log is closed' : undefined),
      },
      onReport: (report) => logger.info({ shutdownId: report.shutdownId, positions: report.positions.length, openOrders: report.openOrders.count, reconciliationOk: report.reconciliation.ok }, 'post-shutdown report'),
      options: { graceful: config.shutdown.graceful, emergency: config.shutdown.emergency },
    })

    // ── shutdown requests, the watchdog, finishing the run ───────────────────────────────
    const watchdog: Watchdog = createWatchdog({
      onFire: (reason) => {
        try {
          logger.fatal({ reason }, 'watchdog: the emergency deadline passed, ending the process')
          endRun(log, runId, EXIT.emergency)
        } catch {
          // the process ends either way
        }
      },
    })
    let current: ShutdownHandle | undefined
    let gracefulTimer: ReturnType<typeof setTimeout> | undefined
    let exitResolve!: (code: number) => void
    const exited = new Promise<number>((r) => (exitResolve = r))
    let finishing: Promise<void> | undefined
    let admin: AdminServer | undefined
    const infoPath = adminInfoPath(config.db.path)

    const armEmergencyWatchdog = (reason: string) => {
      if (!(ports.watchdog ?? ports.exitProcess ?? false)) return
      watchdog.arm({ ...emergencyWatchdogTimes(config.shutdown.emergency.deadlineMs), code: EXIT.emergency, reason })
    }

    function requestShutdown(mode: ShutdownMode, reason: string, origin: Origin): ShutdownHandle {
      if (lifecycle === 'stopped') throw new HaltdError('STOPPED', 'haltd has stopped')
      const handle = controller!.requestShutdown({ mode, reason, origin })
      if (handle.status !== 'ignored' && (mode === 'emergency' || handle.status === 'escalated')) armEmergencyWatchdog(`emergency shutdown: ${reason}`)
      if (handle.status === 'started') track(handle, mode)
      logger.warn({ mode, origin, shutdownId: handle.shutdownId, status: handle.status }, `shutdown ${handle.status}: ${reason}`)
      return handle
    }

    function track(handle: ShutdownHandle, mode: ShutdownMode | undefined) {
      current = handle
      setLifecycle('shutting-down')
      if (mode !== 'emergency') {
        // The engine keeps its own deadline; this catches a graceful shutdown that overran it anyway.
        gracefulTimer = setTimeout(() => {
          if (controller?.running) requestShutdown('emergency', 'the graceful shutdown overran its deadline', 'system')
        }, config.shutdown.graceful.deadlineMs + GRACEFUL_OVERRUN_MS)
        gracefulTimer.unref()
      }
      handle.done.then(
        (report) => {
          emitter.emit('shutdown', report)
          logger.info({ shutdownId: report.shutdownId, outcome: report.outcome, exitCode: report.exitCode, residual: report.residualExposure.length, cancelUnconfirmed: report.cancelUnconfirmed.length }, 'shutdown completed')
          void finish(report.exitCode ?? EXIT.crash)
        },
        (e: unknown) => {
          logger.fatal({ err: e }, 'the shutdown failed')
          void finish(EXIT.crash)
        },
      )
    }

    /** Close everything, in the order that keeps the log last, and record the run's end. */
    function finish(code: number): Promise<void> {
      finishing ??= (async () => {
        clearTimeout(gracefulTimer)
        switches?.stopRefreshing()
        uninstallSignals?.()
        risk.stop()
        marketData.stop()
        await host.stop().catch(onError)
        try {
          endRun(log, runId, code)
        } catch (e) {
          onError(e)
        }
        await admin?.close().catch(onError)
        removeAdminInfo(infoPath)
        for (const c of cleanups.splice(0).reverse()) {
          try {
            await c()
          } catch (e) {
            onError(e)
          }
        }
        runner.stop()
        log.close()
        setLifecycle('stopped')
        watchdog.disarm()
        logger.info({ exitCode: code }, 'haltd stopped')
        emitter.emit('exit', code)
        exitResolve(code)
        if (ports.exitProcess) {
          logger.flush?.()
          process.exit(code)
        }
      })()
      return finishing
    }

    // ── signals ─────────────────────────────────────────────────────────────────────────
    let uninstallSignals: (() => void) | undefined
    if (config.signals) {
      uninstallSignals = installSignalHandlers({
        halt: (reason) => gate.halt(reason),
        request: (mode, reason) => {
          try {
            requestShutdown(mode, reason, 'signal')
          } catch (e) {
            onError(e)
          }
        },
        shuttingDown: () => (controller?.running ? (controller.running.state.procedure as ShutdownMode) : undefined),
        onSignal: (signal, action) => logger.warn({ signal }, `${signal}: ${action}`),
      })
    }

    // ── the admin API (up early: an operator can stop a slow startup) ────────────────────
    const status = (): DaemonStatus => {
      const s = runner.state
      const t = s.trading
      const ks = t.killSwitch
      const running = controller?.running
      const step = running ? [...running.state.steps].reverse().find((x) => x.procedure === running.state.procedure) : undefined
      return {
        state: lifecycle,
        mode: t.mode,
        pid: process.pid,
        runId,
        version: HALTD_VERSION,
        seq: s.seq,
        uptimeMs: clock.now() - startedAt,
        gate: { halted: gate.halted, ...(gate.latchReason ? { reason: gate.latchReason } : {}) },
        killSwitch: ks.latched ? { latched: true, reason: ks.reason, action: ks.action, ...(ks.by ? { by: ks.by } : {}) } : { latched: false },
        openOrders: s.inFlight,
        positions: [...s.positions.values()].filter((p) => Math.abs(p.qty) > 1e-12).map((p) => ({ venue: p.venue, symbol: p.symbol, qty: p.qty, avgEntry: p.avgEntry, unrealized: p.unrealized })),
        pnl: { realized: s.pnl.realized, fees: s.pnl.fees, unrealized: s.pnl.unrealized, equity: s.pnl.equity, drawdown: s.pnl.drawdown },
        venues: [...venues.keys()].map((venue) => {
          const latency = venueHealth.latency(venue)?.latencyMs ?? s.venues.get(venue)?.latencyMs
          return { venue, connected: s.venues.get(venue)?.connected === true, ...(latency !== undefined ? { latencyMs: latency } : {}) }
        }),
        strategies: host.status().map((x) => ({ id: x.id, enabled: x.enabled, ...(x.disabledReason ? { reason: x.disabledReason } : {}) })),
        drain: t.drain.state,
        paused: t.paused !== false,
        deploymentsLocked: t.deploymentsLocked !== false,
        shutdown: running
          ? { shutdownId: running.shutdownId, mode: running.state.mode ?? 'graceful', procedure: running.state.procedure, status: running.status, ...(step ? { step: step.step, stepName: step.name } : {}) }
          : null,
        startup: startupReport,
        anomalies: s.anomalyCount,
        ...(admin ? { admin: { url: admin.url } } : {}),
      }
    }
    let startupReport: StartupReconciliation | undefined
    if (config.admin.enabled) {
      admin = await startAdminServer({
        backend: createAdminBackend({
          log, state, status, router, risk, drain, pause, venues, venueHealth, marketData, gate, clock, startedAt, onError,
          drainWaitMs: config.shutdown.graceful.waitTimeoutMs,
          requestShutdown: (r) => {
            const h = requestShutdown(r.mode, r.by ? `${r.reason} (by ${r.by})` : r.reason, r.origin)
            return { shutdownId: h.shutdownId, status: h.status }
          },
          shuttingDown: () => controller?.running !== undefined,
          lifecycle: () => lifecycle,
        }),
        token: adminToken,
        host: config.admin.host,
        port: config.admin.port,
        logger,
      })
      cleanups.push(() => admin?.close())
      writeAdminInfo(infoPath, { url: admin.url, token: adminToken, pid: process.pid, db: config.db.path, startedAt: new Date(startedAt).toISOString() })
      cleanups.push(() => removeAdminInfo(infoPath))
      logger.info({ url: admin.url, adminFile: infoPath }, 'admin API listening')
    }

    // ── startup: halted?, connect, reconcile, resume, enable ─────────────────────────────
    const unfinished = findUnfinishedShutdown(log)
    const latched = runner.state.trading.killSwitch
    if (latched.latched) {
      // The risk monitor has closed the gate already (its latch, which its reset reopens).
      logger.warn({ reason: latched.reason, action: latched.action }, `coming up ${latched.action === 'REDUCING' ? 'REDUCING' : 'HALTED'}: the kill switch is latched (reset it with a reason: haltd killswitch reset)`)
    }
    if (unfinished) {
      gate.halt(`resuming unfinished shutdown ${unfinished.shutdownId}`)
      logger.warn({ shutdownId: unfinished.shutdownId, procedure: unfinished.procedure, nextStep: unfinished.nextStep }, 'coming up HALTED: a shutdown was left unfinished; resuming it')
    }

    const connectBudget = config.shutdown.graceful.budgets['reconcile'] ?? 15_000
    await Promise.all(
      [...venues.values()].map(async (gw) => {
        const t0 = performance.now()
        try {
          await pTimeout(gw.connect(), { milliseconds: connectBudget })
          log.append({ type: 'venue.connected', data: { venue: gw.venue, latencyMs: Math.round((performance.now() - t0) * 10) / 10 } })
        } catch (e) {
          log.append({ type: 'venue.disconnected', data: { venue: gw.venue, reason: `connect failed: ${messageOf(e)}` } })
          logger.error({ venue: gw.venue, err: e }, 'venue connect failed')
        }
      }),
    )
    if (config.deadMansSwitch.keepArmed && unfinished?.procedure !== 'emergency') {
      const { timeoutMs, refreshMs } = config.deadMansSwitch
      switches = keepSwitches(log, [...venues.values()].filter((gw) => runner.state.venues.get(gw.venue)?.connected === true), { timeoutMs, refreshMs, onError })
      cleanups.push(() => switches?.stopRefreshing())
    }
    startupReport = await reconcileAtStartup({ log, venues, state, timeoutMs: connectBudget, adoptTagged: config.startup.adoptTaggedOrders })
    logger.info(
      { adopted: startupReport.adopted.length, foreign: startupReport.foreign.length, settled: startupReport.settled.length, mismatches: startupReport.mismatches.length, unreachable: startupReport.unreachable.length },
      'startup reconciliation done',
    )
    for (const f of startupReport.foreign) logger.warn({ ...f }, 'foreign order at the venue (not sent by haltd): left alone')
    if (config.startup.refuseToStartOnMismatch && !unfinished && (startupReport.mismatches.length > 0 || startupReport.unreachable.length > 0)) {
      throw new StartupMismatch(startupReport)
    }

    // A shutdown that completed left trading HALTED and deployments locked: that was its run's
    // business. A new run starts ACTIVE unless something still holds it (the kill switch).
    if (!unfinished && !latched.latched) {
      const t = runner.state.trading
      if (t.mode !== 'ACTIVE' && t.modeChange?.origin === 'shutdown') {
        log.append({ type: 'trading.state-changed', data: { to: 'ACTIVE', reason: `new run ${runId} after a completed shutdown`, origin: 'restart' } })
      }
      if (t.deploymentsLocked && t.deploymentsLocked.origin === 'shutdown') {
        log.append({ type: 'deployments.unlocked', data: { reason: `new run ${runId} after a completed shutdown`, origin: 'restart' } })
      }
    }

    const halted = gate.halted || unfinished !== undefined
    const entries = [...config.strategies.map(strategyOf), ...(ports.strategies ?? [])]
    for (const e of entries) host.register(e.strategy, { limits: e.limits, enabled: (e.enabled ?? true) && !halted })
    if (entries.length > 0) {
      const r = restoreStrategyState(log, host)
      if ('skipped' in r) logger.info(`strategy state starts fresh: ${r.skipped}`)
      else logger.info({ restored: r.restored, unknown: r.unknown, checkpoint: r.path, atSeq: r.atSeq }, 'strategy state restored from the last checkpoint')
    }
    deployed = true
    // Held back only by a latched kill switch: an operator's reset lets them trade.
    heldBack = halted && !unfinished ? entries.filter((e) => e.enabled ?? true).map((e) => e.strategy.id) : []
    marketData.start()
    risk.start()
    setLifecycle(halted ? 'halted' : 'running')

    if (unfinished) {
      const handle = controller.resumeUnfinished()
      if (handle) {
        if (unfinished.procedure === 'emergency') armEmergencyWatchdog(`resumed emergency shutdown ${handle.shutdownId}`)
        track(handle, unfinished.procedure)
      }
    }

    const haltd: Haltd = {
      runId,
      config,
      log,
      logger,
      orders: { submit: (o) => router.submit(o), cancel: (ref, opts) => router.cancel(ref, opts) },
      gate,
      venues,
      strategies: host,
      risk,
      startup: startupReport,
      admin: admin ? { url: admin.url, token: adminToken } : undefined,
      state,
      status,
      shutdown: (r) => requestShutdown(r.mode, r.reason, r.origin ?? 'api').done,
      on: (name, listener) => {
        emitter.on(name, listener as never)
        return () => void emitter.off(name, listener as never)
      },
      close: (code = EXIT.clean) => {
        if (controller?.running && current) return current.done.then(() => finishing ?? finish(code)).then(() => undefined)
        return finish(code)
      },
      exited,
    }
    return haltd
  } catch (e) {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c()
      } catch {
        // startup already failed; the first error is the one to report
      }
    }
    try {
      endRun(log, runId, EXIT.crash)
    } finally {
      runner.stop()
      log.close()
    }
    throw e
  }
}
