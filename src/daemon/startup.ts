import pTimeout from 'p-timeout'
import { HaltdError } from '../events/errors.js'
import { isOwnOrderId, type ExchangeGateway } from '../exchanges/gateway.js'
import { order as orderOf, reconciliation, type HaltdState, type ReconciliationRow } from '../projections/index.js'
import type { EventLog } from '../core/log/event-log.js'
import { observeVenue } from '../core/execution/venue-recorder.js'

export type StartupReconciliation = {
  /** Orders found at a venue with haltd's tag and unknown to the log: now in the log as `adopted`. */
  adopted: { venue: string; clientOrderId: string; symbol: string; qty: number }[]
  /** Orders at a venue that haltd never sent: left alone, shown here and in `/reconciliation`. */
  foreign: { venue: string; venueOrderId?: string; clientOrderId?: string; symbol: string; qty: number }[]
  /** Orders the log had live that the venue no longer lists, settled by asking the venue. */
  settled: { venue: string; clientOrderId: string; became: string }[]
  /** Rows still not OK once the above is done (foreign orders aside). */
  mismatches: ReconciliationRow[]
  /** Venues that could not be asked. */
  unreachable: { venue: string; error: string }[]
}

/** `refuseToStartOnMismatch` is set and a venue disagrees with the log. */
export class StartupMismatch extends HaltdError {
  constructor(readonly report: StartupReconciliation) {
    const rows = report.mismatches.map((r) => `${r.venue} ${r.symbol}${r.clientOrderId ? ` ${r.clientOrderId}` : ''}: ${r.status} (internal ${r.internal}, venue ${r.observed ?? '—'})`)
    const down = report.unreachable.map((u) => `${u.venue}: unreachable (${u.error})`)
    super('STARTUP_MISMATCH', `refusing to start: the venues disagree with the log:\n  ${[...rows, ...down].join('\n  ')}`)
  }
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/**
 * Startup reconciliation: ask every venue what it holds (recorded as observations), adopt the
 * orders that carry haltd's tag but are missing from the log, flag foreign ones, settle orders the
 * log thinks live but the venue no longer lists, and report what still does not match.
 */
export async function reconcileAtStartup(input: {
  log: EventLog
  venues: ReadonlyMap<string, ExchangeGateway>
  state: () => HaltdState
  timeoutMs: number
  adoptTagged: boolean
}): Promise<StartupReconciliation> {
  const { log, venues, state, timeoutMs } = input
  const report: StartupReconciliation = { adopted: [], foreign: [], settled: [], mismatches: [], unreachable: [] }
  const reachable = new Set<string>()
  await Promise.all(
    [...venues.values()].map(async (gw) => {
      try {
        await pTimeout(observeVenue(log, gw), { milliseconds: timeoutMs, message: `no answer within ${timeoutMs} ms` })
        reachable.add(gw.venue)
      } catch (e) {
        report.unreachable.push({ venue: gw.venue, error: messageOf(e) })
        log.append({ type: 'venue.disconnected', data: { venue: gw.venue, reason: `startup reconciliation: ${messageOf(e)}` } })
      }
    }),
  )

  for (const row of reconciliation(state()).rows) {
    if (row.kind !== 'order' || !reachable.has(row.venue)) continue
    if (row.status === 'UNKNOWN_TO_US') {
      if (input.adoptTagged && isOwnOrderId(row.clientOrderId)) adopt(log, state(), row, report)
      else report.foreign.push({ venue: row.venue, symbol: row.symbol, qty: row.observed ?? 0, ...(row.venueOrderId ? { venueOrderId: row.venueOrderId } : {}), ...(row.clientOrderId ? { clientOrderId: row.clientOrderId } : {}) })
    } else if (row.status === 'MISSING_AT_VENUE' && row.clientOrderId) {
      await settle(log, state(), venues.get(row.venue)!, row, timeoutMs, report)
    }
  }

  const foreignIds = new Set(report.foreign.map((f) => `${f.venue} ${f.venueOrderId}`))
  report.mismatches = reconciliation(state()).rows.filter(
    (r) => r.status !== 'OK' && reachable.has(r.venue) && !(r.kind === 'order' && foreignIds.has(`${r.venue} ${r.venueOrderId}`)),
  )
  return report
}

function adopt(log: EventLog, state: HaltdState, row: ReconciliationRow, report: StartupReconciliation): void {
  const seen = state.venues.get(row.venue)?.openOrders?.orders.find((o) => o.venueOrderId === row.venueOrderId)
  if (!seen || !row.clientOrderId) return
  const remaining = Math.max(0, seen.qty - seen.filled)
  if (remaining <= 0) return
  // What is left to trade is what haltd now manages; fills before adoption are not in the log.
  log.append({
    type: 'order.submitted',
    data: {
      venue: row.venue, clientOrderId: row.clientOrderId, symbol: seen.symbol, side: seen.side, type: seen.price === undefined ? 'market' : 'limit',
      qty: remaining, price: seen.price, origin: { kind: 'adopted', id: 'startup-reconciliation' },
    },
  })
  log.append({ type: 'order.accepted', data: { venue: row.venue, clientOrderId: row.clientOrderId, venueOrderId: seen.venueOrderId } })
  report.adopted.push({ venue: row.venue, clientOrderId: row.clientOrderId, symbol: seen.symbol, qty: remaining })
}

async function settle(log: EventLog, state: HaltdState, gw: ExchangeGateway, row: ReconciliationRow, timeoutMs: number, report: StartupReconciliation): Promise<void> {
  const clientOrderId = row.clientOrderId!
  const key = { venue: row.venue, clientOrderId }
  let found
  try {
    found = await pTimeout(gw.fetchOrder({ clientOrderId, symbol: row.symbol, ...(row.venueOrderId ? { venueOrderId: row.venueOrderId } : {}) }), { milliseconds: timeoutMs })
  } catch {
    return
  }
  const known = orderOf(state, row.venue, clientOrderId)
  let became: string
  if (found === undefined) {
    // Not listed and not known: an order that was accepted is gone from the open-order list;
    // one whose answer never came back never arrived.
    if (known?.venueOrderId !== undefined || row.venueOrderId !== undefined) {
      log.append({ type: 'order.canceled', data: { ...key, confirmedBy: 'open-orders' } })
      became = 'canceled (missing from the venue)'
    } else {
      log.append({ type: 'order.rejected', data: { ...key, reason: 'not at the venue at startup', code: 'LOST' } })
      became = 'rejected (never reached the venue)'
    }
  } else if (found.status === 'canceled') {
    log.append({ type: 'order.canceled', data: { ...key, confirmedBy: 'open-orders' } })
    became = 'canceled'
  } else if (found.status === 'expired') {
    log.append({ type: 'order.expired', data: key })
    became = 'expired'
  } else if (found.status === 'rejected') {
    log.append({ type: 'order.rejected', data: { ...key, reason: 'rejected, as the venue reported at startup' } })
    became = 'rejected'
  } else {
    // Filled or still open at the venue: its fills are the venue's to report; the mismatch stays visible.
    became = `${found.status} at the venue (fills not yet in the log)`
  }
  report.settled.push({ venue: row.venue, clientOrderId, became })
}

