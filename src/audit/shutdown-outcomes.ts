import { newlyFilled, order, orderKey, toleranceFor, type Fact, type HaltdState, type ShutdownState } from '../projections/index.js'
import { worldOf } from '../core/shutdown/world.js'
import { ordersToFinish } from '../core/shutdown/graceful.js'
import { engineNotSeenGone, engineSeenRunning, finalFillUnknown } from '../core/shutdown/report.js'
import type { WorldOrder } from '../core/shutdown/types.js'
import { quantity } from '../projections/money.js'
import { OutcomeVerdict, SAFE_OUTCOMES, type ExposureRow, type NotificationRow, type ShutdownOutcome } from './audit-report.js'
import { pnlSummary, reconciliationTable } from './state-view.js'

/** How many orders an outcome lists by name (the total stays exact). */
const LISTED = 50

type Activity = ShutdownOutcome['activity']

type Tracked = {
  shutdownId: string
  requestedSeq: number
  activity: Activity
  /** The orders recorded cancel-unconfirmed in its window: an order unconfirmed again after another cancel is one order. */
  unconfirmed: Set<string>
  notifications: NotificationRow[]
  outcome?: ShutdownOutcome | undefined
}

const severity = (v: OutcomeVerdict): number => OutcomeVerdict.options.indexOf(v)

/**
 * The current run's record that it lost the engine's lease (`leadership.lost`), and what it
 * recorded going to a venue after it: cancels asked, cancel-alls asked, orders a venue accepted.
 */
type Deposed = {
  seq: number
  instance: string
  epoch: number
  reason: string
  leader?: string
  leaderEpoch?: number
  sent: { cancels: number; cancelAlls: number; ordersAccepted: number }
}

/**
 * Each shutdown's outcome, read as the audit streams the log: what happened between its request
 * and its completion (cancels, fills, notifications), and what it left behind at its completion
 * (positions, live orders, the reconciliation and the observation each venue's verdict rests on,
 * aged to the completion). `observe` runs after each fact is folded into `state`.
 */
export function createOutcomeTracker(): {
  before(fact: Fact, state: HaltdState): void
  observe(fact: Fact, state: HaltdState): void
  finish(state: HaltdState): ShutdownOutcome[]
} {
  const tracked = new Map<string, Tracked>()
  /** Shutdowns requested and not yet completed: their activity window is open. */
  const running = new Set<Tracked>()
  /** Where a `notification.sent` belongs: the newest shutdown of the current run. */
  let notifying: Tracked | undefined
  /** Set once the current run recorded it no longer leads the engine: its shutdowns are not the engine's. */
  let deposed: Deposed | undefined

  return {
    /** Runs before `fact` is folded: whether a fill books anything is read from the order as it was. */
    before(fact, state) {
      if (fact.type !== 'order.filled' || running.size === 0) return
      const o = order(state, fact.data.venue, fact.data.clientOrderId)
      // a trade the order's total already counted, or a total its trades already reached, books nothing: no fill of its own
      if (o === undefined || o.tradeIds.includes(fact.data.tradeId) || !(newlyFilled(o, fact.data) > 0)) return
      for (const t of running) t.activity.fills++
    },
    observe(fact, state) {
      switch (fact.type) {
        case 'shutdown.requested': {
          const t: Tracked = {
            shutdownId: fact.data.shutdownId,
            requestedSeq: fact.seq,
            activity: { ordersCanceled: 0, fills: 0, cancelUnconfirmed: 0, ordersSubmitted: 0 },
            unconfirmed: new Set(),
            notifications: [],
          }
          if (tracked.has(t.shutdownId)) return
          tracked.set(t.shutdownId, t)
          running.add(t)
          notifying = t
          return
        }
        case 'shutdown.completed': {
          const t = tracked.get(fact.data.shutdownId)
          if (!t || t.outcome) return
          running.delete(t)
          t.outcome = outcomeAt(state, t, deposed)
          return
        }
        case 'run.started':
          // a new process: notifications now belong to a shutdown it resumes, if any; it leads afresh
          notifying = [...running].at(-1)
          deposed = undefined
          return
        case 'leadership.lost': {
          if (deposed) return
          const { instance, epoch, reason, leader, leaderEpoch } = fact.data
          deposed = {
            seq: fact.seq,
            instance,
            epoch,
            reason,
            ...(leader !== undefined ? { leader } : {}),
            ...(leaderEpoch !== undefined ? { leaderEpoch } : {}),
            sent: { cancels: 0, cancelAlls: 0, ordersAccepted: 0 },
          }
          return
        }
        case 'order.cancel-requested':
          if (deposed) deposed.sent.cancels++
          return
        case 'venue.cancel-all-requested':
          if (deposed) deposed.sent.cancelAlls++
          return
        case 'order.accepted':
          if (deposed) deposed.sent.ordersAccepted++
          return
        case 'notification.sent':
          if (notifying) {
            const { sink, topic, ok, error } = fact.data
            notifying.notifications.push({ seq: fact.seq, ts: fact.ts, sink, topic, ok, ...(error !== undefined ? { error } : {}) })
          }
          return
        case 'order.canceled':
          for (const t of running) t.activity.ordersCanceled++
          return
        case 'order.cancel-unconfirmed':
          for (const t of running) {
            t.unconfirmed.add(orderKey(fact.data.venue, fact.data.clientOrderId))
            t.activity.cancelUnconfirmed = t.unconfirmed.size
          }
          return
        case 'order.submitted':
          for (const t of running) t.activity.ordersSubmitted++
          return
      }
    },
    finish(state) {
      for (const t of running) t.outcome = outcomeAt(state, t, deposed)
      // newest first: the shutdown a reader asks about is the last one
      return [...tracked.values()].flatMap((t) => (t.outcome ? [t.outcome] : [])).reverse()
    },
  }
}

