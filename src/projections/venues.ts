import type { EventData } from '../events/index.js'
import type { FactOf } from './fact.js'

type Observed<T> = { seq: number; ts: number } & T

/** What haltd last heard from and about one venue: connection, market data, and its own reports. */
export type VenueView = {
  venue: string
  /** null until the venue has connected or disconnected once. */
  connected: boolean | null
  latencyMs?: number
  disconnectReason?: string
  connectionTs?: number
  /** Symbols with market data subscribed, sorted. */
  marketData: string[]
  deadMansSwitch: { armed: boolean; timeoutMs?: number; method?: string }
  lastCancelAll?: Observed<Omit<EventData<'venue.cancel-all-requested'>, 'venue'>>
  positions?: Observed<Pick<EventData<'venue.positions-observed'>, 'positions' | 'unseen'>>
  balances?: Observed<Pick<EventData<'venue.balances-observed'>, 'balances'>>
  openOrders?: Observed<Pick<EventData<'venue.open-orders-observed'>, 'orders' | 'unseen'>>
  /** The parts of a list recorded in parts, up to the last one read; observed only once whole. */
  openOrdersSoFar?: ListSoFar
  /** Precision (and a contract market's size) per symbol, merged across observations (a venue may report markets in parts). */
  markets: Map<string, { amountStep: number; priceStep?: number; contractSize?: number }>
}

export type VenueFact =
  | FactOf<'venue.positions-observed'>
  | FactOf<'venue.balances-observed'>
  | FactOf<'venue.open-orders-observed'>
  | FactOf<'venue.markets-observed'>
  | FactOf<'venue.connected'>
  | FactOf<'venue.disconnected'>
  | FactOf<'venue.dead-mans-switch-armed'>
  | FactOf<'venue.dead-mans-switch-disarmed'>
  | FactOf<'venue.cancel-all-requested'>
  | FactOf<'marketdata.subscribed'>
  | FactOf<'marketdata.unsubscribed'>

type ObservedOrders = EventData<'venue.open-orders-observed'>['orders']
/** `unseen`: the books of the account the list did not show. */
export type OpenOrderList = Observed<{ orders: ObservedOrders; unseen?: EventData<'venue.open-orders-observed'>['unseen'] }>
/** A list recorded in parts, read up to part `next - 1`. */
export type ListSoFar = { next: number; of: number; orders: ObservedOrders }

/**
 * One open-order observation folded into what was read before it: a whole list, the list its
 * last part completes, or the parts so far. A part that does not follow the one before starts
 * nothing: a list missing a part would read as those orders gone.
 */
export function foldOpenOrderList(
  soFar: ListSoFar | undefined,
  fact: Pick<FactOf<'venue.open-orders-observed'>, 'seq' | 'ts' | 'data'>,
): { list?: OpenOrderList; soFar?: ListSoFar } {
  const { part, orders, unseen } = fact.data
  const books = unseen === undefined ? {} : { unseen }
  if (part === undefined) return { list: { seq: fact.seq, ts: fact.ts, orders, ...books } }
  const before = part.index === 1 ? [] : soFar?.next === part.index && soFar.of === part.of ? soFar.orders : undefined
  if (before === undefined) return {}
  const joined = before.length === 0 ? orders : [...before, ...orders]
  if (part.index === part.of) return { list: { seq: fact.seq, ts: fact.ts, orders: joined, ...books } }
  return { soFar: { next: part.index + 1, of: part.of, orders: joined } }
}

export function emptyVenue(venue: string): VenueView {
  return { venue, connected: null, marketData: [], deadMansSwitch: { armed: false }, markets: new Map() }
}

/** The venue entity's reducer: a new view each time, never mutating the one given. */
export function evolveVenue(view: VenueView | undefined, fact: VenueFact): VenueView {
  const next: VenueView = { ...(view ?? emptyVenue(fact.data.venue)) }
  const at = { seq: fact.seq, ts: fact.ts }
  switch (fact.type) {
    case 'venue.positions-observed':
      next.positions = { ...at, positions: fact.data.positions, ...(fact.data.unseen === undefined ? {} : { unseen: fact.data.unseen }) }
      break
    case 'venue.balances-observed':
      next.balances = { ...at, balances: fact.data.balances }
      break
    case 'venue.open-orders-observed': {
      const { list, soFar } = foldOpenOrderList(next.openOrdersSoFar, fact)
      if (list) next.openOrders = list
      if (soFar) next.openOrdersSoFar = soFar
      else delete next.openOrdersSoFar
      break
    }
    case 'venue.markets-observed': {
      const markets = new Map(next.markets)
      for (const m of fact.data.markets) {
        markets.set(m.symbol, {
          amountStep: m.amountStep,
          ...(m.priceStep !== undefined ? { priceStep: m.priceStep } : {}),
          ...(m.contractSize !== undefined ? { contractSize: m.contractSize } : {}),
        })
      }
      next.markets = markets
      break
    }
    case 'venue.connected':
      next.connected = true
      next.connectionTs = fact.ts
      delete next.disconnectReason
      if (fact.data.latencyMs === undefined) delete next.latencyMs
      else next.latencyMs = fact.data.latencyMs
      break
    case 'venue.disconnected':
      next.connected = false
      next.connectionTs = fact.ts
      next.disconnectReason = fact.data.reason
      break
    case 'venue.dead-mans-switch-armed':
      next.deadMansSwitch = { armed: true, timeoutMs: fact.data.timeoutMs, method: fact.data.method }
      break
    case 'venue.dead-mans-switch-disarmed':
      next.deadMansSwitch = { armed: false }
      break
    case 'venue.cancel-all-requested': {
      const { venue: _venue, ...rest } = fact.data
      next.lastCancelAll = { ...at, ...rest }
      break
    }
    case 'marketdata.subscribed':
      next.marketData = [...new Set([...next.marketData, ...fact.data.symbols])].sort()
      break
    case 'marketdata.unsubscribed': {
      const gone = new Set(fact.data.symbols)
      next.marketData = next.marketData.filter((s) => !gone.has(s))
      break
    }
  }
  return next
}

/**
 * What one unit of a market's quantity is worth in its base asset: the contract size the venue
 * reported for it, else 1. Every notional and P&L of the market is quantity × price × this.
 */
export function contractSizeOf(venues: ReadonlyMap<string, VenueView>, venue: string, symbol: string): number {
  return venues.get(venue)?.markets.get(symbol)?.contractSize ?? 1
}
