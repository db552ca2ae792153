import { z } from 'zod'
import { Id, Qty, MarketSymbol, Venue } from '../events/primitives.js'
import { midOf, type OrderIntent, type Strategy, type StrategyContext, type Tick } from './contract.js'
import { InvalidStrategyConfig } from './errors.js'

/**
 * A market maker, kept small as an example: it quotes one bid and one ask around the mid of each
 * market it is given, leaves them resting, and replaces both once the mid has moved more than
 * `requoteBps` away from where they were placed (or a side has filled). It stops quoting the side
 * that would take its inventory beyond `maxInventory`. Its position and resting orders come from
 * the context (the projections); the only thing it remembers is the mid it last quoted around.
 */
export const MarketMakerConfig = z.strictObject({
  id: Id,
  markets: z.array(z.strictObject({ venue: Venue, symbol: MarketSymbol })).min(1),
  /** Size of each quote. */
  qty: Qty,
  /** Distance of each quote from the mid, in basis points. */
  halfSpreadBps: z.number().finite().positive(),
  /** Requote once the mid has moved this far from the mid the quotes were placed around. */
  requoteBps: z.number().finite().positive(),
  /** Largest absolute position it quotes into. */
  maxInventory: z.number().finite().positive(),
})
export type MarketMakerConfig = z.infer<typeof MarketMakerConfig>

const State = z.strictObject({ quotedMid: z.record(z.string(), z.number().finite().positive()) })

const keyOf = (venue: string, symbol: string) => `${venue} ${symbol}`

export class MarketMaker implements Strategy {
  readonly id: string
  private readonly config: MarketMakerConfig
  private readonly markets: Set<string>
  private quotedMid: Record<string, number> = {}

  constructor(config: z.input<typeof MarketMakerConfig>) {
    const parsed = MarketMakerConfig.safeParse(config)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      throw new InvalidStrategyConfig(['market-maker', ...issue.path.map(String)].join('.'), issue.message)
    }
    this.config = parsed.data
    this.id = parsed.data.id
    this.markets = new Set(parsed.data.markets.map((m) => keyOf(m.venue, m.symbol)))
  }

  onTick(tick: Tick, ctx: StrategyContext): OrderIntent[] {
    const key = keyOf(tick.venue, tick.symbol)
    if (!this.markets.has(key)) return []
    const { qty, halfSpreadBps, requoteBps, maxInventory } = this.config
    const mid = midOf(tick)
    const resting = ctx.openOrders(tick.venue, tick.symbol)
    const position = ctx.position(tick.venue, tick.symbol)
    const wantBid = position + qty <= maxInventory
    const wantAsk = position - qty >= -maxInventory
    const hasBid = resting.some((o) => o.side === 'buy')
    const hasAsk = resting.some((o) => o.side === 'sell')

    const last = this.quotedMid[key]
    const moved = last === undefined || (Math.abs(mid - last) / last) * 1e4 >= requoteBps
    if (!moved && hasBid === wantBid && hasAsk === wantAsk) return []

    const intents: OrderIntent[] = resting.map((o) => ({ kind: 'cancel', venue: o.venue, clientOrderId: o.clientOrderId }))
    const offset = (mid * halfSpreadBps) / 1e4
    const quote = (side: 'buy' | 'sell', price: number): OrderIntent => ({
      kind: 'place',
      venue: tick.venue,
      symbol: tick.symbol,
      side,
      type: 'limit',
      qty,
      price,
      timeInForce: 'GTC',
    })
    if (wantBid) intents.push(quote('buy', mid - offset))
    if (wantAsk) intents.push(quote('sell', mid + offset))
    this.quotedMid[key] = mid
    return intents
  }

  snapshot(): z.infer<typeof State> {
    return { quotedMid: { ...this.quotedMid } }
  }

  restore(state: unknown): void {
    this.quotedMid = { ...State.parse(state).quotedMid }
  }
}
