import { z } from 'zod'
import { Id, Qty, MarketSymbol, Venue } from '../events/primitives.js'
import { midOf, type OrderIntent, type Strategy, type StrategyContext, type Tick } from './contract.js'
import { InvalidStrategyConfig } from './errors.js'

/**
 * A momentum taker, kept small as an example. For each market it watches the mid over the last
 * `lookback` ticks: a rise of at least `thresholdBps` makes its target position +qty, a fall
 * −qty, anything in between keeps what it holds. It trades the difference between target and
 * projected position with one market order, then waits `cooldownTicks` ticks. It remembers only
 * the recent mids, never what it thinks it holds.
 */
export const MomentumTakerConfig = z.strictObject({
  id: Id,
  markets: z.array(z.strictObject({ venue: Venue, symbol: MarketSymbol })).min(1),
  /** The absolute position it aims for when the signal is on. */
  qty: Qty,
  lookback: z.number().int().min(1).max(10_000),
  thresholdBps: z.number().finite().positive(),
  cooldownTicks: z.number().int().nonnegative().default(0),
})
export type MomentumTakerConfig = z.infer<typeof MomentumTakerConfig>

const MarketState = z.strictObject({ mids: z.array(z.number().finite().positive()), cooldown: z.number().int().nonnegative() })
const State = z.strictObject({ markets: z.record(z.string(), MarketState) })
type MarketState = z.infer<typeof MarketState>

const keyOf = (venue: string, symbol: string) => `${venue} ${symbol}`
// below this the difference between target and position is float noise, not a trade
const DUST = 1e-9

export class MomentumTaker implements Strategy {
  readonly id: string
  private readonly config: MomentumTakerConfig
  private markets: Record<string, MarketState> = {}

  constructor(config: z.input<typeof MomentumTakerConfig>) {
    const parsed = MomentumTakerConfig.safeParse(config)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      throw new InvalidStrategyConfig(['momentum-taker', ...issue.path.map(String)].join('.'), issue.message)
    }
    this.config = parsed.data
    this.id = parsed.data.id
    for (const m of parsed.data.markets) this.markets[keyOf(m.venue, m.symbol)] = { mids: [], cooldown: 0 }
  }

  onTick(tick: Tick, ctx: StrategyContext): OrderIntent[] {
    const market = this.markets[keyOf(tick.venue, tick.symbol)]
    if (!market) return []
    const { qty, lookback, thresholdBps, cooldownTicks } = this.config
    const mid = midOf(tick)
    market.mids.push(mid)
    if (market.mids.length > lookback + 1) market.mids.shift()
    if (market.cooldown > 0) {
      market.cooldown--
      return []
    }
    if (market.mids.length <= lookback) return []

    const first = market.mids[0]!
    const moveBps = ((mid - first) / first) * 1e4
    const target = moveBps >= thresholdBps ? qty : moveBps <= -thresholdBps ? -qty : undefined
    if (target === undefined) return []
    // an earlier market order still in flight: its fills will change the position
    if (ctx.openOrders(tick.venue, tick.symbol).length > 0) return []
    const delta = target - ctx.position(tick.venue, tick.symbol)
    if (Math.abs(delta) < DUST) return []
    market.cooldown = cooldownTicks
    return [{ kind: 'place', venue: tick.venue, symbol: tick.symbol, side: delta > 0 ? 'buy' : 'sell', type: 'market', qty: Math.abs(delta) }]
  }

  snapshot(): z.infer<typeof State> {
    return { markets: structuredClone(this.markets) }
  }

  restore(state: unknown): void {
    const saved = State.parse(state).markets
    for (const key of Object.keys(this.markets)) {
      const s = saved[key]
      if (s) this.markets[key] = { mids: s.mids.slice(-(this.config.lookback + 1)), cooldown: s.cooldown }
    }
  }
}
