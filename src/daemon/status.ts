import { isPriced, reconciliation, type HaltdState } from '../projections/index.js'
import type { StrategyStatus } from '../strategies/index.js'
import type { ShutdownController } from '../core/shutdown/controller.js'
import type { VenueLatency } from './venue-health.js'
import type { StartupReconciliation } from './startup.js'
import type { DaemonStatus } from './types.js'
import { HALTD_VERSION } from './version.js'

/** What `/status` is made of, each read at the moment it is asked. */
export type StatusInputs = {
  lifecycle: DaemonStatus['state']
  state: HaltdState
  run: { runId: string; pid: number; startedAt: number }
  now: number
  gate: { readonly halted: boolean; readonly latchReason: string | undefined; readonly fenced?: string | undefined }
  /** The venues this run trades on, in their configured order. */
  venues: Iterable<string>
  /** Round trips measured on recent calls: fresher than the latency of the connect in the log. */
  measuredLatency: (venue: string) => VenueLatency | undefined
  strategies: readonly Pick<StrategyStatus, 'id' | 'enabled' | 'disabledReason'>[]
  shutdown: ShutdownController['running']
  startup: StartupReconciliation | undefined
  adminUrl: string | undefined
  /** The first write the log could not make this run, if any. */
  logFault?: { error: string; at: number; failures: number } | undefined
  /** The log's way to the engine's stream, when replication is configured. */
  replication?: DaemonStatus['replication']
  /** This engine in the fleet, when it has one. */
  fleet?: DaemonStatus['fleet'] | undefined
}

/** What the status says of the projections alone: a leader's and a standby's alike. */
export function tradingStatus(
  s: HaltdState,
): Pick<DaemonStatus, 'mode' | 'killSwitch' | 'positions' | 'pnl' | 'reconciliation' | 'drain' | 'paused' | 'deploymentsLocked'> {
  const t = s.trading
  const ks = t.killSwitch
  return {
    mode: t.mode,
    killSwitch: ks.latched ? { latched: true, reason: ks.reason, action: ks.action, ...(ks.by ? { by: ks.by } : {}) } : { latched: false },
    positions: statusPositions(s),
    pnl: { realized: s.pnl.realized, fees: s.pnl.fees, unrealized: s.pnl.unrealized, equity: s.pnl.equity, drawdown: s.pnl.drawdown },
    reconciliation: statusReconciliation(s),
    drain: t.drain.state,
    paused: t.paused !== false,
    deploymentsLocked: t.deploymentsLocked !== false,
  }
}

/** The daemon's status: the projections, the gate, the strategies and the running shutdown in one view. */
export function daemonStatus(i: StatusInputs): DaemonStatus {
  const s = i.state
  const running = i.shutdown
  const step = running ? [...running.state.steps].reverse().find((x) => x.procedure === running.state.procedure) : undefined
  return {
    state: i.lifecycle,
    pid: i.run.pid,
    runId: i.run.runId,
    version: HALTD_VERSION,
    seq: s.seq,
    uptimeMs: i.now - i.run.startedAt,
    gate: {
      halted: i.gate.halted,
      ...(i.gate.latchReason ? { reason: i.gate.latchReason } : {}),
      ...(i.gate.fenced !== undefined ? { fenced: i.gate.fenced } : {}),
    },
    openOrders: s.inFlight,
    venues: [...i.venues].map((venue) => {
      const latency = i.measuredLatency(venue)?.latencyMs ?? s.venues.get(venue)?.latencyMs
      return { venue, connected: s.venues.get(venue)?.connected === true, ...(latency !== undefined ? { latencyMs: latency } : {}) }
    }),
    strategies: i.strategies.map((x) => ({ id: x.id, enabled: x.enabled, ...(x.disabledReason ? { reason: x.disabledReason } : {}) })),
    ...tradingStatus(s),
    shutdown: running
      ? {
          shutdownId: running.shutdownId,
          mode: running.state.mode ?? 'graceful',
          procedure: running.state.procedure,
          status: running.status,
          ...(step ? { step: step.step, stepName: step.name } : {}),
        }
      : null,
    startup: i.startup,
    anomalies: s.anomalyCount,
    ...(i.adminUrl ? { admin: { url: i.adminUrl } } : {}),
    ...(i.replication ? { replication: i.replication } : {}),
    ...(i.fleet ? { fleet: i.fleet } : {}),
    ...(i.logFault ? { log: { ok: false, error: i.logFault.error, since: new Date(i.logFault.at).toISOString(), failedWrites: i.logFault.failures } } : {}),
  }
}

/** The positions held, each with its market's amount step where the venue named one. */
function statusPositions(s: HaltdState): DaemonStatus['positions'] {
  return [...s.positions.values()]
    .filter((p) => Math.abs(p.qty) > 1e-12)
    .map((p) => {
      const amountStep = s.venues.get(p.venue)?.markets.get(p.symbol)?.amountStep
      return {
        venue: p.venue,
        symbol: p.symbol,
        qty: p.qty,
        avgEntry: p.avgEntry,
        unrealized: p.unrealized,
        ...(amountStep !== undefined ? { amountStep } : {}),
        ...(isPriced(s, p.venue, p.symbol) ? {} : { unpriced: true as const }),
      }
    })
}

function statusReconciliation(s: HaltdState): DaemonStatus['reconciliation'] {
  const r = reconciliation(s)
  return { verdict: r.verdict, venues: r.perVenue }
}
