import { BinanceReject } from '../fake-binance/index.js'

/**
 * Bybit v5 answers almost every refusal with HTTP 200 and a `retCode` in the body; ccxt maps the
 * code (`exceptions.exact` in its bybit class). The HTTP status matters only for the IP-level
 * limit (403) and outages (5xx).
 */
export class BybitReject extends Error {
  constructor(
    readonly retCode: number,
    readonly retMsg: string,
    readonly status = 200,
  ) {
    super(`${retCode} ${retMsg}`)
  }
}

export type Category = 'spot' | 'linear'

export const paramError = (what: string): BybitReject => new BybitReject(10001, `params error: ${what}`)

/** Linear answers 110001 for an order it does not hold; spot answers 170213. Both are ccxt `OrderNotFound`. */
export const orderNotFound = (category: Category): BybitReject =>
  category === 'spot' ? new BybitReject(170213, 'Order does not exist.') : new BybitReject(110001, 'Order does not exist')

export const duplicateLinkId = (category: Category): BybitReject =>
  category === 'spot' ? new BybitReject(170141, 'Duplicate clientOrderId.') : new BybitReject(110072, 'OrderLinkedID is duplicate')

/**
 * The shared matching engine speaks Binance; its refusals become the codes Bybit gives for the
 * same rule, per category.
 */
export function fromEngine(category: Category, e: unknown): unknown {
  if (!(e instanceof BinanceReject)) return e
  const spot = category === 'spot'
  switch (e.code) {
    case -1121:
      return paramError('symbol invalid')
    case -1013:
      if (e.msg.includes('PRICE')) return spot ? new BybitReject(170134, 'Order price has too many decimals.') : paramError('price invalid')
      return spot ? new BybitReject(170137, 'Order quantity has too many decimals.') : paramError('Qty invalid')
    case -2010:
      return spot ? new BybitReject(170131, 'Insufficient balance.') : new BybitReject(110007, 'ab not enough for new order')
    case -2022:
      return new BybitReject(110017, 'current position is zero, cannot fix reduce-only order qty')
    case -1104:
      return paramError('reduceOnly is not supported for spot')
    case -2011:
    case -2013:
      return orderNotFound(category)
    default:
      return paramError(e.msg)
  }
}
