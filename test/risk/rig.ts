import { manualClock } from '../../src/events/clock.js'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { OrderGate } from '../../src/core/execution/gate.js'
import { createProjectionRunner, type ProjectionRunner } from '../../src/core/log/projection-runner.js'
import { RiskMonitor } from '../../src/core/risk/index.js'
import type { HaltdState } from '../../src/projections/index.js'
import { tempDb } from '../support/tmp.js'
import { gateView } from '../strategies/rig.js'

export type RiskRig = {
  path: string
  log: EventLog
  runner: ProjectionRunner
  state: () => HaltdState
  gate: OrderGate
  monitor: RiskMonitor
  clock: ReturnType<typeof manualClock>
  emergencies: string[]
  errors: unknown[]
  close(): void
}

/** A real log file, live projections, the gate reading them, and the monitor wired to all three. */
export function riskRig(config: unknown, options: { path?: string; clock?: ReturnType<typeof manualClock> } = {}): RiskRig {
  const path = options.path ?? tempDb()
  const clock = options.clock ?? manualClock(1_700_000_000_000)
  const log = openEventLog({ path, clock })
  const runner = createProjectionRunner({ log })
  const state = () => runner.state
  const gate = new OrderGate(() => gateView(runner.state))
  const emergencies: string[] = []
  const errors: unknown[] = []
  const monitor = new RiskMonitor({ config, log, state, gate, clock, startEmergency: (reason) => emergencies.push(reason), onError: (e) => errors.push(e) })
  // after the projection runner, so the monitor reads projections that include the event
  const off = log.subscribe(log.lastSeq + 1, (e) => monitor.observe(e))
  return {
    path,
    log,
    runner,
    state,
    gate,
    monitor,
    clock,
    emergencies,
    errors,
    close() {
      monitor.stop()
      off()
      runner.stop()
      log.close()
    },
  }
}

let n = 0
/** A fill on a venue, as the venue recorder would append it (submitted first, as the router does). */
export function fill(log: EventLog, venue: string, side: 'buy' | 'sell', qty: number, price: number, strategy = 'mm'): void {
  const clientOrderId = `hd-risk-${++n}`
  log.append({
    type: 'order.submitted',
    data: { venue, clientOrderId, symbol: 'BTC/USDT', side, type: 'market', qty, origin: { kind: 'strategy', id: strategy } },
  })
  log.append({ type: 'order.filled', data: { venue, clientOrderId, tradeId: `t-${n}`, qty, price } })
}

export function mark(log: EventLog, venue: string, price: number): void {
  log.append({ type: 'market.mark', data: { venue, symbol: 'BTC/USDT', price } })
}

export function reject(log: EventLog, venue = 'a'): void {
  const clientOrderId = `hd-risk-${++n}`
  log.append({
    type: 'order.submitted',
    data: { venue, clientOrderId, symbol: 'BTC/USDT', side: 'buy', type: 'limit', qty: 1, price: 1, origin: { kind: 'strategy', id: 'mm' } },
  })
  log.append({ type: 'order.rejected', data: { venue, clientOrderId, reason: 'insufficient margin' } })
}

export const activations = (log: EventLog) => [...log.read({ types: ['killswitch.activated'] })].map((e) => e.data as Record<string, unknown>)
export const modeChanges = (log: EventLog) => [...log.read({ types: ['trading.state-changed'] })].map((e) => (e.data as { to: string }).to)
export const microtask = () => new Promise<void>((resolve) => queueMicrotask(resolve))
