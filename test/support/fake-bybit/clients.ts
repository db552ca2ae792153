import ccxt, { type Exchange } from 'ccxt'
import type { FakeBybit } from './server.js'

export type BybitClientOptions = {
  /** `linear` trades USDT perpetuals (`defaultType: 'swap'`), `spot` the spot book. */
  category?: 'spot' | 'linear'
  timeout?: number
  enableRateLimit?: boolean
  apiKey?: string
  secret?: string
  /** Further ccxt constructor settings, merged over these. */
  config?: Record<string, unknown>
  /** Further ccxt options, merged over these. */
  options?: Record<string, unknown>
}

/**
 * The real `ccxt.bybit` talking to the fake venue: its `urls.api` point at the fake, and its
 * markets load from the fake's instruments (spot and linear only, as this account trades).
 */
export function fakeBybitClient(venue: FakeBybit, o: BybitClientOptions = {}): Exchange {
  return new ccxt.bybit({
    apiKey: o.apiKey ?? venue.apiKey,
    secret: o.secret ?? venue.secret,
    timeout: o.timeout ?? 10_000,
    enableRateLimit: o.enableRateLimit ?? true,
    urls: { api: { public: venue.origin, private: venue.origin, spot: venue.origin, futures: venue.origin, v2: venue.origin } },
    options: {
      defaultType: o.category === 'spot' ? 'spot' : 'swap',
      defaultSubType: 'linear',
      fetchMarkets: { types: ['spot', 'linear'] },
      ...o.options,
    },
    ...o.config,
  })
}
