import type { ExchangeGateway } from '../exchanges/gateway.js'
import { marketsTraded, openOrders, order as orderOf, type HaltdState } from '../projections/index.js'
import type { EventLog } from '../core/log/event-log.js'
import { followAccount, GUARDIAN_ORIGIN, type Guardian } from '../core/execution/guardian.js'

/** Follow one venue's account over the live projections: listening at once, looking once `start()` is called. */
export function guardAccount(gateway: ExchangeGateway, pollMs: number, d: { log: EventLog; state: () => HaltdState; onError: (e: unknown) => void }): Guardian {
  return followAccount({
    log: d.log,
    gateway,
    pollMs,
    onError: d.onError,
    orderOf: (venue, id) => orderOf(d.state(), venue, id),
    markets: () => marketsTraded(d.state(), gateway.venue),
    adoptedLive: (venue) => openOrders(d.state(), venue).filter((o) => o.origin.kind === GUARDIAN_ORIGIN.kind && o.origin.id === GUARDIAN_ORIGIN.id),
  })
}
