import { reconciliationClaim } from '../../projections/index.js'
import type { AuditReport } from '../audit-report.js'
import { clock, duration, iso, money, num } from './format.js'

/**
 * The report's tables as header + rows of strings, once, for every tabular renderer (text,
 * Markdown, HTML): they differ in markup, never in content.
 */
export type Table = { title: string; header: string[]; rows: string[][]; empty: string }

export function timelineTables(r: AuditReport): Table[] {
  return r.shutdowns.map((s) => ({
    title: `Shutdown ${s.shutdownId} — ${s.mode ?? 'unknown mode'}${s.reason ? `: ${s.reason}` : ''}`,
    header: ['step', 'name', 'start', 'end', 'duration', 'outcome'],
    rows: s.steps.map((st) => [
      String(st.number),
      st.name,
      clock(st.startedAt),
      clock(st.endedAt),
      duration(st.durationMs),
      st.note ? `${st.outcome} (${st.note})` : st.outcome,
    ]),
    empty: 'no steps recorded',
  }))
}

export function shutdownLine(s: AuditReport['shutdowns'][number]): string {
  const parts = [
    `requested ${iso(s.requestedAt)}${s.origin ? ` by ${s.origin}` : ''}`,
    s.completedAt === null && s.status !== null ? `status ${s.status}` : '',
    s.escalatedAt !== null ? `escalated ${iso(s.escalatedAt)}` : '',
    s.completedAt !== null ? `completed ${iso(s.completedAt)}: ${s.outcome}, exit ${s.exitCode}, took ${duration(s.durationMs)}` : 'not completed',
    s.deadlineMs !== null ? `deadline ${duration(s.deadlineMs)}` : '',
    `${s.commandsIssued} commands (${s.commandsFailed} failed)`,
  ]
  return parts.filter(Boolean).join(' · ')
}

export function reconciliationTable(r: AuditReport): Table {
  const venues = r.reconciliation.venues
  return {
    title: 'Reconciliation',
    header: ['kind', 'symbol', 'internal', ...venues, 'status'],
    rows: r.reconciliation.rows.map((row) => [
      row.kind,
      row.symbol,
      num(row.internal),
      ...venues.map((v) => num(row.venues[v] ?? null)),
      row.detail ? `${row.status} (${row.detail})` : row.status,
    ]),
    empty: 'nothing to reconcile',
  }
}

export function positionsTable(r: AuditReport): Table {
  return {
    title: 'Final positions and P&L',
    header: ['venue', 'symbol', 'qty', 'avg entry', 'realized', 'unrealized', 'fees'],
    rows: r.positions.map((p) => [p.venue, p.symbol, num(p.qty), num(p.avgEntry, 4), money(p.realized), money(p.unrealized), money(p.fees)]),
    empty: 'no positions',
  }
}

export function openOrdersTable(r: AuditReport): Table {
  return {
    title: 'Open orders at the end of the log',
    header: ['venue', 'client order id', 'symbol', 'side', 'qty', 'filled', 'price', 'status', 'origin'],
    rows: r.openOrders.map((o) => [o.venue, o.clientOrderId, o.symbol, o.side, num(o.qty), num(o.filledQty), num(o.price), o.status, o.origin]),
    empty: 'none',
  }
}

export function runsTable(r: AuditReport): Table {
  return {
    title: 'Runs',
    header: ['run', 'started', 'seq', 'pid', 'version', 'end'],
    rows: r.runs.map((run) => [
      run.runId,
      iso(run.startedAt),
      String(run.startedSeq),
      String(run.pid),
      run.version,
      typeof run.end === 'object' ? `exit ${run.end.exitCode} at ${iso(run.end.at)}` : run.end === 'crashed' ? 'crashed' : 'no end recorded',
    ]),
    empty: 'no runs recorded',
  }
}

export function anomaliesTable(r: AuditReport): Table {
  return {
    title: `Anomalies (${r.anomaliesTotal}${r.anomaliesTotal > r.anomalies.length ? `, newest ${r.anomalies.length} listed` : ''})`,
    header: ['seq', 'time', 'kind', 'detail'],
    rows: r.anomalies.map((a) => [String(a.seq), iso(a.ts), a.kind, a.detail]),
    empty: 'none',
  }
}

export function findingsTable(r: AuditReport): Table {
  return {
    title: `Findings (${r.findingsTotal}${r.findingsTotal > r.findings.length ? `, first ${r.findings.length} listed` : ''})`,
    header: ['check', 'seq', 'kind', 'what'],
    rows: r.findings.map((f) => [f.check, f.seq === null ? '—' : String(f.seq), f.kind, f.message]),
    empty: 'none: the log is intact and every check passed',
  }
}

export function headline(r: AuditReport): string {
  const verdict =
    r.verdict === 'clean'
      ? 'CLEAN'
      : r.verdict === 'unreadable'
        ? `UNREADABLE past seq ${r.log.unreadableAfterSeq}`
        : `${r.findingsTotal} FINDING${r.findingsTotal === 1 ? '' : 'S'}`
  return `${verdict} — ${r.log.events} events, seq ${r.log.firstSeq ?? '—'}…${r.log.lastSeq ?? '—'}, ${iso(r.log.firstTs)} to ${iso(r.log.lastTs)}`
}

/** The final state's reconciliation verdict, kept apart from the log's integrity verdict in the headline. */
export function reconciliationLine(r: AuditReport): string {
  const rec = r.reconciliation
  const problems = rec.rows.filter((row) => row.status !== 'OK').length
  return `reconciliation at the last event: ${reconciliationClaim({ verdict: rec.verdict, unverified: rec.unverified, problems })}`
}

export function coverageLine(r: AuditReport): string {
  const c = r.coverage
  const note = c.chainNote ? ` (${c.chainNote})` : ''
  return `checked: ${c.chainVerified ? 'hash chain, ' : 'hash chain NOT verified, '}${c.rowsSchemaChecked} events against their schemas, invariants, ${c.decisionsReplayed} shutdown decisions re-derived${note}`
}

export function chainLine(r: AuditReport): string {
  if (!r.coverage.chainVerified) return `hash chain NOT verified${r.coverage.chainNote ? `: ${r.coverage.chainNote}` : ''}`
  if (r.chain.intact) return `hash chain intact (head ${r.log.headHash?.slice(0, 16) ?? '—'}…)`
  if (r.chain.firstBadSeq !== null) return `hash chain BROKEN: first bad seq ${r.chain.firstBadSeq}: ${r.chain.problem}`
  return 'hash chain not verified to the end'
}

export function tradingLine(r: AuditReport): string {
  const k = r.trading.killSwitch
  return `trading ${r.trading.mode}; kill switch ${k.latched ? `LATCHED (${k.reason})` : 'not latched'}; P&L realized ${money(r.pnl.realized)}, unrealized ${money(r.pnl.unrealized)}, fees ${money(r.pnl.fees)}, net ${money(r.pnl.net)}`
}
