import type { TickerSource } from '../ticker-source.js'
import type { SimExchange } from './sim-exchange.js'

export function simTickerSource(sim: SimExchange, symbols: readonly string[], intervalMs: number): TickerSource {
  return {
    venue: sim.venue,
    symbols,
    onTicker: (h) => sim.onTicker(h),
    start: () => sim.startFeed(intervalMs),
    stop: () => sim.stopFeed(),
  }
}
