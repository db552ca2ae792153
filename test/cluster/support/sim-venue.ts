import { SimExchange } from '../../../src/exchanges/sim/index.js'

/** The perpetual the simulated venue lists. */
export const SYMBOL = 'BTC/USDT:USDT'

/** Venue `sim-a`: SYMBOL at 50,000, in steps of 0.001 and 0.5; `seed` drives what it does by chance. */
export function simVenue(seed = 3): SimExchange {
  return new SimExchange({ venue: 'sim-a', seed, mode: 'derivatives', symbols: [{ symbol: SYMBOL, mid: 50_000, amountStep: 0.001, priceStep: 0.5 }] })
}

/** The engine's limit buy of 0.01 on `sim-a` at `price`: below the market, it rests. */
export const limitBuy = (price: number) => ({
  venue: 'sim-a',
  symbol: SYMBOL,
  side: 'buy' as const,
  type: 'limit' as const,
  qty: 0.01,
  price,
  origin: { kind: 'manual' as const, id: 'engine' },
})
