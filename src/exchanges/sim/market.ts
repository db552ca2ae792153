import type { MarketInfo } from '../gateway.js'
import type { Rng } from '../rng.js'
import type { SimSymbolConfig } from './config.js'

export type Ticker = { symbol: string; bid: number; ask: number; mid: number; ts: number }

const decimalsOf = (step: number): number => Math.max(0, Math.min(15, Math.ceil(-Math.log10(step) - 1e-9)))

/** Rounds to a multiple of `step`, cleaned of binary noise (0.1 + 0.2 stays 0.3). */
function snapper(step: number): (x: number) => number {
  const d = decimalsOf(step)
  return (x) => Number((Math.round(x / step) * step).toFixed(d))
}
function flooring(step: number): (x: number) => number {
  const d = decimalsOf(step)
  return (x) => Number((Math.floor(x / step + 1e-9) * step).toFixed(d))
}

/** One symbol's market: a mid doing a seeded random walk and a touch around it. */
export class SymbolMarket {
  readonly symbol: string
  readonly base: string
  readonly quote: string
  readonly info: MarketInfo
  readonly snapQty: (x: number) => number
  readonly floorQty: (x: number) => number
  readonly snapPrice: (x: number) => number
  mid: number
  bid = 0
  ask = 0

  constructor(private readonly cfg: SimSymbolConfig) {
    this.symbol = cfg.symbol
    const [pair, settle] = cfg.symbol.split(':') as [string, string | undefined]
    const [base, quote] = pair.split('/') as [string, string]
    this.base = base
    this.quote = settle ?? quote
    this.info = { symbol: cfg.symbol, amountStep: cfg.amountStep, priceStep: cfg.priceStep, minQty: cfg.minQty ?? cfg.amountStep }
    this.snapQty = snapper(cfg.amountStep)
    this.floorQty = flooring(cfg.amountStep)
    this.snapPrice = snapper(cfg.priceStep)
    this.mid = this.snapPrice(cfg.mid)
    this.quoteAround()
  }

  /** One step of the walk: a log-normal move of `volatilityBps`. */
  walk(rng: Rng): void {
    const move = Math.exp((this.cfg.volatilityBps / 1e4) * rng.normal())
    this.setMid(this.mid * move)
  }

  setMid(mid: number): void {
    this.mid = Math.max(this.cfg.priceStep, this.snapPrice(mid))
    this.quoteAround()
  }

  ticker(ts: number): Ticker {
    return { symbol: this.symbol, bid: this.bid, ask: this.ask, mid: this.mid, ts }
  }

  private quoteAround(): void {
    const half = Math.max(this.cfg.priceStep, this.snapPrice((this.mid * this.cfg.spreadBps) / 2e4))
    this.bid = Math.max(this.cfg.priceStep, this.snapPrice(this.mid - half))
    this.ask = this.snapPrice(this.mid + half)
  }
}
