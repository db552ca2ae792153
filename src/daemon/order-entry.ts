import type { EventEmitter } from 'eventemitter3'
import type { ExchangeGateway } from '../exchanges/gateway.js'
import { contractSizeOf, exposureOf, exposures, openOrders, order as orderOf, type HaltdState } from '../projections/index.js'
import { marketKey } from '../projections/fact.js'
import type { Clock } from '../events/clock.js'
import type { EventLog } from '../core/log/event-log.js'
import type { OrderRouter } from '../core/execution/order-router.js'
import { OrderEntry } from '../core/execution/order-entry.js'
import type { OrderEntryConfig } from './order-entry-config.js'
import { worldOf } from '../core/shutdown/world.js'
import { credentials } from '../admin/access.js'
import { orderEntryRoutes, startEntrySocket } from '../admin/order-entry.js'
import type { Route } from '../admin/route.js'
import type { AdminUser } from '../admin/access.js'
import type { Logger } from './logger.js'
import type { HaltdEvents } from './types.js'

/**
 * Order entry for an engine beside haltd: its orders become haltd's, on the admin listener
 * (`/engine/...`) for the `engine` role, and on a Unix domain socket.
 */

/** The order entry over this daemon's router and projections: its HTTP routes, and its socket started. */
export async function startOrderEntry(input: {
  config: { orderEntry?: OrderEntryConfig | undefined; admin: { users?: readonly AdminUser[] | undefined } }
  adminToken: string
  log: EventLog
  router: OrderRouter
  venues: ReadonlyMap<string, ExchangeGateway>
  state: () => HaltdState
  emitter: EventEmitter<HaltdEvents>
  logger: Logger
  /** The log's clock: the orders-per-second window counts in the time the log stamps. */
  clock: Clock
  /** Why no order may be entered yet (startup still reconciling the venues), or undefined. */
  notYet: () => string | undefined
  cleanups: { push(cleanup: () => unknown): void }
}): Promise<{ entry: OrderEntry; routes: Record<string, Route> } | undefined> {
  const c = input.config.orderEntry
  if (!c?.enabled) return undefined
  const { state, emitter } = input
  /** A venue's markets as haltd observed them; undefined before it has. */
  const observedMarkets = (venue: string) => {
    const markets = state().venues.get(venue)?.markets
    return markets && markets.size > 0 ? markets : undefined
  }
  const entry = new OrderEntry({
    log: input.log,
    router: input.router,
    venues: () => [...input.venues.keys()],
    orderOf: (venue, id) => orderOf(state(), venue, id),
    liveOrders: () => openOrders(state()),
    positionOf: (venue, symbol) => exposureOf(state(), venue, symbol),
    positions: () => exposures(state()),
    balances: () => worldOf(state()).balances,
    mark: (venue, symbol) => state().marks.get(marketKey(venue, symbol)),
    contractSizeOf: (venue, symbol) => contractSizeOf(state().venues, venue, symbol),
    knowsMarket: (venue, symbol) => observedMarkets(venue)?.has(symbol),
    marketsAt: (venue) => {
      const markets = observedMarkets(venue)
      return markets && [...markets.keys()]
    },
    onEvent: (listener) => {
      emitter.on('event', listener)
      return () => emitter.off('event', listener)
    },
    limitsOf: (engine) => c.engines[engine] ?? c.limits,
    notYet: input.notYet,
    now: () => input.clock.now(),
  })
  input.cleanups.push(() => entry.close())
  if (c.socketPath) {
    const known = credentials({ users: input.config.admin.users, token: input.adminToken })
    const socket = await startEntrySocket({ path: c.socketPath, entry, credentials: known, logger: input.logger, maxUnsentBytes: c.maxUnsentBytes })
    input.cleanups.push(() => socket.close())
    input.logger.info({ socket: socket.path }, 'order entry listening on its socket')
  }
  return { entry, routes: orderEntryRoutes(entry, c.maxUnsentBytes) }
}
