import type { Origin, ShutdownMode } from '../../events/index.js'
import { commandsOf, type CommandRecord, type ShutdownState, type StepStatus } from './procedure.js'
import type { ReconciliationProblem, ShutdownWorld, WorldOrder, WorldPosition } from './types.js'
import { money, quantityAt } from '../../projections/money.js'
import {
  reconciliationClaim,
  shutdownPhases,
  unseenBooksLine,
  venueEvidenceLine,
  type ReconciliationVerdict,
  type ShutdownPhase,
  type VenueReconciliation,
} from '../../projections/index.js'
import { formatAnchor, type LogAnchor } from '../log/anchor.js'

/**
 * The post-shutdown report: final positions, what is still open, P&L, reconciliation and the
 * step timeline. Built from the shutdown's state and the projections alone, so `haltd audit`
 * rebuilds the same report offline.
 */
export type ShutdownReport = {
  shutdownId: string
  mode: ShutdownMode | undefined
  escalated: boolean
  reason: string
  origin: Origin | undefined
  outcome: string | undefined
  exitCode: number | undefined
  requestedAt: number | undefined
  /** The whole run, from the request. */
  durationMs: number | undefined
  /**
   * Once completed, the time by procedure, each against its own deadline: after an escalation, the
   * graceful part apart and the emergency from the escalation (see `shutdownPhases`).
   */
  phases?: { graceful?: ShutdownPhase; emergency?: ShutdownPhase }
  steps: {
    procedure: string
    step: number
    name: string
    status: StepStatus
    startedAt?: number
    endedAt?: number
    durationMs?: number
    error?: string
    detail?: Record<string, unknown>
    commands: { issued: number; ok: number; failed: number; timedOut: number; pending: number }
  }[]
  positions: WorldPosition[]
  /** Positions left open where flattening was asked for (or any, after an emergency). */
  residualExposure: WorldPosition[]
  openOrders: { count: number; byStatus: Record<string, number>; orders: WorldOrder[] }
  /** Orders no venue confirmed canceled: never assumed canceled. The first `LISTED` of them; `cancelUnconfirmedCount` says how many. */
  cancelUnconfirmed: { venue: string; clientOrderId: string; symbol: string }[]
  cancelUnconfirmedCount: number
  /**
   * Orders the venue confirmed canceled without saying what they had filled, and whose lookup
   * did not tell either: a fill that beat the cancel may be missing from positions and P&L. The
   * first `LISTED`; `finalFillUnknownCount` says how many.
   */
  finalFillUnknown: { venue: string; clientOrderId: string }[]
  finalFillUnknownCount: number
  /**
   * The books of a venue's account (Bybit: spot, linear USDT, …) whose cancel-all failed in the
   * shutdown's last cancel-all there, with the venue's last answer: their orders are unknown.
   */
  booksNotCancelled: { venue: string; book: string; detail: string }[]
  /** `ok` is `verdict === 'OK'`; each venue carries the observation its verdict rests on. */
  reconciliation: {
    ok: boolean
    verdict: ReconciliationVerdict
    counts: Record<string, number>
    /** The first `LISTED`; `problemCount` says how many there are. */
    problems: ReconciliationProblem[]
    problemCount: number
    unverified: { venue: string; why: string }[]
    venues: VenueReconciliation[]
  }
  pnl: ShutdownWorld['pnl']
  /** Why the engine's process may still be running (`engineNotSeenGone`); absent where it was seen gone or none is controlled. */
  engineRunning?: string
  checkpoint: Record<string, unknown> | undefined
  ignoredRequests: number
  /** The log's head when the report was made (the runner's final report: after `shutdown.completed`). */
  head?: LogAnchor
}

const LISTED = 200

/**
 * Why the trading engine's process may still be running, from the shutdown's last look at it (the
 * terminate or confirm-gone command that ended last): undefined where that look saw it gone, or the
 * shutdown controls no engine. An engine that was not seen go can still trade.
 */
export function engineNotSeenGone(s: Pick<ShutdownState, 'commands'>): string | undefined {
  let last: { step: number; outcome: string; detail: Record<string, unknown> } | undefined
  for (const c of s.commands.values()) {
    if (c.command.kind !== 'control-engine' || (c.command.action !== 'terminate' && c.command.action !== 'confirm-gone') || c.outcome === undefined) continue
    last = { step: c.step, outcome: c.outcome, detail: c.detail ?? {} }
  }
  if (last === undefined || last.outcome === 'ok' || last.detail.gone === true) return undefined
  const why = typeof last.detail.error === 'string' ? last.detail.error : typeof last.detail.evidence === 'string' ? last.detail.evidence : last.outcome
  return `the engine's process was not seen gone (step ${last.step}: ${why})`
}

