import type { ExchangeGateway } from '../exchanges/gateway.js'
import { exposureOf, order as orderOf, type HaltdState } from '../projections/index.js'
import type { EventLog } from '../core/log/event-log.js'
import type { OrderGate } from '../core/execution/gate.js'
import { OrderRouter } from '../core/execution/order-router.js'
import { recordUpdates } from '../core/execution/venue-recorder.js'
import type { HaltdConfig } from './config.js'
import type { Envelope } from '../events/envelope.js'

/**
 * The write-ahead order router behind the gate, reading positions (for the reduce-only check) and
 * orders from the live projections, then what each venue reports of its own accord recorded in the
 * log. Both are released with the daemon's cleanups: the router closes after the venues stop
 * reporting.
 */
export function createOrderRouter(input: {
  log: EventLog
  gate: OrderGate
  venues: ReadonlyMap<string, ExchangeGateway>
  runId: string
  state: () => HaltdState
  orders: HaltdConfig['orders']
  cleanups: { push(cleanup: () => unknown): void }
  /** Where a venue's update that could not be recorded is reported. */
  onError: (e: unknown) => void
  /** The replicated log's write-ahead (sync mode). */
  writeAhead?: ((submitted: Envelope) => Promise<void>) | undefined
  /** Guardian mode: the fills of orders not yet known are the guardian's to record, once it adopted them. */
  guardian?: boolean
  /** Holds the venues' facts back while a handover offers the lease. */
  hold?: { run(record: () => void): void }
}): OrderRouter {
  const { log, venues, state, cleanups } = input
  const router = new OrderRouter({
    log,
    gate: input.gate,
    venues,
    runTag: input.runId.slice(-6),
    // the venue's word where it reported: a reduce-only order may close what the venue holds
    positionOf: (venue, symbol) => exposureOf(state(), venue, symbol),
    orderOf: (venue, clientOrderId) => orderOf(state(), venue, clientOrderId),
    submitTimeoutMs: input.orders.submitTimeoutMs,
    lostRecheckMs: input.orders.lostRecheckMs,
    ...(input.writeAhead ? { writeAhead: input.writeAhead } : {}),
  })
  cleanups.push(() => router.close())
  const knows = (venue: string, clientOrderId: string) => orderOf(state(), venue, clientOrderId) !== undefined
  for (const gw of venues.values())
    cleanups.push(recordUpdates(log, gw, input.onError, knows, { leaveForeignFills: input.guardian === true, hold: input.hold }))
  return router
}
