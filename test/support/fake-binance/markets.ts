import ccxt, { type Market } from 'ccxt'
import type { Segment, SymbolSpec } from './engine.js'

const decimals = (step: number): string => step.toFixed(8)

/** One symbol as Binance's exchangeInfo lists it, spot or USD-M perpetual. */
export function rawSymbol(segment: Segment, s: SymbolSpec): Record<string, unknown> {
  const filters = [
    { filterType: 'PRICE_FILTER', minPrice: decimals(s.tickSize), maxPrice: '10000000.00000000', tickSize: decimals(s.tickSize) },
    { filterType: 'LOT_SIZE', minQty: decimals(s.minQty), maxQty: '100000.00000000', stepSize: decimals(s.stepSize) },
    { filterType: 'MARKET_LOT_SIZE', minQty: decimals(s.minQty), maxQty: '100000.00000000', stepSize: decimals(s.stepSize) },
  ]
  if (segment === 'spot') {
    return {
      symbol: s.id,
      status: 'TRADING',
      baseAsset: s.base,
      baseAssetPrecision: 8,
      quoteAsset: s.quote,
      quotePrecision: 8,
      quoteAssetPrecision: 8,
      orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET'],
      isSpotTradingAllowed: true,
      isMarginTradingAllowed: false,
      permissions: [],
      permissionSets: [['SPOT']],
      filters: [
        ...filters,
        {
          filterType: 'NOTIONAL',
          minNotional: '1.00000000',
          applyMinToMarket: true,
          maxNotional: '9000000.00000000',
          applyMaxToMarket: false,
          avgPriceMins: 5,
        },
      ],
    }
  }
  return {
    symbol: s.id,
    pair: s.id,
    contractType: 'PERPETUAL',
    deliveryDate: 4133404800000,
    onboardDate: 1569398400000,
    status: 'TRADING',
    baseAsset: s.base,
    quoteAsset: s.quote,
    marginAsset: s.quote,
    pricePrecision: 2,
    quantityPrecision: 3,
    baseAssetPrecision: 8,
    quotePrecision: 8,
    underlyingType: 'COIN',
    triggerProtect: '0.0500',
    orderTypes: ['LIMIT', 'MARKET'],
    timeInForce: ['GTC', 'IOC', 'FOK', 'GTX'],
    filters: [...filters, { filterType: 'MIN_NOTIONAL', notional: '1' }],
  }
}

export function exchangeInfo(segment: Segment, symbols: SymbolSpec[], serverTime: number): Record<string, unknown> {
  return { timezone: 'UTC', serverTime, rateLimits: [], exchangeFilters: [], symbols: symbols.map((s) => rawSymbol(segment, s)) }
}

/**
 * The ccxt market structures for the fake venue's symbols, produced by ccxt's own Binance
 * parser so they match what `loadMarkets()` would build from the real exchangeInfo.
 */
export function ccxtMarkets(segment: Segment, symbols: SymbolSpec[]): Record<string, NonNullable<Market>> {
  const parser = segment === 'spot' ? new ccxt.binance() : new ccxt.binanceusdm()
  // parseMarket consults these margin lists, which loadMarkets would otherwise fetch
  parser.options.crossMarginPairsData = []
  parser.options.isolatedMarginPairsData = []
  const out: Record<string, NonNullable<Market>> = {}
  for (const s of symbols) {
    const m = parser.parseMarket(rawSymbol(segment, s) as never) as NonNullable<Market>
    out[m.symbol] = m
  }
  return out
}
