import type { VenueOrder, VenueOrderStatus } from '../gateway.js'

type Known = { symbol: string; venueOrderId?: string; status: VenueOrderStatus; filled: number }

const ACTIVE: ReadonlySet<VenueOrderStatus> = new Set(['open', 'partially-filled'])
const TRADE_MEMORY = 10_000

/**
 * What the gateway last saw of each order (from answers, streams and polls), so updates are
 * reported once per change, fills once per trade id, and a poll knows which orders to follow
 * until they finish.
 */
export class OrderTracker {
  private readonly byClient = new Map<string, Known>()
  private readonly clientByVenue = new Map<string, string>()
  private readonly trades = new Set<string>()

  /** Records what was seen; true when the status or the filled quantity changed. */
  observe(o: { clientOrderId: string; symbol: string; venueOrderId?: string; status: VenueOrderStatus; filled: number }): boolean {
    if (o.venueOrderId) this.clientByVenue.set(o.venueOrderId, o.clientOrderId)
    const prior = this.byClient.get(o.clientOrderId)
    const venueOrderId = o.venueOrderId ?? prior?.venueOrderId
    // never move a finished order back to active: a late snapshot must not resurrect it
    if (prior && !ACTIVE.has(prior.status) && ACTIVE.has(o.status)) return false
    this.byClient.set(o.clientOrderId, { symbol: o.symbol, ...(venueOrderId ? { venueOrderId } : {}), status: o.status, filled: o.filled })
    return !prior || prior.status !== o.status || prior.filled !== o.filled
  }

  observeOrder(o: VenueOrder): boolean {
    if (!o.clientOrderId) return false
    return this.observe({ clientOrderId: o.clientOrderId, symbol: o.symbol, venueOrderId: o.venueOrderId, status: o.status, filled: o.filled })
  }

  clientIdFor(venueOrderId: string | undefined): string | undefined {
    return venueOrderId === undefined ? undefined : this.clientByVenue.get(venueOrderId)
  }

  /** Orders last seen active: a poll asks after the ones that leave the open list. */
  active(): { clientOrderId: string; symbol: string; venueOrderId?: string }[] {
    const out: { clientOrderId: string; symbol: string; venueOrderId?: string }[] = []
    for (const [clientOrderId, k] of this.byClient) {
      if (ACTIVE.has(k.status)) out.push({ clientOrderId, symbol: k.symbol, ...(k.venueOrderId ? { venueOrderId: k.venueOrderId } : {}) })
    }
    return out
  }

  symbols(): string[] {
    return [...new Set([...this.byClient.values()].map((k) => k.symbol))]
  }

  /** True the first time a trade id is seen. */
  firstSight(tradeId: string): boolean {
    if (this.trades.has(tradeId)) return false
    this.trades.add(tradeId)
    if (this.trades.size > TRADE_MEMORY) this.trades.delete(this.trades.values().next().value as string)
    return true
  }

  /** Unsee a trade id: one that could not be read or placed is taken up again when next reported. */
  forgetTrade(tradeId: string): void {
    this.trades.delete(tradeId)
  }
}
