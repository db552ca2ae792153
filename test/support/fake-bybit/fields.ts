/**
 * The body fields Bybit v5 defines for each POST route the fake answers. Bybit reads what it
 * knows; a field outside these lists is something a client meant for itself and sent anyway.
 */
export const POST_FIELDS: Readonly<Record<string, readonly string[]>> = {
  'POST /v5/order/create': [
    'category',
    'symbol',
    'isLeverage',
    'side',
    'orderType',
    'qty',
    'marketUnit',
    'price',
    'triggerDirection',
    'orderFilter',
    'triggerPrice',
    'triggerBy',
    'orderIv',
    'timeInForce',
    'positionIdx',
    'orderLinkId',
    'takeProfit',
    'stopLoss',
    'tpTriggerBy',
    'slTriggerBy',
    'reduceOnly',
    'closeOnTrigger',
    'smpType',
    'mmp',
    'tpslMode',
    'tpLimitPrice',
    'slLimitPrice',
    'tpOrderType',
    'slOrderType',
    'slippageToleranceType',
    'slippageTolerance',
    'bboSideType',
    'bboLevel',
  ],
  'POST /v5/order/cancel': ['category', 'symbol', 'orderId', 'orderLinkId', 'orderFilter'],
  'POST /v5/order/cancel-batch': ['category', 'request'],
  'POST /v5/order/cancel-all': ['category', 'symbol', 'baseCoin', 'settleCoin', 'orderFilter', 'stopOrderType'],
  'POST /v5/order/disconnected-cancel-all': ['product', 'timeWindow'],
}

/** The fields of `body` that Bybit does not define for `route`. */
export function unknownFields(route: string, body: Record<string, unknown>): string[] {
  const known = POST_FIELDS[route]
  return known ? Object.keys(body).filter((k) => !known.includes(k)) : []
}
