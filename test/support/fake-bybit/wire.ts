import type { FakeOrder, FakeTrade, Position, SymbolSpec } from '../fake-binance/index.js'
import type { Category } from './codes.js'

// Bybit v5's JSON shapes, as its docs show them; ccxt's bybit parsers read these fields.

/** Orders placed without an orderLinkId carry this prefix inside the engine; Bybit shows them with an empty one. */
export const NO_LINK_PREFIX = '~'
export const linkIdOf = (o: { clientOrderId: string }): string => (o.clientOrderId.startsWith(NO_LINK_PREFIX) ? '' : o.clientOrderId)

/** Spot order ids are long decimal strings, linear ones UUIDs, as Bybit gives them. */
export const venueOrderId = (category: Category, n: number): string =>
  category === 'spot' ? `19${String(n).padStart(17, '0')}` : `f0000000-0000-4000-8000-${String(n).padStart(12, '0')}`

export function engineOrderId(category: Category, id: string): number | undefined {
  const m = category === 'spot' ? /^19(\d{17})$/.exec(id) : /^f0000000-0000-4000-8000-(\d{12})$/.exec(id)
  return m ? Number(m[1]) : undefined
}

export const segmentOf = (category: Category): 'spot' | 'futures' => (category === 'spot' ? 'spot' : 'futures')

const str = (x: number): string => String(Math.round(x * 1e8) / 1e8)

export function instrument(category: Category, s: SymbolSpec): Record<string, unknown> {
  const decimals = (step: number): string => step.toFixed(Math.max(0, Math.ceil(-Math.log10(step))))
  if (category === 'spot') {
    return {
      symbol: s.id,
      baseCoin: s.base,
      quoteCoin: s.quote,
      innovation: '0',
      status: 'Trading',
      marginTrading: 'utaOnly',
      stTag: '0',
      lotSizeFilter: {
        basePrecision: decimals(s.stepSize),
        quotePrecision: '0.00000001',
        minOrderQty: decimals(s.minQty),
        maxOrderQty: '100000',
        minOrderAmt: '1',
        maxOrderAmt: '9000000',
      },
      priceFilter: { tickSize: decimals(s.tickSize) },
      riskParameters: { priceLimitRatioX: '0.05', priceLimitRatioY: '0.05' },
    }
  }
  return {
    symbol: s.id,
    contractType: 'LinearPerpetual',
    status: 'Trading',
    baseCoin: s.base,
    quoteCoin: s.quote,
    launchTime: '1585526400000',
    deliveryTime: '0',
    deliveryFeeRate: '',
    priceScale: String(Math.max(0, Math.ceil(-Math.log10(s.tickSize)))),
    leverageFilter: { minLeverage: '1', maxLeverage: '100.00', leverageStep: '0.01' },
    priceFilter: { minPrice: decimals(s.tickSize), maxPrice: '1999999.80', tickSize: decimals(s.tickSize) },
    lotSizeFilter: {
      maxOrderQty: '1190.000',
      minOrderQty: decimals(s.minQty),
      qtyStep: decimals(s.stepSize),
      postOnlyMaxOrderQty: '1190.000',
      maxMktOrderQty: '500.000',
      minNotionalValue: '5',
    },
    unifiedMarginTrade: true,
    fundingInterval: 480,
    settleCoin: s.quote,
    copyTrading: 'both',
    upperFundingRate: '0.00375',
    lowerFundingRate: '-0.00375',
    isPreListing: false,
    preListingInfo: null,
  }
}

function orderStatus(o: FakeOrder): string {
  switch (o.status) {
    case 'NEW':
      return 'New'
    case 'PARTIALLY_FILLED':
      return 'PartiallyFilled'
    case 'FILLED':
      return 'Filled'
    default:
      return o.executed > 0 && o.segment === 'spot' ? 'PartiallyFilledCanceled' : 'Cancelled'
  }
}

const TIME_IN_FORCE: Record<FakeOrder['timeInForce'], string> = { GTC: 'GTC', IOC: 'IOC', FOK: 'FOK', GTX: 'PostOnly' }

