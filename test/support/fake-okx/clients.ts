import ccxt, { type Exchange } from 'ccxt'
import type { ClientOptions } from '../fake-binance/clients.js'
import type { FakeOkx } from './server.js'

export type OkxClientOptions = Omit<ClientOptions, 'ws'> & {
  /** ccxt's `options.defaultType`: what the instance trades when a call names no market. */
  type?: 'spot' | 'swap'
  passphrase?: string
  /** ccxt's `options.fetchMarkets.types`; all four OKX instrument types by default. */
  marketTypes?: readonly ('spot' | 'swap' | 'future' | 'option')[]
}

/**
 * The real `ccxt.okx` talking to the fake venue: only `urls.api.rest` is changed, so markets,
 * currencies, signing and error mapping all go through ccxt's own OKX code.
 */
export function fakeOkx(venue: FakeOkx, o: OkxClientOptions = {}): Exchange {
  const ex = new ccxt.okx({
    apiKey: o.apiKey ?? venue.apiKey,
    secret: o.secret ?? venue.secret,
    password: o.passphrase ?? venue.passphrase,
    timeout: o.timeout ?? 10_000,
    enableRateLimit: o.enableRateLimit ?? true,
    options: { defaultType: o.type ?? 'spot', ...(o.marketTypes ? { fetchMarkets: { types: [...o.marketTypes] } } : {}) },
    ...o.config,
  })
  ;(ex.urls.api as Record<string, string>).rest = venue.origin
  return ex
}