/**
 * A shutdown's outcome as of `state`: its completion, or the log's end for one that never completed.
 * One that ended after its run lost the engine's lease (`deposed`) is `NOT_LEADER`, and, where another leader is named, only that:
 * what this log shows of the venues stops where the leader's log goes on, so its positions and
 * orders are not read as the engine's exposure.
 */
function outcomeAt(state: HaltdState, t: Tracked, deposed: Deposed | undefined): ShutdownOutcome | undefined {
  const s = state.shutdowns.get(t.shutdownId)
  if (!s) return undefined
  const emergency = s.procedure === 'emergency'
  const flattenAsked = emergency || s.options.graceful.flatten !== 'none'
  const world = worldOf(state)
  const exposure = exposureRows(state)
  const toClose = new Set(emergency ? world.orders : ordersToFinish(world, s.options))
  const unconfirmed = world.orders.filter((o) => o.status === 'cancel-unconfirmed')
  const left = world.orders.filter((o) => toClose.has(o) && o.status !== 'cancel-unconfirmed')
  const rec = reconciliationTable(state)
  const deadlineAt = deadlineOf(s)
  const concerns: ShutdownOutcome['concerns'] = []

  if (!s.completed) {
    const last = s.steps.at(-1)
    concerns.push({
      verdict: 'UNFINISHED',
      what: `no completion in the log${last ? `: it stopped in step ${last.step} (${last.name}), ${last.status}` : ''}`,
    })
  }
  if (flattenAsked && exposure.length > 0)
    concerns.push({ verdict: 'RESIDUAL_EXPOSURE', what: `${exposure.length} position(s) open: ${exposure.map(exposureWords).join('; ')}` })
  if (left.length > 0) concerns.push({ verdict: 'RESIDUAL_EXPOSURE', what: `${left.length} order(s) still live: ${ordersWords(left)}` })
  const engine = engineNotSeenGone(s)
  // running only where the last look saw the engine there; a look with no answer says only that it was not seen gone
  if (engine !== undefined) concerns.push({ verdict: engineSeenRunning(s) ? 'ENGINE_RUNNING' : 'ENGINE_NOT_SEEN_GONE', what: engine })
  if (unconfirmed.length > 0)
    concerns.push({ verdict: 'CANCEL_UNCONFIRMED', what: `${unconfirmed.length} order(s) no venue confirmed canceled: ${ordersWords(unconfirmed)}` })
  if (rec.verdict === 'UNVERIFIED')
    concerns.push({
      verdict: 'UNVERIFIED',
      what: `no observation shows what these venues hold: ${rec.unverified.map((u) => `${u.venue} (${u.why})`).join('; ')}`,
    })
  if (rec.verdict === 'MISMATCH') {
    const problems = rec.rows.filter((r) => r.status !== 'OK')
    concerns.push({
      verdict: 'MISMATCH',
      what: `${problems.length} line(s) where a venue holds other than haltd: ${problems.map((p) => `${p.kind} ${p.symbol} ${p.status}`).join('; ')}`,
    })
  }
  if (s.completed?.outcome === 'failed') {
    const failed = s.steps.filter((st) => st.status === 'failed' || st.status === 'timed-out')
    concerns.push({
      verdict: 'FAILED',
      what: `haltd recorded the shutdown failed${failed.length ? `: ${failed.map((st) => `step ${st.step} (${st.name}) ${st.status}${st.error ? `: ${st.error}` : ''}`).join('; ')}` : ''}`,
    })
  }
  const at = s.completed?.at ?? state.ts
  if (s.completed && deadlineAt !== null && at > deadlineAt)
    concerns.push({ verdict: 'DEADLINE_MISSED', what: `completed ${at - deadlineAt} ms after its deadline (${new Date(deadlineAt).toISOString()})` })
  concerns.sort((a, b) => severity(a.verdict) - severity(b.verdict))
  if (deposed) {
    const notLeader = { verdict: 'NOT_LEADER' as const, what: notLeaderWords(deposed, t, exposure.length, world.orders.length) }
    // with another leader named, its log holds the engine's stop; without one, nobody else may
    // have stopped it, and what this log shows may be the engine's: its concerns stay
    if (deposed.leader !== undefined) concerns.splice(0, concerns.length, notLeader)
    else concerns.unshift(notLeader)
  }

  const kept = exposure.length > 0 || world.orders.length > 0
  const verdict: OutcomeVerdict = concerns[0]?.verdict ?? (kept ? 'POSITIONS_KEPT' : 'FLAT_VERIFIED')
  return {
    shutdownId: t.shutdownId,
    mode: s.mode ?? null,
    escalated: s.escalation !== undefined,
    verdict,
    safe: SAFE_OUTCOMES.includes(verdict),
    concerns,
    recorded: s.completed ? { outcome: s.completed.outcome, exitCode: s.completed.exitCode } : null,
    requestedAt: s.requestedAt ?? null,
    atSeq: state.seq,
    at,
    deadlineAt,
    exposure,
    flattenAsked,
    ordersLeft: world.orders.slice(0, LISTED).map((o) => ({ venue: o.venue, clientOrderId: o.clientOrderId, symbol: o.symbol, status: o.status })),
    ordersLeftTotal: world.orders.length,
    activity: { ...t.activity },
    fillUnknown: finalFillUnknown(s, LISTED),
    notifications: t.notifications,
    reconciliation: { verdict: rec.verdict, evidence: rec.evidence, problems: rec.rows.filter((r) => r.status !== 'OK') },
    pnl: pnlSummary(state),
    ...(deposed ? { notLeader: notLeaderOf(deposed) } : {}),
  }
}

