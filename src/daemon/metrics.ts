import { inFlight, openOrders, positions, strategies, type HaltdState } from '../projections/index.js'
import type { ShutdownState } from '../projections/shutdowns.js'
import type { Metric } from '../admin/prometheus.js'
import type { EventLoopLag } from './event-loop.js'

export type MetricsInput = {
  state: HaltdState
  lastSeq: number
  startedAt: number
  now: number
  lifecycle: string
  gateHalted: boolean
  gateRefusals: number
  ticks: ReadonlyMap<string, number>
  shuttingDown: boolean
  /** Median round trip of recent calls, by venue. */
  latencyMs?: ReadonlyMap<string, number>
  /** The log's way to the engine's stream, when replication is configured. */
  replication?: { state: string; ackedSeq: number; lagEvents: number; lagMs: number; mode: string } | undefined
  /** The process's own numbers; read from this process when absent. */
  process?: ProcessSample
}

/** What the standard `process_*` and `nodejs_*` metrics are made of. */
export type ProcessSample = { residentBytes: number; cpuSeconds: number; startTimeSeconds: number; eventLoop?: EventLoopLag }

export function sampleProcess(eventLoop?: EventLoopLag): ProcessSample {
  const cpu = process.cpuUsage()
  return {
    residentBytes: process.memoryUsage.rss(),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    // wall clock on purpose: the process started in real time, whatever clock haltd runs on
    startTimeSeconds: Math.round(Date.now() / 1000 - process.uptime()),
    ...(eventLoop ? { eventLoop } : {}),
  }
}

const DRAIN_MODE = { Active: 0, Draining: 1, Drained: 2 } as const

/** The shutdown running now: the newest one without its end, when the daemon says one runs. */
function runningShutdown(s: HaltdState, shuttingDown: boolean): ShutdownState | undefined {
  if (!shuttingDown) return undefined
  let found: ShutdownState | undefined
  for (const sd of s.shutdowns.values()) if (sd.completed === undefined && sd.requestedAt !== undefined) found = sd
  return found
}

/** The step a shutdown is at (the last one its current procedure recorded) and when it must end. */
function shutdownProgressNow(sd: ShutdownState): { step?: number; deadlineMs?: number } {
  let step: number | undefined
  for (let i = sd.steps.length - 1; i >= 0; i--) {
    if (sd.steps[i]!.procedure === sd.procedure) {
      step = sd.steps[i]!.step
      break
    }
  }
  // An escalated shutdown's emergency deadline counts from the escalation, as its runner's does.
  const from = sd.procedure === 'emergency' && sd.mode !== 'emergency' ? (sd.escalation?.at ?? sd.requestedAt) : sd.requestedAt
  const deadline = sd.procedure === 'emergency' ? sd.options.emergency.deadlineMs : sd.options.graceful.deadlineMs
  return { ...(step !== undefined ? { step } : {}), ...(from !== undefined ? { deadlineMs: from + deadline } : {}) }
}

const gauge = (name: string, help: string, samples: Metric['samples']): Metric => ({ name, help, type: 'gauge', samples })
const counter = (name: string, help: string, samples: Metric['samples']): Metric => ({ name, help, type: 'counter', samples })