/**
 * Whether the shutdown's last look at the engine (as `engineNotSeenGone` reads it) answered that it
 * is there: only then is it known to run. A look that failed, was cut off, or never happened, and a
 * command recorded before looks said so, leave it not seen gone, and no more is known.
 */
export function engineSeenRunning(s: Pick<ShutdownState, 'commands'>): boolean {
  let last: CommandRecord | undefined
  for (const c of s.commands.values()) {
    if (c.command.kind !== 'control-engine' || (c.command.action !== 'terminate' && c.command.action !== 'confirm-gone') || c.outcome === undefined) continue
    last = c
  }
  return last !== undefined && last.outcome !== 'ok' && last.detail?.gone !== true && last.detail?.seenRunning === true
}

/**
 * The canceled orders whose final fill the shutdown could not learn, from its cancel and settle
 * commands' outcomes (`fillUnknown`, `fillUnknownCount`): by venue, the first `listed` of them, and
 * how many in all.
 */
export function finalFillUnknown(s: Pick<ShutdownState, 'commands'>, listed = LISTED): { orders: { venue: string; clientOrderId: string }[]; count: number } {
  const orders: { venue: string; clientOrderId: string }[] = []
  let count = 0
  for (const c of s.commands.values()) {
    const d = c.detail
    if (d === undefined || !Array.isArray(d.fillUnknown) || !('venue' in c.command)) continue
    const venue = c.command.venue
    count += typeof d.fillUnknownCount === 'number' ? d.fillUnknownCount : d.fillUnknown.length
    for (const id of d.fillUnknown) if (orders.length < listed && typeof id === 'string') orders.push({ venue, clientOrderId: id })
  }
  return { orders, count }
}

/**
 * The books whose cancel-all failed, from each venue's last cancel-all command that went book by
 * book (its `books`): an earlier round's failure a later round mended is not named.
 */
export function booksNotCancelled(s: Pick<ShutdownState, 'commands'>): { venue: string; book: string; detail: string }[] {
  const last = new Map<string, unknown[]>()
  for (const c of s.commands.values()) {
    const books = c.detail?.books
    if (c.command.kind === 'cancel-all' && Array.isArray(books)) last.set(c.command.venue, books)
  }
  const out: { venue: string; book: string; detail: string }[] = []
  for (const [venue, books] of last) {
    for (const b of books as { book?: unknown; outcome?: unknown; detail?: unknown }[]) {
      if (b?.outcome === 'failed' && typeof b.book === 'string') out.push({ venue, book: b.book, detail: typeof b.detail === 'string' ? b.detail : 'failed' })
    }
  }
  return out
}

