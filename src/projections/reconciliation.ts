import { orderKey } from './fact.js'
import { isLive, remainingQty, type Order } from './orders.js'
import type { Position } from './positions.js'
import type { HaltdState } from './state.js'
import type { UnseenBook } from '../events/index.js'

/** `UNOBSERVED`: haltd holds it and the venue has never reported on it (a spot venue reports no positions): neither agreement nor its absence. */
export type ReconciliationStatus = 'OK' | 'MISMATCH' | 'MISSING_AT_VENUE' | 'UNKNOWN_TO_US' | 'UNOBSERVED'

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

/**
 * What a reconciliation may claim. OK and MISMATCH rest on an observation of the venue taken
 * after its last order event; without one the answer is UNVERIFIED, never OK by default.
 */
export type ReconciliationVerdict = 'OK' | 'MISMATCH' | 'UNVERIFIED'

/** The observation a venue's verdict rests on: the older of its open-order and position reports. */
export type ObservationEvidence = {
  seq: number
  /** When haltd recorded it (the venue's reports carry no time of their own). */
  ts: number
  /** How old it is at the state's latest event. */
  ageMs: number
}

export type VenueReconciliation = {
  venue: string
  verdict: ReconciliationVerdict
  /** null when the venue has never reported its open orders or positions. */
  observation: ObservationEvidence | null
  /** The seq of the venue's newest order event; null when it has none. */
  lastOrderSeq: number | null
  /** Whether the observation was taken after the venue's last order event. */
  newerThanLastOrder: boolean
  /** Why the verdict is UNVERIFIED. */
  why?: string
  /**
   * The books of the venue's account its latest lists did not show (never listed, or refused by
   * the venue): the verdict, "none open" and "flat" are of the other books only. One the venue
   * refused leaves the venue UNVERIFIED: what haltd was to follow is there unseen.
   */
  unseen?: UnseenBook[]
}

export type Reconciliation = {
  venues: string[]
  rows: ReconciliationRow[]
  counts: Record<ReconciliationStatus, number>
  /** OK only when every venue is verified and every row matches; UNVERIFIED when any venue is not verified. */
  verdict: ReconciliationVerdict
  /** One entry per venue, in `venues` order. */
  perVenue: VenueReconciliation[]
  unverified: { venue: string; why: string }[]
  /** `verdict === 'OK'`. */
  ok: boolean
}

/** Observations the caller asked for and did not get, by venue (e.g. the admin API's live ask): each leaves its venue UNVERIFIED. */
export type Unanswered = ReadonlyMap<string, string>

/** Used when the venue has not reported the market's amount step. */
export const DEFAULT_TOLERANCE = 1e-9

