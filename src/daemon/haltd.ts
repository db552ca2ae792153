import { EventEmitter } from 'eventemitter3'
import { systemClock, uuidIds } from '../events/clock.js'
import { generateToken } from '../admin/auth.js'
import type { AdminServer } from '../admin/server.js'
import { adminInfoPath, removeAdminInfo } from '../admin/info-file.js'
import { OrderRouter } from '../core/execution/order-router.js'
import { recordUpdates } from '../core/execution/venue-recorder.js'
import { DrainController } from '../core/execution/drain.js'
import { PauseController } from '../core/execution/pause.js'
import { RiskMonitor } from '../core/risk/index.js'
import { worldOf } from '../core/shutdown/world.js'
import { order as orderOf } from '../projections/index.js'
import { startAdmin } from './admin-backend.js'
import { configHash, parseConfig, secretsOf, type HaltdConfig, type HaltdConfigInput } from './config.js'
import { keepSwitches, type KeptSwitches } from './dead-mans-switches.js'
import { tapEvents } from './event-taps.js'
import { EXIT } from '../core/shutdown/exit-codes.js'
import { createCleanups, createLifecycle } from './lifecycle.js'
import { createLogger } from './logger.js'
import { createMarketData } from './market-data.js'
import { createNotifier, logSink, webhookSink } from './notify/index.js'
import { openLogWithProjections } from './open-log.js'
import { endRun, newRunId, startRun } from './run-record.js'
import { createShutdownEngine } from './shutdown-engine.js'
import { installSignalHandlers } from './signals.js'
import { haltedAtStartup, reconcileVenues, reopenAfterCompletedShutdown } from './startup.js'
import { daemonStatus } from './status.js'
import { tradingGate } from './trading-gate.js'
import { createStrategies, strategyEntries } from './strategies.js'
import type { DaemonStatus, Haltd, HaltdEvents, HaltdPorts } from './types.js'
import { createVenueHealth } from './venue-health.js'
import { buildVenues, connectedVenues, connectVenues, createVenueErrors } from './venues.js'
import { HALTD_VERSION } from './version.js'

export { HALTD_VERSION } from './version.js'
export { GRACEFUL_OVERRUN_MS } from './lifecycle.js'
export { VenueSetupFailed } from './venues.js'
export type { DaemonStatus, Haltd, HaltdEvents, HaltdPorts, Lifecycle, StrategyEntry } from './types.js'

/**
 * Start haltd: open the log (snapshot + tail), record the run (and a crash before it), come up
 * HALTED if the kill switch is latched or a shutdown was left unfinished (and finish it), reconcile
 * with every venue, and only then enable the strategies.
 */
