import { inFlight, openOrders, positions, strategies, type HaltdState } from '../projections/index.js'
import type { Metric } from '../admin/prometheus.js'

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
}

const gauge = (name: string, help: string, samples: Metric['samples']): Metric => ({ name, help, type: 'gauge', samples })
const counter = (name: string, help: string, samples: Metric['samples']): Metric => ({ name, help, type: 'counter', samples })

/** What `/metrics` exposes, all read from the projections and the daemon's counters. */
export function daemonMetrics(m: MetricsInput): Metric[] {
  const s = m.state
  const byVenue = new Map<string, number>()
  for (const o of openOrders(s)) byVenue.set(o.venue, (byVenue.get(o.venue) ?? 0) + 1)
  const modes = ['ACTIVE', 'REDUCING', 'HALTED'] as const
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
    gauge('haltd_shutdown_in_progress', '1 while a shutdown runs', [{ value: m.shuttingDown ? 1 : 0 }]),
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
  ]
}
