import { z } from 'zod'
import { freeText, idString } from './text.js'

// Small building blocks shared by the event schemas. Identifiers refuse a lone UTF-16
// surrogate; free text is stored with it replaced (text.ts says why).
export const Id = idString().min(1).max(200)
export const Venue = idString().min(1).max(64)
/** A market's symbol as ccxt writes it (`BTC/USDT`, `BTC/USDT:USDT`). */
export const MarketSymbol = idString().min(1).max(64)
export const Side = z.enum(['buy', 'sell'])
export const Qty = z.number().finite().positive()
export const Price = z.number().finite().positive()
export const SignedQty = z.number().finite()
export const Money = z.number().finite()
export const Reason = freeText().max(2000)
/** Free text (a venue's error code, a host name, a file path), at most `max` characters when given. */
export const Text = (max?: number) => (max === undefined ? freeText() : freeText().max(max))
export const OrderType = z.enum(['market', 'limit'])
export const TimeInForce = z.enum(['GTC', 'IOC', 'FOK', 'PO'])
export const TradingMode = z.enum(['ACTIVE', 'REDUCING', 'HALTED'])
export const ShutdownMode = z.enum(['graceful', 'emergency'])

/** Who or what asked for something: recorded with every command so the audit can tell. */
export const Origin = z.enum(['signal', 'admin', 'api', 'cli', 'risk', 'restart', 'strategy', 'shutdown', 'operator', 'system'])

/**
 * Which part of the system an order came from. Shutdown orders are the only ones let through a
 * closed gate. `engine`: an engine beside haltd entered it over the order-entry API; its id is
 * `<engine>/<the engine's client order id>`.
 */
export const OrderOrigin = z.strictObject({
  kind: z.enum(['strategy', 'shutdown', 'manual', 'adopted', 'engine']),
  id: idString().max(200).optional(),
})

export type Side = z.infer<typeof Side>
export type OrderOrigin = z.infer<typeof OrderOrigin>
export type TradingMode = z.infer<typeof TradingMode>
export type ShutdownMode = z.infer<typeof ShutdownMode>
export type Origin = z.infer<typeof Origin>
