import type { FakeExchangeEngine, FakeOrder, FakeTrade, SymbolSpec } from '../fake-binance/index.js'
import { BybitReject, duplicateLinkId, fromEngine, orderNotFound, paramError, type Category } from './codes.js'
import { engineOrderId, NO_LINK_PREFIX, segmentOf } from './wire.js'

/** Bybit's rule for `orderLinkId`: at most 36 characters of letters, digits, `-` and `_`. */
export const ORDER_LINK_ID = /^[A-Za-z0-9_-]{1,36}$/

/** Page sizes of the list endpoints: [default, max]. */
export const PAGE = {
  realtime: [20, 50],
  history: [20, 50],
  executions: [50, 100],
  positions: [20, 200],
} as const

/** Orders one `cancel-batch` may carry, per category. */
export const BATCH_MAX: Record<Category, number> = { spot: 10, linear: 20 }

/** The DCP window Bybit accepts, seconds. */
export const DCP_WINDOW = { min: 3, max: 300 } as const

export type OrderRef = { orderId?: string; orderLinkId?: string }
export type Page<T> = { list: T[]; nextPageCursor: string }

const isOpen = (o: FakeOrder): boolean => o.status === 'NEW' || o.status === 'PARTIALLY_FILLED'
const CURSOR = /^page_args=(\d+)$/

/**
 * One unified trading account at the fake Bybit: spot and linear books on the shared matching
 * engine, with Bybit's rules on top (order link ids, cursor pages newest first, batch and
 * cancel-all answers, the DCP window). Positions come from linear fills.
 */
export class BybitAccount {
  /** DCP windows armed per product (`DERIVATIVES`, `SPOT`, `OPTIONS`), seconds. */
  readonly dcp = new Map<string, number>()
  private unlinked = 0

  constructor(readonly engine: FakeExchangeEngine) {}

  spec(symbol: string | undefined): SymbolSpec {
    const spec = symbol ? this.engine.symbols.get(symbol) : undefined
    if (!spec) throw paramError('symbol invalid')
    return spec
  }

  place(
    category: Category,
    req: { symbol: string; side: string; orderType: string; qty: number; price?: number; timeInForce?: string; orderLinkId?: string; reduceOnly?: boolean },
  ): FakeOrder {
    const spec = this.spec(req.symbol)
    if (req.orderLinkId !== undefined && !ORDER_LINK_ID.test(req.orderLinkId)) throw paramError('orderLinkId invalid')
    if (req.orderLinkId && this.all(category).some((o) => o.clientOrderId === req.orderLinkId)) throw duplicateLinkId(category)
    if (req.side !== 'Buy' && req.side !== 'Sell') throw paramError('side invalid')
    if (req.orderType !== 'Limit' && req.orderType !== 'Market') throw paramError('orderType invalid')
    const tif = req.timeInForce === 'PostOnly' ? 'GTX' : (req.timeInForce ?? 'GTC')
    if (!['GTC', 'IOC', 'FOK', 'GTX'].includes(tif)) throw paramError('timeInForce invalid')
    try {
      return this.engine.place(segmentOf(category), {
        symbol: spec.id,
        side: req.side === 'Buy' ? 'BUY' : 'SELL',
        type: req.orderType === 'Limit' ? 'LIMIT' : 'MARKET',
        quantity: req.qty,
        price: req.price,
        timeInForce: req.orderType === 'Market' ? 'IOC' : tif,
        clientOrderId: req.orderLinkId || `${NO_LINK_PREFIX}${++this.unlinked}`,
        reduceOnly: req.reduceOnly,
      })
    } catch (e) {
      throw fromEngine(category, e)
    }
  }

  /** orderId first, then orderLinkId, as Bybit resolves a reference. */
  find(category: Category, ref: OrderRef, symbol?: string): FakeOrder | undefined {
    const matches = (o: FakeOrder): boolean => symbol === undefined || o.symbol === symbol
    if (ref.orderId) {
      const n = engineOrderId(category, ref.orderId)
      const o = n === undefined ? undefined : this.engine.orders[segmentOf(category)].get(n)
      return o && matches(o) ? o : undefined
    }
    if (ref.orderLinkId)
      return this.all(category)
        .filter((o) => o.clientOrderId === ref.orderLinkId && matches(o))
        .at(-1)
    return undefined
  }

