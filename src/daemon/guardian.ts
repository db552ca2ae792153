import type { ExchangeGateway } from '../exchanges/gateway.js'
import { openOrders, order as orderOf, type HaltdState } from '../projections/index.js'
import type { EventLog } from '../core/log/event-log.js'
import { followAccount, GUARDIAN_ORIGIN } from '../core/execution/guardian.js'

/** Follow one venue's account over the live projections; returns the stop. */
export function guardAccount(
  gateway: ExchangeGateway,
  pollMs: number,
  d: { log: EventLog; state: () => HaltdState; onError: (e: unknown) => void },
): () => void {
  const g = followAccount({
    log: d.log,
    gateway,
    pollMs,
    onError: d.onError,
    orderOf: (venue, id) => orderOf(d.state(), venue, id),
    adoptedLive: (venue) => openOrders(d.state(), venue).filter((o) => o.origin.kind === GUARDIAN_ORIGIN.kind && o.origin.id === GUARDIAN_ORIGIN.id),
  })
  return () => g.stop()
}