export async function createHaltd(input: HaltdConfigInput | HaltdConfig, ports: HaltdPorts = {}): Promise<Haltd> {
  const config = parseConfig(input, ports.env ?? process.env)
  const clock = ports.clock ?? systemClock
  const ids = ports.ids ?? uuidIds
  const adminToken = config.admin.token ?? generateToken()
  const logger = ports.logger ?? createLogger({ level: config.log.level, format: config.log.format, secrets: secretsOf(config, adminToken) })
  const emitter = new EventEmitter<HaltdEvents>()
  const startedAt = clock.now()
  const runId = newRunId(startedAt)
  const onError = (e: unknown) => {
    logger.error({ err: e }, 'background error')
    emitter.emit('error', e)
  }

  // ── the log and its projections, and this run in it ──────────────────────────────────────
  const { log, runner } = openLogWithProjections(config, { clock, ids, logger })
  const state = () => runner.state
  startRun(log, { runId, version: HALTD_VERSION, configHash: configHash(config) }, logger)

  // Everything from here on must release the log if startup fails.
  const cleanups = createCleanups()
  try {
    // ── gate, venues, router ─────────────────────────────────────────────────────────────
    const gate = tradingGate(state)
    const venueHealth = createVenueHealth({ now: () => clock.now() })
    const venueErrors = createVenueErrors(onError)
    const { venues, sources } = await buildVenues({
      venues: config.venues,
      gateways: ports.gateways ?? [],
      tickerSources: ports.tickerSources ?? [],
      clock,
      health: venueHealth,
      onVenueError: venueErrors.onVenueError,
      onError,
    })
    cleanups.push(() => Promise.all([...venues.values()].map((g) => g.close().catch(() => undefined))))
    const router = new OrderRouter({
      log,
      gate,
      venues,
      runTag: runId.slice(-6),
      positionOf: (venue, symbol) => runner.state.positions.get(`${venue}\u001f${symbol}`)?.qty ?? 0,
      orderOf: (venue, clientOrderId) => orderOf(runner.state, venue, clientOrderId),
      submitTimeoutMs: config.orders.submitTimeoutMs,
      lostRecheckMs: config.orders.lostRecheckMs,
    })
    cleanups.push(() => router.close())
    for (const gw of venues.values()) cleanups.push(recordUpdates(log, gw))

    // ── notifications, risk, strategies, market data, the log's taps ─────────────────────
    const notifier = createNotifier({
      sinks: [logSink(logger), ...config.notify.webhooks.map((w) => webhookSink(w)), ...(ports.notificationSinks ?? [])],
      budgetMs: config.notify.budgetMs,
      log,
    })
    let switches: KeptSwitches | undefined
    const risk = new RiskMonitor({
      config: config.risk,
      log,
      state,
      gate,
      clock,
      onError,
      startEmergency: (reason) => life.requestShutdown('emergency', reason, 'risk').done,
    })
    venueErrors.countWith(() => risk.noteVenueError())
    const { host, deploy } = createStrategies({ router, log, clock, state, logger })
    const marketData = createMarketData({
      log,
      sources,
      clock,
      onError,
      onTick: (tick) => {
        risk.feedTick(tick.venue)
        host.onTick(tick).catch(onError)
      },
    })
    cleanups.push(() => marketData.stop())
    const world = () => worldOf(runner.state)
    const drain = new DrainController({ log, world })
    const pause = new PauseController({ log, router, world, strategies: host })
    cleanups.push(
      tapEvents({
        log,
        strategies: host,
        risk,
        notifier,
        logger,
        onError,
        emit: (e) => emitter.emit('event', e),
        onKillSwitchReset: () => life.releaseHeldBack(),
        stopSwitchRefresh: () => switches?.stopRefreshing(),
      }),
    )

    // ── the shutdown engine, the lifecycle that ends the run, signals ────────────────────
    const controller = createShutdownEngine({
      config,
      log,
      gate,
      router,
      venues,
      clock,
      ids,
      world,
      host,
      switches: () => switches,
      notifier,
      marketData,
      risk,
      logger,
    })
    let admin: AdminServer | undefined
    let uninstallSignals: (() => void) | undefined
    const life = createLifecycle({
      controller,
      gate,
      strategies: host,
      emitter,
      logger,
      onError,
      deadlines: { gracefulMs: config.shutdown.graceful.deadlineMs, emergencyMs: config.shutdown.emergency.deadlineMs },
      watchdog: ports.watchdog ?? ports.exitProcess ?? false,
      exitProcess: ports.exitProcess ?? false,
      finish: {
        quiesce: async () => {
          switches?.stopRefreshing()
          uninstallSignals?.()
          risk.stop()
          marketData.stop()
          await host.stop().catch(onError)
        },
        recordEnd: (code) => endRun(log, runId, code),
        release: async () => {
          await admin?.close().catch(onError)
          removeAdminInfo(adminInfoPath(config.db.path))
          await cleanups.run(onError)
          runner.stop()
          log.close()
        },
      },
    })
    if (config.signals) uninstallSignals = installSignalHandlers(life.signalHandlers())

    // ── the admin API (up early: an operator can stop a slow startup) ────────────────────
    let startup: Haltd['startup'] | undefined
    const status = (): DaemonStatus =>
      daemonStatus({
        lifecycle: life.state,
        state: runner.state,
        run: { runId, pid: process.pid, startedAt },
        now: clock.now(),
        gate,
        venues: venues.keys(),
        measuredLatency: (v) => venueHealth.latency(v),
        strategies: host.status(),
        shutdown: controller.running,
        startup,
        adminUrl: admin?.url,
      })
    if (config.admin.enabled) {
      const backend = { log, state, status, router, risk, drain, pause, venues, venueHealth, marketData, gate, clock, startedAt, onError }
      admin = await startAdmin({ backend, life, controller, config, token: adminToken, logger, cleanups })
    }

    // ── startup: halted?, connect, reconcile, resume, enable ─────────────────────────────
    const { unfinished, latched } = haltedAtStartup({ log, state: runner.state, gate, logger })
    const connectBudget = config.shutdown.graceful.budgets.reconcile ?? 15_000
    await connectVenues(log, venues, connectBudget, logger)
    if (config.deadMansSwitch.keepArmed && unfinished?.procedure !== 'emergency') {
      const { timeoutMs, refreshMs } = config.deadMansSwitch
      switches = keepSwitches(log, connectedVenues(venues, runner.state), { timeoutMs, refreshMs, onError })
      cleanups.push(() => switches?.stopRefreshing())
    }
    startup = await reconcileVenues({
      log,
      venues,
      state,
      timeoutMs: connectBudget,
      adoptTagged: config.startup.adoptTaggedOrders,
      logger,
      refuseOnMismatch: config.startup.refuseToStartOnMismatch && !unfinished,
    })
    if (!unfinished && !latched) reopenAfterCompletedShutdown(log, runner.state.trading, runId)
    const halted = gate.halted || unfinished !== undefined
    const wouldTrade = deploy(strategyEntries(config, ports.strategies), { halted })
    // Held back only by a latched kill switch: an operator's reset lets them trade.
    life.holdBack(unfinished ? [] : wouldTrade)
    marketData.start()
    risk.start()
    life.set(halted ? 'halted' : 'running')
    if (unfinished) life.resumeUnfinished(unfinished.procedure)

    return {
      runId,
      config,
      log,
      logger,
      gate,
      venues,
      risk,
      startup,
      state,
      status,
      orders: { submit: (o) => router.submit(o), cancel: (ref, opts) => router.cancel(ref, opts) },
      strategies: host,
      admin: admin ? { url: admin.url, token: adminToken } : undefined,
      shutdown: (r) => life.requestShutdown(r.mode, r.reason, r.origin ?? 'api').done,
      on: (name, listener) => {
        emitter.on(name, listener as never)
        return () => void emitter.off(name, listener as never)
      },
      close: (code = EXIT.clean) => life.close(code),
      exited: life.exited,
    }
  } catch (e) {
    // startup already failed; the first error is the one to report
    await cleanups.run(() => {})
    try {
      endRun(log, runId, EXIT.crash)
    } finally {
      runner.stop()
      log.close()
    }
    throw e
  }
}
