import type { Exchange, Ticker, Tickers } from 'ccxt'
import { systemClock, timeoutSignal, type Clock } from '../../events/clock.js'
import type { TickerSource } from '../ticker-source.js'
import type { BackoffGate, Ticket } from './backoff-gate.js'
import { isRateLimited } from './errors.js'
import { noteRateLimitAnswers, retryAfterOf } from './rate-limit-answers.js'

type Quote = Parameters<Parameters<TickerSource['onTicker']>[0]>[0]

export type CcxtTickerSourceOptions = {
  venue: string
  /** Its own instance: polling must not queue behind order entry in ccxt's rate limiter, nor delay it. */
  exchange: Exchange
  symbols: readonly string[]
  pollMs: number
  /** Stamps each quote as it arrives; exchange timestamps are missing or stale on some REST tickers. */
  clock?: Clock
  /** A failed poll. Polling goes on: a feed that stays dead is the feed-loss trigger's to notice. */
  onError?: (e: unknown) => void
  /**
   * The venue's backoff gate (its gateway's, `backoffGateOf(gatewayExchange)`): a poll the gate
   * would hold past the next one is skipped, and a rate-limit answer to a poll holds the gateway's calls too.
   */
  gate?: () => BackoffGate | undefined
}

const positive = (x: number | undefined): number | undefined => (typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : undefined)

/** Best bid and ask where the venue gives both (and they are not crossed), else its last trade on both sides. */
export function quoteOf(t: Pick<Ticker, 'bid' | 'ask' | 'last'>): { bid: number; ask: number; mid: number } | undefined {
  const bid = positive(t.bid)
  const ask = positive(t.ask)
  if (bid !== undefined && ask !== undefined && bid <= ask) return { bid, ask, mid: (bid + ask) / 2 }
  const last = positive(t.last)
  return last === undefined ? undefined : { bid: last, ask: last, mid: last }
}

/**
 * The cheapest unified call that reads a group of symbols: `fetchBidsAsks` is the book top itself
 * (Binance USD-M's 24h ticker carries no bid or ask); `fetchTickers` reads several in one request;
 * `fetchTicker` one by one works everywhere.
 */
async function readGroup(ex: Exchange, symbols: string[]): Promise<Tickers> {
  if (ex.has.fetchBidsAsks === true) return ex.fetchBidsAsks(symbols)
  if (ex.has.fetchTickers && symbols.length > 1) return ex.fetchTickers(symbols)
  const out: Tickers = {}
  for (const s of symbols) out[s] = await ex.fetchTicker(s)
  return out
}

/**
 * Multi-symbol calls take their market type from the first symbol, so spot and derivatives
 * symbols of one venue are read in separate requests.
 */
function groupByMarketType(ex: Exchange, symbols: readonly string[], onUnknown: (symbol: string, e: unknown) => void): string[][] {
  const groups = new Map<string, string[]>()
  for (const s of symbols) {
    let key: string
    try {
      const m = ex.market(s)
      key = `${m.type}/${m.subType ?? ''}`
    } catch (e) {
      onUnknown(s, e)
      continue
    }
    groups.set(key, [...(groups.get(key) ?? []), s])
  }
  return [...groups.values()]
}

/**
 * Market data for a ccxt venue by polling its REST tickers every `pollMs`, the one way that works
 * on every exchange ccxt supports. One poll at a time: the next starts `pollMs` after the previous
 * one started, or as soon as it ends if it took longer.
 */
export function ccxtTickerSource(options: CcxtTickerSourceOptions): TickerSource {
  const { venue, exchange, pollMs } = options
  const symbols = [...options.symbols]
  const clock = options.clock ?? systemClock
  const handlers = new Set<(q: Quote) => void>()
  // Each start gets a new loop id; a poll in flight from an older loop delivers nothing and ends its loop.
  let loop = 0
  let running = false
  let timer: NodeJS.Timeout | undefined
  let inFlight: Promise<void> | undefined
  const unknown = new Set<string>()
  // a rate-limit answer keeps its Retry-After for the gate
  if (options.gate) noteRateLimitAnswers(exchange)

  const report = (e: unknown) => {
    try {
      options.onError?.(e)
    } catch {
      // a throwing error sink must not end the polling loop
    }
  }

  const deliver = (id: number, symbol: string, t: Ticker | undefined) => {
    const q = t && quoteOf(t)
    if (!q) return
    const quote: Quote = { symbol, ...q, ts: clock.now() }
    for (const h of [...handlers]) {
      if (id !== loop) return
      try {
        h(quote)
      } catch (e) {
        report(e)
      }
    }
  }

  const poll = async (id: number) => {
    try {
      await exchange.loadMarkets()
    } catch (e) {
      return report(e)
    }
    const groups = groupByMarketType(exchange, symbols, (symbol, e) => {
      // a symbol the venue does not list stays unlisted: said once, not on every poll
      if (unknown.has(symbol)) return
      unknown.add(symbol)
      report(e)
    })
    const gate = options.gate?.()
    let ticket: Ticket | undefined
    if (gate) {
      // market data waits behind everything else, and never longer than until the next poll
      ticket = await gate.pass(2, timeoutSignal(pollMs), performance.now() + pollMs).catch(() => undefined)
      if (!ticket) return
    }
    const results = await Promise.allSettled(groups.map((g) => readGroup(exchange, g)))
    if (gate && ticket) {
      const limited = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && isRateLimited(r.reason))
      if (limited) gate.refused(ticket, retryAfterOf(limited.reason))
      else gate.settled(ticket, results.some((r) => r.status === 'fulfilled') ? 'answered' : 'no-answer')
    }
    results.forEach((r, i) => {
      if (id !== loop) return
      if (r.status === 'rejected') report(r.reason)
      else for (const s of groups[i]!) deliver(id, s, r.value[s])
    })
  }

  const run = async (id: number) => {
    timer = undefined
    if (id !== loop) return
    const began = performance.now()
    const p = poll(id)
    inFlight = p
    await p
    if (inFlight === p) inFlight = undefined
    if (id !== loop) return
    timer = setTimeout(() => void run(id), Math.max(0, pollMs - (performance.now() - began)))
    timer.unref()
  }

  return {
    venue,
    symbols,
    onTicker(handler) {
      handlers.add(handler)
      return () => void handlers.delete(handler)
    },
    start() {
      if (running) return
      if (!(Number.isInteger(pollMs) && pollMs > 0)) throw new RangeError(`pollMs must be a positive integer, got ${pollMs}`)
      running = true
      const id = ++loop
      // a poll still in flight from before a stop finishes first: never two at once
      void (inFlight ?? Promise.resolve()).then(() => run(id))
    },
    stop() {
      if (!running) return
      running = false
      loop++
      clearTimeout(timer)
      timer = undefined
      // its own instance: nothing else holds its connections open
      void Promise.resolve()
        .then(() => exchange.close())
        .catch(() => {})
    },
  }
}
