import { CancelConfirmation } from '../events/index.js'
import {
  exposureOf,
  orderKey,
  openStep,
  order,
  runningMode,
  toleranceFor,
  type Fact,
  type HaltdState,
  type ShutdownState,
  type StepRecord,
} from '../projections/index.js'
import type { Finding } from './audit-report.js'
import { deadlineOf } from './state-view.js'

/**
 * The shutdown invariants (docs/ARCHITECTURE.md, "Invariants"), checked as the log is replayed: each event is judged
 * against the state just before it (and, for fills, just after), so "at that point of the
 * replay" means exactly that. Which steps are open is read from the shutdowns' fold
 * (`state.shutdowns`); memory here is a few entries per shutdown, whatever the log length.
 */
export type InvariantCheck = {
  before(fact: Fact, state: HaltdState): void
  after(fact: Fact, state: HaltdState, before: PositionBefore | undefined): void
  /** What a fill needs to remember from before it is applied. */
  positionBefore(fact: Fact, state: HaltdState): PositionBefore | undefined
  finish(state: HaltdState): void
  /** How many flatten fills were judged against the position before them, and which could not be. */
  flattenCoverage(): FlattenCoverage
  /** A row its schema rejected: still judged where an invariant can be read from it. */
  invalidRow(row: { seq: number; type: string; data: string }): void
}

/**
 * The position a shutdown order's fill is judged against: the exposure just before it, and the seq of
 * the venue's positions report it rests on where that report was taken after the order was sent (it
 * may already hold the fill, if the fill was recorded late).
 */
export type PositionBefore = { positionQty: number; reportAfterSubmit?: number }

/** The flatten fills the audit judged, and those it could not (their seqs, the first `UNJUDGED_LISTED`). */
export type FlattenCoverage = { judged: number; unjudged: number; unjudgedSeqs: number[] }
const UNJUDGED_LISTED = 50

/** The graceful step after which the gate is closed to strategy orders (runbook step 4). */
export const GATE_STEP = 4

type GateClose = { seq: number; why: string }

/** What may confirm a cancel: the catalogue's list (the venue's ack, its stream, a lookup, its open-order list, its mass cancel). */
const CONFIRMATIONS: ReadonlySet<string> = new Set(CancelConfirmation.options)

/**
 * How far a fill may exceed its order before the writer refuses it: the margin
 * `moreThanTheOrder` (core/execution/venue-recorder.ts) allows, so what the live recorder lets
 * through the audit lets through.
 */
const OVERFILL_MARGIN = 1e-9

/**
 * How many orders the audit remembers that had events before haltd knew them (foreign fills, late
 * reports of forgotten orders), to tell one submitted later; the oldest are forgotten first, so
 * memory stays flat on an account full of foreign trades.
 */
export const EARLY_EVENTS_KEPT = 10_000

type EarlyEvent = { seq: number; type: string; what: string; more: number }