/** What `/metrics` exposes, all read from the projections and the daemon's counters. */
export function daemonMetrics(m: MetricsInput): Metric[] {
  const s = m.state
  const byVenue = new Map<string, number>()
  for (const o of openOrders(s)) byVenue.set(o.venue, (byVenue.get(o.venue) ?? 0) + 1)
  const modes = ['ACTIVE', 'REDUCING', 'HALTED'] as const
  const t = s.trading
  const shutdown = runningShutdown(s, m.shuttingDown)
  const progress = shutdown ? shutdownProgressNow(shutdown) : {}
  const proc = m.process ?? sampleProcess()
  return [
    gauge('haltd_up', '1 while the daemon runs', [{ value: 1 }]),
    gauge('haltd_uptime_seconds', 'seconds since this run started', [{ value: Math.max(0, (m.now - m.startedAt) / 1000) }]),
    counter('haltd_events_total', 'events in the log (the last seq)', [{ value: m.lastSeq }]),
    gauge('haltd_last_event_timestamp_seconds', 'time of the last event applied to the projections', [{ value: s.ts / 1000 }]),
    gauge(
      'haltd_trading_mode',
      'trading mode: 1 for the current one',
      modes.map((mode) => ({ labels: { mode }, value: s.trading.mode === mode ? 1 : 0 })),
    ),
    gauge('haltd_killswitch_latched', '1 while the kill switch is latched', [{ value: s.trading.killSwitch.latched ? 1 : 0 }]),
    gauge('haltd_gate_halted', '1 while the order gate refuses everything but shutdown orders', [{ value: m.gateHalted ? 1 : 0 }]),
    counter('haltd_gate_refusals_total', 'orders the gate refused since start', [{ value: m.gateRefusals }]),
    gauge('haltd_drain_mode', 'drain: 0 Active, 1 Draining, 2 Drained', [{ value: DRAIN_MODE[t.drain.state] }]),
    gauge(
      'haltd_drain_started_timestamp_seconds',
      'when the drain under way started',
      t.drain.state === 'Draining' && t.drain.since ? [{ value: t.drain.since.ts / 1000 }] : [],
    ),
    gauge('haltd_paused', '1 while trading is paused', [{ value: t.paused === false ? 0 : 1 }]),
    gauge('haltd_deployments_locked', '1 while deployments and config changes are locked', [{ value: t.deploymentsLocked === false ? 0 : 1 }]),
    gauge('haltd_shutdown_in_progress', '1 while a shutdown runs', [{ value: m.shuttingDown ? 1 : 0 }]),
    gauge('haltd_shutdown_step', 'the step the running shutdown is at', progress.step !== undefined ? [{ value: progress.step }] : []),
    gauge(
      'haltd_shutdown_deadline_timestamp_seconds',
      "when the running shutdown's procedure must have ended (requested at + its recorded deadline)",
      progress.deadlineMs !== undefined ? [{ value: progress.deadlineMs / 1000 }] : [],
    ),
    gauge('haltd_orders_in_flight', 'orders that may still trade', [{ value: inFlight(s) }]),
    gauge(
      'haltd_open_orders',
      'orders that may still trade, by venue',
      [...byVenue].map(([venue, value]) => ({ labels: { venue }, value })),
    ),
    gauge(
      'haltd_position',
      'net position by venue and symbol',
      positions(s).map((p) => ({ labels: { venue: p.venue, symbol: p.symbol }, value: p.qty })),
    ),
    gauge('haltd_equity', 'realized - fees + unrealized since the log began', [{ value: s.pnl.equity }]),
    gauge('haltd_drawdown', 'peak equity minus equity', [{ value: s.pnl.drawdown }]),
    gauge(
      'haltd_venue_connected',
      '1 when the venue is connected',
      [...s.venues.values()].map((v) => ({ labels: { venue: v.venue }, value: v.connected ? 1 : 0 })),
    ),
    gauge(
      'haltd_venue_latency_seconds',
      'median round trip of the recent calls to the venue',
      [...(m.latencyMs ?? [])].map(([venue, ms]) => ({ labels: { venue }, value: ms / 1000 })),
    ),
    gauge(
      'haltd_strategy_enabled',
      '1 when the strategy may trade',
      strategies(s).map((x) => ({ labels: { strategy: x.strategyId }, value: x.enabled ? 1 : 0 })),
    ),
    counter(
      'haltd_market_ticks_total',
      'market data ticks received, by venue',
      [...m.ticks].map(([venue, value]) => ({ labels: { venue }, value })),
    ),
    counter('haltd_anomalies_total', 'facts that broke a rule (see /status)', [{ value: s.anomalyCount }]),
    ...replicationMetrics(m.replication),
    gauge('process_resident_memory_bytes', 'resident memory size in bytes', [{ value: proc.residentBytes }]),
    counter('process_cpu_seconds_total', 'user and system CPU time spent, in seconds', [{ value: proc.cpuSeconds }]),
    gauge('process_start_time_seconds', 'start time of the process since the epoch, in seconds', [{ value: proc.startTimeSeconds }]),
    ...(proc.eventLoop
      ? [
          gauge('nodejs_eventloop_lag_seconds', 'mean event loop lag since the last scrape, in seconds', [{ value: proc.eventLoop.meanSeconds }]),
          gauge('nodejs_eventloop_lag_p99_seconds', '99th percentile of the event loop lag since the last scrape, in seconds', [
            { value: proc.eventLoop.p99Seconds },
          ]),
          gauge('nodejs_eventloop_lag_max_seconds', 'largest event loop lag since the last scrape, in seconds', [{ value: proc.eventLoop.maxSeconds }]),
        ]
      : []),
  ]
}

const REPLICATION_STATES = ['live', 'recovering', 'blocked', 'fenced', 'stopped'] as const

/** The log's way to the stream: how far behind it is, in events and in age, and whether it publishes. */
function replicationMetrics(r: MetricsInput['replication']): Metric[] {
  if (!r) return []
  return [
    gauge('haltd_replication_lag_events', 'committed events the stream has not acknowledged yet', [{ labels: { mode: r.mode }, value: r.lagEvents }]),
    gauge('haltd_replication_lag_seconds', 'age of the oldest event the stream has not acknowledged (0 when none)', [
      { labels: { mode: r.mode }, value: r.lagMs / 1000 },
    ]),
    gauge('haltd_replication_acked_seq', 'the newest log seq the stream acknowledged', [{ value: r.ackedSeq }]),
    gauge(
      'haltd_replication_state',
      '1 for the state the publisher is in',
      REPLICATION_STATES.map((state) => ({ labels: { state }, value: r.state === state ? 1 : 0 })),
    ),
  ]
}
