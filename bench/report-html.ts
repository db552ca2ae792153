/**
 * latest.html: the report as one self-contained page (inline CSS, inline SVG, no scripts or
 * fonts fetched), for people who would rather look than read.
 */
import { parseEmergencyName } from './harness.js'
import { COLUMNS, formatBytes, formatNs, formatValue, rowOf, type Report, type ReportedResult } from './report.js'

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

const PALETTE = ['#2f6fb3', '#e08a1e', '#c0392b', '#27956b', '#8e44ad', '#7f8c8d', '#b5651d', '#16a0b5']

type Bar = { value: number; color: string; label: string }
type Group = { label: string; bars: Bar[] }

/** Decade-aligned logarithmic scale over the positive values. */
function logScale(values: number[]) {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v))
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive)))
  let hi = 10 ** Math.ceil(Math.log10(Math.max(...positive)))
  if (hi <= lo) hi = lo * 10
  const span = Math.log10(hi) - Math.log10(lo)
  const ticks: number[] = []
  for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t)
  return { at: (v: number) => (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span, ticks }
}

/** Horizontal grouped bars on a log axis. */
function barChart(title: string, groups: Group[], format: (v: number) => string, legend: { label: string; color: string }[]): string {
  const values = groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v) => v > 0 && Number.isFinite(v))
  if (values.length === 0) return ''
  const scale = logScale(values)
  const labelW = 300
  const plotW = 480
  const valueW = 90
  const barH = 11
  const gap = 10
  const top = 28
  let y = top
  const parts: string[] = []
  for (const g of groups) {
    const h = g.bars.length * barH
    parts.push(`<text x="${labelW - 8}" y="${y + h / 2 + 4}" text-anchor="end" class="lbl">${esc(g.label)}</text>`)
    for (const b of g.bars) {
      const w = Number.isFinite(b.value) && b.value > 0 ? Math.max(1, scale.at(b.value) * plotW) : 0
      parts.push(
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${b.color}"><title>${esc(`${g.label} ${b.label}: ${format(b.value)}`)}</title></rect>`,
        `<text x="${labelW + w + 4}" y="${y + barH - 3}" class="val">${esc(format(b.value))}</text>`,
      )
      y += barH
    }
    y += gap
  }
  const height = y + 24
  const axis = scale.ticks
    .map((t) => {
      const x = labelW + scale.at(t) * plotW
      return `<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${y - gap}" class="grid"/><text x="${x}" y="${y + 8}" text-anchor="middle" class="tick">${esc(format(t))}</text>`
    })
    .join('')
  const legendSvg = legend
    .map(
      (l, i) =>
        `<rect x="${labelW + i * 90}" y="6" width="10" height="10" fill="${l.color}"/><text x="${labelW + i * 90 + 14}" y="15" class="tick">${esc(l.label)}</text>`,
    )
    .join('')
  return `<figure><figcaption>${esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + valueW}" height="${height}" role="img" aria-label="${esc(title)}">${legendSvg}${axis}${parts.join('')}</svg></figure>`
}

function latencyChart(scenario: string, results: ReportedResult[]): string {
  const groups = results
    .filter((r) => r.percentiles && r.skipped === undefined)
    .map((r) => ({
      label: r.name,
      bars: [
        { value: r.percentiles!.p50, color: PALETTE[0]!, label: 'p50' },
        { value: r.percentiles!.p99, color: PALETTE[1]!, label: 'p99' },
        { value: r.percentiles!.p999, color: PALETTE[2]!, label: 'p99.9' },
      ],
    }))
  if (groups.length === 0) return ''
  return barChart(`${scenario}: latency per operation (log scale)`, groups, formatNs, [
    { label: 'p50', color: PALETTE[0]! },
    { label: 'p99', color: PALETTE[1]! },
    { label: 'p99.9', color: PALETTE[2]! },
  ])
}

function throughputChart(scenario: string, results: ReportedResult[]): string {
  const rs = results.filter((r) => (r.unit === 'events/s' || r.unit === 'ops/s') && r.skipped === undefined && Number.isFinite(r.value))
  if (rs.length === 0) return ''
  const groups = rs.map((r) => ({
    label: `${r.name} (${r.unit})`,
    bars: [{ value: r.value, color: r.name.startsWith('raw') || r.name.startsWith('emmett') ? PALETTE[5]! : PALETTE[3]!, label: 'median' }],
  }))
  return barChart(`${scenario}: throughput, median of repetitions (log scale)`, groups, (v) => formatValue(v, 'events/s'), [
    { label: 'haltd', color: PALETTE[3]! },
    { label: 'baseline', color: PALETTE[5]! },
  ])
}

