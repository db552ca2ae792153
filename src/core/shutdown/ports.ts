import type { Origin } from '../../events/index.js'
import type { ExchangeGateway } from '../../exchanges/gateway.js'
import type { Clock } from '../../events/clock.js'
import type { EventLog } from '../log/event-log.js'
import type { OrderGate } from '../execution/gate.js'
import type { Notifier } from './notifier.js'
import type { OrderRouter } from '../execution/order-router.js'
import type { Checkpointer } from './checkpoint.js'
import type { SocketInfo } from './handles.js'
import type { ShutdownReport } from './report.js'
import type { ServiceName, ShutdownWorld } from './types.js'
import type { EngineControl } from './engine-control.js'

/** What steps 3, 4 and 8 ask of the strategies. `StrategyHost` fits it as it is. */
export type StrategyControl = {
  disableAll(reason: string, origin?: Origin): unknown
  reduceLimits(pct: number, reason: string, origin?: Origin): unknown
  checkpointState(): unknown
}

/**
 * Everything the shutdown runner acts through. Only `log`, `gate`, `router`, `venues`, `world`
 * and `clock` are required; a missing optional port makes its commands succeed with a note
 * saying nothing was there to act on (a daemon without strategies has none to disable).
 */
export type ShutdownPorts = {
  log: EventLog
  gate: OrderGate
  router: OrderRouter
  venues: ReadonlyMap<string, ExchangeGateway>
  /** The live projections as the shutdown sees them (`worldOf(projectionRunner.state)`). */
  world: () => ShutdownWorld
  clock: Clock
  strategies?: StrategyControl
  checkpointer?: Checkpointer
  notifier?: Notifier
  /** Step 11 stops these in order; each resolves once its service has stopped. */
  services?: Partial<Record<ServiceName, () => unknown>>
  /** Step 9: unsubscribe every market data feed. */
  marketData?: { stop(): unknown }
  /** Saved in the checkpoint (secrets already redacted by whoever passes it). */
  config?: unknown
  /** Step 12 adds these checks; each resolves to a problem or undefined. */
  healthChecks?: Record<string, () => Promise<string | undefined> | string | undefined>
  /**
   * Step 12 fails on any outbound socket still open; this names those the host keeps on purpose
   * (an embedding engine's own database connection, say), which are then only counted.
   */
  keepsSocket?: (socket: SocketInfo) => boolean
  /** Receives the post-shutdown report (step 13, and the stop of the emergency path). */
  onReport?: (report: ShutdownReport) => void
  /**
   * Step 10 hands each venue's kept dead man's switch back before closing its connection:
   * `verified` is true only in a graceful shutdown that left nothing at that venue in doubt.
   */
  deadMansSwitches?: { release(venue: string, verified: boolean): Promise<string> }
  /** Per-order cancels in flight at once per venue where a venue has no mass or batch cancel. */
  cancelConcurrency?: number
  /** The trading engine's process (`control-engine` commands), where haltd controls it. */
  engine?: EngineControl
  /** Why this instance no longer leads its engine, once it recorded so (`leadership.lost`); undefined while it leads or runs alone. */
  notLeading?: () => string | undefined
}
