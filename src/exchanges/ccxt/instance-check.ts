import type { Exchange } from 'ccxt'
import { VenueError } from '../errors.js'
import { openOrdersNeedSymbol } from './capabilities.js'
import { classNames } from './errors.js'

/** The unified calls and seams the gateway uses; ccxt versions without them cannot serve it. */
const NEEDED_METHODS = [
  'loadMarkets',
  'market',
  'createOrder',
  'cancelOrder',
  'cancelOrders',
  'cancelAllOrders',
  'cancelAllOrdersAfter',
  'fetchOrder',
  'fetchOpenOrders',
  'fetchMyTrades',
  'fetchPositions',
  'fetchBalance',
  'loadTimeDifference',
  'fetch',
] as const

/**
 * Refuses an instance the gateway could not drive or whose errors it could not read: not a ccxt
 * exchange, a ccxt too old for the unified calls above, or one whose error classes do not
 * descend from ccxt's `BaseError` by name (errors are mapped by class name, so that an instance
 * from ccxt's CommonJS build or another version works as well as haltd's own copy).
 */
export function assertUsableExchange(venue: string, exchange: unknown, role: string): asserts exchange is Exchange {
  const why = (reason: string): VenueError => new VenueError(venue, 'unsupported', `the ${role} is not a usable ccxt exchange: ${reason}`)
  if (typeof exchange !== 'object' || exchange === null) throw why(`got ${exchange === null ? 'null' : typeof exchange}`)
  const ex = exchange as Record<string, unknown>
  if (typeof ex.id !== 'string' || typeof ex.has !== 'object' || ex.has === null) {
    throw why('it has no ccxt `id` and `has` (pass an instance such as `new ccxt.binance({...})`, not the class or the module)')
  }
  const missing = NEEDED_METHODS.filter((m) => typeof ex[m] !== 'function')
  if (missing.length > 0) throw why(`${ex.id} has no ${missing.join(', ')}: this ccxt is too old for haltd (4.5 or newer works)`)
  const httpExceptions = ex.httpExceptions
  const classes = typeof httpExceptions === 'object' && httpExceptions !== null ? Object.values(httpExceptions) : []
  if (classes.length === 0 || !classes.every((c) => classNames(c).includes('BaseError'))) {
    throw why(`${ex.id}'s error classes do not descend from ccxt's BaseError, so haltd could not tell an unknown order from a refusal`)
  }
}

/**
 * Why this instance cannot list open orders without being told the symbols, if it cannot: the
 * venue lists them per symbol only (ccxt's `features`), or ccxt refuses the symbol-less call
 * unless told the venue's higher rate cost is accepted (Binance's `warnWithoutSymbol`).
 */
export function whySymbolsAreNeeded(exchange: Exchange): string | undefined {
  if (openOrdersNeedSymbol(exchange)) return `${exchange.id} lists open orders per symbol only`
  const options = (exchange.options ?? {}) as Record<string, unknown>
  const legacy = options.warnOnFetchOpenOrdersWithoutSymbol
  const warn = (options.fetchOpenOrders as { warnWithoutSymbol?: unknown } | undefined)?.warnWithoutSymbol
  if (legacy === true || (legacy === undefined && warn === true)) {
    return `ccxt ${exchange.id} refuses to list open orders without a symbol unless options.fetchOpenOrders.warnWithoutSymbol is false`
  }
  return undefined
}