/** One order as `/v5/order/realtime` and `/v5/order/history` list it. */
export function order(category: Category, o: FakeOrder): Record<string, unknown> {
  const avg = o.executed > 0 ? str(o.cumQuote / o.executed) : category === 'spot' ? '' : '0'
  const open = o.status === 'NEW' || o.status === 'PARTIALLY_FILLED'
  return {
    orderId: venueOrderId(category, o.orderId),
    orderLinkId: linkIdOf(o),
    blockTradeId: '',
    symbol: o.symbol,
    price: o.type === 'LIMIT' ? str(o.price) : '0',
    qty: str(o.qty),
    side: o.side === 'BUY' ? 'Buy' : 'Sell',
    isLeverage: category === 'spot' ? '0' : '',
    positionIdx: 0,
    orderStatus: orderStatus(o),
    createType: 'CreateByUser',
    cancelType: open || o.status === 'FILLED' ? 'UNKNOWN' : 'CancelByUser',
    rejectReason: 'EC_NoError',
    avgPrice: avg,
    leavesQty: open ? str(o.qty - o.executed) : '0',
    leavesValue: open && o.type === 'LIMIT' ? str((o.qty - o.executed) * o.price) : '0',
    cumExecQty: str(o.executed),
    cumExecValue: str(o.cumQuote),
    cumExecFee: '0',
    timeInForce: o.type === 'MARKET' ? 'IOC' : TIME_IN_FORCE[o.timeInForce],
    orderType: o.type === 'LIMIT' ? 'Limit' : 'Market',
    stopOrderType: '',
    orderIv: '',
    marketUnit: '',
    triggerPrice: '0',
    takeProfit: '0',
    stopLoss: '0',
    tpslMode: category === 'spot' ? '' : 'UNKNOWN',
    ocoTriggerBy: '',
    tpLimitPrice: '0',
    slLimitPrice: '0',
    tpTriggerBy: '',
    slTriggerBy: '',
    triggerDirection: 0,
    triggerBy: '',
    lastPriceOnCreated: '',
    reduceOnly: o.reduceOnly,
    closeOnTrigger: false,
    placeType: '',
    smpType: 'None',
    smpGroup: 0,
    smpOrderId: '',
    createdTime: String(o.time),
    updatedTime: String(o.updateTime),
  }
}

/** One fill as `/v5/execution/list` lists it. */
export function execution(category: Category, t: FakeTrade, o: FakeOrder): Record<string, unknown> {
  return {
    symbol: t.symbol,
    orderType: o.type === 'LIMIT' ? 'Limit' : 'Market',
    underlyingPrice: '',
    orderLinkId: linkIdOf(o),
    side: t.side === 'BUY' ? 'Buy' : 'Sell',
    indexPrice: '',
    orderId: venueOrderId(category, t.orderId),
    stopOrderType: 'UNKNOWN',
    leavesQty: str(o.qty - o.executed),
    execTime: String(t.time),
    feeCurrency: category === 'spot' ? t.commissionAsset : '',
    isMaker: t.maker,
    execFee: str(t.commission),
    feeRate: '0',
    execId: `e0000000-0000-4000-8000-${String(t.id).padStart(12, '0')}`,
    tradeIv: '',
    blockTradeId: '',
    markPrice: str(t.price),
    execPrice: str(t.price),
    markIv: '',
    orderQty: str(o.qty),
    orderPrice: o.type === 'LIMIT' ? str(o.price) : '0',
    execValue: str(t.qty * t.price),
    execType: 'Trade',
    execQty: str(t.qty),
    closedSize: '0',
    seq: t.id,
  }
}

/** One linear position as `/v5/position/list` lists it; a symbol without one shows size 0 and no side. */
export function position(symbol: string, p: Position, mark: number, now: number): Record<string, unknown> {
  const size = Math.abs(p.amt)
  const value = size * p.entryPrice
  return {
    positionIdx: 0,
    riskId: 1,
    riskLimitValue: '2000000',
    symbol,
    side: p.amt > 0 ? 'Buy' : p.amt < 0 ? 'Sell' : '',
    size: str(size),
    avgPrice: str(p.entryPrice),
    positionValue: str(value),
    tradeMode: 0,
    positionStatus: 'Normal',
    autoAddMargin: 0,
    adlRankIndicator: size > 0 ? 2 : 0,
    leverage: '10',
    positionBalance: str(value / 10),
    markPrice: str(mark),
    liqPrice: '',
    bustPrice: '',
    positionMM: str(value * 0.005),
    positionIM: str(value / 10),
    tpslMode: 'Full',
    takeProfit: '0',
    stopLoss: '0',
    trailingStop: '0',
    unrealisedPnl: str((mark - p.entryPrice) * p.amt),
    curRealisedPnl: '0',
    cumRealisedPnl: '0',
    seq: now,
    isReduceOnly: false,
    mmrSysUpdatedTime: '',
    leverageSysUpdatedTime: '',
    sessionAvgPrice: '',
    createdTime: String(now),
    updatedTime: String(now),
  }
}

/** The unified account's coins, as `/v5/account/wallet-balance?accountType=UNIFIED` lists them. */
export function walletCoin(coin: string, total: number, locked: number): Record<string, unknown> {
  return {
    coin,
    equity: str(total),
    usdValue: str(total),
    walletBalance: str(total),
    locked: str(locked),
    spotHedgingQty: '0',
    borrowAmount: '0',
    accruedInterest: '0',
    totalOrderIM: '0',
    totalPositionIM: '0',
    totalPositionMM: '0',
    unrealisedPnl: '0',
    cumRealisedPnl: '0',
    bonus: '0',
    marginCollateral: true,
    collateralSwitch: true,
    availableToWithdraw: '',
  }
}
