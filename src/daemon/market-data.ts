import type { TickerSource } from '../exchanges/ticker-source.js'
import type { Tick } from '../strategies/index.js'
import type { Clock } from '../events/clock.js'
import type { EventLog } from '../core/log/event-log.js'

export type MarketData = {
  start(): void
  /** Graceful step 9: feeds stopped, recorded as `marketdata.unsubscribed`. */
  stop(): void
  readonly running: boolean
  /** Ticks received since start, per venue. */
  readonly ticks: ReadonlyMap<string, number>
}

/**
 * Market data in: each tick goes to the strategies and the risk monitor at once, and a mark goes
 * into the log at most every `markEveryMs` per symbol (enough for P&L and drawdown, without
 * making the log a tick store).
 */
export function createMarketData(input: {
  log: EventLog
  sources: readonly TickerSource[]
  clock: Clock
  onTick: (tick: Tick) => void
  markEveryMs?: number
  onError?: (e: unknown) => void
}): MarketData {
  const { log, sources, clock } = input
  const markEvery = input.markEveryMs ?? 1_000
  const lastMark = new Map<string, number>()
  const ticks = new Map<string, number>()
  const offs: (() => void)[] = []
  let running = false
  return {
    start() {
      if (running) return
      running = true
      for (const src of sources) {
        log.append({ type: 'marketdata.subscribed', data: { venue: src.venue, symbols: [...src.symbols] } })
        offs.push(
          src.onTicker((t) => {
            if (!running) return
            ticks.set(src.venue, (ticks.get(src.venue) ?? 0) + 1)
            try {
              const key = `${src.venue} ${t.symbol}`
              const now = clock.now()
              if (now - (lastMark.get(key) ?? -Infinity) >= markEvery && !log.isClosed) {
                lastMark.set(key, now)
                log.append({ type: 'market.mark', data: { venue: src.venue, symbol: t.symbol, price: t.mid } })
              }
              input.onTick({ venue: src.venue, symbol: t.symbol, bid: t.bid, ask: t.ask, mid: t.mid, ts: t.ts })
            } catch (e) {
              input.onError?.(e)
            }
          }),
        )
        src.start()
      }
    },
    stop() {
      if (!running) return
      running = false
      for (const off of offs.splice(0)) off()
      for (const src of sources) {
        src.stop()
        try {
          if (!log.isClosed) log.append({ type: 'marketdata.unsubscribed', data: { venue: src.venue, symbols: [...src.symbols] } })
        } catch (e) {
          // Stopped all the same: the next feed must stop too.
          input.onError?.(e)
        }
      }
    },
    get running() {
      return running
    },
    ticks,
  }
}
