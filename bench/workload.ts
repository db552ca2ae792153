import type { EventInput } from '../src/events/index.js'

/**
 * The event mix the append benchmarks write: an order's life (submitted, accepted, filled)
 * interleaved with mark prices, the way a trading engine's log fills up. Every order and trade
 * id is unique per `prefix`, so idempotency never turns an append into a lookup.
 */
export function tradingEvent(i: number, prefix = 'b'): EventInput {
  const venue = VENUES[(i >> 2) % VENUES.length]!
  const order = `${prefix}-${i >> 2}`
  switch (i & 3) {
    case 0:
      return {
        type: 'order.submitted',
        data: {
          venue,
          clientOrderId: order,
          symbol: 'BTC/USDT',
          side: i & 4 ? 'sell' : 'buy',
          type: 'limit',
          qty: 0.01 + (i % 7) / 100,
          price: 64000 + (i % 101),
          origin: { kind: 'strategy', id: 'mm-1' },
        },
      }
    case 1:
      return { type: 'order.accepted', data: { venue, clientOrderId: order, venueOrderId: `v-${order}` } }
    case 2:
      return {
        type: 'order.filled',
        data: { venue, clientOrderId: order, tradeId: `t-${order}`, qty: 0.01, price: 64000 + (i % 101), fee: 0.02, feeCurrency: 'USDT', liquidity: 'maker' },
      }
    default:
      return { type: 'market.mark', data: { venue, symbol: 'BTC/USDT', price: 64000 + (i % 97) } }
  }
}

const VENUES = ['binance', 'okx', 'kraken'] as const

/** `n` distinct events starting at index `from`. */
export function tradingEvents(n: number, prefix = 'b', from = 0): EventInput[] {
  return Array.from({ length: n }, (_, k) => tradingEvent(from + k, prefix))
}
