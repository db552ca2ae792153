import { marketKey, venueOfKey } from './fact.js'
import { emptyPosition, unrealizedAt, type Position } from './positions.js'
import type { HaltdState } from './state.js'
import { contractSizeOf } from './venues.js'

/**
 * A position as haltd best knows it. Where the venue has reported its positions, the venue's
 * word is the size: its last report, plus what traded since (the fills of orders sent after it,
 * and trades of orders that rested across it; see `noteSinceObserved` in state.ts). Elsewhere (a
 * spot venue, a venue never asked) the fills alone. `fromFills` keeps what the fills add up to,
 * so a report can show both where they differ.
 */
export type Exposure = {
  venue: string
  symbol: string
  /** Signed: long > 0, short < 0. */
  qty: number
  /** What haltd's own fills add up to. */
  fromFills: number
  /** `venue`: `qty` rests on the venue's positions report at `observedSeq` (and what traded since); `fills`: on the fills alone. */
  basis: 'venue' | 'fills'
  observedSeq?: number
  /** What that report said of this symbol. */
  observedQty?: number
  avgEntry: number
  realized: number
  unrealized: number
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

function fromFills(p: Position): Exposure {
  return {
    venue: p.venue,
    symbol: p.symbol,
    qty: p.qty,
    fromFills: p.qty,
    basis: 'fills',
    avgEntry: p.avgEntry,
    realized: p.realized,
    unrealized: p.unrealized,
  }
}

/** Every position haltd or a venue knows of, flat ones included, by venue then symbol. */
export function exposures(state: HaltdState): Exposure[] {
  const out = new Map<string, Exposure>()
  for (const [key, p] of state.positions) out.set(key, fromFills(p))
  for (const [venue, view] of state.venues) {
    const report = view.positions
    if (report === undefined) continue
    const observed = new Map(report.positions.map((p) => [marketKey(venue, p.symbol), p]))
    const keys = new Set(observed.keys())
    for (const key of out.keys()) if (venueOfKey(key) === venue) keys.add(key)
    for (const key of state.sinceObserved.keys()) if (venueOfKey(key) === venue) keys.add(key)
    for (const key of keys) {
      const said = observed.get(key)
      const symbol = said?.symbol ?? key.slice(venue.length + 1)
      const base = out.get(key) ?? fromFills(emptyPosition(venue, symbol))
      const observedQty = said?.qty ?? 0
      const qty = observedQty + (state.sinceObserved.get(key) ?? 0)
      const avgEntry = said?.entryPrice ?? base.avgEntry
      const mark = state.marks.get(key)
      const e: Exposure = { ...base, qty, basis: 'venue', observedSeq: report.seq, observedQty, avgEntry, unrealized: 0 }
      // the venue's position as it is now: at the market's size now
      e.unrealized = mark === undefined ? 0 : unrealizedAt({ qty, avgEntry, contractSize: contractSizeOf(state.venues, venue, symbol) }, mark)
      out.set(key, e)
    }
  }
  return [...out.values()].sort((a, b) => cmp(a.venue, b.venue) || cmp(a.symbol, b.symbol))
}

/** The signed size of one position as `exposures` has it: what a reduce-only order may close. */
export function exposureOf(state: HaltdState, venue: string, symbol: string): number {
  const key = marketKey(venue, symbol)
  const report = state.venues.get(venue)?.positions
  if (report === undefined) return state.positions.get(key)?.qty ?? 0
  const said = report.positions.find((p) => p.symbol === symbol)?.qty ?? 0
  return said + (state.sinceObserved.get(key) ?? 0)
}
