import { reconciliationClaim } from '../../projections/index.js'
import type { AuditReport, Finding, OutcomeVerdict, PnlSummary, ShutdownOutcome, ShutdownSummary, VenueEvidenceRow } from '../audit-report.js'
import { exposureWords } from '../shutdown-outcomes.js'
import { clock, duration, iso, money, num } from './format.js'
import { unpricedClause } from '../../core/shutdown/report.js'

/**
 * The report's tables as header + rows of strings, once, for every tabular renderer (text,
 * Markdown, HTML): they differ in markup, never in content.
 */
export type Table = { title: string; header: string[]; rows: string[][]; empty: string }

/** Each shutdown with its outcome, newest first: the one a reader asks about is the last. */
export function newestFirst(r: AuditReport): { summary: ShutdownSummary; outcome: ShutdownOutcome | undefined; timeline: Table }[] {
  const timelines = timelineTables(r)
  return r.shutdowns.map((summary, i) => ({ summary, outcome: r.outcomes.find((o) => o.shutdownId === summary.shutdownId), timeline: timelines[i]! })).reverse()
}

export function timelineTables(r: AuditReport): Table[] {
  return r.shutdowns.map((s) => ({
    title: `Shutdown ${s.shutdownId} — ${s.mode ?? 'unknown mode'}${s.reason ? `: ${s.reason}` : ''}`,
    header: ['step', 'name', 'start (UTC)', 'end (UTC)', 'duration', 'outcome'],
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
  const { graceful, emergency } = s.phases ?? {}
  // an escalated emergency is judged from the escalation, where its deadline starts, never by the whole run
  const took =
    graceful && emergency
      ? `${duration(s.durationMs)} in all: graceful ${duration(graceful.durationMs)}, then emergency ${duration(emergency.durationMs)}`
      : duration(s.durationMs)
  const judged = emergency ?? graceful
  const deadline =
    s.deadlineMs === null
      ? ''
      : `${graceful && emergency ? 'emergency deadline' : 'deadline'} ${duration(s.deadlineMs)}${graceful && emergency ? ' from the escalation' : ''}${
          judged?.withinDeadline === undefined ? '' : judged.withinDeadline ? ', met' : `, MISSED by ${duration(judged.durationMs - s.deadlineMs)}`
        }`
  const parts = [
    `requested ${iso(s.requestedAt)}${s.origin ? ` by ${s.origin}` : ''}`,
    s.completedAt === null && s.status !== null ? `status ${s.status}` : '',
    s.escalatedAt !== null ? `escalated ${iso(s.escalatedAt)}` : '',
    s.completedAt !== null ? `completed ${iso(s.completedAt)}: ${s.outcome}, exit ${s.exitCode}, took ${took}` : 'not completed',
    deadline,
    `${s.commandsIssued} commands (${s.commandsFailed} failed)`,
    ignoredLine(s),
  ]
  return parts.filter(Boolean).join(' · ')
}

/** The requests that reached the shutdown while it ran and changed nothing: each was received, and the audit says so. */
function ignoredLine(s: AuditReport['shutdowns'][number]): string {
  if (s.ignoredRequests === 0) return ''
  const listed = s.ignored.map(
    (r) =>
      `${r.count > 1 ? `${r.count}× ` : ''}${r.mode} by ${r.origin}${r.at !== null ? ` at ${iso(r.at)}` : ''}${r.seq !== null ? ` (seq ${r.seq})` : ''}: ${r.reason}`,
  )
  const more = s.ignoredRequests - s.ignored.reduce((n, r) => n + r.count, 0)
  return `${s.ignoredRequests} further request(s) received and ignored (${listed.join('; ')}${more > 0 ? `; and ${more} more` : ''})`
}

export function reconciliationTable(r: AuditReport): Table {
  const venues = r.reconciliation.venues
  return {
    title: `Reconciliation at the last event (seq ${r.log.lastSeq ?? '—'})`,
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

const unit = (p: PnlSummary): string => (p.currency ? ` (${p.currency})` : '')

export function positionsTable(r: AuditReport): Table {
  return {
    title: 'Final positions and P&L',
    header: ['venue', 'symbol', 'qty', 'avg entry', `realized${unit(r.pnl)}`, `unrealized${unit(r.pnl)}`, `fees${unit(r.pnl)}`],
    rows: r.positions.map((p) => [
      p.venue,
      p.symbol,
      num(p.qty),
      num(p.avgEntry, 4),
      money(p.realized),
      p.unpriced ? 'UNPRICED' : money(p.unrealized),
      money(p.fees),
    ]),
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
    header: ['run', 'started (UTC)', 'seq', 'pid', 'version', 'end'],
    rows: r.runs.map((run) => [run.runId, iso(run.startedAt), String(run.startedSeq), String(run.pid), run.version, runEndWords(run)]),
    empty: 'no runs recorded',
  }
}

/** How a run ended, in words; and where it recorded that it no longer led the engine. */
export function runEndWords(run: AuditReport['runs'][number]): string {
  const end = run.end
  const words =
    typeof end !== 'object'
      ? end === 'crashed'
        ? 'crashed'
        : 'no end recorded'
      : 'handedOverTo' in end
        ? `handed over to '${end.handedOverTo}' at ${iso(end.at)}`
        : 'leaseExpired' in end
          ? `${end.leaseExpired.leader === null ? '' : `led by '${end.leaseExpired.leader}': `}lease expired; taken over by '${end.leaseExpired.takenOverBy}' (epoch ${end.leaseExpired.epoch}) at ${iso(end.at)}; its own end is not in this log`
          : `exit ${end.exitCode} at ${iso(end.at)}`
  const lost = run.lostLead
  return lost
    ? `${words}; no longer led the engine from seq ${lost.seq} (epoch ${lost.epoch}${lost.leader === null ? '' : `, '${lost.leader}' leads`}): ${lost.reason}`
    : words
}

export function anomaliesTable(r: AuditReport): Table {
  return {
    title: `Anomalies (${r.anomaliesTotal}${r.anomaliesTotal > r.anomalies.length ? `, newest ${r.anomalies.length} listed` : ''})`,
    header: ['seq', 'time (UTC)', 'kind', 'detail'],
    rows: r.anomalies.map((a) => [String(a.seq), iso(a.ts), a.kind, a.detail]),
    empty: 'none',
  }
}

/** How many findings a group lists under its root (the rest are counted). */
const UNDER_ROOT = 10

/** Findings by root cause: each root, then what was found after it, indented. */
export function findingsTable(r: AuditReport): Table {
  const cells = (f: Finding, under: boolean) => [under ? `  ↳ ${f.check}` : f.check, f.seq === null ? '—' : String(f.seq), f.kind, f.message]
  const rows = r.findingGroups.flatMap((g) => {
    const out = [cells(g.root, false), ...g.consequences.slice(0, UNDER_ROOT).map((f) => cells(f, true))]
    if (g.consequences.length > UNDER_ROOT) out.push(['  ↳ …', '', '', `and ${g.consequences.length - UNDER_ROOT} more found after it`])
    return out
  })
  const causes = r.findingGroups.length
  return {
    title:
      r.findingsTotal === 0
        ? 'Findings (0)'
        : `Findings (${r.findingsTotal} from ${causes} root cause${causes === 1 ? '' : 's'}${r.findingsTotal > r.findings.length ? `, first ${r.findings.length} grouped` : ''})`,
    header: ['check', 'seq', 'kind', 'what'],
    rows,
    empty: 'none: the log is intact and every check passed',
  }
}

const VERDICT_WORDS: Record<OutcomeVerdict, string> = {
  NOT_LEADER: 'NOT THE LEADER (THE ENGINE’S STOP IS ITS LEADER’S)',
  UNFINISHED: 'UNFINISHED',
  RESIDUAL_EXPOSURE: 'RESIDUAL EXPOSURE',
  ENGINE_RUNNING: 'ENGINE STILL RUNNING',
  ENGINE_NOT_SEEN_GONE: 'ENGINE NOT SEEN GONE (HALTD COULD NOT TELL)',
  CANCEL_UNCONFIRMED: 'CANCELS UNCONFIRMED',
  UNVERIFIED: 'UNVERIFIED',
  MISMATCH: 'RECONCILIATION MISMATCH',
  FAILED: 'FAILED',
  DEADLINE_MISSED: 'DEADLINE MISSED',
  POSITIONS_KEPT: 'VERIFIED, POSITIONS KEPT AS TOLD',
  FLAT_VERIFIED: 'FLAT AND VERIFIED',
}

/** A shutdown's outcome in capitals, every distinct concern named: `RESIDUAL EXPOSURE, UNVERIFIED`. */
export function outcomeWords(o: ShutdownOutcome): string {
  if (o.concerns.length === 0) return VERDICT_WORDS[o.verdict]
  return [...new Set(o.concerns.map((c) => VERDICT_WORDS[c.verdict]))].join(', ')
}

/**
 * Both verdicts: the log's integrity, then the last shutdown's outcome. CLEAN only when the log
 * is intact (its chain walked) and the last shutdown (if any) ended flat and verified; an intact
 * log over anything else reads `LOG INTACT — LAST SHUTDOWN sd-1: RESIDUAL EXPOSURE`, and one whose
 * chain was not walked `NO FINDINGS, CHAIN NOT VERIFIED`.
 */
export function headline(r: AuditReport): string {
  const last = r.outcomes[0]
  const unended = runNotEnded(r)
  const outcome = unended ? `LAST RUN ${unended.runId} NOT ENDED` : last ? `LAST SHUTDOWN ${last.shutdownId}: ${outcomeWords(last)}` : 'NO SHUTDOWN IN THE LOG'
  const integrity =
    r.verdict === 'clean'
      ? !r.coverage.chainVerified
        ? // nothing found, but the chain was not walked (a keyed log read without its key): no claim of intact
          'NO FINDINGS, CHAIN NOT VERIFIED'
        : // CLEAN never stands beside anything left open, even positions kept as told, nor a run with no end
          !unended && (!last || last.verdict === 'FLAT_VERIFIED')
          ? 'CLEAN — LOG INTACT'
          : 'LOG INTACT'
      : r.verdict === 'unreadable'
        ? `UNREADABLE past seq ${r.log.unreadableAfterSeq}`
        : `${r.findingsTotal} FINDING${r.findingsTotal === 1 ? '' : 'S'} FROM ${r.findingGroups.length} ROOT CAUSE${r.findingGroups.length === 1 ? '' : 'S'}`
  return `${integrity} — ${outcome} — ${r.log.events} events, seq ${r.log.firstSeq ?? '—'}…${r.log.lastSeq ?? '—'}, ${iso(r.log.firstTs)} to ${iso(r.log.lastTs)}`
}

/** The second verdict at length: the last shutdown's outcome and every concern, for the top of each report. */
/**
 * The last run, where the log holds no end of it and no shutdown asked for in it: its process is
 * still running, or stopped without a word (kill -9, a power cut) with whatever it held open.
 */
export function runNotEnded(r: Pick<AuditReport, 'runs' | 'outcomes'>): AuditReport['runs'][number] | undefined {
  const run = r.runs.at(-1)
  if (run?.end !== 'open') return undefined
  const last = r.outcomes[0]
  return last?.requestedAt != null && last.requestedAt >= run.startedAt ? undefined : run
}

const notEndedLine = (run: AuditReport['runs'][number]) =>
  `last run: ${run.runId} (pid ${run.pid}, started ${iso(run.startedAt)}) has no end in the log and asked for no shutdown: it is still running, or stopped without a word (kill -9, a power cut) with whatever it held open`

export function outcomeLines(r: AuditReport): string[] {
  const last = r.outcomes[0]
  const unended = runNotEnded(r)
  if (!last) return unended ? ['shutdown outcome: no shutdown in this log', notEndedLine(unended)] : ['shutdown outcome: no shutdown in this log']
  if (unended) return [notEndedLine(unended), ...outcomeLines({ ...r, runs: [] })]
  const lines = [`shutdown outcome: ${shutdownOutcomeLine(last)}`]
  for (const c of last.concerns) lines.push(`  ${VERDICT_WORDS[c.verdict]}: ${c.what}`)
  if (last.verdict === 'POSITIONS_KEPT') for (const e of last.exposure) lines.push(`  kept: ${exposureWords(e)}`)
  const earlier = r.outcomes.slice(1).filter((o) => !o.safe)
  if (earlier.length) lines.push(`  earlier shutdowns not safe: ${earlier.map((o) => `${o.shutdownId} ${outcomeWords(o)}`).join('; ')}`)
  if (r.verdict !== 'clean') lines.push('  (read from a log that fails its checks: see the findings)')
  return lines
}

export function shutdownOutcomeLine(o: ShutdownOutcome): string {
  const mode = `${o.mode ?? 'unknown mode'}${o.escalated ? ', escalated to emergency' : ''}`
  const recorded = o.recorded ? `recorded ${o.recorded.outcome}, exit ${o.recorded.exitCode}` : 'no completion recorded'
  return `${o.shutdownId} (${mode}): ${outcomeWords(o)} as of seq ${o.atSeq} (${iso(o.at)}); ${recorded}`
}

/** P&L with the currency it is counted in. */
export function pnlWords(p: PnlSummary): string {
  const unit = p.currency ? ` ${p.currency}` : ''
  return `realized ${money(p.realized)}${unit}, unrealized ${money(p.unrealized)}${unit}, fees ${money(p.fees)}${unit}, net ${money(p.net)}${unit}${unpricedWords(p.unpriced)}`
}

/** What unrealized and net leave out: the open positions with no price, whose P&L is unknown. */
export const unpricedWords = (unpriced: readonly string[] | undefined): string => unpricedClause(unpriced ?? [], 'the log holding')

/** What happened during one shutdown, in one line. */
export function activityLine(o: ShutdownOutcome): string {
  const a = o.activity
  const sent = o.notifications.filter((n) => n.ok).length
  const lost = o.notifications.length - sent
  const unknown = o.fillUnknown.count > 0 ? ` (the final fill of ${o.fillUnknown.count} canceled order(s) unknown: ${fillUnknownWords(o.fillUnknown)})` : ''
  return `during the shutdown: ${a.ordersCanceled} order(s) canceled, ${a.fills} fill(s) booked${unknown}, ${a.cancelUnconfirmed} order(s) with a cancel unconfirmed, ${a.ordersSubmitted} order(s) submitted; notifications: ${o.notifications.length === 0 ? 'none recorded' : `${sent} delivered, ${lost} failed`}; P&L at its end ${pnlWords(o.pnl)}`
}

export function exposureTable(o: ShutdownOutcome): Table {
  return {
    title:
      o.verdict === 'NOT_LEADER' && o.notLeader?.leader != null
        ? 'Positions as this log last knew them (not the engine’s: it no longer led it)'
        : o.flattenAsked
          ? 'Residual exposure'
          : 'Positions kept',
    header: ['venue', 'symbol', 'haltd (fills)', 'venue (last report)', 'report seq'],
    rows: o.exposure.map((e) => [e.venue, e.symbol, num(e.internal), num(e.observed), e.observedSeq === null ? 'never reported' : String(e.observedSeq)]),
    empty: "flat: no position open by haltd's fills or by any venue's last report",
  }
}

/** Each venue's verdict at the shutdown's end and the observation it rests on, aged to that end. */
export function evidenceTable(o: ShutdownOutcome): Table {
  return {
    title: `Reconciliation at the shutdown's end: ${o.reconciliation.verdict}`,
    header: ['venue', 'verdict', 'observed at seq', 'observed at (UTC)', 'age at the end', 'last order event seq', 'why'],
    rows: o.reconciliation.evidence.map((e) => [
      e.venue,
      e.verdict,
      e.observedSeq === null ? 'never' : String(e.observedSeq),
      iso(e.observedTs),
      duration(e.ageMs),
      e.lastOrderSeq === null ? '—' : String(e.lastOrderSeq),
      [e.why ?? (e.newerThanLastOrder ? 'observed after its last order event' : ''), ...(e.unseen?.length ? [`books not seen: ${unseenWords(e)}`] : [])]
        .filter((w) => w !== '')
        .join('; '),
    ]),
    empty: 'no venue to reconcile',
  }
}

export function notificationsTable(o: ShutdownOutcome): Table {
  return {
    title: 'Notifications',
    header: ['seq', 'time (UTC)', 'topic', 'sink', 'outcome'],
    rows: o.notifications.map((n) => [String(n.seq), iso(n.ts), n.topic, n.sink, n.ok ? 'delivered' : `FAILED: ${n.error ?? ''}`]),
    empty: 'no notification.sent recorded for this shutdown',
  }
}

/** What the audit says of reconciliation where the log holds no venue's orders, positions or observations. */
export const NOTHING_TO_RECONCILE = 'nothing to reconcile (no venue has orders, positions or observations in the log)'

/** No venue in the final state: there is nothing an OK could be about. */
export function nothingToReconcile(r: AuditReport): boolean {
  return r.reconciliation.nothingToReconcile
}

/** The final state's reconciliation verdict, kept apart from the log's integrity verdict in the headline. */
export function reconciliationLine(r: AuditReport): string {
  const rec = r.reconciliation
  if (nothingToReconcile(r)) return `reconciliation at the last event (seq ${r.log.lastSeq ?? '—'}): ${NOTHING_TO_RECONCILE}`
  const problems = rec.rows.filter((row) => row.status !== 'OK').length
  const ages = rec.evidence.flatMap((e) =>
    e.observedSeq === null ? [] : [`${e.venue} observed at seq ${e.observedSeq}, ${duration(e.ageMs)} before the last event`],
  )
  return `reconciliation at the last event (seq ${r.log.lastSeq ?? '—'}): ${reconciliationClaim({ verdict: rec.verdict, unverified: rec.unverified, problems, venues: rec.evidence })}${ages.length ? ` (${ages.join('; ')})` : ''}`
}

export function coverageLine(r: AuditReport): string {
  const c = r.coverage
  const note = c.chainNote ? ` (${c.chainNote})` : ''
  const f = c.flattenFills
  const flattens = f.judged + f.unjudged === 0 ? '' : `, ${f.judged} flatten fill(s) judged against the position before them`
  const seqs = f.unjudgedSeqs.join(', ') + (f.unjudged > f.unjudgedSeqs.length ? ', …' : '')
  const unjudged =
    f.unjudged === 0
      ? ''
      : `; ${f.unjudged} flatten fill(s) NOT judged (seq ${seqs}): a positions report taken after the order was sent may already hold the fill, and whether it did decides whether the fill grew the position`
  return `checked: ${c.chainVerified ? 'hash chain, ' : 'hash chain NOT verified, '}${c.rowsSchemaChecked} events against their schemas, invariants, ${c.decisionsReplayed} shutdown decisions re-derived${flattens}${note}${unjudged}`
}

export function chainLine(r: AuditReport): string {
  if (!r.coverage.chainVerified) return `hash chain NOT verified${r.coverage.chainNote ? `: ${r.coverage.chainNote}` : ''}`
  if (r.chain.intact) return `hash chain intact (head ${r.log.headHash?.slice(0, 16) ?? '—'}…)`
  if (r.chain.firstBadSeq !== null) return `hash chain BROKEN: first bad seq ${r.chain.firstBadSeq}: ${r.chain.problem}`
  return 'hash chain not verified to the end'
}

export function tradingLine(r: AuditReport): string {
  const k = r.trading.killSwitch
  return `trading ${r.trading.mode}; kill switch ${k.latched ? `LATCHED (${k.reason})` : 'not latched'}; P&L at the last event ${pnlWords(r.pnl)}`
}

/** The books a venue's lists did not show: `inverse, linear USDC (refused)`. */
const unseenWords = (e: Pick<VenueEvidenceRow, 'unseen'>): string => (e.unseen ?? []).map((u) => (u.refused ? `${u.book} (refused)` : u.book)).join(', ')

function fillUnknownWords(u: ShutdownOutcome['fillUnknown']): string {
  const named = u.orders.slice(0, 5).map((o) => `${o.venue} ${o.clientOrderId}`)
  return `${named.join(', ')}${u.count > named.length ? `, and ${u.count - named.length} more` : ''}`
}