/** Half the market's amount step: any smaller difference is rounding, not a different position. */
export function toleranceFor(state: HaltdState, venue: string, symbol: string): number {
  const step = state.venues.get(venue)?.markets.get(symbol)?.amountStep
  return step === undefined ? DEFAULT_TOLERANCE : step / 2
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** The evidence a venue's rows rest on, and whether it is enough to call them verified. */
function evidenceOf(state: HaltdState, venue: string, unanswered: Unanswered | undefined): Omit<VenueReconciliation, 'verdict'> {
  const view = state.venues.get(venue)
  const known = state.venueEvidence.get(venue)
  const reports = [view?.openOrders, view?.positions].filter((o) => o !== undefined)
  const oldest = reports.length === 0 ? undefined : reports.reduce((a, b) => (b.seq < a.seq ? b : a))
  const observation = oldest ? { seq: oldest.seq, ts: oldest.ts, ageMs: Math.max(0, state.ts - oldest.ts) } : null
  const lastOrderSeq = known?.lastOrderSeq ?? null
  const newerThanLastOrder = observation !== null && (lastOrderSeq === null || observation.seq > lastOrderSeq)
  const unseen = unseenOf(view?.openOrders?.unseen, view?.positions?.unseen)
  const base = { venue, observation, lastOrderSeq, newerThanLastOrder, ...(unseen.length > 0 ? { unseen } : {}) }
  const asked = unanswered?.get(venue)
  if (asked !== undefined) return { ...base, why: `asked, no answer: ${asked}` }
  const failed = known?.failedObservation
  if (observation === null) return { ...base, why: failed ? `never observed; the last request failed: ${failed.why}` : 'never observed' }
  if (failed && failed.seq > observation.seq) return { ...base, why: `observation failed at seq ${failed.seq}: ${failed.why}` }
  if (!newerThanLastOrder) return { ...base, why: `last observed at seq ${observation.seq}, before its last order event at seq ${lastOrderSeq}` }
  const refused = unseen.filter((u) => u.refused)
  if (refused.length > 0)
    return { ...base, why: `the venue refused to list ${refused.map((u) => `${u.book} (${u.why})`).join('; ')}: orders and positions there are not seen` }
  return base
}

/** The books either list left unseen, each once (the open-order list's word first). */
function unseenOf(...lists: (readonly UnseenBook[] | undefined)[]): UnseenBook[] {
  const byBook = new Map<string, UnseenBook>()
  for (const list of lists) for (const u of list ?? []) if (!byBook.has(u.book)) byBook.set(u.book, u)
  return [...byBook.values()]
}

/**
 * The books no claim of a reconciliation covers, in a few words for a report's line:
 * `bybit: inverse, option, linear USDC (refused)`; empty where every venue's lists showed all.
 */
export function unseenBooksLine(venues: readonly Pick<VenueReconciliation, 'venue' | 'unseen'>[]): string {
  return venues
    .filter((v) => v.unseen !== undefined && v.unseen.length > 0)
    .map((v) => `${v.venue}: ${v.unseen!.map((u) => (u.refused ? `${u.book} (refused)` : u.book)).join(', ')}`)
    .join('; ')
}

/**
 * Internal positions and open orders against each venue's latest observations, with the
 * evidence each venue's verdict rests on. `unanswered` names venues the caller just asked and
 * heard nothing from.
 */
export function reconciliation(state: HaltdState, unanswered?: Unanswered): Reconciliation {
  // a venue haltd sent orders to is reconciled even when all of them finished: it may hold one haltd does not know of
  const venueSet = new Set<string>([...state.venues.keys(), ...state.venueEvidence.keys()])
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
        if (Math.abs(ours) > tolerance)
          row({ ...base, observed: null, status: 'UNOBSERVED', note: 'the venue has not reported positions (a spot venue reports none)' })
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
  const counts: Record<ReconciliationStatus, number> = { OK: 0, MISMATCH: 0, MISSING_AT_VENUE: 0, UNKNOWN_TO_US: 0, UNOBSERVED: 0 }
  for (const r of rows) counts[r.status]++
  const perVenue = venues.map((venue): VenueReconciliation => {
    const evidence = evidenceOf(state, venue, unanswered)
    if (evidence.why !== undefined) return { ...evidence, verdict: 'UNVERIFIED' }
    const unobserved = rows.filter((r) => r.venue === venue && r.status === 'UNOBSERVED')
    if (unobserved.length > 0) {
      const held = unobserved.map((r) => `${r.symbol} ${r.internal}`).join(', ')
      return { ...evidence, verdict: 'UNVERIFIED', why: `the venue has never reported positions, and haltd holds ${held} there (a spot venue reports none)` }
    }
    return { ...evidence, verdict: rows.every((r) => r.venue !== venue || r.status === 'OK') ? 'OK' : 'MISMATCH' }
  })
  const unverified = perVenue.flatMap((v) => (v.why !== undefined ? [{ venue: v.venue, why: v.why }] : []))
  const verdict: ReconciliationVerdict = unverified.length > 0 ? 'UNVERIFIED' : perVenue.every((v) => v.verdict === 'OK') ? 'OK' : 'MISMATCH'
  return { venues, rows, counts, verdict, perVenue, unverified, ok: verdict === 'OK' }
}

/**
 * The reconciliation's claim in words, the one wording the report, the closing notification
 * and the audit share: "OK", "MISMATCH (n problem(s))", or "UNVERIFIED (venue: why; …)".
 */
export function reconciliationClaim(r: {
  verdict: ReconciliationVerdict
  unverified: readonly { venue: string; why: string }[]
  problems: number
  /** Each venue's books its lists did not show: the claim is of the others, and says so. */
  venues?: readonly Pick<VenueReconciliation, 'venue' | 'unseen'>[]
}): string {
  const unseen = unseenBooksLine(r.venues ?? [])
  const of = unseen === '' ? '' : `, of the books listed; not seen: ${unseen}`
  if (r.verdict === 'OK') return unseen === '' ? 'OK' : `OK (${of.slice(2)})`
  if (r.verdict === 'MISMATCH') return `MISMATCH (${r.problems} problem(s)${of})`
  // a report built without a verdict (by hand, or by an older haltd) claims nothing it cannot show
  const unverified = r.unverified ?? []
  const shown = unverified.slice(0, 5).map((u) => `${u.venue}: ${u.why}`)
  return `UNVERIFIED (${shown.join('; ') || 'no evidence recorded'}${unverified.length > 5 ? '; …' : ''}${of})`
}

/**
 * One venue's verdict with the evidence it rests on, the one wording the shutdown report and
 * `haltd status` share: `binance: OK (observed at seq 120, 800 ms old; last order event at seq 98)`,
 * or UNVERIFIED with why.
 */
export function venueEvidenceLine(v: Pick<VenueReconciliation, 'venue' | 'verdict' | 'observation' | 'lastOrderSeq' | 'why' | 'unseen'>): string {
  const seen = v.observation ? `observed at seq ${v.observation.seq}, ${v.observation.ageMs} ms old` : 'never observed'
  const last = v.lastOrderSeq === null ? 'no order events' : `last order event at seq ${v.lastOrderSeq}`
  const books = v.unseen && v.unseen.length > 0 ? `; books not seen: ${v.unseen.map((u) => (u.refused ? `${u.book} (refused)` : u.book)).join(', ')}` : ''
  return `${v.venue}: ${v.verdict} (${seen}; ${last})${v.verdict === 'UNVERIFIED' && v.why ? `: ${v.why}` : ''}${books}`
}
