import type { AuditReport, ShutdownOutcome, ShutdownSummary } from '../audit-report.js'
import { duration, iso, money } from './format.js'
import {
  activityLine,
  anomaliesTable,
  chainLine,
  coverageLine,
  evidenceTable,
  exposureTable,
  findingsTable,
  headline,
  newestFirst,
  notificationsTable,
  openOrdersTable,
  outcomeWords,
  positionsTable,
  nothingToReconcile,
  reconciliationLine,
  reconciliationTable,
  runsTable,
  shutdownLine,
  shutdownOutcomeLine,
  tradingLine,
  type Table,
} from './sections.js'

/**
 * The audit as one self-contained HTML page for a risk officer: inline CSS, inline SVG, no
 * scripts and nothing fetched, so it opens the same from a mail attachment or an archive.
 */

export const esc = (s: string): string =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;')

const OUTCOME_COLOR: Record<string, string> = {
  completed: '#2e7d32',
  failed: '#c62828',
  'timed-out': '#ef6c00',
  skipped: '#9e9e9e',
  running: '#1565c0',
}

const STATUS_CLASS: Record<string, string> = {
  OK: 'ok',
  MISMATCH: 'bad',
  MISSING_AT_VENUE: 'warn',
  UNKNOWN_TO_US: 'warn',
  UNOBSERVED: 'warn',
  UNVERIFIED: 'bad',
  FAILED: 'bad',
}

function htmlTable(t: Table, opts: { id?: string; statusColumn?: number; level?: 'h2' | 'h3' | 'h4' } = {}): string {
  const level = opts.level ?? 'h2'
  const head = `<${level}>${esc(t.title)}</${level}>`
  if (t.rows.length === 0) return `${head}<p class="empty">${esc(t.empty)}</p>`
  const rows = t.rows
    .map((row) => {
      const status = opts.statusColumn === undefined ? undefined : row[opts.statusColumn]?.split(/[ :]/)[0]
      const cls = row[0]?.startsWith('  ↳') ? 'sub' : status ? (STATUS_CLASS[status] ?? OUTCOME_CLASS[status]) : undefined
      return `<tr${cls ? ` class="${cls}"` : ''}>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`
    })
    .join('\n')
  return `${head}<table${opts.id ? ` id="${opts.id}"` : ''}><thead><tr>${t.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>\n${rows}\n</tbody></table>`
}

const OUTCOME_CLASS: Record<string, string> = { completed: 'ok', failed: 'bad', 'timed-out': 'warn', skipped: 'muted', running: 'warn' }

/** A Gantt chart of one shutdown's steps: one bar per step on a shared time axis, the deadline as a red line. */
function timelineSvg(s: ShutdownSummary): string {
  const steps = s.steps
  const times = steps.flatMap((st) => [st.startedAt, st.endedAt]).filter((t): t is number => t !== null)
  if (s.requestedAt !== null) times.push(s.requestedAt)
  if (s.completedAt !== null) times.push(s.completedAt)
  if (steps.length === 0 || times.length === 0) return '<p class="empty">no steps to chart</p>'
  const start = Math.min(...times)
  const deadlineAt = s.deadlineMs !== null ? (s.escalatedAt ?? s.requestedAt ?? start) + s.deadlineMs : null
  let end = Math.max(...times)
  // the deadline is drawn when it falls near the steps; far beyond them it would squash every bar
  const deadlineShown = deadlineAt !== null && deadlineAt - start <= (end - start) * 1.5
  if (deadlineShown) end = Math.max(end, deadlineAt)
  const span = Math.max(end - start, 1)
  const tick = niceStep(span / 6)
  const axisEnd = Math.ceil(span / tick) * tick
  const longest = Math.max(...steps.map((st) => `${st.number}. ${st.name}`.length))
  const labelW = Math.min(340, Math.max(140, Math.round(longest * 6.8) + 16))
  const chartW = 960 - labelW
  const rowH = 22
  const top = 28
  const width = labelW + chartW + 90
  const height = top + steps.length * rowH + 24
  const x = (t: number): number => labelW + ((t - start) / axisEnd) * chartW
  const parts: string[] = []
  // axis: round ticks, time since the first event of the shutdown
  for (let t = 0; t <= axisEnd + tick / 2; t += tick) {
    const px = x(start + t).toFixed(1)
    parts.push(`<line x1="${px}" y1="${top - 6}" x2="${px}" y2="${height - 20}" stroke="#e0e0e0"/>`)
    parts.push(`<text x="${px}" y="${top - 10}" text-anchor="middle" class="tick">+${esc(duration(t))}</text>`)
  }
  steps.forEach((st, i) => {
    const y = top + i * rowH
    const from = st.startedAt ?? st.endedAt ?? start
    const to = st.endedAt ?? end
    const x0 = x(from)
    const w = Math.max(x(to) - x0, 3)
    const color = OUTCOME_COLOR[st.outcome] ?? '#616161'
    parts.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end" class="label">${esc(`${st.number}. ${st.name}`)}</text>`)
    parts.push(
      `<rect class="bar ${esc(st.outcome)}" x="${x0.toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" rx="2" fill="${color}"${st.outcome === 'running' ? ' fill-opacity="0.45"' : ''}><title>${esc(`step ${st.number} ${st.name}: ${st.outcome}, ${duration(st.durationMs)}`)}</title></rect>`,
    )
    parts.push(
      `<text x="${(x0 + w + 4).toFixed(1)}" y="${y + 15}" class="dur">${esc(st.outcome === 'completed' ? duration(st.durationMs) : `${st.outcome} ${duration(st.durationMs)}`)}</text>`,
    )
  })
  if (deadlineAt !== null && !deadlineShown) {
    parts.push(
      `<text x="${labelW + chartW}" y="${height - 6}" text-anchor="end" class="deadline-label">deadline ${esc(duration(s.deadlineMs))} after the start: off the chart →</text>`,
    )
  } else if (deadlineAt !== null) {
    const px = x(deadlineAt).toFixed(1)
    parts.push(`<line class="deadline" x1="${px}" y1="${top - 4}" x2="${px}" y2="${height - 20}" stroke="#c62828" stroke-width="2" stroke-dasharray="5,3"/>`)
    parts.push(`<text x="${px}" y="${height - 6}" text-anchor="middle" class="deadline-label">deadline ${esc(duration(s.deadlineMs))}</text>`)
  }
  return `<svg class="timeline" role="img" aria-label="${esc(`timeline of shutdown ${s.shutdownId}`)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">${parts.join('')}</svg>`
}

