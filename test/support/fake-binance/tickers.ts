import { BinanceReject, type FakeExchangeEngine, type Segment, type SymbolSpec } from './engine.js'

// Binance's public ticker endpoints, answered from the engine's fixed mid with a one-tick spread
// either side, so a quote's mid is the price the engine fills market orders at.

const s8 = (x: number): string => x.toFixed(8)
const quote = (s: SymbolSpec) => ({ bid: s.mid - s.tickSize, ask: s.mid + s.tickSize })

/** `GET /api/v3/ticker/bookTicker` (spot) and `GET /fapi/v1/ticker/bookTicker` (USD-M) entries. */
function bookTicker(segment: Segment, s: SymbolSpec, now: number): Record<string, unknown> {
  const { bid, ask } = quote(s)
  const body = { symbol: s.id, bidPrice: s8(bid), bidQty: s8(1), askPrice: s8(ask), askQty: s8(1) }
  return segment === 'spot' ? body : { lastUpdateId: now, ...body, time: now }
}

/** `GET /api/v3/ticker/24hr` (FULL) and `GET /fapi/v1/ticker/24hr`: USD-M carries no bid or ask there. */
function ticker24hr(segment: Segment, s: SymbolSpec, now: number): Record<string, unknown> {
  const { bid, ask } = quote(s)
  const mid = s8(s.mid)
  const stats = {
    symbol: s.id,
    priceChange: s8(0),
    priceChangePercent: '0.000',
    weightedAvgPrice: mid,
    ...(segment === 'spot' ? { prevClosePrice: mid } : {}),
    lastPrice: mid,
    lastQty: s8(s.minQty),
    ...(segment === 'spot' ? { bidPrice: s8(bid), bidQty: s8(1), askPrice: s8(ask), askQty: s8(1) } : {}),
    openPrice: mid,
    highPrice: mid,
    lowPrice: mid,
    volume: s8(0),
    quoteVolume: s8(0),
    openTime: now - 86_400_000,
    closeTime: now,
    firstId: -1,
    lastId: -1,
    count: 0,
  }
  return stats
}

/**
 * The symbols a ticker request names: `symbol` answers one object, `symbols` (a JSON array, spot
 * only) or nothing answers an array, as Binance does.
 */
function select(engine: FakeExchangeEngine, segment: Segment, p: URLSearchParams): { one: boolean; specs: SymbolSpec[] } {
  const symbol = p.get('symbol')
  if (symbol !== null) return { one: true, specs: [engine.spec(symbol)] }
  const symbols = segment === 'spot' ? p.get('symbols') : null
  if (symbols === null) return { one: false, specs: [...engine.symbols.values()] }
  let ids: unknown
  try {
    ids = JSON.parse(symbols)
  } catch {
    throw new BinanceReject(400, -1100, "Illegal characters found in parameter 'symbols'.")
  }
  if (!Array.isArray(ids)) throw new BinanceReject(400, -1100, "Illegal characters found in parameter 'symbols'.")
  return { one: false, specs: ids.map((id) => engine.spec(String(id))) }
}

type Route = { security: 'none'; handler: (p: URLSearchParams) => unknown }

export function tickerRoutes(engine: FakeExchangeEngine, serverTime: () => number): Record<string, Route> {
  const route = (segment: Segment, shape: typeof bookTicker): Route => ({
    security: 'none',
    handler: (p) => {
      const { one, specs } = select(engine, segment, p)
      const now = serverTime()
      const out = specs.map((s) => shape(segment, s, now))
      return one ? out[0] : out
    },
  })
  return {
    'GET /api/v3/ticker/bookTicker': route('spot', bookTicker),
    'GET /api/v3/ticker/24hr': route('spot', ticker24hr),
    'GET /fapi/v1/ticker/bookTicker': route('futures', bookTicker),
    'GET /fapi/v1/ticker/24hr': route('futures', ticker24hr),
  }
}
