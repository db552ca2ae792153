import type { Exchange, Order } from 'ccxt'

/**
 * How a venue's ccxt class wants a call shaped where the unified arguments are not enough
 * (checked against ccxt 4.5.84; see docs/CCXT-NOTES.md).
 */

/**
 * The params that name an order by our client order id. ccxt maps `clientOrderId` for Binance
 * (`origClientOrderId`) and OKX (`clOrdId`); Bybit's cancel and lookup pass params through as
 * they are, so it needs its own `orderLinkId`.
 */
export function byClientIdParams(exchangeId: string, clientOrderId: string): Record<string, unknown> {
  return exchangeId === 'bybit' ? { orderLinkId: clientOrderId } : { clientOrderId }
}

/**
 * Params every `fetchOrder` needs. Bybit refuses it (`ArgumentsRequired`) unless told that it
 * sees only the account's last 500 orders: haltd looks up recent orders, and an order it does
 * not find is reported unknown rather than gone.
 */
export function fetchOrderParams(exchangeId: string): Record<string, unknown> {
  return exchangeId === 'bybit' ? { acknowledged: true } : {}
}

const RETRY_OPTIONS = ['maxRetriesOnFailure', 'defaultMaxRetriesOnFailure'] as const
const held = new WeakMap<Exchange, { calls: number; saved: Partial<Record<(typeof RETRY_OPTIONS)[number], unknown>> }>()

/**
 * Runs `op` with ccxt's own retry (`options.maxRetriesOnFailure`) held at 0 on the instance, and
 * puts the instance's own setting back once no such call is in flight. It is an instance option,
 * never a request param: params end up in the order body the venue receives.
 */
export async function withoutCcxtRetries<T>(exchange: Exchange, op: () => Promise<T>): Promise<T> {
  const options = exchange.options as Record<string, unknown>
  let hold = held.get(exchange)
  if (!hold) {
    hold = { calls: 0, saved: {} }
    for (const key of RETRY_OPTIONS) if (key in options) hold.saved[key] = options[key]
    held.set(exchange, hold)
  }
  hold.calls++
  for (const key of RETRY_OPTIONS) options[key] = 0
  try {
    return await op()
  } finally {
    if (--hold.calls === 0) {
      held.delete(exchange)
      for (const key of RETRY_OPTIONS) {
        if (key in hold.saved) options[key] = hold.saved[key]
        else delete options[key]
      }
    }
  }
}

type BybitBatchAnswer = {
  result?: { list?: { orderId?: string; orderLinkId?: string }[] }
  retExtInfo?: { list?: { code?: number | string; msg?: string }[] }
}

/** Bybit's v5 category of a market, as ccxt's `getBybitType` names it. */
const bybitCategory = (m: { spot?: boolean; option?: boolean; linear?: boolean | undefined }): string =>
  m.spot ? 'spot' : m.option ? 'option' : m.linear === false ? 'inverse' : 'linear'

/**
 * A Bybit batch cancel with each item's own code. Bybit answers the items in `result.list` and
 * their codes, item for item, in `retExtInfo.list`; ccxt's `cancelOrders` keeps the items and
 * drops the codes, so an item the venue refused (110001) would read like one it canceled. This
 * sends the request ccxt's `cancelOrders` sends (`bybit.js` 4982) and joins each item to its
 * code within the venue's answer: canceled where the code is 0, the code where it is not, no
 * status where the answer has no code for the item. The items go on to be matched to orders by id.
 */
export async function bybitCancelBatch(exchange: Exchange, ids: readonly string[], symbol: string): Promise<Order[]> {
  const market = exchange.market(symbol)
  const call = (exchange as unknown as Record<string, unknown>).privatePostV5OrderCancelBatch as ((request: object) => Promise<BybitBatchAnswer>) | undefined
  if (typeof call !== 'function') return exchange.cancelOrders([...ids], symbol)
  const answer = await call.call(exchange, { category: bybitCategory(market), request: ids.map((orderId) => ({ symbol: market.id, orderId })) })
  const items = answer.result?.list ?? []
  const codes = answer.retExtInfo?.list ?? []
  return items.map((item, i) => {
    const code = codes.length === items.length ? codes[i]?.code : undefined
    const ok = code !== undefined && String(code) === '0'
    return {
      ...(item.orderId ? { id: item.orderId } : {}),
      ...(item.orderLinkId ? { clientOrderId: item.orderLinkId } : {}),
      ...(ok ? { status: 'canceled' } : {}),
      symbol,
      info: { ...item, ...(code !== undefined && !ok ? { retCode: code, retMsg: codes[i]?.msg ?? '' } : {}) },
    } as unknown as Order
  })
}
