import type { EventInput } from '../events/envelope.js'
import type { OrderOrigin, Origin } from '../events/primitives.js'
import type { OrderRef, OrderRequest } from '../exchanges/gateway.js'
import type { OwnOrder } from './contract.js'

/**
 * The ports the host works through. Core passes the real ones: the gated order router as the
 * sink, the projections as the book, the event log as the recorder. The shapes match
 * `OrderRouter.submit/cancel` so the router is passed as it is.
 */

/** An order as the router takes it: the venue's request, minus the id the router assigns, plus where it goes and who sent it. */
export type SinkOrder = Omit<OrderRequest, 'clientOrderId'> & { venue: string; origin: OrderOrigin }

export type SinkOutcome =
  | { status: 'accepted'; clientOrderId: string }
  | { status: 'rejected'; clientOrderId: string; reason: string }
  /** The gate refused it: nothing was sent. */
  | { status: 'refused'; reason: string }
  | { status: 'unknown'; clientOrderId: string; reason: string }

export type SinkCancel = OrderRef & { venue: string }
export type SinkCancelOutcome = 'canceled' | 'rejected' | 'filled' | 'open' | 'unconfirmed'

export type OrderSink = {
  submit(order: SinkOrder): Promise<SinkOutcome>
  cancel(ref: SinkCancel, options?: { reason?: string; origin?: Origin }): Promise<SinkCancelOutcome>
}

/** The strategies' orders and positions as the projections know them. */
export type StrategyBook = {
  /** Signed net position the strategy's fills built at a venue. */
  position(strategyId: string, venue: string, symbol: string): number
  /** The strategy's orders that may still trade (pending, open, partially filled, cancel pending…). */
  openOrders(strategyId: string): readonly OwnOrder[]
  /** Which strategy sent an order, if a strategy did. */
  ownerOf(venue: string, clientOrderId: string): string | undefined
}

/** Where the host records what it changes (the event log). */
export type EventRecorder = { append(input: EventInput): unknown }
