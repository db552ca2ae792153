import ccxt, { type Exchange } from 'ccxt'
import { ccxtMarkets } from './markets.js'
import type { FakeBinance } from './server.js'

export type ClientOptions = {
  /** ccxt's per-request HTTP timeout, ms. */
  timeout?: number
  enableRateLimit?: boolean
  /** A ccxt.pro class with its spot WebSocket API pointed at the fake venue. */
  ws?: boolean
  apiKey?: string
  secret?: string
  /** Further ccxt constructor settings, e.g. `{ rateLimit: 1500, rollingWindowSize: 0 }` for a slow leaky bucket. */
  config?: Record<string, unknown>
  /** The ccxt module to build from: haltd's own ESM copy by default, or e.g. the CommonJS build from `createRequire(import.meta.url)('ccxt')`. */
  library?: CcxtLibrary
}

type ExchangeClass = new (config: Record<string, unknown>) => Exchange
export type CcxtLibrary = { binance: ExchangeClass; binanceusdm: ExchangeClass }

/** Offline settings: markets supplied, no currency or margin-pair downloads. */
const offlineOptions = { fetchCurrencies: false, fetchMargins: false, fetchOpenOrders: { warnWithoutSymbol: false } }

function config(venue: FakeBinance, segment: 'spot' | 'futures', o: ClientOptions) {
  return {
    apiKey: o.apiKey ?? venue.apiKey,
    secret: o.secret ?? venue.secret,
    timeout: o.timeout ?? 10_000,
    enableRateLimit: o.enableRateLimit ?? true,
    markets: ccxtMarkets(segment, [...venue.engine.symbols.values()]),
    fetchImplementation: venue.fetchImplementation,
    options: offlineOptions,
    ...o.config,
  }
}

/** The real `ccxt.binance` (or `ccxt.pro.binance`) talking to the fake venue. */
export async function fakeBinanceSpot(venue: FakeBinance, o: ClientOptions = {}): Promise<Exchange> {
  if (!o.ws) return new (o.library ?? ccxt).binance(config(venue, 'spot', o))
  const ex = new ccxt.pro.binance(config(venue, 'spot', o))
  const ws = ex.urls.api.ws as Record<string, Record<string, string>>
  ws['ws-api']!.spot = venue.wsApiUrl
  // ccxt.pro refuses plain ws:// URLs in Node until it has an http agent
  await ex.loadHttpProxyAgent()
  return ex
}

/** The real `ccxt.binanceusdm` talking to the fake venue. */
export async function fakeBinanceUsdm(venue: FakeBinance, o: ClientOptions = {}): Promise<Exchange> {
  return new (o.library ?? ccxt).binanceusdm(config(venue, 'futures', o))
}
