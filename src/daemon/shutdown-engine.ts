import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import type { Clock, IdSource } from '../events/clock.js'
import type { ExchangeGateway } from '../exchanges/gateway.js'
import type { StrategyHost } from '../strategies/index.js'
import type { EventLog } from '../core/log/event-log.js'
import type { OrderGate } from '../core/execution/gate.js'
import type { OrderRouter } from '../core/execution/order-router.js'
import type { RiskMonitor } from '../core/risk/index.js'
import { createCheckpointer } from '../core/shutdown/checkpoint.js'
import { ShutdownController } from '../core/shutdown/controller.js'
import type { ShutdownWorld } from '../core/shutdown/types.js'
import type { SocketInfo } from '../core/shutdown/handles.js'
import { redactConfig, type HaltdConfig } from './config.js'
import type { KeptSwitches } from './dead-mans-switches.js'
import type { Logger } from './logger.js'
import type { MarketData } from './market-data.js'
import type { Notifier } from './notify/index.js'
import { createEngineControl, engineShutdownOptions } from './engine-process.js'

/** The shutdown procedures over this daemon's parts: what each step stops, checks and saves. */
export function createShutdownEngine(input: {
  config: HaltdConfig
  log: EventLog
  gate: OrderGate
  router: OrderRouter
  venues: ReadonlyMap<string, ExchangeGateway>
  clock: Clock
  ids: IdSource
  world: () => ShutdownWorld
  host: StrategyHost
  /** The dead man's switches kept armed, once startup has armed them. */
  switches: Pick<KeptSwitches, 'release'>
  notifier: Notifier
  marketData: MarketData
  risk: RiskMonitor
  logger: Logger
  /** Outbound sockets the daemon keeps open on purpose past step 12 (its links to NATS). */
  keepsSocket?: (socket: SocketInfo) => boolean
  /** Why this instance no longer leads its engine, once it recorded so. */
  notLeading?: () => string | undefined
}): ShutdownController {
  const { config, log, host, marketData, risk, router, logger } = input
  const engine = config.engine && createEngineControl(config.engine)
  const unreachable = engine?.atStart()
  if (unreachable) logger.warn({ engine: config.engine!.name, why: unreachable }, `the engine's process (${config.engine!.name}): ${unreachable}`)
  const checkpointer = createCheckpointer({
    primary: config.shutdown.checkpoint.path ?? `${config.db.path}.checkpoint.json`,
    fallback: config.shutdown.checkpoint.fallbackPath ?? join(tmpdir(), `haltd-${basename(config.db.path)}.checkpoint.json`),
    logPath: config.db.path,
  })
  return new ShutdownController({
    log,
    gate: input.gate,
    router,
    venues: input.venues,
    clock: input.clock,
    ids: input.ids,
    world: input.world,
    strategies: host,
    deadMansSwitches: { release: (venue, verified) => input.switches.release(venue, verified) },
    checkpointer,
    notifier: input.notifier,
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
    ...(engine ? { engine } : {}),
    ...(input.keepsSocket ? { keepsSocket: input.keepsSocket } : {}),
    ...(input.notLeading ? { notLeading: input.notLeading } : {}),
    onReport: (report) =>
      logger.info(
        {
          shutdownId: report.shutdownId,
          positions: report.positions.length,
          openOrders: report.openOrders.count,
          reconciliationOk: report.reconciliation.ok,
          reconciliation: report.reconciliation.verdict,
          unverified: report.reconciliation.unverified,
        },
        'post-shutdown report',
      ),
    options: {
      // a guardian's scope is the account already (parseConfig)
      graceful: config.shutdown.graceful,
      emergency: config.shutdown.emergency,
      ...(config.engine ? { engine: engineShutdownOptions(config.engine) } : {}),
    },
  })
}
