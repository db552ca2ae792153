import type { HaltdConfigInput } from './config.js'

/**
 * Where the demo's simulated venues keep what they hold, beside the log: they outlive the process
 * as real venues do, so a demo killed and started again settles its log against them.
 */
export const demoVenuesPath = (db: string): string => `${db}.venues`

/** The demo's three simulated venues, named like the real ones they stand in for. */
export const DEMO_VENUES = ['binance-sim', 'okx-sim', 'kraken-sim'] as const

export type DemoOptions = {
  db: string
  port: number
  seed: number
  /** Resting orders to keep open besides the strategies' quotes, for trying the emergency path at size. */
  orders: number
}

const SYMBOLS = [
  { symbol: 'BTC/USDT:USDT', mid: 64_000, amountStep: 0.001, priceStep: 0.1, spreadBps: 2, volatilityBps: 4 },
  { symbol: 'ETH/USDT:USDT', mid: 3_200, amountStep: 0.01, priceStep: 0.01, spreadBps: 3, volatilityBps: 6 },
]

/**
 * The whole demo as one config: three seeded venues (same --seed, same market), a market maker on
 * each and a momentum taker on one, a kill switch on drawdown, and a graceful shutdown that
 * flattens so that SIGTERM ends flat.
 */
export function demoConfig(options: DemoOptions): HaltdConfigInput {
  return {
    db: { path: options.db, durability: 'process', snapshotEvery: 5_000 },
    admin: { enabled: true, host: '127.0.0.1', port: options.port },
    venues: DEMO_VENUES.map((name, i) => ({
      kind: 'sim' as const,
      name,
      seed: options.seed * 1_000 + i,
      mode: 'derivatives' as const,
      stateFile: demoVenuesPath(options.db),
      symbols: SYMBOLS,
      feedMs: 500,
      faults: { latency: { minMs: 2 + i * 3, maxMs: 15 + i * 10 } },
    })),
    strategies: [
      ...DEMO_VENUES.map((venue) => ({
        kind: 'market-maker' as const,
        id: `mm-${venue.replace('-sim', '')}`,
        markets: SYMBOLS.map((s) => ({ venue, symbol: s.symbol })),
        qty: 0.01,
        halfSpreadBps: 4,
        requoteBps: 3,
        maxInventory: 0.05,
        limits: { maxPosition: 0.1, maxOpenOrders: 8, maxOrdersPerSecond: 20 },
      })),
      {
        kind: 'taker' as const,
        id: 'taker-binance',
        markets: [{ venue: 'binance-sim', symbol: 'BTC/USDT:USDT' }],
        qty: 0.01,
        lookback: 8,
        thresholdBps: 4,
        cooldownTicks: 6,
        limits: { maxPosition: 0.05, maxOpenOrders: 2, maxOrdersPerSecond: 5 },
      },
    ],
    risk: { drawdown: { max: 5_000, action: 'HALTED' }, errorBurst: { max: 50, windowMs: 10_000, action: 'HALTED' } },
    shutdown: { graceful: { flatten: 'aggressive', waitTimeoutMs: 10_000 } },
    startup: { refuseToStartOnMismatch: false, adoptTaggedOrders: true },
    signals: true,
  }
}

/** Where a resting demo order goes: far enough from the mid that it will not fill, spread over venues and sides. */
export function restingOrderPlan(
  n: number,
  mids: Readonly<Record<string, number>>,
): { venue: string; symbol: string; side: 'buy' | 'sell'; qty: number; price: number }[] {
  const out = []
  for (let i = 0; i < n; i++) {
    const venue = DEMO_VENUES[i % DEMO_VENUES.length]!
    const sym = SYMBOLS[Math.floor(i / DEMO_VENUES.length) % SYMBOLS.length]!
    const side = Math.floor(i / (DEMO_VENUES.length * SYMBOLS.length)) % 2 === 0 ? 'buy' : 'sell'
    const mid = mids[`${venue} ${sym.symbol}`] ?? sym.mid
    // 20 % to 30 % away, in price steps: resting, never crossed by the demo's random walk
    const away = 0.2 + ((i * 7919) % 1000) / 10_000
    const raw = side === 'buy' ? mid * (1 - away) : mid * (1 + away)
    const price = Number((Math.round(raw / sym.priceStep) * sym.priceStep).toFixed(2))
    out.push({ venue, symbol: sym.symbol, side, qty: sym.amountStep, price } as const)
  }
  return out
}
