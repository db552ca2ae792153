/** The order the order-entry bench enters, the `i`th of a run: a resting limit order, buy and sell in turn, far from the mid. */
export const ENTRY_SYMBOL = 'BTC/USDT:USDT'

export function entryOrder(i: number, tag: string) {
  const side = i % 2 === 0 ? ('buy' as const) : ('sell' as const)
  return {
    symbol: ENTRY_SYMBOL,
    type: 'limit' as const,
    side,
    amount: 0.001,
    price: side === 'buy' ? 50 - (i % 100) * 0.01 : 150 + (i % 100) * 0.01,
    clientOrderId: `${tag}${i}`,
  }
}
