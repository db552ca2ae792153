import type { FakeOrder, FakeTrade } from './engine.js'

// Binance's JSON shapes, as its docs show them; ccxt's parsers read these fields.

const s8 = (x: number): string => x.toFixed(8)
const avg = (o: FakeOrder): number => (o.executed > 0 ? o.cumQuote / o.executed : 0)

export function spotOrder(o: FakeOrder): Record<string, unknown> {
  return {
    symbol: o.symbol,
    orderId: o.orderId,
    orderListId: -1,
    clientOrderId: o.clientOrderId,
    price: s8(o.price),
    origQty: s8(o.qty),
    executedQty: s8(o.executed),
    cummulativeQuoteQty: s8(o.cumQuote),
    status: o.status,
    timeInForce: o.timeInForce,
    type: o.type,
    side: o.side,
    stopPrice: s8(0),
    icebergQty: s8(0),
    time: o.time,
    updateTime: o.updateTime,
    isWorking: true,
    workingTime: o.time,
    origQuoteOrderQty: s8(0),
    selfTradePreventionMode: 'EXPIRE_MAKER',
  }
}

/** The answer to POST /api/v3/order with newOrderRespType=FULL. */
export function spotOrderAck(o: FakeOrder, fills: FakeTrade[]): Record<string, unknown> {
  const { time: _t, updateTime: _u, isWorking: _w, stopPrice: _s, icebergQty: _i, ...rest } = spotOrder(o)
  return {
    ...rest,
    transactTime: o.updateTime,
    fills: fills.map((f) => ({ price: s8(f.price), qty: s8(f.qty), commission: s8(f.commission), commissionAsset: f.commissionAsset, tradeId: f.id })),
  }
}

/**
 * Spot cancels answer with the order's id as `origClientOrderId` and the cancel request's own
 * id as `clientOrderId`, which is what ccxt then reports as the order's client id.
 */
export function spotCancelAck(o: FakeOrder, cancelClientId: string): Record<string, unknown> {
  return {
    symbol: o.symbol,
    origClientOrderId: o.clientOrderId,
    orderId: o.orderId,
    orderListId: -1,
    clientOrderId: cancelClientId,
    transactTime: o.updateTime,
    price: s8(o.price),
    origQty: s8(o.qty),
    executedQty: s8(o.executed),
    cummulativeQuoteQty: s8(o.cumQuote),
    status: o.status,
    timeInForce: o.timeInForce,
    type: o.type,
    side: o.side,
    selfTradePreventionMode: 'EXPIRE_MAKER',
  }
}

export function futuresOrder(o: FakeOrder): Record<string, unknown> {
  return {
    orderId: o.orderId,
    symbol: o.symbol,
    status: o.status,
    clientOrderId: o.clientOrderId,
    price: String(o.price),
    avgPrice: String(avg(o)),
    origQty: String(o.qty),
    executedQty: String(o.executed),
    cumQty: String(o.executed),
    cumQuote: String(o.cumQuote),
    timeInForce: o.timeInForce,
    type: o.type,
    reduceOnly: o.reduceOnly,
    closePosition: false,
    side: o.side,
    positionSide: 'BOTH',
    stopPrice: '0',
    workingType: 'CONTRACT_PRICE',
    priceProtect: false,
    origType: o.type,
    priceMatch: 'NONE',
    selfTradePreventionMode: 'EXPIRE_MAKER',
    goodTillDate: 0,
    time: o.time,
    updateTime: o.updateTime,
  }
}

export function spotTrade(t: FakeTrade): Record<string, unknown> {
  return {
    symbol: t.symbol,
    id: t.id,
    orderId: t.orderId,
    orderListId: -1,
    price: s8(t.price),
    qty: s8(t.qty),
    quoteQty: s8(t.qty * t.price),
    commission: s8(t.commission),
    commissionAsset: t.commissionAsset,
    time: t.time,
    isBuyer: t.side === 'BUY',
    isMaker: t.maker,
    isBestMatch: true,
  }
}

export function futuresTrade(t: FakeTrade): Record<string, unknown> {
  return {
    buyer: t.side === 'BUY',
    commission: String(t.commission),
    commissionAsset: t.commissionAsset,
    id: t.id,
    maker: t.maker,
    orderId: t.orderId,
    price: String(t.price),
    qty: String(t.qty),
    quoteQty: String(t.qty * t.price),
    realizedPnl: '0',
    side: t.side,
    positionSide: 'BOTH',
    symbol: t.symbol,
    time: t.time,
  }
}

/** A spot user-data `executionReport` for an order change (and the trade, when there is one). */
export function executionReport(o: FakeOrder, trade: FakeTrade | undefined, eventTime: number): Record<string, unknown> {
  const executionType = trade ? 'TRADE' : o.status === 'NEW' ? 'NEW' : o.status === 'CANCELED' ? 'CANCELED' : o.status === 'EXPIRED' ? 'EXPIRED' : 'TRADE'
  return {
    e: 'executionReport',
    E: eventTime,
    s: o.symbol,
    c: o.clientOrderId,
    S: o.side,
    o: o.type,
    f: o.timeInForce,
    q: s8(o.qty),
    p: s8(o.price),
    P: s8(0),
    F: s8(0),
    g: -1,
    C: '',
    x: executionType,
    X: o.status,
    r: 'NONE',
    i: o.orderId,
    l: s8(trade?.qty ?? 0),
    z: s8(o.executed),
    L: s8(trade?.price ?? 0),
    n: s8(trade?.commission ?? 0),
    N: trade ? trade.commissionAsset : null,
    T: o.updateTime,
    t: trade?.id ?? -1,
    I: 0,
    w: o.status === 'NEW' || o.status === 'PARTIALLY_FILLED',
    m: trade?.maker ?? false,
    M: false,
    O: o.time,
    Z: s8(o.cumQuote),
    Y: s8(trade ? trade.qty * trade.price : 0),
    Q: s8(0),
    W: o.time,
    V: 'EXPIRE_MAKER',
  }
}
