import type { DashboardView } from '../../src/admin/dashboard/view.js'
import { HaltdError } from '../../src/events/errors.js'
import type { EventLog } from '../../src/core/log/event-log.js'
import type { AdminBackend } from '../../src/admin/index.js'

/**
 * An admin backend that only records each action in a real log, the way the daemon's does:
 * enough to test the HTTP and WebSocket surface on its own.
 */
export function logBackend(log: EventLog): AdminBackend & { latched: () => boolean } {
  let latched = false
  const trading = (type: string) => (r: { reason: string; origin: string }) => log.append({ type, data: { reason: r.reason, origin: r.origin } }).seq
  return {
    log,
    latched: () => latched,
    health: () => ({ ok: true, log: { ok: true, lastSeq: log.lastSeq, lastEventAt: null }, venues: [{ venue: 'binance-sim', connected: true, latencyMs: 3 }] }),
    status: () => ({ state: 'RUNNING', lastSeq: log.lastSeq }),
    metrics: () => [
      { name: 'haltd_events_total', help: 'events in the log', type: 'counter', samples: [{ value: log.lastSeq }] },
      { name: 'haltd_open_orders', help: 'open orders by venue', type: 'gauge', samples: [{ labels: { venue: 'okx "sim"' }, value: 2 }] },
    ],
    positions: () => [],
    orders: () => [],
    reconciliation: () => ({ rows: [] }),
    inflight: () => ({ count: 0 }),
    drainStatus: () => ({ state: 'Active' }),
    // the page's view is the daemon's (test/admin/dashboard-*); here only that the feed carries it
    dashboard: () => ({ seq: log.lastSeq, state: 'running' }) as unknown as DashboardView,
    shutdown: (r) =>
      log.append({ type: 'shutdown.requested', data: { shutdownId: `s-${log.lastSeq + 1}`, mode: r.mode, reason: r.reason, origin: r.origin } }).seq,
    killswitchActivate: (r) => {
      latched = true
      return log.append({ type: 'killswitch.activated', data: { reason: r.reason, origin: r.origin, by: r.by, action: r.action } }).seq
    },
    killswitchReset: (r) => {
      if (!latched) throw new HaltdError('KILLSWITCH_NOT_LATCHED', 'the kill switch is not latched')
      latched = false
      return log.append({ type: 'killswitch.reset', data: { reason: r.reason, origin: r.origin, by: r.by } }).seq
    },
    drainStart: trading('drain.started'),
    drainCancel: trading('drain.canceled'),
    drainForce: (r) => log.append({ type: 'drain.completed', data: { outcome: 'forced', inFlight: 0, reason: r.reason, origin: r.origin } }).seq,
    pause: trading('trading.paused'),
    resume: trading('trading.resumed'),
    lockDeployments: trading('deployments.locked'),
    unlockDeployments: trading('deployments.unlocked'),
  }
}
