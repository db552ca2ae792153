import { z } from 'zod'
import { Id, Price, Qty, Side, MarketSymbol, TimeInForce, Venue } from '../events/primitives.js'

/**
 * The strategy contract. A strategy sees market data ticks and updates about its own orders, and
 * answers with intents. It never holds a venue, a router or the log: the host decides whether
 * each intent may go out (enabled, limits, the gate) and sends it.
 */

/** One market data observation: best bid and ask of a symbol at a venue. */
export const Tick = z.strictObject({
  venue: Venue,
  symbol: MarketSymbol,
  bid: Price,
  ask: Price,
  /** The venue's own mid where it publishes one; (bid + ask) / 2 otherwise. */
  mid: Price.optional(),
  /** Milliseconds since the epoch, as the feed stamped it. */
  ts: z.number().finite().nonnegative(),
})
export type Tick = z.infer<typeof Tick>

export const midOf = (tick: Pick<Tick, 'bid' | 'ask' | 'mid'>): number => tick.mid ?? (tick.bid + tick.ask) / 2

export const PlaceIntent = z
  .strictObject({
    kind: z.literal('place'),
    venue: Venue,
    symbol: MarketSymbol,
    side: Side,
    type: z.enum(['market', 'limit']),
    qty: Qty,
    price: Price.optional(),
    timeInForce: TimeInForce.optional(),
    reduceOnly: z.boolean().optional(),
  })
  .refine((i) => i.type === 'market' || i.price !== undefined, { message: 'a limit order needs a price', path: ['price'] })
export type PlaceIntent = z.infer<typeof PlaceIntent>

export const CancelIntent = z.strictObject({
  kind: z.literal('cancel'),
  venue: Venue,
  clientOrderId: Id,
})
export type CancelIntent = z.infer<typeof CancelIntent>

export const OrderIntent = z.union([PlaceIntent, CancelIntent])
export type OrderIntent = z.infer<typeof OrderIntent>

/** One of the strategy's orders that may still trade, as the order projection knows it. */
export type OwnOrder = {
  venue: string
  clientOrderId: string
  symbol: string
  side: z.infer<typeof Side>
  qty: number
  filledQty: number
  price?: number
  reduceOnly: boolean
}

/** What happened to one of the strategy's orders, as recorded in the log. */
export type OwnOrderUpdate =
  | { kind: 'accepted'; venue: string; clientOrderId: string }
  | { kind: 'filled'; venue: string; clientOrderId: string; qty: number; price: number; fee: number }
  | { kind: 'rejected'; venue: string; clientOrderId: string; reason: string }
  | { kind: 'canceled' | 'expired'; venue: string; clientOrderId: string }

/** What a strategy may read while deciding: all of it from the projections, none of it from its own memory. */
export type StrategyContext = {
  readonly strategyId: string
  now(): number
  /** The strategy's signed net position at a venue (positive long). */
  position(venue: string, symbol: string): number
  /** The strategy's orders that may still trade, optionally for one venue and symbol. */
  openOrders(venue?: string, symbol?: string): readonly OwnOrder[]
}

export interface Strategy {
  /** Unique per host; it is the `origin.id` of every order the strategy sends. */
  readonly id: string
  onTick(tick: Tick, ctx: StrategyContext): readonly OrderIntent[]
  onOrderUpdate?(update: OwnOrderUpdate, ctx: StrategyContext): readonly OrderIntent[]
  /** Plain JSON the strategy needs to continue after a restart (graceful step 8 saves it). */
  snapshot(): unknown
  restore(state: unknown): void
}