export function buildShutdownReport(state: ShutdownState, world: ShutdownWorld): ShutdownReport {
  const byStatus: Record<string, number> = {}
  for (const o of world.orders) byStatus[o.status] = (byStatus[o.status] ?? 0) + 1
  const flattenAsked = state.options.graceful.flatten !== 'none' || state.procedure === 'emergency'
  const checkpointStep = [...state.steps].reverse().find((s) => s.name === 'checkpoint' || s.name === 'quick checkpoint')
  const checkpoint = checkpointStep && commandsOf(state, checkpointStep).find((c) => c.command.kind === 'write-checkpoint')
  const r = world.reconciliation
  const engineRunning = engineNotSeenGone(state)
  const fillUnknown = finalFillUnknown(state)
  const phases = shutdownPhases(state)
  return {
    shutdownId: state.shutdownId ?? '',
    mode: state.mode,
    escalated: state.escalation !== undefined,
    reason: state.reason,
    origin: state.origin,
    outcome: state.completed?.outcome,
    exitCode: state.completed?.exitCode,
    requestedAt: state.requestedAt,
    durationMs: state.completed?.durationMs ?? (state.lastTs !== undefined && state.requestedAt !== undefined ? state.lastTs - state.requestedAt : undefined),
    ...(phases !== undefined ? { phases } : {}),
    steps: state.steps.map((s) => {
      const commands = { issued: s.commandIds.length, ok: 0, failed: 0, timedOut: 0, pending: 0 }
      for (const c of commandsOf(state, s)) {
        if (c.outcome === 'ok') commands.ok++
        else if (c.outcome === 'failed') commands.failed++
        else if (c.outcome === 'timed-out') commands.timedOut++
        else commands.pending++
      }
      return {
        procedure: s.procedure,
        step: s.step,
        name: s.name,
        status: s.status,
        commands,
        ...(s.startedAt !== undefined ? { startedAt: s.startedAt } : {}),
        ...(s.endedAt !== undefined ? { endedAt: s.endedAt } : {}),
        ...(s.startedAt !== undefined && s.endedAt !== undefined ? { durationMs: s.endedAt - s.startedAt } : {}),
        ...(s.error !== undefined ? { error: s.error } : {}),
        ...(s.detail !== undefined ? { detail: s.detail } : {}),
      }
    }),
    positions: [...world.positions],
    residualExposure: flattenAsked ? [...world.positions] : [],
    openOrders: { count: world.orders.length, byStatus, orders: world.orders.slice(0, LISTED) },
    cancelUnconfirmed: world.orders
      .filter((o) => o.status === 'cancel-unconfirmed')
      .slice(0, LISTED)
      .map((o) => ({ venue: o.venue, clientOrderId: o.clientOrderId, symbol: o.symbol })),
    cancelUnconfirmedCount: byStatus['cancel-unconfirmed'] ?? 0,
    finalFillUnknown: fillUnknown.orders,
    finalFillUnknownCount: fillUnknown.count,
    booksNotCancelled: booksNotCancelled(state),
    reconciliation: {
      ok: r.ok,
      verdict: r.verdict,
      counts: { ...r.counts },
      problems: r.problems.slice(0, LISTED),
      problemCount: r.problems.length,
      unverified: r.unverified.slice(0, LISTED).map((u) => ({ ...u })),
      venues: r.venues.slice(0, LISTED).map((v) => ({ ...v, ...(v.observation ? { observation: { ...v.observation } } : {}) })),
    },
    pnl: { ...world.pnl },
    ...(engineRunning !== undefined ? { engineRunning } : {}),
    checkpoint: checkpoint ? { outcome: checkpoint.outcome, ...(checkpoint.detail ?? {}) } : undefined,
    ignoredRequests: state.ignoredRequests,
  }
}

/** What a position's size rests on, where haltd's own fills say otherwise. */
function sizedBy(p: WorldPosition): string {
  if (p.fromFills === undefined || Math.abs(p.fromFills - p.qty) <= 1e-9) return ''
  const source = p.basis === 'venue' ? `the venue's report at seq ${p.observedSeq}` : 'fills'
  return ` (${source}; haltd's fills say ${quantityAt(p.fromFills, p.amountStep)})`
}

