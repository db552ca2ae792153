import type { Exchange } from 'ccxt'

/**
 * One venue's clock: after a stale-timestamp refusal, one `GET /time` (ccxt's
 * `loadTimeDifference`) serves every call that was refused meanwhile, and the difference it
 * learns is given to every instance of the venue. A call refused for a request it sent before
 * the last resync finished needs no new one.
 */
export class ClockResync {
  private completed = 0
  private inFlight: Promise<void> | undefined
  private readonly instances = new Set<Exchange>()

  /** The resyncs completed so far: read it before sending a request, pass it to `resync` after a refusal. */
  get generation(): number {
    return this.completed
  }

  /** Remembers an instance of this venue, so it gets the clock difference a resync learns. */
  track(exchange: Exchange): void {
    this.instances.add(exchange)
  }

  resync(exchange: Exchange, sentAtGeneration: number): Promise<void> {
    this.track(exchange)
    if (sentAtGeneration < this.completed) return Promise.resolve()
    this.inFlight ??= this.load(exchange).finally(() => {
      this.completed++
      this.inFlight = undefined
    })
    return this.inFlight
  }

  private async load(exchange: Exchange): Promise<void> {
    // a failed resync leaves the retry to meet the same refusal, which then reports it
    const difference = await exchange.loadTimeDifference().catch(() => undefined)
    if (typeof difference !== 'number') return
    for (const other of this.instances) if (other !== exchange && other.id === exchange.id) other.options.timeDifference = difference
  }
}
