import type { EventInput } from '../../src/events/index.js'

let n = 0
/** A valid order.submitted input; fields can be overridden. */
export function submitted(over: Record<string, unknown> = {}): EventInput {
  n++
  return {
    type: 'order.submitted',
    data: {
      venue: 'sim-a',
      clientOrderId: `c-${n}`,
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'limit',
      qty: 1,
      price: 100,
      origin: { kind: 'strategy', id: 'mm' },
      ...over,
    },
  }
}

export function mark(price = 100): EventInput {
  return { type: 'market.mark', data: { venue: 'sim-a', symbol: 'BTC/USDT', price } }
}
