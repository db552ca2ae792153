import {
  isPriced,
  killSwitch,
  openOrders,
  pnl,
  positions,
  reconciliation,
  shutdownPhases,
  shutdownStatus,
  shutdowns,
  stateHash,
  tradingState,
  type HaltdState,
  type ShutdownProgress,
} from '../projections/index.js'
import { recordedShutdownOptions, type ShutdownMode } from '../events/index.js'
import type { AuditReport, OpenOrderRow, PnlSummary, PositionRow, ShutdownSummary } from './audit-report.js'
import type { ReplayResult } from '../core/log/projection-runner.js'

/** The overall deadline a shutdown was started with (its recorded options, defaults filled in, as its fold reads them). */
export function deadlineOf(options: Record<string, unknown>, mode: ShutdownMode): number {
  const parsed = recordedShutdownOptions(options)
  return mode === 'emergency' ? parsed.emergency.deadlineMs : parsed.graceful.deadlineMs
}

export function shutdownSummary(s: ShutdownProgress): ShutdownSummary {
  const end = s.completed
  return {
    shutdownId: s.shutdownId,
    mode: s.mode,
    status:
      s.mode === null
        ? null
        : (shutdownStatus({
            mode: s.mode,
            completed: s.completed,
            procedure: s.mode === 'emergency' || s.escalation ? 'emergency' : 'graceful',
            steps: s.steps.map((step) => ({ procedure: 'graceful', step: step.step })),
          }) ?? null),
    reason: s.reason,
    origin: s.origin,
    requestedAt: s.requestedAt,
    escalatedAt: s.escalation?.at ?? null,
    completedAt: end?.at ?? null,
    outcome: end?.outcome ?? null,
    exitCode: end?.exitCode ?? null,
    durationMs: end ? end.durationMs : null,
    deadlineMs: s.mode === null ? null : s.mode === 'emergency' ? s.options.emergency.deadlineMs : s.options.graceful.deadlineMs,
    // `mode` is the running one, the requested one where nothing escalated
    phases: shutdownPhases(s) ?? null,
    commandsIssued: s.commandsIssued,
    commandsFailed: s.commandsFailed,
    ignoredRequests: s.ignoredRequests,
    ignored: s.ignored.map((r) => ({ mode: r.mode, reason: r.reason, origin: r.origin, at: r.at ?? null, seq: r.seq ?? null, count: r.count ?? 1 })),
    steps: s.steps.map((step) => ({
      number: step.step,
      name: step.name,
      startedAt: step.startedAt,
      endedAt: step.endedAt ?? null,
      durationMs: step.durationMs ?? null,
      outcome: step.outcome,
      ...(step.error !== undefined ? { note: step.error } : {}),
    })),
  }
}

/** An open position on a market the log holds no price for: its unrealized P&L is unknown, not 0. */
const unpricedIn = (state: HaltdState, p: { venue: string; symbol: string; qty: number }): boolean => p.qty !== 0 && !isPriced(state, p.venue, p.symbol)

export function positionRows(state: HaltdState): PositionRow[] {
  return positions(state).map((p) => ({
    venue: p.venue,
    symbol: p.symbol,
    qty: p.qty,
    avgEntry: p.avgEntry,
    realized: p.realized,
    unrealized: p.unrealized,
    fees: p.fees,
    ...(unpricedIn(state, p) ? { unpriced: true as const } : {}),
  }))
}

/** The open positions the log holds no price for, as `venue symbol`. */
function unpricedPositions(state: HaltdState): string[] {
  return positions(state)
    .filter((p) => unpricedIn(state, p))
    .map((p) => `${p.venue} ${p.symbol}`)
}

export function openOrderRows(state: HaltdState): OpenOrderRow[] {
  return openOrders(state).map((o) => ({
    venue: o.venue,
    clientOrderId: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    qty: o.qty,
    filledQty: o.filledQty,
    price: o.price ?? null,
    status: o.status,
    origin: o.origin.id === undefined ? o.origin.kind : `${o.origin.kind}:${o.origin.id}`,
  }))
}

