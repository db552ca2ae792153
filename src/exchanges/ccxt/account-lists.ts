import type { Exchange, MarketInterface, Order } from 'ccxt'
import type { UnseenBook } from '../../events/catalogue.js'
import { ccxtChain, isServerError } from './errors.js'

/**
 * The symbol-less list calls that together cover a venue's account, for a gateway that follows
 * the whole account (checked against ccxt 4.5.84). Most venues answer one call without a symbol
 * for every market of the account (OKX, Binance per instance). Bybit's v5 lists one category per
 * call, and ccxt's `fetchOpenOrders()` without a symbol asks the instance's default category only
 * (linear, settled in `options.defaultSettle`, USDT): the rest of a unified account would go unseen.
 */
export type AccountLists = {
  /** Each open-order list: the book it lists, its params (ccxt's `type`, `subType` and the venue's own), and the kind of market its rows are in. */
  calls: readonly AccountList[]
  /** Each position list: the book it lists, and its params. */
  positionCalls: readonly { book: string; params: Record<string, unknown> }[]
  /** Whether a market's orders are in one of those lists. */
  covers: (market: MarketInterface) => boolean
  /** The book a market's orders are listed in (or would be: an unlisted book's name in `notListed`). */
  bookOf: (market: MarketInterface) => string | undefined
  /** The books of the account no list asks for, and why. */
  notListed: readonly UnseenBook[]
  /** Those books and why, in a sentence. */
  uncovered: string
}

export type AccountList = { book: string; params: Record<string, unknown>; marketType: 'spot' | 'contract' }

/**
 * Bybit: spot, and linear contracts settled in USDT and in USDC (ccxt sends `settleCoin`, which
 * Bybit needs for linear without a symbol); positions on the same linear lists (spot has none).
 * Inverse contracts are left out: ccxt sends `settleCoin` USDT for them too unless given a
 * `baseCoin`, so it would take one call per coin. Options too: ccxt loads the markets of a few
 * base coins only (`options.fetchMarkets.options`), so their rows could not all be read.
 */
const BYBIT_LINEAR_SETTLE = ['USDT', 'USDC'] as const
const BYBIT_LINEAR = BYBIT_LINEAR_SETTLE.map((settleCoin) => ({ book: `linear ${settleCoin}`, params: { type: 'swap', subType: 'linear', settleCoin } }))
const BYBIT_NOT_LISTED = 'ccxt lists one category per call, and haltd lists spot and linear settled in USDT and USDC'
const BYBIT: AccountLists = {
  calls: [{ book: 'spot', params: { type: 'spot' }, marketType: 'spot' }, ...BYBIT_LINEAR.map((l) => ({ ...l, marketType: 'contract' as const }))],
  positionCalls: BYBIT_LINEAR,
  covers: (m) => m.spot === true || (m.linear === true && (BYBIT_LINEAR_SETTLE as readonly string[]).includes(String(m.settle))),
  bookOf: (m) =>
    m.spot === true ? 'spot' : m.option === true ? 'option' : m.inverse === true ? 'inverse' : m.linear === true ? `linear ${String(m.settle)}` : undefined,
  notListed: [
    { book: 'inverse', why: `not listed: ${BYBIT_NOT_LISTED}` },
    { book: 'option', why: `not listed: ${BYBIT_NOT_LISTED}` },
  ],
  uncovered: `bybit's inverse and option orders are not listed: ${BYBIT_NOT_LISTED}`,
}

/** The list calls that cover `exchange`'s account; undefined where one call without a symbol does. */
export function accountListsFor(exchange: Exchange): AccountLists | undefined {
  return exchange.id === 'bybit' ? BYBIT : undefined
}

/**
 * ccxt's classes for a venue that will not list a book for this account whatever is asked again:
 * the key lacks the permission (Bybit 10005), the account is of a kind that has no such book
 * (Bybit 10020 for a classic account's USDC contracts, 10028, 10029), or ccxt itself will not ask
 * (`NotSupported`). A timeout, a 5xx, a rate limit or a refused key (`AuthenticationError` proper,
 * which refuses every book alike) is none of these: that round's list is unknown.
 */
const BOOK_REFUSALS = ['PermissionDenied', 'AccountNotEnabled', 'NotSupported'] as const

/**
 * `BadRequest` is a refusal of one request, not of a book: ccxt raises it for a parameter error
 * (Bybit 10001, 7001, 170130), a duplicate request (10014), a path the venue does not route now
 * (10017), a stale timestamp on the older codes (-1021). One such answer leaves that round's list
 * unknown; only the same answer `BAD_REQUESTS_TO_LEARN` rounds in a row, the book never answering
 * between them, is the venue refusing that book for this account.
 */
export const BAD_REQUESTS_TO_LEARN = 3

/** Whether a list's failure is the venue refusing that book for good (`book`), a request it called wrong (`request`), or neither. */
export function refusalOf(e: unknown): 'book' | 'request' | undefined {
  // a venue's "system busy" answer that ccxt files as a refusal (KuCoin's 408000 is a BadRequest)
  if (isServerError(e)) return undefined
  const chain = ccxtChain(e)
  if (BOOK_REFUSALS.some((name) => chain.includes(name))) return 'book'
  return chain.includes('BadRequest') ? 'request' : undefined
}

/** Whether a list's failure is the venue refusing that book for good. */
export function refusesBook(e: unknown): boolean {
  return refusalOf(e) === 'book'
}

/**
 * A row of a list asked of one kind of market, in a market of that kind. ccxt.bybit reads a row
 * without a market as a contract's when it carries a `tpslMode` field, as a spot one otherwise, so
 * a spot order listed with that field (empty) would be taken for the linear contract of the same
 * id (`BTCUSDT`), and cancelled and looked up there. The list it came from says which it is.
 */
export function inListMarket(exchange: Exchange, order: Order, list: AccountList): Order {
  const current = order.symbol ? exchange.markets?.[order.symbol] : undefined
  if (current?.[list.marketType] === true) return order
  const info = order.info as Record<string, unknown> | undefined
  const marketId = typeof info?.symbol === 'string' ? info.symbol : undefined
  const candidates = marketId === undefined ? [] : (exchange.markets_by_id?.[marketId] ?? [])
  const market = (candidates as (MarketInterface | undefined)[]).find((m) => m?.[list.marketType] === true)
  return market ? { ...order, symbol: market.symbol } : order
}
