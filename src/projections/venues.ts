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
  positions?: Observed<Pick<EventData<'venue.positions-observed'>, 'positions'>>
  balances?: Observed<Pick<EventData<'venue.balances-observed'>, 'balances'>>
  openOrders?: Observed<Pick<EventData<'venue.open-orders-observed'>, 'orders'>>
  /** Precision per symbol, merged across observations (a venue may report markets in parts). */
  markets: Map<string, { amountStep: number; priceStep?: number }>
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

export function emptyVenue(venue: string): VenueView {
  return { venue, connected: null, marketData: [], deadMansSwitch: { armed: false }, markets: new Map() }
}

/** The venue entity's reducer: a new view each time, never mutating the one given. */
export function evolveVenue(view: VenueView | undefined, fact: VenueFact): VenueView {
  const next: VenueView = { ...(view ?? emptyVenue(fact.data.venue)) }
  const at = { seq: fact.seq, ts: fact.ts }
  switch (fact.type) {
    case 'venue.positions-observed':
      next.positions = { ...at, positions: fact.data.positions }
      break
    case 'venue.balances-observed':
      next.balances = { ...at, balances: fact.data.balances }
      break
    case 'venue.open-orders-observed':
      next.openOrders = { ...at, orders: fact.data.orders }
      break
    case 'venue.markets-observed': {
      const markets = new Map(next.markets)
      for (const m of fact.data.markets) {
        markets.set(m.symbol, m.priceStep === undefined ? { amountStep: m.amountStep } : { amountStep: m.amountStep, priceStep: m.priceStep })
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
