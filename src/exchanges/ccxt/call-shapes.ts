import type { Exchange } from 'ccxt'

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
