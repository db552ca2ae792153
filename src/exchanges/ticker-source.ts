/** Where ticks come from for one venue (the simulator's feed; a ccxt watcher would fit the same). */
export type TickerSource = {
  readonly venue: string
  readonly symbols: readonly string[]
  onTicker(handler: (t: { symbol: string; bid: number; ask: number; mid: number; ts: number }) => void): () => void
  start(): void
  stop(): void
}