/** Emergency duration vs order count, one line per series: the name without its order count. */
function emergencyChart(results: ReportedResult[]): string {
  const points = results
    .filter((r) => r.unit === 'ms' && r.skipped === undefined && Number.isFinite(r.value))
    .flatMap((r) => {
      const p = parseEmergencyName(r.name)
      return p ? [{ ...p, ms: r.value }] : []
    })
  if (points.length === 0) return ''
  const series = new Map<string, { orders: number; ms: number }[]>()
  for (const p of points) {
    const key = p.series
    series.set(key, [...(series.get(key) ?? []), { orders: p.orders, ms: p.ms }])
  }
  const xs = logScale(points.map((p) => p.orders))
  const ys = logScale(points.map((p) => p.ms))
  const left = 70
  const top = 20
  const w = 520
  const h = 300
  const X = (o: number) => left + xs.at(o) * w
  const Y = (ms: number) => top + h - ys.at(ms) * h
  const grid = [
    ...xs.ticks.map(
      (t) =>
        `<line x1="${X(t)}" y1="${top}" x2="${X(t)}" y2="${top + h}" class="grid"/><text x="${X(t)}" y="${top + h + 16}" text-anchor="middle" class="tick">${formatValue(t, 'ops/s')}</text>`,
    ),
    ...ys.ticks.map(
      (t) =>
        `<line x1="${left}" y1="${Y(t)}" x2="${left + w}" y2="${Y(t)}" class="grid"/><text x="${left - 6}" y="${Y(t) + 4}" text-anchor="end" class="tick">${esc(formatValue(t, 'ms'))} ms</text>`,
    ),
    `<text x="${left + w / 2}" y="${top + h + 34}" text-anchor="middle" class="lbl">open orders</text>`,
  ].join('')
  const lines = [...series.entries()]
    .map(([key, pts], i) => {
      const color = PALETTE[i % PALETTE.length]!
      const sorted = pts.sort((a, b) => a.orders - b.orders)
      const path = sorted.map((p, k) => `${k ? 'L' : 'M'}${X(p.orders).toFixed(1)},${Y(p.ms).toFixed(1)}`).join(' ')
      const dots = sorted
        .map(
          (p) =>
            `<circle cx="${X(p.orders).toFixed(1)}" cy="${Y(p.ms).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(`${key}, ${p.orders} orders: ${formatValue(p.ms, 'ms')} ms`)}</title></circle>`,
        )
        .join('')
      const legend = `<rect x="${left + w + 16}" y="${top + i * 18}" width="10" height="10" fill="${color}"/><text x="${left + w + 30}" y="${top + i * 18 + 9}" class="tick">${esc(key)}</text>`
      return `<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>${dots}${legend}`
    })
    .join('')
  return `<figure><figcaption>Emergency duration vs open orders (log–log)</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${left + w + 40 + Math.max(...[...series.keys()].map((k) => k.length)) * 6.5}" height="${Math.max(top + h + 44, top + series.size * 18 + 10)}" role="img" aria-label="emergency duration vs order count">${grid}${lines}</svg></figure>`
}

function table(results: ReportedResult[]): string {
  const head = `${COLUMNS.map((c) => `<th${c.right ? ' class="num"' : ''}>${esc(c.title)}</th>`).join('')}<th>note</th>`
  const body = results
    .map((r) => {
      const row = rowOf(r)
      const cls = r.targetMet === false ? ' class="missed"' : r.targetMet === true ? ' class="met"' : ''
      const cells = COLUMNS.map((c) => `<td${c.right ? ' class="num"' : ''}>${esc(row[c.key])}</td>`).join('')
      return `<tr${cls}>${cells}<td class="note">${esc(r.skipped !== undefined ? `skipped: ${r.skipped}` : (r.note ?? ''))}</td></tr>`
    })
    .join('\n')
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`
}

export function renderHtml(report: Report): string {
  const env = report.environment
  const all = report.scenarios.flatMap((s) => s.results)
  const t = report.targets
  const sections = report.scenarios
    .map((s) => {
      const error = s.error ? `<pre class="error">${esc(s.error)}</pre>` : ''
      return `<section><h2>${esc(s.name)}</h2><p>${esc(s.description)} · ${(s.durationMs / 1000).toFixed(1)} s · peak RSS so far ${formatBytes(s.peakRssBytes)}</p>${error}
${s.results.length ? table(s.results) : ''}
${throughputChart(s.name, s.results)}
${latencyChart(s.name, s.results)}</section>`
    })
    .join('\n')
  const emergency = emergencyChart(all)
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>haltd bench ${esc(report.startedAt)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2733;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 4px;border-bottom:1px solid #d5dbe1;padding-bottom:4px}
p{margin:4px 0 10px;color:#4a5866}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #e6eaee;text-align:left;vertical-align:top;white-space:nowrap}
td.note{white-space:normal;color:#5a6876;max-width:420px}
th{background:#f3f5f7}.num{text-align:right;font-variant-numeric:tabular-nums}
tr.missed td{background:#fdecea}tr.met td:nth-last-child(2){color:#1e7d4f}tr.missed td:nth-last-child(2){color:#b03a2e;font-weight:600}
figure{margin:10px 0 18px}figcaption{font-weight:600;margin-bottom:4px}
svg text{font:11px system-ui,sans-serif;fill:#1d2733}svg .tick{fill:#5a6876}svg .val{fill:#3a4654}
svg .grid{stroke:#e3e7eb;stroke-width:1}
pre.error{background:#fdecea;padding:8px;white-space:pre-wrap}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0}dt{color:#5a6876}dd{margin:0}
</style></head><body>
<h1>haltd benchmark${report.quick ? ' (quick run)' : ''}</h1>
<p>${esc(report.startedAt)} → ${esc(report.finishedAt)} · targets: ${t.met} met, ${t.missed} missed, ${t.unjudged} not judged${t.missed ? ` (missed: ${esc(t.missedNames.join('; '))})` : ''}</p>
<dl>
<dt>node</dt><dd>${esc(env.node)} (${esc(env.platform)} ${esc(env.arch)})</dd>
<dt>cpu</dt><dd>${env.cpuCount} × ${esc(env.cpuModel)}</dd>
<dt>memory</dt><dd>${formatBytes(env.totalMemoryBytes)}</dd>
<dt>sqlite</dt><dd>${esc(env.sqlite)}</dd>
<dt>git</dt><dd>${esc(env.gitCommit)}${env.gitDirty ? ' (uncommitted changes)' : ''}</dd>
<dt>arguments</dt><dd>${esc(report.argv.join(' ') || '(none)')}</dd>
</dl>
<p>Throughputs are medians of repetitions with min – max; percentiles are per operation. Ratios divide a result by its baseline, measured in the same run.</p>
${emergency}
${sections}
</body></html>
`
}
