import { GracefulStepName, EmergencyStepName } from '../../events/steps.js'
import { isLive, shutdownProgress, type HaltdState, type ShutdownState } from '../../projections/index.js'
import { buildShutdownReport } from '../../core/shutdown/report.js'
import { worldOf } from '../../core/shutdown/world.js'
import type { HandoverView } from './handover-view.js'

/**
 * What the dashboard shows, in one JSON object: built from the projections whenever the log has
 * moved (never per event), sent to the page as a whole, so a page that missed some frames still
 * shows the truth.
 */
export type DashboardView = ReturnType<typeof dashboardView>

/** What the daemon's `/status` holds that the page shows as is. */
export type StatusPart = {
  state: string
  mode: string
  version?: string
  uptimeMs?: number
  gate: { halted: boolean; reason?: string }
  killSwitch: { latched: boolean; reason?: string; by?: string; action?: string }
  /** `unpriced`: haltd has no price for the market; its `unrealized` is unknown and the P&L leaves it out. */
  positions: { venue: string; symbol: string; qty: number; avgEntry: number; unrealized: number; unpriced?: true }[]
  pnl: { realized: number; fees: number; unrealized: number; equity: number; drawdown: number }
  strategies: { id: string; enabled: boolean; reason?: string }[]
  drain: string
  paused: boolean
  deploymentsLocked: boolean
  /** The reconciliation as the log knows it: the page shows each venue's verdict. */
  reconciliation: { verdict: string; venues: readonly { venue: string; verdict: string }[] }
}

export type ViewInputs = {
  state: HaltdState
  status: StatusPart
  /** Each venue as `/health` has it: connected, its round trip, its last error. */
  venues: readonly { venue: string; connected: boolean; latencyMs?: number; latencySamples?: number; lastError?: string }[]
  risk: readonly { trigger: string; reading: number; threshold: number; action: string; detail: string }[]
  now: number
  /** When this run started: a shutdown finished before it belongs to an earlier run. */
  since: number
  /** Which optional controls exist here (a standby, a fleet): the page shows their buttons only then. */
  controls?: { handover?: boolean; fleet?: boolean }
  /** The latest handover's timeline, where there was one. */
  handover?: HandoverView | null
  /** Set on a standby: whom it follows and how far; the page is read-only then. */
  standby?: StandbyPart
}

/** A standby's place in its engine, as its page shows it. */
export type StandbyPart = {
  engine: string
  instance: string
  leader: { instance: string; epoch: number } | null
  followedSeq: number
  lagEvents: number
  following: boolean
  /** Why it would not take over, when it refused. */
  refused?: string
  /** While the last leader's stop on purpose keeps it from taking over: what it says of it. */
  engineStopped?: string
}

const POSITIONS_SHOWN = 50

export function dashboardView(i: ViewInputs) {
  const s = i.state
  // counted, not listed: at 10,000 orders a list a frame would cost the daemon more than the page is worth
  const ordersByVenue: Record<string, number> = {}
  let open = 0
  for (const o of s.orders.values()) {
    if (!isLive(o.status)) continue
    open++
    ordersByVenue[o.venue] = (ordersByVenue[o.venue] ?? 0) + 1
  }
  const positionsByVenue: Record<string, number> = {}
  for (const p of i.status.positions) positionsByVenue[p.venue] = (positionsByVenue[p.venue] ?? 0) + 1
  const recon = i.status.reconciliation
  const latest = latestShutdown(s, i.since)
  return {
    at: i.now,
    seq: s.seq,
    state: i.status.state,
    mode: i.status.mode,
    version: i.status.version,
    uptimeMs: i.status.uptimeMs,
    gate: i.status.gate,
    killSwitch: i.status.killSwitch,
    paused: i.status.paused,
    deploymentsLocked: i.status.deploymentsLocked,
    drain: i.status.drain,
    venues: i.venues.map((v) => ({
      ...v,
      openOrders: ordersByVenue[v.venue] ?? 0,
      positions: positionsByVenue[v.venue] ?? 0,
      reconciliation: recon.venues.find((r) => r.venue === v.venue)?.verdict ?? 'UNVERIFIED',
    })),
    strategies: i.status.strategies,
    openOrders: open,
    positions: i.status.positions.slice(0, POSITIONS_SHOWN),
    positionCount: i.status.positions.length,
    // the unrealized P&L and equity leave these out: the page says how many
    pnl: { ...i.status.pnl, unpriced: i.status.positions.filter((p) => p.unpriced).length },
    risk: i.risk,
    reconciliation: recon.verdict,
    shutdown: latest
      ? timeline(
          s,
          latest,
          i.now,
          i.venues.map((v) => v.venue),
        )
      : null,
    report: latest?.completed ? reportOf(s, latest) : null,
    controls: { handover: i.controls?.handover === true, fleet: i.controls?.fleet === true },
    handover: i.handover ?? null,
    standby: i.standby ?? null,
  }
}

/** The shutdown the page is about: the one running, or one that finished during this run. */
function latestShutdown(s: HaltdState, since: number): ShutdownState | undefined {
  let last: ShutdownState | undefined
  for (const sh of s.shutdowns.values()) last = sh
  if (!last) return undefined
  return !last.completed || (last.requestedAt ?? 0) >= since ? last : undefined
}