/** 1, 2 or 5 times a power of ten: axis ticks a reader can add up. */
function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)))
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return Math.max(m * p, 1)
  return 10 * p
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#212121;margin:0;background:#fafafa}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e0e0e0;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.sub{color:#616161;margin:0 0 16px}
.verdict{display:inline-block;padding:6px 14px;border-radius:4px;font-weight:700;color:#fff;letter-spacing:.03em}
.verdict.clean{background:#2e7d32}.verdict.findings{background:#c62828}.verdict.unreadable{background:#ef6c00}.verdict.unsafe{background:#6d4c41}
.callout{border-left:6px solid;border-radius:4px;padding:10px 16px;margin:12px 0 16px}
.callout.safe{border-color:#2e7d32;background:#e8f5e9}.callout.unsafe{border-color:#c62828;background:#ffebee}
.callout h2{border:0;margin:0 0 6px;padding:0;font-size:19px}.callout ul{margin:6px 0 8px;padding-left:20px}
.badge{display:inline-block;padding:2px 8px;border-radius:3px;font-weight:700;font-size:12px;color:#fff}.badge.safe{background:#2e7d32}.badge.unsafe{background:#c62828}
#findings tr.sub td{background:#fff5f5;color:#5d4037}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{border:1px solid #e0e0e0;border-radius:6px;padding:8px 12px;min-width:150px}
.card b{display:block;font-size:12px;color:#757575;font-weight:600;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%;font-size:13px;margin:4px 0 8px}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5;font-weight:600}
td{font-variant-numeric:tabular-nums}
tr.ok td:last-child{color:#2e7d32;font-weight:600}tr.bad td{background:#ffebee}tr.warn td{background:#fff8e1}tr.muted td{color:#9e9e9e}
#findings td{background:#ffebee}
.empty{color:#757575;font-style:italic}
svg.timeline{max-width:100%;height:auto;border:1px solid #eee;border-radius:4px;background:#fff}
svg .label{font-size:12px;fill:#212121}svg .tick{font-size:10px;fill:#757575}svg .dur{font-size:11px;fill:#424242}svg .deadline-label{font-size:11px;fill:#c62828;font-weight:600}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.meta{font-size:12px;color:#757575}
@media print{body{background:#fff}main{padding:0}}
`

/** The outcome first: the last shutdown's verdict, every concern, and the positions it left, named. */
function outcomeCallout(r: AuditReport): string {
  const last = r.outcomes[0]
  if (!last) return '<section class="callout safe" id="outcome"><h2>Shutdown outcome: no shutdown in this log</h2></section>'
  const concerns = last.concerns.map((c) => `<li><b>${esc(c.verdict.replaceAll('_', ' '))}</b>: ${esc(c.what)}</li>`).join('')
  const earlier = r.outcomes.slice(1).filter((o) => !o.safe)
  return [
    `<section class="callout ${last.safe ? 'safe' : 'unsafe'}" id="outcome">`,
    `<h2>Shutdown outcome: ${esc(outcomeWords(last))}</h2>`,
    `<p>${esc(shutdownOutcomeLine(last))}</p>`,
    concerns ? `<ul>${concerns}</ul>` : '',
    last.exposure.length && (last.verdict !== 'NOT_LEADER' || last.notLeader?.leader == null)
      ? htmlTable(exposureTable(last), { id: 'residual-exposure', level: 'h3' })
      : '',
    earlier.length ? `<p>Earlier shutdowns not safe: ${esc(earlier.map((o) => `${o.shutdownId} ${outcomeWords(o)}`).join('; '))}</p>` : '',
    r.verdict !== 'clean' ? '<p><b>Read from a log that fails its checks: see the findings.</b></p>' : '',
    '</section>',
  ].join('')
}

function outcomeHtml(o: ShutdownOutcome): string {
  return [
    `<p><span class="badge ${o.safe ? 'safe' : 'unsafe'}">${esc(outcomeWords(o))}</span> <span class="meta">${esc(shutdownOutcomeLine(o))}</span></p>`,
    o.concerns.length ? `<ul>${o.concerns.map((c) => `<li>${esc(c.what)}</li>`).join('')}</ul>` : '',
    `<p class="meta">${esc(activityLine(o))}</p>`,
    htmlTable(exposureTable(o), { level: 'h4' }),
    htmlTable(evidenceTable(o), { level: 'h4', statusColumn: 1 }),
    htmlTable(notificationsTable(o), { level: 'h4', statusColumn: 4 }),
  ].join('')
}

export function renderHtml(r: AuditReport): string {
  const card = (label: string, value: string): string => `<div class="card"><b>${esc(label)}</b>${esc(value)}</div>`
  const k = r.trading.killSwitch
  const legend = `<p class="legend">${Object.entries(OUTCOME_COLOR)
    .map(([o, c]) => `<span><i style="background:${c}"></i>${esc(o)}</span>`)
    .join('')}<span><i style="background:#c62828;height:2px;vertical-align:3px"></i>deadline</span></p>`
  const shutdownsHtml = r.shutdowns.length
    ? newestFirst(r)
        .map(
          ({ summary, outcome, timeline }) =>
            `<section class="shutdown" id="shutdown-${esc(summary.shutdownId)}"><h3>${esc(timeline.title)}</h3>${outcome ? outcomeHtml(outcome) : ''}<p class="meta">${esc(shutdownLine(summary))}</p>${timelineSvg(summary)}${htmlTable({ ...timeline, title: 'Steps' }, { statusColumn: 5, level: 'h4' })}</section>`,
        )
        .join('\n') + legend
    : '<p class="empty">no shutdown in this log</p>'
  const unsafe = r.outcome !== null && !r.outcome.safe
  const body = [
    `<h1>haltd audit report</h1>`,
    `<p class="sub">${esc(r.file)} · generated ${esc(r.generatedAt)} · all times UTC (ISO 8601)</p>`,
    outcomeCallout(r),
    `<span class="verdict ${r.verdict === 'clean' && unsafe ? 'unsafe' : r.verdict}">${esc(headline(r))}</span>`,
    `<div class="cards">${[
      card('events', String(r.log.events)),
      card('seq range', `${r.log.firstSeq ?? '—'} … ${r.log.lastSeq ?? '—'}`),
      card('from (UTC)', iso(r.log.firstTs)),
      card('to (UTC)', iso(r.log.lastTs)),
      card('hash chain', r.chain.intact ? 'intact' : `broken at seq ${r.chain.firstBadSeq ?? '?'}`),
      card('trading', r.trading.mode),
      card('kill switch', k.latched ? `LATCHED: ${k.reason ?? ''}` : 'not latched'),
      card('net P&L', `${money(r.pnl.net)}${r.pnl.currency ? ` ${r.pnl.currency}` : ''}`),
      card('reconciliation at the last event', nothingToReconcile(r) ? 'nothing to reconcile' : r.reconciliation.verdict),
    ].join('')}</div>`,
    `<p class="meta">${esc(chainLine(r))}<br>${esc(coverageLine(r))}<br>${esc(reconciliationLine(r))}<br>${esc(tradingLine(r))}</p>`,
    htmlTable(findingsTable(r), { id: 'findings' }),
    `<h2>Shutdown timeline (newest shutdown first)</h2>`,
    shutdownsHtml,
    htmlTable(reconciliationTable(r), { id: 'reconciliation', statusColumn: 3 + r.reconciliation.venues.length }),
    htmlTable(positionsTable(r), { id: 'positions' }),
    htmlTable(openOrdersTable(r), { id: 'open-orders' }),
    htmlTable(runsTable(r), { id: 'runs' }),
    htmlTable(anomaliesTable(r), { id: 'anomalies' }),
  ].join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(`haltd audit — ${headline(r)}`)}</title><style>${CSS}</style></head>
<body><main>
${body}
</main></body></html>
`
}