function notLeaderOf(d: Deposed): NonNullable<ShutdownOutcome['notLeader']> {
  return {
    lostAtSeq: d.seq,
    instance: d.instance,
    epoch: d.epoch,
    reason: d.reason,
    leader: d.leader ?? null,
    leaderEpoch: d.leaderEpoch ?? null,
    sentAfter: { ...d.sent },
  }
}

/**
 * What a shutdown on a deposed instance was, in words, and the evidence: the cancels, cancel-alls
 * and venue-accepted orders its log records after the loss (none, as its gate refuses them all).
 */
function notLeaderWords(d: Deposed, t: Tracked, positions: number, orders: number): string {
  const sent = d.sent
  const from = t.requestedSeq < d.seq ? ` from seq ${d.seq} on` : ''
  const what =
    sent.cancels + sent.cancelAlls + sent.ordersAccepted === 0
      ? `its shutdown sent nothing to the venues${from} (no cancel, cancel-all or accepted order recorded after seq ${d.seq})`
      : `after seq ${d.seq} its log records ${sent.cancels} cancel request(s), ${sent.cancelAlls} cancel-all request(s) and ${sent.ordersAccepted} order(s) a venue accepted`
  const lost = `this instance ('${d.instance}', epoch ${d.epoch}) no longer led the engine (lost at seq ${d.seq}: ${d.reason}); ${what}; `
  if (d.leader === undefined)
    return (
      lost +
      `its lease expired with no other leader named: no other log may hold the engine's stop, so the ${positions} position(s) and ${orders} live order(s) here may be the engine's, and this log's other concerns stand`
    )
  return (
    lost +
    `the engine's stop is its leader's ('${d.leader}'${d.leaderEpoch !== undefined ? `, epoch ${d.leaderEpoch}` : ''}): audit the leader's log. The ${positions} position(s) and ${orders} live order(s) here are as this log last knew them, not the engine's`
  )
}