  cancel(category: Category, symbol: string, ref: OrderRef): FakeOrder {
    this.spec(symbol)
    if (!ref.orderId && !ref.orderLinkId) throw paramError('orderId or orderLinkId is required')
    const o = this.find(category, ref, symbol)
    if (!o || !isOpen(o)) throw orderNotFound(category)
    return this.engine.cancel(segmentOf(category), symbol, { orderId: o.orderId })
  }

  /** Cancels every open order of the category, of one symbol or of every symbol. */
  cancelAll(category: Category, symbol?: string): FakeOrder[] {
    const symbols = symbol ? [this.spec(symbol).id] : [...this.engine.symbols.keys()]
    return symbols.flatMap((s) => this.engine.cancelAll(segmentOf(category), s))
  }

  /** The orders of a category, newest first, as every Bybit list sorts them. */
  all(category: Category): FakeOrder[] {
    return [...this.engine.orders[segmentOf(category)].values()].sort((a, b) => b.orderId - a.orderId)
  }

  open(category: Category, symbol?: string): FakeOrder[] {
    return this.all(category).filter((o) => isOpen(o) && (symbol === undefined || o.symbol === symbol))
  }

  closed(category: Category, symbol?: string): FakeOrder[] {
    return this.all(category).filter((o) => !isOpen(o) && (symbol === undefined || o.symbol === symbol))
  }

  trades(category: Category): FakeTrade[] {
    const segment = segmentOf(category)
    return this.engine.trades.filter((t) => t.segment === segment).sort((a, b) => b.id - a.id)
  }

  orderOf(category: Category, trade: FakeTrade): FakeOrder {
    return this.engine.orders[segmentOf(category)].get(trade.orderId)!
  }

  /** Bybit's `DCP`: arms the window for a product; a window outside 3–300 s is refused. */
  armDcp(product: string, timeWindow: number): void {
    if (!['DERIVATIVES', 'SPOT', 'OPTIONS'].includes(product)) throw paramError('product invalid')
    if (!Number.isInteger(timeWindow) || timeWindow < DCP_WINDOW.min || timeWindow > DCP_WINDOW.max) {
      throw new BybitReject(10001, `params error: timeWindow must be between ${DCP_WINDOW.min} and ${DCP_WINDOW.max} seconds`)
    }
    this.dcp.set(product, timeWindow)
  }

  /** What Bybit does when the private stream of an account with DCP stays gone for the window: cancel that product's orders. */
  fireDcp(): FakeOrder[] {
    const out: FakeOrder[] = []
    if (this.dcp.has('DERIVATIVES')) out.push(...this.cancelAll('linear'))
    if (this.dcp.has('SPOT')) out.push(...this.cancelAll('spot'))
    return out
  }
}

/** Reads `limit` within Bybit's range for the list: absent means the default, out of range is a refusal. */
export function pageLimit(raw: string | undefined, [def, max]: readonly [number, number]): number {
  if (raw === undefined || raw === '') return def
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > max) throw paramError(`limit must be between 1 and ${max}`)
  return n
}

/**
 * A page of a newest-first list after the cursor. The cursor names the last item of the page
 * before (keyset, as Bybit's `page_args` do), so cancelling what one page showed does not make
 * the next page skip anything.
 */
export function page<T>(items: T[], keyOf: (t: T) => number, limit: number, cursor: string | undefined): Page<T> {
  let rest = items
  if (cursor) {
    const m = CURSOR.exec(cursor)
    if (!m) throw paramError('cursor invalid')
    const after = Number(m[1])
    rest = items.filter((t) => keyOf(t) < after)
  }
  const list = rest.slice(0, limit)
  const more = rest.length > limit
  return { list, nextPageCursor: more ? `page_args=${keyOf(list.at(-1)!)}` : '' }
}

/** A limit buy the engine rests on the account itself, beside haltd (guardian mode's orders). */
export function engineRests(
  venue: { account: Pick<BybitAccount, 'place'> },
  category: 'spot' | 'linear',
  symbol: string,
  orderLinkId: string,
  price: number,
  qty: number,
): void {
  venue.account.place(category, { symbol, side: 'Buy', orderType: 'Limit', qty, price, orderLinkId })
}
