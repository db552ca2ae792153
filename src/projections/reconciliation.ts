import { orderKey } from './fact.js'
import { isLive, remainingQty, type Order } from './orders.js'
import type { Position } from './positions.js'
import type { HaltdState } from './state.js'

export type ReconciliationStatus = 'OK' | 'MISMATCH' | 'MISSING_AT_VENUE' | 'UNKNOWN_TO_US'

/**
 * One line of the table status, the shutdown report and `haltd audit` print: what haltd holds
 * (a position's signed quantity, or an order's remaining quantity) against what the venue said.
 */
export type ReconciliationRow = {
  kind: 'position' | 'order'
  venue: string
  symbol: string
  clientOrderId?: string
  venueOrderId?: string
  internal: number
  /** The venue's figure; null when it has not reported this yet. */
  observed: number | null
  /** One column per venue in the table: this row's venue holds `observed`, the others null. */
  columns: Record<string, number | null>
  tolerance: number
  status: ReconciliationStatus
  note?: string
}

export type Reconciliation = {
  venues: string[]
  rows: ReconciliationRow[]
  counts: Record<ReconciliationStatus, number>
  /** True when every row is OK. */
  ok: boolean
}

/** Used when the venue has not reported the market's amount step. */
export const DEFAULT_TOLERANCE = 1e-9

/** Half the market's amount step: any smaller difference is rounding, not a different position. */
export function toleranceFor(state: HaltdState, venue: string, symbol: string): number {
  const step = state.venues.get(venue)?.markets.get(symbol)?.amountStep
  return step === undefined ? DEFAULT_TOLERANCE : step / 2
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Internal positions and open orders against each venue's latest observations. */
export function reconciliation(state: HaltdState): Reconciliation {
  const venueSet = new Set<string>(state.venues.keys())
  const positionsAt = new Map<string, Position[]>()
  for (const p of state.positions.values()) {
    venueSet.add(p.venue)
    const list = positionsAt.get(p.venue)
    if (list) list.push(p)
    else positionsAt.set(p.venue, [p])
  }
  const ordersAt = new Map<string, Order[]>()
  for (const o of state.orders.values()) {
    const list = ordersAt.get(o.venue)
    if (list) list.push(o)
    else ordersAt.set(o.venue, [o])
    if (isLive(o.status)) venueSet.add(o.venue)
  }
  const venues = [...venueSet].sort(cmp)
  const rows: ReconciliationRow[] = []
  const row = (r: Omit<ReconciliationRow, 'columns'>): void => {
    rows.push({ ...r, columns: Object.fromEntries(venues.map((v) => [v, v === r.venue ? r.observed : null])) })
  }

  for (const venue of venues) {
    const view = state.venues.get(venue)

    // positions
    const internal = new Map((positionsAt.get(venue) ?? []).map((p) => [p.symbol, p.qty]))
    const reported = view?.positions
    const observed = new Map((reported?.positions ?? []).map((p) => [p.symbol, p.qty]))
    for (const symbol of [...new Set([...internal.keys(), ...observed.keys()])].sort(cmp)) {
      const tolerance = toleranceFor(state, venue, symbol)
      const ours = internal.get(symbol) ?? 0
      const theirs = observed.get(symbol)
      const base = { kind: 'position' as const, venue, symbol, internal: ours, tolerance }
      if (reported === undefined) {
        if (Math.abs(ours) > tolerance) row({ ...base, observed: null, status: 'MISSING_AT_VENUE', note: 'the venue has not reported positions yet' })
        continue
      }
      const held = theirs ?? 0
      const oursFlat = Math.abs(ours) <= tolerance
      const theirsFlat = Math.abs(held) <= tolerance
      let status: ReconciliationStatus
      if (oursFlat && theirsFlat) status = 'OK'
      else if (theirsFlat) status = 'MISSING_AT_VENUE'
      else if (oursFlat) status = 'UNKNOWN_TO_US'
      else status = Math.abs(ours - held) <= tolerance ? 'OK' : 'MISMATCH'
      row({ ...base, observed: held, status })
    }

    // open orders
    const mine = ordersAt.get(venue) ?? []
    const report = view?.openOrders
    if (report === undefined) {
      for (const o of mine) {
        if (!isLive(o.status)) continue
        row({
          kind: 'order',
          venue,
          symbol: o.symbol,
          clientOrderId: o.clientOrderId,
          ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}),
          internal: remainingQty(o),
          observed: null,
          tolerance: toleranceFor(state, venue, o.symbol),
          status: 'MISSING_AT_VENUE',
          note: 'the venue has not reported open orders yet',
        })
      }
      continue
    }
    const byVenueId = new Map<string, Order>()
    for (const o of mine) if (o.venueOrderId !== undefined) byVenueId.set(o.venueOrderId, o)
    const matched = new Set<Order>()
    for (const vo of report.orders) {
      const o = (vo.clientOrderId !== undefined ? state.orders.get(orderKey(venue, vo.clientOrderId)) : undefined) ?? byVenueId.get(vo.venueOrderId)
      const tolerance = toleranceFor(state, venue, vo.symbol)
      const theirs = Math.max(0, vo.qty - vo.filled)
      const ids = { venueOrderId: vo.venueOrderId, ...(vo.clientOrderId !== undefined ? { clientOrderId: vo.clientOrderId } : {}) }
      if (o === undefined) {
        row({
          kind: 'order',
          venue,
          symbol: vo.symbol,
          ...ids,
          internal: 0,
          observed: theirs,
          tolerance,
          status: 'UNKNOWN_TO_US',
          note: 'an order at the venue that haltd never sent',
        })
        continue
      }
      matched.add(o)
      const ours = remainingQty(o)
      const same = isLive(o.status) && Math.abs(ours - theirs) <= tolerance
      const r: Omit<ReconciliationRow, 'columns'> = {
        kind: 'order',
        venue,
        symbol: o.symbol,
        ...ids,
        clientOrderId: o.clientOrderId,
        internal: ours,
        observed: theirs,
        tolerance,
        status: same ? 'OK' : 'MISMATCH',
      }
      if (!isLive(o.status)) r.note = `haltd has it ${o.status}`
      if (o.updatedSeq > report.seq) r.note = `${r.note ? `${r.note}; ` : ''}changed after the venue's report (seq ${report.seq})`
      row(r)
    }
    for (const o of mine) {
      // an order submitted after the venue's list cannot be expected in it
      if (!isLive(o.status) || matched.has(o) || o.submittedSeq > report.seq) continue
      row({
        kind: 'order',
        venue,
        symbol: o.symbol,
        clientOrderId: o.clientOrderId,
        ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}),
        internal: remainingQty(o),
        observed: 0,
        tolerance: toleranceFor(state, venue, o.symbol),
        status: 'MISSING_AT_VENUE',
      })
    }
  }

  rows.sort(
    (a, b) =>
      cmp(a.venue, b.venue) ||
      cmp(a.kind, b.kind) ||
      cmp(a.symbol, b.symbol) ||
      cmp(a.clientOrderId ?? a.venueOrderId ?? '', b.clientOrderId ?? b.venueOrderId ?? ''),
  )
  const counts: Record<ReconciliationStatus, number> = { OK: 0, MISMATCH: 0, MISSING_AT_VENUE: 0, UNKNOWN_TO_US: 0 }
  for (const r of rows) counts[r.status]++
  return { venues, rows, counts, ok: rows.every((r) => r.status === 'OK') }
}
