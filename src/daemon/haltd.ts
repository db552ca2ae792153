import { EventEmitter } from 'eventemitter3'
import { systemClock, uuidIds } from '../events/clock.js'
import { generateToken } from '../admin/access.js'
import type { AdminServer } from '../admin/server.js'
import { adminInfoPath, removeAdminInfo } from '../admin/info-file.js'
import { DrainController } from '../core/execution/drain.js'
import { PauseController } from '../core/execution/pause.js'
import { RiskMonitor } from '../core/risk/index.js'
import { worldOf } from '../core/shutdown/world.js'
import { startAdmin } from './admin-backend.js'
import { configHash, parseConfig, secretsOf, type HaltdConfig, type HaltdConfigInput } from './config.js'
import { switchesArmedAtStartup } from './dead-mans-switches.js'
import { tapEvents } from './event-taps.js'
import { cancelEverywhereUnrecorded } from './unrecorded-stop.js'
import { keepUnrecordedEmergency, recordUnrecordedEmergency, reserveUnrecordedEmergency, unrecordedEmergencyPath } from './unrecorded-emergency.js'
import { emergencyBudget } from '../core/shutdown/emergency.js'
import { createOrderRouter } from './execution.js'
import { createFactHold } from './fact-hold.js'
import { startOrderEntry } from './order-entry.js'
import { guardAccount } from './guardian.js'
import { haltdHandle } from './handle.js'
import { createCleanups, createLifecycle, releaseFailedStartup } from './lifecycle.js'
import { createLogger } from './logger.js'
import { describeLogFault, haltOnLogFault, watchLogFile, watchLogHealth } from './log-health.js'
import { createMarketData } from './market-data.js'
import { createNotifier, logSink, outcomeToProcessLog, webhookSink } from './notify/index.js'
import { openLogWithProjections } from './open-log.js'
import { LOCK_SETTLE_MS, settleWriterLock } from '../core/log/writer-lock.js'
import { endRun, handedOverRun, newRunId, startRun } from './run-record.js'
import { createShutdownEngine } from './shutdown-engine.js'
import { isNatsLinkSocket } from './nats-sockets.js'
import type { SocketInfo } from '../core/shutdown/handles.js'
import { installSignalHandlers } from './signals.js'
import { startUp } from './startup.js'
import { daemonStatus } from './status.js'
import { tradingGate } from './trading-gate.js'
import { createStrategies } from './strategies.js'
import type { DaemonStatus, Haltd, HaltdEvents, HaltdPorts } from './types.js'
import { createVenues } from './venues.js'
import { joinCluster, lead, type ClusterSeat } from './cluster.js'
import { createHandover } from './handover.js'
import { streamFollowers } from '../cluster/replication/followers.js'
import { standbySteps } from '../core/handover/decider.js'
import { HaltdError } from '../events/errors.js'
import { startReplication } from './replication.js'
import { joinFleet, type FleetMembership } from './fleet.js'
import { HALTD_VERSION } from './version.js'
import { startStandby, type Standby } from './standby.js'
import { haltdAsStandby } from './standby-haltd.js'
import { sayOnStderr } from './stderr.js'

export { HALTD_VERSION } from './version.js'
export { GRACEFUL_OVERRUN_MS } from './lifecycle.js'
export { VenueSetupFailed } from './venues.js'
export type { DaemonStatus, Haltd, HaltdEvents, HaltdPorts, Lifecycle, StrategyEntry } from './types.js'

/** A hot standby of the engine (`haltd standby`): follows its stream and leads once it takes the lease. */
export function createStandby(input: HaltdConfigInput | HaltdConfig, ports: HaltdPorts = {}): Promise<Standby> {
  return startStandby(input, ports, createHaltd)
}

/**
 * Start haltd: open the log (snapshot + tail), record the run (and a crash before it), come up
 * HALTED if the kill switch is latched or a shutdown was left unfinished (and finish it), reconcile
 * with every venue, and only then enable the strategies.
 */
