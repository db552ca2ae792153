import type { Strategy } from './contract.js'
import { InvalidStrategyConfig } from './errors.js'
import { MarketMaker } from './market-maker.js'
import { MomentumTaker } from './taker.js'

/** One strategy as the config file describes it (the shape of `strategies[]`). */
export type StrategySpec = {
  id: string
  kind: 'market-maker' | 'taker'
  venue: string
  symbol: string
  params?: Record<string, unknown>
}

/**
 * A sample strategy from its config entry. `params` override the defaults below; the strategy
 * checks them itself and names a bad one (`market-maker.halfSpreadBps`).
 */
export function createStrategy(spec: StrategySpec): Strategy {
  const markets = [{ venue: spec.venue, symbol: spec.symbol }]
  const params = spec.params ?? {}
  switch (spec.kind) {
    case 'market-maker':
      return new MarketMaker({ qty: 0.01, halfSpreadBps: 5, requoteBps: 3, maxInventory: 0.05, ...params, id: spec.id, markets })
    case 'taker':
      return new MomentumTaker({ qty: 0.05, lookback: 5, thresholdBps: 8, cooldownTicks: 5, ...params, id: spec.id, markets })
    default:
      throw new InvalidStrategyConfig('kind', `unknown strategy kind '${String((spec as { kind: unknown }).kind)}' (known: market-maker, taker)`)
  }
}