export function createInvariantCheck(report: (finding: Finding) => void): InvariantCheck {
  const flag = (kind: string, seq: number | null, message: string): void => report({ check: 'invariant', kind, seq, message })

  /** Shutdowns that have closed the gate, and why; an entry leaves once its shutdown completed and a new run started. */
  const shutdownGates = new Map<string, GateClose>()
  const completedShutdowns = new Set<string>()
  /** Emergency paths in progress: when their clock started and the deadline they must hold. */
  const emergencies = new Map<string, { since: number; sinceSeq: number; deadlineMs: number }>()
  let lastRunStart = 0
  /** Whether the run the rows are in now is written by a build that never records an overfill as a fill. */
  let refusesOverfills = false
  let lastTs = 0
  let lastTsSeq = 0
  /** Orders with events before any `order.submitted` of theirs: the first such event, and how many more. */
  const early = new Map<string, EarlyEvent>()
  const flatten: FlattenCoverage = { judged: 0, unjudged: 0, unjudgedSeqs: [] }
  /** Engine actions requested and not yet ended, by shutdown: their id (v1 had none), action and seq, oldest first. */
  const engineActions = new Map<string, { actionId?: string; action: string; seq: number }[]>()

  // HALTED is judged exactly as the live gate judges it (OrderGate reads the projected mode): a
  // strategy order while trading is HALTED could only have passed a gate that was bypassed.
  // That holds after a completed shutdown too, until an event sets trading back to ACTIVE (the
  // daemon does so when a new run starts after a completed shutdown and no kill switch holds it).
  const closedBecause = (state: HaltdState): GateClose | undefined => {
    if (state.trading.mode === 'HALTED') {
      const c = state.trading.modeChange
      return { seq: c?.seq ?? 0, why: `trading HALTED${c ? ` at seq ${c.seq} (${c.reason})` : ''}` }
    }
    for (const gate of shutdownGates.values()) return gate
    return undefined
  }

  return {
    before(fact, state) {
      checkTime(fact.seq, fact.ts, fact.type)
      switch (fact.type) {
        case 'order.submitted': {
          const d = fact.data
          checkEarlyEvents(fact.seq, d.venue, d.clientOrderId, d.origin.kind)
          if (d.origin.kind === 'shutdown' || d.origin.kind === 'adopted') {
            if (d.origin.kind === 'shutdown') checkFlattenSide(fact.seq, d.venue, d.symbol, d.side, d.qty, d.clientOrderId, state)
            return
          }
          const closed = closedBecause(state)
          const who = d.origin.kind === 'strategy' ? `strategy ${d.origin.id ?? '?'}` : `a ${d.origin.kind} order`
          if (closed) {
            flag(
              'invariant.order-after-gate-closed',
              fact.seq,
              `seq ${fact.seq}: ${who} submitted ${d.side} ${d.qty} ${d.symbol} on ${d.venue} (${d.clientOrderId}) after the gate closed: ${closed.why}`,
            )
          } else if (state.trading.mode === 'REDUCING' && !d.reduceOnly) {
            flag(
              'invariant.order-not-reduce-only',
              fact.seq,
              `seq ${fact.seq}: ${who} submitted a non-reduce-only order (${d.clientOrderId}) while trading was REDUCING`,
            )
          }
          return
        }
        case 'order.filled':
          noteOrderEvent(fact.seq, fact.type, fact.data.venue, fact.data.clientOrderId, state, `trade ${fact.data.tradeId} of ${fact.data.qty}`)
          checkOverfill(fact.seq, fact.data, state)
          return
        case 'order.accepted':
        case 'order.rejected':
        case 'order.cancel-requested':
        case 'order.cancel-rejected':
        case 'order.cancel-unconfirmed':
        case 'order.expired':
        case 'order.status-unknown':
          noteOrderEvent(fact.seq, fact.type, fact.data.venue, fact.data.clientOrderId, state, fact.type)
          return
        case 'order.canceled':
          noteOrderEvent(fact.seq, fact.type, fact.data.venue, fact.data.clientOrderId, state, fact.type)
          // the schema requires it; this names the invariant a reader cares about if the schema ever loosens
          if (!fact.data.confirmedBy)
            flag(
              'invariant.canceled-without-confirmation',
              fact.seq,
              `seq ${fact.seq}: ${fact.data.clientOrderId} on ${fact.data.venue} recorded canceled without a venue confirmation`,
            )
          return
        case 'shutdown.requested':
          if (fact.data.mode === 'emergency') {
            shutdownGates.set(fact.data.shutdownId, { seq: fact.seq, why: `emergency shutdown ${fact.data.shutdownId} requested at seq ${fact.seq}` })
            emergencies.set(fact.data.shutdownId, { since: fact.ts, sinceSeq: fact.seq, deadlineMs: deadlineOf(fact.data.options, 'emergency') })
          }
          return
        case 'shutdown.escalated': {
          shutdownGates.set(fact.data.shutdownId, { seq: fact.seq, why: `shutdown ${fact.data.shutdownId} escalated to emergency at seq ${fact.seq}` })
          const options = state.shutdowns.get(fact.data.shutdownId)?.options
          emergencies.set(fact.data.shutdownId, {
            since: fact.ts,
            sinceSeq: fact.seq,
            deadlineMs: options ? options.emergency.deadlineMs : deadlineOf({}, 'emergency'),
          })
          return
        }
        case 'shutdown.step-completed':
        case 'shutdown.step-failed':
        case 'shutdown.step-timed-out':
        case 'shutdown.step-skipped': {
          const shutdown = state.shutdowns.get(fact.data.shutdownId)
          const open = shutdown && openStep(shutdown, fact.data.step, fact.data.name)
          if (!open && fact.type !== 'shutdown.step-skipped') {
            flag(
              'invariant.step-end-without-start',
              fact.seq,
              `seq ${fact.seq}: step ${fact.data.step} (${fact.data.name}) of shutdown ${fact.data.shutdownId} ended without a start event`,
            )
          }
          if (fact.data.step === GATE_STEP && !shutdownGates.has(fact.data.shutdownId)) {
            if (!shutdown || runningMode(shutdown) !== 'emergency') {
              shutdownGates.set(fact.data.shutdownId, { seq: fact.seq, why: `step ${GATE_STEP} of shutdown ${fact.data.shutdownId} ended at seq ${fact.seq}` })
            }
          }
          return
        }
        case 'engine.action-requested': {
          const id = fact.data.shutdownId
          const { actionId, action } = fact.data
          if (id !== undefined)
            engineActions.set(id, [...(engineActions.get(id) ?? []), { ...(actionId === undefined ? {} : { actionId }), action, seq: fact.seq }])
          return
        }
        case 'engine.action-completed': {
          const { shutdownId, actionId, action } = fact.data
          const open = shutdownId === undefined ? undefined : engineActions.get(shutdownId)
          // an end names its request by id; one without (v1) pairs with the oldest open request of its action that has none
          const at = open?.findIndex((a) => (actionId === undefined ? a.actionId === undefined && a.action === action : a.actionId === actionId)) ?? -1
          if (at >= 0) {
            const requested = open![at]!
            open!.splice(at, 1)
            if (requested.action !== action)
              flag(
                'invariant.engine-action-mismatched',
                fact.seq,
                `seq ${fact.seq}: the end of engine action ${actionId} says '${action}', its request at seq ${requested.seq} '${requested.action}'`,
              )
          } else if (actionId !== undefined && shutdownId !== undefined) {
            flag(
              'invariant.engine-action-end-without-request',
              fact.seq,
              `seq ${fact.seq}: engine action ${actionId} ('${action}') of shutdown ${shutdownId} ended without an open request of that id (never requested, or ended twice)`,
            )
          }
          return
        }
        case 'shutdown.completed': {
          // every action on the engine a shutdown started ends before the shutdown does: abandoned, at least
          for (const a of engineActions.get(fact.data.shutdownId) ?? [])
            flag(
              'invariant.engine-action-never-ended',
              a.seq,
              `seq ${a.seq}: the engine action '${a.action}' of shutdown ${fact.data.shutdownId} was requested and never ended (the shutdown completed at seq ${fact.seq} without its outcome)`,
            )
          engineActions.delete(fact.data.shutdownId)
          completedShutdowns.add(fact.data.shutdownId)
          checkNothingDropped(fact.seq, fact.data.shutdownId, state)
          const e = emergencies.get(fact.data.shutdownId)
          if (e) {
            emergencies.delete(fact.data.shutdownId)
            checkDeadline(fact.data.shutdownId, e, fact.ts, fact.seq, 'took')
          }
          return
        }
        case 'run.started':
          // a resumed shutdown's deadline counts from when the new process took over
          lastRunStart = fact.ts
          refusesOverfills = fact.data.refusesOverfills === true
          // actions out when the process before this one ended (a crash) ended with it: the outcome of the run says so
          engineActions.clear()
          // a new process after a finished shutdown trades again (unless the kill switch or mode says otherwise)
          for (const id of [...shutdownGates.keys()]) if (completedShutdowns.has(id)) shutdownGates.delete(id)
          return
        default:
          return
      }
    },
    positionBefore(fact, state) {
      if (fact.type !== 'order.filled') return undefined
      const o = order(state, fact.data.venue, fact.data.clientOrderId)
      if (o?.origin.kind !== 'shutdown') return undefined
      // A positions report taken after the order was sent may already hold this fill, recorded
      // after it (a fill polled late): the fill is then judged under both readings (`after`).
      const report = state.venues.get(o.venue)?.positions
      const positionQty = exposureOf(state, o.venue, o.symbol)
      return report !== undefined && report.seq > o.submittedSeq ? { positionQty, reportAfterSubmit: report.seq } : { positionQty }
    },
    after(fact, state, before) {
      if (fact.type !== 'order.filled' || before === undefined) return
      const o = order(state, fact.data.venue, fact.data.clientOrderId)
      if (!o) return
      const tolerance = toleranceFor(state, o.venue, o.symbol)
      const held = before.positionQty
      const signed = o.side === 'buy' ? fact.data.qty : -fact.data.qty
      // the report did not hold the fill: it moved the position from what the report said
      const grew = Math.abs(held + signed) > Math.abs(held) + tolerance
      const what = `a fill of shutdown order ${o.clientOrderId} (${o.side} ${fact.data.qty} ${o.symbol} on ${o.venue})`
      if (before.reportAfterSubmit === undefined) {
        flatten.judged++
        if (grew)
          flag(
            'invariant.flatten-increased-exposure',
            fact.seq,
            `seq ${fact.seq}: ${what} took |position| from ${Math.abs(held)} to ${Math.abs(held + signed)}`,
          )
        return
      }
      // the report held it already: the position before the fill was the report's less the fill, and after it the report's
      const grewIfHeld = Math.abs(held) > Math.abs(held - signed) + tolerance
      if (grew && grewIfHeld) {
        flatten.judged++
        flag(
          'invariant.flatten-increased-exposure',
          fact.seq,
          `seq ${fact.seq}: ${what} grew |position| whether or not the positions report at seq ${before.reportAfterSubmit} (taken after the order was sent) held it: from ${Math.abs(held)} to ${Math.abs(held + signed)}, or from ${Math.abs(held - signed)} to ${Math.abs(held)}`,
        )
      } else if (!grew && !grewIfHeld) flatten.judged++
      else {
        // the two readings disagree, and the log does not say which holds
        flatten.unjudged++
        if (flatten.unjudgedSeqs.length < UNJUDGED_LISTED) flatten.unjudgedSeqs.push(fact.seq)
      }
    },
    flattenCoverage: () => ({ ...flatten, unjudgedSeqs: [...flatten.unjudgedSeqs] }),
    invalidRow(row) {
      if (row.type !== 'order.canceled') return
      let data: { confirmedBy?: unknown; clientOrderId?: unknown; venue?: unknown } | undefined
      try {
        data = JSON.parse(row.data) as typeof data
      } catch {
        return
      }
      if (data && typeof data === 'object' && !CONFIRMATIONS.has(data.confirmedBy as string)) {
        flag(
          'invariant.canceled-without-confirmation',
          row.seq,
          `seq ${row.seq}: ${String(data.clientOrderId)} on ${String(data.venue)} recorded canceled without a venue confirmation (confirmedBy is ${JSON.stringify(data.confirmedBy) ?? 'missing'})`,
        )
      }
    },
    finish(state) {
      for (const [id, e] of emergencies) checkDeadline(id, e, lastTs, null, 'was still running after')
      // The newest shutdown, not completed, is where the log ends (the process died, or still runs
      // it): the step it was running, with no step event after its start, is unfinished, which the
      // outcome says (UNFINISHED), not a step the log dropped.
      const newest = [...state.shutdowns.keys()].at(-1)
      const running = newest === undefined ? undefined : runningAtTheEnd(state.shutdowns.get(newest)!)
      for (const { shutdownId, shutdown, step } of neverEnded(state)) {
        if (shutdownId === newest && step === running) continue
        const seq = step.startedSeq ?? null
        flag(
          'invariant.step-never-ended',
          seq,
          `seq ${seq}: step ${step.step} (${step.name}) of shutdown ${shutdownId} started and never ended${shutdown.completed ? ' (the shutdown completed without it)' : ''}`,
        )
      }
    },
  }

  /**
   * The log's writer stamps each event no earlier than the one before it (`ts = max(clock, last
   * ts)`, core/log/event-log.ts), so a wall clock stepped back (NTP) gives equal timestamps,
   * never earlier ones; a replicated log keeps its leader's. Time running backwards means rows
   * were moved or rewritten.
   */
  function checkTime(seq: number, ts: number, type: string): void {
    if (ts < lastTs) {
      flag(
        'invariant.time-backwards',
        seq,
        `seq ${seq}: ${type} is stamped ${new Date(ts).toISOString()}, ${lastTs - ts} ms before seq ${lastTsSeq} (${new Date(lastTs).toISOString()}): haltd's log never stamps an event earlier than the one before it, so rows were moved or rewritten`,
      )
    }
    lastTs = ts
    lastTsSeq = seq
  }

  /**
   * An event of an order haltd does not know (yet) is remembered: a foreign fill (recorded on
   * purpose, booked nowhere) is legitimate, but one of an order haltd submits later is not,
   * because haltd writes an order's submission before the order leaves.
   */
  function noteOrderEvent(seq: number, type: string, venue: string, clientOrderId: string, state: HaltdState, what: string): void {
    if (order(state, venue, clientOrderId)) return
    const key = orderKey(venue, clientOrderId)
    const seen = early.get(key)
    if (seen) {
      seen.more++
      return
    }
    early.set(key, { seq, type, what, more: 0 })
    if (early.size > EARLY_EVENTS_KEPT) early.delete(early.keys().next().value!)
  }

  /**
   * An order haltd submitted after events of its own were recorded: the order's own events are
   * out of order. An adopted order is the exception: haltd adopts an order it found at a venue,
   * whose trades (recorded as foreign ones) may well come first.
   */
  function checkEarlyEvents(seq: number, venue: string, clientOrderId: string, origin: string): void {
    const key = orderKey(venue, clientOrderId)
    const first = early.get(key)
    if (!first) return
    early.delete(key)
    if (origin === 'adopted') return
    const more = first.more > 0 ? ` (and ${first.more} more of its events)` : ''
    const booked = first.type === 'order.filled' ? '; replayed, that fill was booked to no position, so positions and P&L here lack it' : ''
    flag(
      'invariant.order-event-before-submit',
      first.seq,
      `seq ${first.seq}: ${first.what} of order ${clientOrderId} on ${venue}${more} is recorded before the order's own order.submitted at seq ${seq}: haltd records an order's submission before it sends it, so no venue report of it can come first${booked}`,
    )
  }

  /**
   * A fill of more than its order: the live recorder records such a venue report as
   * `venue.order-unreadable` and books nothing (`moreThanTheOrder`), so haltd never writes it as
   * an `order.filled`. Judged per event, as the recorder judges it: trades that only together
   * come to more than the order are the fold's `overfill` anomaly, not a finding.
   */
  function checkOverfill(
    seq: number,
    d: { venue: string; clientOrderId: string; tradeId: string; qty: number; source?: string | undefined },
    state: HaltdState,
  ): void {
    // a run of an older build recorded a venue's report of more than the order as a fill, honestly
    if (!refusesOverfills) return
    const o = order(state, d.venue, d.clientOrderId)
    if (!o || !(d.qty > o.qty * (1 + OVERFILL_MARGIN))) return
    const what = d.source === 'order-total' ? `an order total of ${d.qty} filled` : `trade ${d.tradeId} of ${d.qty}`
    flag(
      'invariant.overfill-booked',
      seq,
      `seq ${seq}: ${what} is recorded as a fill of order ${d.clientOrderId} on ${d.venue}, which was for ${o.qty}: haltd records a fill of more than its order as the venue's unreadable report and books nothing, never as a fill; replayed, it was booked`,
    )
  }

  function checkFlattenSide(seq: number, venue: string, symbol: string, side: 'buy' | 'sell', qty: number, clientOrderId: string, state: HaltdState): void {
    // the size the flatten was sized by: the venue's word where it reported
    const held = exposureOf(state, venue, symbol)
    const tolerance = toleranceFor(state, venue, symbol)
    const signed = side === 'buy' ? qty : -qty
    if (Math.abs(held + signed) > Math.abs(held) + tolerance) {
      flag(
        'invariant.flatten-increases-exposure',
        seq,
        `seq ${seq}: shutdown order ${clientOrderId} (${side} ${qty} ${symbol} on ${venue}) would take |position| from ${Math.abs(held)} to ${Math.abs(held + signed)}`,
      )
    }
  }

  function checkDeadline(shutdownId: string, e: { since: number; sinceSeq: number; deadlineMs: number }, at: number, seq: number | null, verb: string): void {
    const since = Math.max(e.since, lastRunStart)
    const took = at - since
    if (took > e.deadlineMs) {
      flag(
        'invariant.deadline-missed',
        seq ?? e.sinceSeq,
        `the emergency path of shutdown ${shutdownId} (from seq ${e.sinceSeq}) ${verb} ${took} ms, past its ${e.deadlineMs} ms deadline`,
      )
    }
  }

  function checkNothingDropped(seq: number, shutdownId: string, state: HaltdState): void {
    for (const o of state.orders.values()) {
      if (o.status !== 'cancel-pending') continue
      flag(
        'invariant.cancel-dropped',
        seq,
        `seq ${seq}: shutdown ${shutdownId} completed with ${o.clientOrderId} on ${o.venue} still waiting for its cancel: neither confirmed canceled nor recorded cancel-unconfirmed`,
      )
    }
  }
}