export function reconciliationTable(state: HaltdState): AuditReport['reconciliation'] {
  const r = reconciliation(state)
  return {
    venues: r.venues,
    verdict: r.verdict,
    unverified: r.unverified,
    evidence: r.perVenue.map((v) => ({
      venue: v.venue,
      verdict: v.verdict,
      observedSeq: v.observation?.seq ?? null,
      observedTs: v.observation?.ts ?? null,
      ageMs: v.observation?.ageMs ?? null,
      lastOrderSeq: v.lastOrderSeq,
      newerThanLastOrder: v.newerThanLastOrder,
      ...(v.why !== undefined ? { why: v.why } : {}),
      ...(v.unseen !== undefined ? { unseen: v.unseen.map((u) => ({ ...u })) } : {}),
    })),
    rows: r.rows.map((row) => ({
      kind: row.kind,
      symbol: row.kind === 'order' ? `${row.symbol} ${row.clientOrderId ?? row.venueOrderId ?? ''}`.trim() : row.symbol,
      internal: row.internal,
      venues: row.columns,
      status: row.status,
      ...(row.note !== undefined ? { detail: row.note } : {}),
    })),
    nothingToReconcile: r.verdict === 'OK' && r.rows.length === 0 && r.perVenue.length === 0,
  }
}

/** The currency a market's P&L settles in: `BASE/QUOTE:SETTLE` settles in SETTLE, `BASE/QUOTE` in QUOTE. */
export function settlementCurrency(symbol: string): string | undefined {
  const [pair, settle] = symbol.split(':')
  return settle || pair?.split('/')[1] || undefined
}

/** P&L over every market, with the currency the markets traded settle in (the sums never convert). */
export function pnlSummary(state: HaltdState): PnlSummary {
  const p = pnl(state)
  const currencies = new Set<string>()
  for (const pos of state.positions.values()) {
    const c = settlementCurrency(pos.symbol)
    if (c) currencies.add(c)
  }
  const list = [...currencies].sort()
  const currency = list.length === 0 ? null : list.length === 1 ? list[0]! : `mixed: ${list.join(', ')}`
  const unpriced = unpricedPositions(state)
  return { realized: p.realized, unrealized: p.unrealized, fees: p.fees, net: p.equity, currency, ...(unpriced.length > 0 ? { unpriced } : {}) }
}

export function killSwitchSummary(state: HaltdState): { latched: boolean; reason: string | null } {
  const k = killSwitch(state)
  return k.latched ? { latched: true, reason: k.reason } : { latched: false, reason: null }
}

/**
 * What `haltd replay --json` prints: the state as of one seq, in plain JSON, and the events the
 * replay could not apply (`notApplied`: how many, the first of them), without which it is incomplete.
 */
export function replayView(state: HaltdState, notApplied: ReplayResult['notApplied'] = { total: 0, first: [] }) {
  const p = pnl(state)
  const trading = tradingState(state)
  const unpriced = unpricedPositions(state)
  return {
    seq: state.seq,
    ts: state.ts,
    at: state.ts ? new Date(state.ts).toISOString() : null,
    stateHash: stateHash(state),
    tradingState: trading.mode,
    killSwitch: killSwitchSummary(state),
    drain: trading.drain.state,
    paused: trading.paused !== false,
    deploymentsLocked: trading.deploymentsLocked !== false,
    openOrders: openOrderRows(state),
    positions: positionRows(state),
    pnl: {
      realized: p.realized,
      unrealized: p.unrealized,
      fees: p.fees,
      net: p.equity,
      peakEquity: p.peakEquity,
      maxDrawdown: p.maxDrawdown,
      byVenue: p.byVenue,
      ...(unpriced.length > 0 ? { unpriced } : {}),
    },
    reconciliation: reconciliationTable(state),
    shutdowns: shutdowns(state).map(shutdownSummary),
    anomalies: { total: state.anomalyCount, newest: state.anomalies.slice(-50) },
    notApplied,
  }
}
export type ReplayView = ReturnType<typeof replayView>
