import { z } from 'zod'

// Small building blocks shared by the event schemas.
export const Id = z.string().min(1).max(200)
export const Venue = z.string().min(1).max(64)
/** A market's symbol as ccxt writes it (`BTC/USDT`, `BTC/USDT:USDT`). */
export const MarketSymbol = z.string().min(1).max(64)
export const Side = z.enum(['buy', 'sell'])
export const Qty = z.number().finite().positive()
export const Price = z.number().finite().positive()
export const SignedQty = z.number().finite()
export const Money = z.number().finite()
export const Reason = z.string().max(2000)
export const OrderType = z.enum(['market', 'limit'])
export const TimeInForce = z.enum(['GTC', 'IOC', 'FOK', 'PO'])
export const TradingMode = z.enum(['ACTIVE', 'REDUCING', 'HALTED'])
export const ShutdownMode = z.enum(['graceful', 'emergency'])

/** Who or what asked for something: recorded with every command so the audit can tell. */
export const Origin = z.enum(['signal', 'admin', 'api', 'cli', 'risk', 'restart', 'strategy', 'shutdown', 'operator', 'system'])

/** Which part of the system an order came from. Shutdown orders are the only ones let through a closed gate. */
export const OrderOrigin = z.strictObject({
  kind: z.enum(['strategy', 'shutdown', 'manual', 'adopted']),
  id: z.string().max(200).optional(),
})

export type Side = z.infer<typeof Side>
export type OrderOrigin = z.infer<typeof OrderOrigin>
export type TradingMode = z.infer<typeof TradingMode>
export type ShutdownMode = z.infer<typeof ShutdownMode>
export type Origin = z.infer<typeof Origin>
