import { contractSizeOf, marketKey, positions, type HaltdState } from '../../projections/index.js'
import type { KillAction, RiskConfig, TriggerName } from './config.js'

/** One trigger's current reading against its threshold; it trips when `reading >= threshold`. */
export type Reading = { trigger: TriggerName; reading: number; threshold: number; action: KillAction; detail: string }

/** Gross notional: Σ |qty| × contract size × mark over every position (entry price until a mark arrives). */
export function grossNotional(state: HaltdState): number {
  let sum = 0
  for (const p of positions(state)) {
    if (p.qty === 0) continue
    sum += Math.abs(p.qty) * contractSizeOf(state.venues, p.venue, p.symbol) * (state.marks.get(marketKey(p.venue, p.symbol)) ?? p.avgEntry)
  }
  return sum
}

/**
 * Drawdown from peak equity in the configured unit. `peak` overrides the projection's peak
 * (after a reset the monitor measures from the peak seen since then).
 */
export function drawdownReading(state: HaltdState, config: NonNullable<RiskConfig['drawdown']>, peak = state.pnl.peakEquity): number {
  const drawdown = Math.max(0, peak - state.pnl.equity)
  if (config.unit === 'quote') return drawdown
  return (drawdown / (config.capital! + peak)) * 100
}

export type LiveInputs = {
  /** Since the last reset: the peak equity seen (undefined: use the projection's peak). */
  peakSinceReset: number | undefined
  errorsInWindow: number
  /** Per watched venue, milliseconds since its last market data. */
  silenceMs: ReadonlyMap<string, number>
}

/** Every configured trigger's reading, in a fixed order (the first that trips is the one recorded). */
export function readings(state: HaltdState, config: RiskConfig, live: LiveInputs): Reading[] {
  const out: Reading[] = []
  if (config.drawdown) {
    const reading = drawdownReading(state, config.drawdown, live.peakSinceReset)
    const unit = config.drawdown.unit === 'quote' ? '' : '%'
    out.push({
      trigger: 'drawdown',
      reading,
      threshold: config.drawdown.max,
      action: config.drawdown.action,
      detail: `drawdown from peak equity ${reading}${unit} (equity ${state.pnl.equity}, peak ${live.peakSinceReset ?? state.pnl.peakEquity}) reached the limit ${config.drawdown.max}${unit}`,
    })
  }
  if (config.grossNotional) {
    const reading = grossNotional(state)
    out.push({
      trigger: 'grossNotional',
      reading,
      threshold: config.grossNotional.max,
      action: config.grossNotional.action,
      detail: `gross position notional ${reading} reached the limit ${config.grossNotional.max}`,
    })
  }
  if (config.errorBurst) {
    const { max, windowMs, action } = config.errorBurst
    out.push({
      trigger: 'errorBurst',
      reading: live.errorsInWindow,
      threshold: max,
      action,
      detail: `${live.errorsInWindow} rejects or venue errors within ${windowMs} ms reached the limit ${max}`,
    })
  }
  if (config.feedLoss) {
    let worst: [string, number] | undefined
    for (const [venue, ms] of live.silenceMs) if (worst === undefined || ms > worst[1]) worst = [venue, ms]
    if (worst) {
      out.push({
        trigger: 'feedLoss',
        reading: worst[1],
        threshold: config.feedLoss.maxSilenceMs,
        action: config.feedLoss.action,
        detail: `no market data from ${worst[0]} for ${worst[1]} ms reached the limit ${config.feedLoss.maxSilenceMs} ms`,
      })
    }
  }
  return out
}