type NeverEnded = { shutdownId: string; shutdown: ShutdownState; step: StepRecord; since: number }

/** The step a shutdown not completed was running when its log ended: its newest step record, still running. */
function runningAtTheEnd(shutdown: NeverEnded['shutdown']): NeverEnded['shutdown']['steps'][number] | undefined {
  if (shutdown.completed) return undefined
  const last = shutdown.steps.at(-1)
  return last?.status === 'running' ? last : undefined
}

/**
 * Steps still open at the end of the log, in the order they were opened. A step counts once per
 * number and name: the fold's last attempt at it is open (an end closes only that one), and a
 * step started again while open is the same open step, reported at its newest start.
 */
function neverEnded(state: HaltdState): NeverEnded[] {
  const out: NeverEnded[] = []
  for (const [shutdownId, shutdown] of state.shutdowns) {
    const opened = new Map<string, number>()
    for (const s of shutdown.steps) {
      const key = `${s.step}\u001f${s.name}`
      if (s.status !== 'running') opened.delete(key)
      else if (!opened.has(key)) opened.set(key, s.startedSeq ?? 0)
    }
    for (const s of shutdown.steps) {
      const since = opened.get(`${s.step}\u001f${s.name}`)
      if (since !== undefined && openStep(shutdown, s.step, s.name) === s) out.push({ shutdownId, shutdown, step: s, since })
    }
  }
  return out.sort((a, b) => a.since - b.since)
}