/** The report as a person reads it in a terminal or a notification. */
export function formatShutdownReport(report: ShutdownReport): string {
  const lines: string[] = []
  lines.push(
    `shutdown ${report.shutdownId} (${report.mode}${report.escalated ? ', escalated to emergency' : ''}): ${report.outcome ?? 'unfinished'}, exit ${report.exitCode ?? '-'}`,
  )
  lines.push(`reason: ${report.reason} (origin ${report.origin ?? '?'}), ${report.durationMs ?? '?'} ms`)
  if (report.phases) lines.push(`time: ${phasesWords(report.phases)}`)
  lines.push('steps:')
  for (const s of report.steps) {
    const took = s.durationMs === undefined ? '' : ` ${s.durationMs} ms`
    const why = s.error ? ` — ${s.error}` : ''
    lines.push(`  ${s.procedure[0]}${String(s.step).padStart(2)} ${s.name.padEnd(40)} ${s.status}${took}${why}`)
  }
  const r = report.reconciliation
  // "none open" and "flat" are of the books the venues' lists showed
  const unseen = unseenBooksLine(r.venues ?? [])
  const ofListed = unseen === '' ? '' : ` on the books listed (not seen: ${unseen})`
  lines.push(
    `open orders: ${report.openOrders.count}${report.cancelUnconfirmedCount ? ` (${report.cancelUnconfirmedCount} cancel-unconfirmed)` : ''}${ofListed}`,
  )
  if (report.finalFillUnknownCount > 0) lines.push(finalFillUnknownLine(report.finalFillUnknown, report.finalFillUnknownCount))
  // a report from a log written before books were named has none
  for (const b of report.booksNotCancelled ?? []) lines.push(`CANCEL-ALL FAILED on ${b.venue}'s ${b.book} book, its orders unknown: ${b.detail}`)
  if (report.positions.length === 0) lines.push(`positions: flat${unseen === '' ? '' : ' on the books listed'}`)
  for (const p of report.positions)
    lines.push(`position ${p.venue} ${p.symbol}: ${quantityAt(p.qty, p.amountStep)}${sizedBy(p)}${p.unpriced ? ' (UNPRICED: haltd has no price for it)' : ''}`)
  if (report.residualExposure.length) {
    const named = report.residualExposure
      .slice(0, 10)
      .map((p) => `${p.venue} ${p.symbol} ${quantityAt(p.qty, p.amountStep)}`)
      .join(', ')
    lines.push(`RESIDUAL EXPOSURE on ${report.residualExposure.length} position(s): ${named}${report.residualExposure.length > 10 ? ', …' : ''}`)
  }
  lines.push(`reconciliation: ${reconciliationClaim({ verdict: r.verdict, unverified: r.unverified, problems: r.problemCount, venues: r.venues })}`)
  for (const v of r.venues ?? []) lines.push(`  ${venueEvidenceLine(v)}`)
  if (report.engineRunning) lines.push(`ENGINE MAY STILL TRADE: ${report.engineRunning}`)
  lines.push(
    `P&L: realized ${money(report.pnl.realized)}, fees ${money(report.pnl.fees)}, unrealized ${money(report.pnl.unrealized)}${unpricedNote(report.positions)}`,
  )
  if (report.checkpoint) lines.push(`checkpoint: ${String(report.checkpoint.outcome)} ${String(report.checkpoint.path ?? report.checkpoint.error ?? '')}`)
  if (report.head) lines.push(`log head: ${formatAnchor(report.head)} (keep it: haltd audit --db LOG --expect-head ${formatAnchor(report.head)})`)
  return lines.join('\n')
}

/**
 * What a P&L total leaves out: the open positions haltd has no price for, whose unrealized P&L is
 * unknown, never 0. Empty where every open position is priced.
 */
export function unpricedNote(positions: readonly Pick<WorldPosition, 'venue' | 'symbol' | 'qty' | 'unpriced'>[]): string {
  const unpriced = positions.filter((p) => p.unpriced && p.qty !== 0).map((p) => `${p.venue} ${p.symbol}`)
  return unpricedClause(unpriced, 'haltd having')
}

/**
 * The words a P&L total takes for the open positions (`venue symbol`) it leaves out, `whose` price
 * is missing (`haltd having`, `the log holding`): the first five named. Empty where there are none.
 */
export function unpricedClause(unpriced: readonly string[], whose: string): string {
  if (unpriced.length === 0) return ''
  return ` (not counting ${unpriced.length} UNPRICED position(s), ${whose} no price for them: ${unpriced.slice(0, 5).join(', ')}${unpriced.length > 5 ? ', …' : ''})`
}

/** The canceled orders whose final fill is unknown, in words: never to be read as none filled. */
export function finalFillUnknownLine(orders: readonly { venue: string; clientOrderId: string }[], count: number): string {
  const named = orders
    .slice(0, 10)
    .map((o) => `${o.venue} ${o.clientOrderId}`)
    .join(', ')
  return `FINAL FILL UNKNOWN for ${count} canceled order(s): ${named}${count > 10 ? ', …' : ''} (canceled on a venue answer or list that did not say what filled, and no lookup told: positions and P&L may lack what they filled)`
}

/** Each procedure's time, and the deadline it is judged against from its own start. */
export function phasesWords(phases: { graceful?: ShutdownPhase; emergency?: ShutdownPhase }, ms: (n: number) => string = (n) => `${n} ms`): string {
  const judged = (p: ShutdownPhase) =>
    p.deadlineMs === undefined
      ? ''
      : p.withinDeadline
        ? `: within its ${ms(p.deadlineMs)} deadline`
        : `: PAST its ${ms(p.deadlineMs)} deadline by ${ms(p.durationMs - p.deadlineMs)}`
  const { graceful, emergency } = phases
  if (graceful && emergency) return `graceful ${ms(graceful.durationMs)}, then emergency ${ms(emergency.durationMs)} from the escalation${judged(emergency)}`
  const only = emergency ?? graceful
  return only ? `${emergency ? 'emergency' : 'graceful'} ${ms(only.durationMs)}${judged(only)}` : ''
}