export async function createHaltd(input: HaltdConfigInput | HaltdConfig, ports: HaltdPorts = {}): Promise<Haltd> {
  const config = parseConfig(input, ports.env ?? process.env)
  // a standby follows until it takes the lease; then this same function leads over the log it followed
  if (config.failover?.role === 'standby' && !ports.takeover) return haltdAsStandby(config, ports, createHaltd)
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
  // a standby taking over brings the log it followed, its projections warm
  // a lock file to wait out is waited out here without blocking the embedding engine's event loop
  if (!ports.takeover && (await settleWriterLock(config.db.path)))
    logger.warn(
      { db: config.db.path },
      `the log had its WAL beside it and no writer lock a writer kept: waited ${LOCK_SETTLE_MS} ms for any live writer to take it back`,
    )
  const { log, runner } = ports.takeover ?? openLogWithProjections(config, { clock, ids, logger })
  const state = () => runner.state
  const seqAtOpen = log.lastSeq
  // ── NATS: the lease and the stream are checked before this run writes anything ──────────
  let seat: ClusterSeat | undefined
  try {
    seat = await joinCluster({ config, log, logger, taken: ports.takeover?.leadership })
  } catch (e) {
    runner.stop()
    log.close()
    throw e
  }
  const taken = seat?.taken
  const runLease = taken && { instance: seat!.instance, epoch: taken.lease.epoch, reason: taken.reason, previous: taken.lease.previous }
  startRun(log, { runId, version: HALTD_VERSION, configHash: configHash(config), lease: runLease }, logger)
  // before anything reads the kill switch: an emergency the last run's log could not take
  recordUnrecordedEmergency(log, logger)
  reserveUnrecordedEmergency(log.path, logger)

  // Everything from here on must release the log if startup fails.
  const cleanups = createCleanups()
  try {
    // ── gate, venues, router ─────────────────────────────────────────────────────────────
    const gate = tradingGate(state)
    // A write the log could not make (a full disk, an I/O error), whoever made it: HALTED, the process stays up.
    const onFirstFault = haltOnLogFault({ gate, logger, onError, lifecycle: () => life, notifier: () => notifier })
    const logHealth = watchLogHealth({ log, now: () => clock.now(), onError, onFirstFault })
    cleanups.push(watchLogFile({ log, logger, now: () => clock.now() }))
    // ── NATS: leadership, and the log off the node ───────────────────────────────────────
    if (seat) cleanups.push(() => seat.nc.close())
    const haltOnLostLeadership = (reason: string) => {
      logger.fatal({ reason }, 'HALTED: this haltd no longer leads its engine; trading stops')
      setImmediate(() => (life.state === 'running' ? life.set('halted') : undefined))
    }
    const leadership =
      seat?.taken && config.failover
        ? await lead({ seat, taken: seat.taken, config: config.failover, log, gate, logger, onError, onLost: haltOnLostLeadership })
        : undefined
    if (leadership) cleanups.push(() => leadership.stop())
    const replication =
      seat && config.replication
        ? await startReplication({
            nc: seat.nc,
            engine: seat.engine,
            config: config.replication,
            log,
            gate,
            logger,
            onError,
            lifecycle: () => life,
            notifier: () => notifier,
            ...(leadership ? { epoch: () => leadership.epoch, fence: () => leadership.fence() } : {}),
            streamSeq: seat.taken?.streamSeq,
          })
        : undefined
    if (replication) {
      cleanups.push(async () => {
        // the run's end goes to the stream too, when it answers in time (a stream gone does not hold the exit for long)
        await replication.flush(Math.min(config.replication?.ackTimeoutMs ?? 2_000, 5_000)).catch(() => {})
        await replication.stop()
      })
    }
    const { venues, sources, health: venueHealth, errors: venueErrors } = await createVenues({ config, ports, clock, onError, cleanups })
    const venueFacts = createFactHold()
    const router = createOrderRouter({
      log,
      gate,
      venues,
      runId,
      state,
      orders: config.orders,
      cleanups,
      onError,
      writeAhead: replication?.writeAhead,
      guardian: config.guardian !== undefined,
      hold: venueFacts,
    })
    // the guardian listens from here (a trade reported during startup is held), and looks once the venues are reconciled
    const guardians = config.guardian ? [...venues.values()].map((g) => guardAccount(g, config.guardian!.pollMs, { log, state, onError })) : []
    for (const g of guardians) cleanups.push(() => g.stop())

    // ── notifications, risk, strategies, market data, the log's taps ─────────────────────
    const notifier = createNotifier({
      sinks: [logSink(logger), ...config.notify.webhooks.map((w) => webhookSink(w)), ...(ports.notificationSinks ?? [])],
      budgetMs: config.notify.budgetMs,
      log,
      onUnrecorded: outcomeToProcessLog(logger),
    })
    const switches = switchesArmedAtStartup()
    const startEmergency = (reason: string) => life.requestShutdown('emergency', reason, 'risk').done
    const risk = new RiskMonitor({ config: config.risk, log, state, gate, clock, onError, startEmergency })
    venueErrors.countWith(() => risk.noteVenueError())
    const takenOver = ports.takeover?.leadership
    if (takenOver?.reason === 'failover' && config.failover?.onUnplanned === 'halted') {
      // the conservative playbook: after an unplanned failover, a person looks before anything trades
      risk.activate({
        reason: `unplanned failover: the lease of ${takenOver.lease.previous ?? 'the previous leader'} expired and this instance took over (epoch ${takenOver.lease.epoch})`,
        origin: 'system',
      })
    }
    const { host, deploy } = createStrategies({ router, log, clock, state, logger, config, embedded: ports.strategies })
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
    const taps = tapEvents({
      log,
      strategies: host,
      risk,
      notifier,
      logger,
      onError,
      emit: (e) => emitter.emit('event', e),
      onKillSwitchReset: () => life.releaseHeldBack(),
      stopSwitchRefresh: () => switches.stopRefreshing(),
    })
    cleanups.push(taps.unsubscribe)

    // ── the shutdown engine, the lifecycle that ends the run, signals ────────────────────
    let fleet: FleetMembership | undefined
    // the links to NATS stay open until the run's last event is replicated and its last fleet row written
    const keepsSocket = (socket: SocketInfo) => isNatsLinkSocket([seat?.nc, fleet?.link], socket)
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
      switches,
      notifier,
      marketData,
      risk,
      logger,
      keepsSocket,
      notLeading: () => leadership?.lost,
    })
    let admin: AdminServer | undefined
    let exitCode: number | undefined
    let handover: ReturnType<typeof createHandover> | undefined
    // one way in for the handle and the admin API: refused once a stop was asked for, which it would only hold up
    const handOver = (r: { to: string; reason: string; by?: string }) => {
      if (life.stopRequested)
        return Promise.reject(new HaltdError('SHUTTING_DOWN', `no handover to '${r.to}': a shutdown was asked for, and this haltd runs it as leader`))
      return handover ? handover.run(r) : Promise.reject(new HaltdError('NOT_LEADING', 'this haltd has not finished its startup: it cannot hand over yet'))
    }
    let handedOver = false
    const followers = seat?.taken && config.failover ? streamFollowers(seat.nc, seat.engine) : undefined
    let uninstallSignals: (() => void) | undefined
    const life = createLifecycle({
      controller,
      gate,
      strategies: host,
      emitter,
      logger,
      onError,
      deadlines: { gracefulMs: config.shutdown.graceful.deadlineMs, emergencyMs: config.shutdown.emergency.deadlineMs },
      keepUnrecordedEmergency: (reason, error) => {
        const file = unrecordedEmergencyPath(log.path)
        const failed = keepUnrecordedEmergency(log.path, { reason, error, at: new Date(clock.now()).toISOString(), pid: process.pid })
        const line =
          failed === undefined
            ? `the emergency is kept in ${file}: the next start records it and comes up with the kill switch latched`
            : `the emergency could not be kept in ${file} either (${failed}): the next start does not know of it and does not come up latched`
        if (failed === undefined) logger.warn({ file }, line)
        else logger.fatal({ file }, line)
        sayOnStderr(line)
      },
      cancelUnrecorded: () =>
        cancelEverywhereUnrecorded({
          venues,
          scope: config.shutdown.emergency.cancelScope,
          budgetMs: emergencyBudget('cancel all orders', config.shutdown),
          logger,
        }),
      watchdog: ports.watchdog ?? ports.exitProcess ?? false,
      exitProcess: ports.exitProcess ?? false,
      finish: {
        quiesce: async () => {
          for (const stop of [() => switches.stopRefreshing(), () => uninstallSignals?.(), () => risk.stop(), () => marketData.stop()]) {
            try {
              stop()
            } catch (e) {
              onError(e)
            }
          }
          await host.stop().catch(onError)
          // Every notification in flight (an emergency's, a kill switch's, a log fault's) ends before the run does.
          await taps.notificationsSettled()
          await notifier.settled()
        },
        recordEnd: (code) => {
          exitCode = code
          // a run that handed over recorded so before the offer, and its log takes no more writes;
          // one whose handover rolled back records its real end here
          if (!handedOver) endRun(log, runId, code)
        },
        release: async () => {
          await admin?.close().catch(onError)
          removeAdminInfo(adminInfoPath(config.db.path))
          await cleanups.run(onError)
          runner.stop()
          log.close()
        },
      },
      unrecorded: () => (logHealth.fault ? describeLogFault(logHealth.fault) : undefined),
      notLeading: () => leadership?.lost,
      handover: () => handover?.current,
    })
    if (config.signals) uninstallSignals = installSignalHandlers(life.signalHandlers())
    // a standby taking over was signalled an emergency before these handlers went in: asked now, as they would have
    for (const stop of ports.takeover?.stops?.() ?? []) {
      const h = life.signalHandlers()
      if (stop.mode === 'emergency') h.halt(stop.reason)
      h.request(stop.mode, stop.reason)
    }

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
        logFault: logHealth.fault,
        replication: replication?.status(),
        fleet: fleet?.describe(),
      })
    // an engine's order waits for the startup reconciliation: until then haltd does not know what the venues hold
    const notYet = () => (startup === undefined ? 'haltd is starting: the venues are being reconciled; enter the order again once it runs' : undefined)
    const entry = await startOrderEntry({ config, adminToken, log, router, venues, state, emitter, logger, clock, cleanups, notYet })
    if (config.admin.enabled) {
      const logFault = () => logHealth.fault?.error
      const backend = {
        log,
        logFault,
        state,
        status,
        router,
        risk,
        drain,
        pause,
        venues,
        venueHealth,
        marketData,
        gate,
        clock,
        startedAt,
        onError,
        replication: () => replication?.status(),
        ...(leadership ? { leadershipLost: () => leadership.lost, leaseUnrenewed: () => leadership.unrenewed() } : {}),
        fleet: () => fleet?.describe(),
        fleetAdmin: () => fleet?.admin,
        // `handover` is built once startup is done: asked before that, it is refused as not leading yet
        ...(config.failover && config.replication
          ? {
              handover: handOver,
            }
          : {}),
        // a handover is offered once this haltd leads with a failover section and something follows its stream; the fleet once it has joined one
        controls: () => ({
          handover: handover !== undefined && (life.state === 'running' || life.state === 'halted') && (followers?.() ?? 0) > 0,
          fleet: fleet?.admin !== undefined,
        }),
      }
      admin = await startAdmin({
        backend,
        life,
        controller,
        config,
        token: adminToken,
        logger,
        cleanups,
        routes: entry?.routes,
        handoverSince: takenOver?.handoverId ? { handoverId: takenOver.handoverId } : undefined,
      })
    }

    // ── the fleet: its kill switch, read before startup (set, it holds this engine HALTED), and this engine's row
    fleet = await joinFleet({
      config,
      state,
      status,
      lifecycle: () => life.state,
      gate,
      killSwitch: risk,
      record: (event) => log.append(event),
      requestShutdown: (mode, reason, origin) => life.requestShutdown(mode, reason, origin),
      // one that handed the engine over, or lost its lease, leads it no more: its row says so
      role: ports.fleetRole ?? (() => (handedOver || leadership?.lost !== undefined ? 'standby' : 'leader')),
      now: () => clock.now(),
      logger,
      onError,
    })
    if (fleet) {
      const member = fleet
      cleanups.push(() => member.close(exitCode))
      emitter.on('lifecycle', () => member.publish())
    }

    // ── startup: halted?, connect, reconcile, resume, enable ─────────────────────────────
    startup = await startUp({ config, log, state, gate, venues, runId, switches, deploy, marketData, risk, life, cleanups, logger, onError })
    // after the connect, which learns the books an account refuses to list
    for (const g of config.guardian ? venues.values() : [])
      if (g.wholeAccountRefusal)
        logger.warn(
          { venue: g.venue, why: g.wholeAccountRefusal },
          g.followsAccount
            ? `guardian: ${g.venue} is followed account-wide, but not all of it (${g.wholeAccountRefusal}): what the engine has in those books goes unseen by the lists named (a shutdown cancels no order in a book whose open orders it cannot list), and a shutdown's report names these books as not seen`
            : `guardian: ${g.venue} is followed on its symbols only, not the whole account (${g.wholeAccountRefusal}): orders and positions the engine has elsewhere there go unseen`,
        )
    for (const g of guardians) g.start()
    if (takenOver?.reason === 'handover' && takenOver.handoverId) {
      const adopted = startup.adopted.length
      for (const e of standbySteps(takenOver.handoverId, {
        'confirm-last-seq': `held seq ${seqAtOpen}, the stream's last, when it took the lease`,
        'take-lease': `epoch ${takenOver.lease.epoch}`,
        'adopt-orders': `${state().inFlight} open orders kept at the venues${adopted ? `, ${adopted} adopted` : ''}`,
        'open-gate': gate.halted ? `the gate stays closed: ${gate.latchReason ?? 'HALTED'}` : 'open',
      }))
        log.append(e)
    }
    if (leadership && replication && seat?.taken && config.failover) {
      handover = createHandover({
        log,
        gate,
        // a cancel's answer is recorded too: the release waits for it
        submitsInFlight: () => router.submitsInFlight + router.cancelsInFlight,
        flush: (ms) => replication.flush(ms),
        leadership,
        kv: seat.taken.kv,
        budgetMs: config.failover.handoverBudgetMs,
        maxOfferMs: Math.floor(config.failover.leaseMs / 2),
        logger,
        recordHandedOver: (handover) => handedOverRun(log, runId, handover),
        quiesceWriters: () => {
          const was = marketData.running
          marketData.stop()
          return () => (was ? marketData.start() : undefined)
        },
        holdVenueFacts: () => venueFacts.hold(),
        afterHandover: () => {
          handedOver = true
          if (venueFacts.held > 0) logger.info({ facts: venueFacts.held }, 'handed over: venue facts heard after the release are left to the new leader')
          void life.close(0)
        },
      })
    }

    const adminHandle = admin ? { url: admin.url, token: adminToken } : undefined
    const handOverFromHandle: Haltd['handover'] = (r) =>
      leadership && replication && seat?.taken && config.failover
        ? handOver(r)
        : Promise.reject(new HaltdError('NO_FAILOVER', 'this haltd leads no engine: there is no standby to hand over to'))
    return haltdHandle({
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
      router,
      strategies: host,
      admin: adminHandle,
      orderEntry: entry?.entry,
      life,
      emitter,
      handover: handOverFromHandle,
    })
  } catch (e) {
    await releaseFailedStartup({ cleanups, log, runner, runId })
    throw e
  }
}