/** When the running procedure had to be done by: the emergency's deadline counts from the escalation. */
function deadlineOf(s: ShutdownState): number | null {
  if (s.procedure === 'emergency') {
    const from = s.escalation?.at ?? s.requestedAt
    return from === undefined ? null : from + s.options.emergency.deadlineMs
  }
  return s.requestedAt === undefined ? null : s.requestedAt + s.options.graceful.deadlineMs
}

/** Every position open by haltd's fills or by the venue's last report, side by side. */
function exposureRows(state: HaltdState): ExposureRow[] {
  const rows = new Map<string, ExposureRow>()
  const key = (venue: string, symbol: string) => `${venue} ${symbol}`
  const row = (venue: string, symbol: string): ExposureRow => {
    const k = key(venue, symbol)
    let r = rows.get(k)
    if (!r) {
      const report = state.venues.get(venue)?.positions
      r = { venue, symbol, internal: 0, observed: report ? 0 : null, observedSeq: report?.seq ?? null }
      rows.set(k, r)
    }
    return r
  }
  for (const p of state.positions.values()) if (Math.abs(p.qty) > toleranceFor(state, p.venue, p.symbol)) row(p.venue, p.symbol).internal = p.qty
  for (const v of state.venues.values()) {
    for (const p of v.positions?.positions ?? []) if (Math.abs(p.qty) > toleranceFor(state, v.venue, p.symbol)) row(v.venue, p.symbol).observed = p.qty
  }
  // a venue's word on a position haltd does not hold: its report covers this symbol too
  for (const r of rows.values()) {
    const report = state.venues.get(r.venue)?.positions
    if (report && r.observed === null) r.observed = 0
  }
  return [...rows.values()].sort((a, b) => (a.venue === b.venue ? (a.symbol < b.symbol ? -1 : 1) : a.venue < b.venue ? -1 : 1))
}

export function exposureWords(r: ExposureRow): string {
  const venue =
    r.observed === null
      ? 'the venue never reported positions'
      : // the same as printed: sums of fills carry float noise the venue's figure does not
        quantity(r.observed) === quantity(r.internal)
        ? 'the venue says the same'
        : `the venue says ${quantity(r.observed)}`
  return `${r.venue} ${r.symbol} ${quantity(r.internal)} (${venue})`
}

function ordersWords(orders: readonly WorldOrder[]): string {
  const shown = orders.slice(0, 5).map((o) => `${o.venue} ${o.clientOrderId} ${o.symbol} ${o.status}`)
  return `${shown.join(', ')}${orders.length > 5 ? `, and ${orders.length - 5} more` : ''}`
}
