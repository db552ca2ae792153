import type { Exchange } from 'ccxt'

/**
 * ccxt.pro creates some WebSocket futures ahead of the request that settles them (Binance's
 * `authenticate:signature:spot`, so concurrent callers can wait on it) and rejects them when the
 * connection fails even when nobody waits: Node then reports an unhandled rejection, which can
 * end the process. The caller that started the request sees the same failure through its own
 * promise, so marking these handled loses nothing.
 */
export function quietPendingFutures(exchange: Exchange): void {
  const clients = (exchange as unknown as { clients?: Record<string, { futures?: Record<string, unknown> }> }).clients ?? {}
  for (const client of Object.values(clients)) {
    for (const future of Object.values(client.futures ?? {})) {
      if (future instanceof Promise) future.catch(() => undefined)
    }
  }
}
