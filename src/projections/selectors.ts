import { marketKey, orderKey } from './fact.js'
import { isLive, type Order } from './orders.js'
import { unrealizedAt, type Position } from './positions.js'
import { shutdownProgress, type ShutdownProgress } from './shutdowns.js'
import type { HaltdState, PnlTotals } from './state.js'
import type { KillSwitch, StrategyView, TradingView } from './trading.js'
import type { VenueView } from './venues.js'
import type { Anomaly } from './anomalies.js'

// What the rest of haltd reads. Lists come back in a stable order (by seq or by name), never in
// map insertion order, which a snapshot restore does not preserve.

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Whether haltd holds a price for the market (a mark recorded): a position on one it does not (a
 * market outside a venue's `symbols`, or none priced yet) has an unknown unrealized P&L, never 0.
 */
export function isPriced(state: HaltdState, venue: string, symbol: string): boolean {
  return state.marks.has(marketKey(venue, symbol))
}

export function order(state: HaltdState, venue: string, clientOrderId: string): Order | undefined {
  return state.orders.get(orderKey(venue, clientOrderId))
}

/** Orders that may still trade, oldest first; on one venue if given. */
export function openOrders(state: HaltdState, venue?: string): Order[] {
  const out: Order[] = []
  for (const o of state.orders.values()) if (isLive(o.status) && (venue === undefined || o.venue === venue)) out.push(o)
  return out.sort((a, b) => a.submittedSeq - b.submittedSeq)
}

/**
 * The markets an account trades on a venue as haltd knows them, each once: those of its orders
 * (newest first), of its positions (booked or as the venue last reported them), then the markets
 * haltd observed there (the venue's configured symbols, by name). Where to look for an order a
 * report names without its market.
 */
export function marketsTraded(state: HaltdState, venue: string): string[] {
  const out = new Set<string>()
  const orders = [...state.orders.values()].filter((o) => o.venue === venue).sort((a, b) => b.submittedSeq - a.submittedSeq)
  for (const o of orders) out.add(o.symbol)
  const held = new Set<string>()
  for (const p of state.positions.values()) if (p.venue === venue) held.add(p.symbol)
  for (const p of state.venues.get(venue)?.positions?.positions ?? []) held.add(p.symbol)
  for (const symbol of [...held].sort(cmp)) out.add(symbol)
  for (const symbol of [...(state.venues.get(venue)?.markets.keys() ?? [])].sort(cmp)) out.add(symbol)
  return [...out]
}

export function inFlight(state: HaltdState): number {
  return state.inFlight
}

export function position(state: HaltdState, venue: string, symbol: string): Position | undefined {
  return state.positions.get(marketKey(venue, symbol))
}

/** Every position haltd has booked fills to (flat ones included), by venue then symbol. */
export function positions(state: HaltdState): Position[] {
  return [...state.positions.values()].sort((a, b) => cmp(a.venue, b.venue) || cmp(a.symbol, b.symbol))
}

export type PnlLine = { realized: number; fees: number; unrealized: number; net: number }
export type PnlReport = PnlTotals & {
  byVenue: Record<string, PnlLine>
  bySymbol: Array<PnlLine & { venue: string; symbol: string; qty: number; avgEntry: number; mark?: number }>
  byStrategy: Array<PnlLine & { venue: string; symbol: string; strategy: string; qty: number; avgEntry: number }>
}

function line(realized: number, fees: number, unrealized: number): PnlLine {
  return { realized, fees, unrealized, net: realized - fees + unrealized }
}

/** Realized and unrealized P&L (at the last marks) per venue, symbol and strategy, with the totals. */
export function pnl(state: HaltdState): PnlReport {
  const venueLines = new Map<string, PnlLine>()
  const bySymbol: PnlReport['bySymbol'] = []
  for (const p of positions(state)) {
    const mark = state.marks.get(marketKey(p.venue, p.symbol))
    bySymbol.push({
      venue: p.venue,
      symbol: p.symbol,
      qty: p.qty,
      avgEntry: p.avgEntry,
      ...(mark === undefined ? {} : { mark }),
      ...line(p.realized, p.fees, p.unrealized),
    })
    const v = venueLines.get(p.venue) ?? line(0, 0, 0)
    venueLines.set(p.venue, line(v.realized + p.realized, v.fees + p.fees, v.unrealized + p.unrealized))
  }
  // fromEntries defines own properties, so no venue name can reach a prototype
  const byVenue: Record<string, PnlLine> = Object.fromEntries(venueLines)
  const byStrategy: PnlReport['byStrategy'] = [...state.books.values()]
    .sort((a, b) => cmp(a.venue, b.venue) || cmp(a.symbol, b.symbol) || cmp(a.strategy ?? '', b.strategy ?? ''))
    .map((b) => {
      const mark = state.marks.get(marketKey(b.venue, b.symbol))
      return {
        venue: b.venue,
        symbol: b.symbol,
        strategy: b.strategy ?? '',
        qty: b.qty,
        avgEntry: b.avgEntry,
        ...line(b.realized, b.fees, mark === undefined ? 0 : unrealizedAt(b, mark)),
      }
    })
  return { ...state.pnl, byVenue, bySymbol, byStrategy }
}

export function tradingState(state: HaltdState): TradingView {
  return state.trading
}

export function killSwitch(state: HaltdState): KillSwitch {
  return state.trading.killSwitch
}

/** Shutdowns in the order they were requested (or first seen). */
export function shutdowns(state: HaltdState): ShutdownProgress[] {
  return [...state.shutdowns.values()]
    .map(shutdownProgress)
    .sort((a, b) => (a.requestedAt ?? Infinity) - (b.requestedAt ?? Infinity) || cmp(a.shutdownId, b.shutdownId))
}

export function anomalies(state: HaltdState): Anomaly[] {
  return state.anomalies
}

export function strategies(state: HaltdState): StrategyView[] {
  return [...state.strategies.values()].sort((a, b) => cmp(a.strategyId, b.strategyId))
}

/** Connection, market data and the venue's own reports, per venue by name. */
export function venues(state: HaltdState): VenueView[] {
  return [...state.venues.values()].sort((a, b) => cmp(a.venue, b.venue))
}