/**
 * The runbook's screen: every step of the procedure in order (those not reached yet as
 * `pending`), the time against the deadline, the counts against their targets, and each venue's
 * cancels and reconciliation.
 */
function timeline(s: HaltdState, sh: ShutdownState, now: number, venues: readonly string[]) {
  const progress = shutdownProgress(sh)
  const emergency = sh.procedure === 'emergency'
  const startedAt = emergency && sh.escalation?.at !== undefined ? sh.escalation.at : (sh.requestedAt ?? now)
  const deadlineMs = emergency ? sh.options.emergency.deadlineMs : sh.options.graceful.deadlineMs
  const end = sh.completed?.at ?? now
  const names: readonly string[] = emergency ? EmergencyStepName.options : GracefulStepName.options
  // progress.steps maps sh.steps one to one; after an escalation the timeline is the emergency's
  const ran = progress.steps.filter((_, n) => sh.steps[n]?.procedure === sh.procedure)
  const steps = names.map((name, n) => {
    const step = ran.findLast((p) => p.step === n + 1 && p.name === name)
    return step
      ? {
          step: step.step,
          name,
          status: step.outcome as string,
          startedAt: step.startedAt,
          endedAt: step.endedAt ?? null,
          commands: { issued: step.commandsIssued, done: step.commandsCompleted, failed: step.commandsFailed },
          ...(step.error ? { error: step.error } : {}),
        }
      : { step: n + 1, name, status: sh.completed ? 'not run' : 'pending', startedAt: null, endedAt: null, commands: { issued: 0, done: 0, failed: 0 } }
  })
  // per venue, the shutdown's cancel commands (cancel-order, cancel-all, settle-orders) and what they came to: commands, not orders
  const cancels = new Map<string, { issued: number; ok: number; failed: number; pending: number }>()
  for (const c of sh.commands.values()) {
    const k = c.command.kind
    if (k !== 'cancel-order' && k !== 'cancel-all' && k !== 'settle-orders') continue
    const row = cancels.get(c.command.venue) ?? { issued: 0, ok: 0, failed: 0, pending: 0 }
    row.issued++
    if (c.outcome === undefined) row.pending++
    else if (c.outcome === 'ok') row.ok++
    else row.failed++
    cancels.set(c.command.venue, row)
  }
  const flatten = emergency ? 'none' : sh.options.graceful.flatten
  let positions = 0
  for (const p of s.positions.values()) if (Math.abs(p.qty) > 1e-12) positions++
  return {
    shutdownId: sh.shutdownId ?? '',
    mode: sh.mode ?? 'graceful',
    procedure: sh.procedure,
    reason: sh.reason,
    origin: sh.origin ?? null,
    escalated: sh.escalation !== undefined,
    requestedAt: sh.requestedAt ?? null,
    startedAt,
    deadlineMs,
    deadlineAt: startedAt + deadlineMs,
    // against the deadline, the procedure's own time: after an escalation the emergency's, the graceful part apart
    elapsedMs: end - startedAt,
    gracefulMs: emergency && sh.escalation?.at !== undefined && sh.requestedAt !== undefined ? sh.escalation.at - sh.requestedAt : null,
    remainingMs: Math.max(0, startedAt + deadlineMs - end),
    completed: sh.completed ? { outcome: sh.completed.outcome, exitCode: sh.completed.exitCode, at: sh.completed.at ?? null } : null,
    steps,
    targets: {
      openOrders: { now: s.inFlight, target: 0 },
      // flatten none keeps positions: the target is then what there was, not zero
      positions: { now: positions, target: flatten === 'none' ? null : 0 },
    },
    venues: venues.map((venue) => ({ venue, cancels: cancels.get(venue) ?? { issued: 0, ok: 0, failed: 0, pending: 0 } })),
  }
}

/** The report, outcome first: verified flat, residual exposure, or which venues are unverified. */
function reportOf(s: HaltdState, sh: ShutdownState) {
  const r = buildShutdownReport(sh, worldOf(s))
  const verdict = r.reconciliation.verdict
  const headline =
    r.residualExposure.length > 0
      ? 'RESIDUAL EXPOSURE'
      : verdict === 'UNVERIFIED'
        ? 'UNVERIFIED VENUES'
        : verdict === 'MISMATCH'
          ? 'MISMATCH'
          : r.positions.length === 0
            ? 'VERIFIED FLAT'
            : 'VERIFIED (positions kept)'
  return {
    headline,
    outcome: r.outcome ?? null,
    exitCode: r.exitCode ?? null,
    durationMs: r.durationMs ?? null,
    verdict,
    unverified: r.reconciliation.unverified,
    residualExposure: r.residualExposure.slice(0, 20).map((p) => ({ venue: p.venue, symbol: p.symbol, qty: p.qty })),
    openOrders: r.openOrders.count,
    cancelUnconfirmed: r.cancelUnconfirmedCount,
    positions: r.positions.length,
    pnl: r.pnl,
    venues: r.reconciliation.venues.map((v) => ({ venue: v.venue, verdict: v.verdict, ...(v.why ? { why: v.why } : {}) })),
  }
}
