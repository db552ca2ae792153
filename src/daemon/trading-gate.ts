import type { HaltdState } from '../projections/index.js'
import { OrderGate } from '../core/execution/gate.js'

/** The order gate, reading the trading projection: its mode, and why strategy orders wait (paused, draining). */
export function tradingGate(state: () => HaltdState): OrderGate {
  return new OrderGate(() => {
    const t = state().trading
    const block = t.paused ? `trading is paused: ${t.paused.reason}` : t.drain.state !== 'Active' ? `draining (${t.drain.state})` : undefined
    return { mode: t.mode, strategyBlock: block }
  })
}
