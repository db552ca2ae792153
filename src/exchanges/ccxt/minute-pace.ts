import type { Exchange } from 'ccxt'

/** Venues that count request weight per minute (Binance's REQUEST_WEIGHT limit), by ccxt id. */
const WEIGHT_PER_MINUTE = new Set(['binance', 'binanceusdm', 'binancecoinm'])
const MINUTE_MS = 60_000

/**
 * Paces a ccxt instance the way its venue counts, where the venue counts request weight over a
 * minute: ccxt's default leaky bucket bills each call's whole cost to the next call, so a Binance
 * futures emergency over the whole account, which lists the account's open orders first (weight
 * 40), held its dead man's switch and its cancels 2 s behind that list (cancels out 3 s after the
 * request; the emergency took 5.3 s against a venue answering at once). A rolling window of a
 * minute lets such a burst go at once and still spends no more in any minute than the bucket did
 * (ccxt's 1,200 weight at Binance's 50 ms pace, against the venue's 2,400 on futures and 6,000 on
 * spot). Venues that count over a second or two keep ccxt's pace, which is theirs; an instance
 * whose limiter was set otherwise, or switched off, is left as it was. The gateway paces its
 * shutdown instance so; the daemon every instance it makes.
 */
export function paceByTheMinute(exchange: Exchange): void {
  const bucket = exchange.tokenBucket as Record<string, unknown> | undefined
  if (!WEIGHT_PER_MINUTE.has(exchange.id) || !exchange.enableRateLimit || !((exchange.rateLimit ?? 0) > 0)) return
  if (bucket === undefined || bucket.algorithm !== 'leakyBucket' || bucket.capacity !== 1) return
  // ccxt's Throttler sizes the window's weight itself: windowSize / rateLimit
  exchange.tokenBucket = { ...(bucket as Record<string, number>), algorithm: 'rollingWindow' as unknown as number, windowSize: MINUTE_MS }
  exchange.initThrottler()
}
