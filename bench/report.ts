/**
 * The benchmark report: what latest.json holds, how results are compared with their baselines,
 * and how figures are written for people (shared by the terminal table and the HTML page).
 */
import { percentilesOf, type Percentiles } from './histogram.js'
import { ratio, targetMet, type BenchResult, type BenchUnit } from './harness.js'

export const REPORT_FORMAT = 'haltd-bench/1'

export type Environment = {
  node: string
  platform: string
  arch: string
  cpuModel: string
  cpuCount: number
  totalMemoryBytes: number
  sqlite: string
  gitCommit: string
  gitDirty: boolean | null
  tmpDir: string
}

/** A result as reported: raw timings dropped (their percentiles kept), comparison settled. */
export type ReportedResult = Omit<BenchResult, 'latenciesNs'> & {
  scenario: string
  /** How many per-operation timings the percentiles come from. */
  latencyCount?: number
  /** true/false when a target could be judged; null when there is none or nothing to compare. */
  targetMet: boolean | null
}

export type ScenarioRun = {
  name: string
  description: string
  file: string
  durationMs: number
  /** The process's peak RSS after the scenario (a high-water mark over the whole run). */
  peakRssBytes: number
  error?: string
  results: ReportedResult[]
}

export type Report = {
  format: typeof REPORT_FORMAT
  startedAt: string
  finishedAt: string
  quick: boolean
  argv: string[]
  environment: Environment
  scenarios: ScenarioRun[]
  targets: { met: number; missed: number; unjudged: number; missedNames: string[] }
}

/** Turn a scenario's results into reported ones: percentiles from raw timings, raw timings dropped. */
export function reportResults(scenario: string, results: readonly BenchResult[]): ReportedResult[] {
  return results.map((r) => {
    const { latenciesNs, ...rest } = r
    const percentiles: Percentiles | undefined = r.percentiles ?? (latenciesNs && latenciesNs.length > 0 ? percentilesOf(latenciesNs) : undefined)
    return {
      ...rest,
      scenario,
      ...(percentiles ? { percentiles } : {}),
      ...(latenciesNs ? { latencyCount: latenciesNs.length } : {}),
      targetMet: null,
    }
  })
}

/**
 * Fill in each ratio from its baseline (looked up in the same scenario first, then anywhere) and
 * judge targets. A missing or skipped baseline leaves the ratio out and the target unjudged.
 */
export function settleComparisons(runs: readonly ScenarioRun[]): Report['targets'] {
  const all = runs.flatMap((s) => s.results)
  const targets: Report['targets'] = { met: 0, missed: 0, unjudged: 0, missedNames: [] }
  for (const run of runs) {
    for (const r of run.results) {
      if (r.baseline !== undefined && r.ratio === undefined && r.skipped === undefined) {
        const base = run.results.find((b) => b.name === r.baseline) ?? all.find((b) => b.name === r.baseline)
        if (!base) {
          r.note = joinNote(r.note, `baseline '${r.baseline}' was not measured in this run`)
        } else if (base.skipped !== undefined) {
          r.note = joinNote(r.note, `baseline '${r.baseline}' skipped`)
        } else {
          const x = ratio(r.value, base.value)
          if (Number.isFinite(x)) r.ratio = x
        }
      }
      const met = targetMet(r)
      r.targetMet = met ?? null
      if (!r.target) continue
      if (met === true) targets.met++
      else if (met === false) {
        targets.missed++
        targets.missedNames.push(r.name)
      } else targets.unjudged++
    }
  }
  return targets
}

function joinNote(note: string | undefined, more: string): string {
  return note ? `${note}; ${more}` : more
}

const group = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** A figure in its unit, for people. */
export function formatValue(value: number | undefined, unit: BenchUnit): string {
  if (value === undefined || !Number.isFinite(value)) return '–'
  switch (unit) {
    case 'events/s':
    case 'ops/s':
      return value >= 100 ? group(value) : group(value, 1)
    case 'ms':
      return value >= 100 ? group(value) : value >= 1 ? group(value, 1) : group(value, 3)
    case 'bytes':
      return formatBytes(value)
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let v = bytes
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`
}

/** Nanoseconds as ns/µs/ms/s with three significant digits. */
export function formatNs(ns: number | undefined): string {
  if (ns === undefined || !Number.isFinite(ns)) return '–'
  const [v, unit] = ns >= 1e9 ? [ns / 1e9, 's'] : ns >= 1e6 ? [ns / 1e6, 'ms'] : ns >= 1e3 ? [ns / 1e3, 'µs'] : [ns, 'ns']
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${unit}`
}

export function formatRatio(r: ReportedResult): string {
  if (r.ratio === undefined || !Number.isFinite(r.ratio)) return ''
  return `${r.ratio >= 10 ? r.ratio.toFixed(0) : r.ratio.toFixed(2)}x ${r.baseline ?? ''}`.trim()
}

export function formatTarget(r: ReportedResult): string {
  if (!r.target) return ''
  const goal = `${r.target.of === 'ratio' ? 'ratio' : 'value'} ${r.target.op} ${r.target.value}`
  return `${r.targetMet === true ? '✓' : r.targetMet === false ? '✗' : '?'} ${goal}`
}

export type Row = { result: string; value: string; unit: string; range: string; p50: string; p99: string; p999: string; ratio: string; target: string }

/** One printable row per result (skipped ones say so instead of showing figures). */
export function rowOf(r: ReportedResult): Row {
  if (r.skipped !== undefined) {
    return {
      result: r.name,
      value: 'skipped',
      unit: r.unit,
      range: '',
      p50: '',
      p99: '',
      p999: '',
      ratio: '',
      target: r.target ? `? ${r.target.of} ${r.target.op} ${r.target.value}` : '',
    }
  }
  return {
    result: r.name,
    value: formatValue(r.value, r.unit),
    unit: r.unit,
    range: r.min !== undefined && r.max !== undefined ? `${formatValue(r.min, r.unit)} – ${formatValue(r.max, r.unit)}` : '',
    p50: r.percentiles ? formatNs(r.percentiles.p50) : '',
    p99: r.percentiles ? formatNs(r.percentiles.p99) : '',
    p999: r.percentiles ? formatNs(r.percentiles.p999) : '',
    ratio: formatRatio(r),
    target: formatTarget(r),
  }
}

export const COLUMNS: { key: keyof Row; title: string; right?: boolean }[] = [
  { key: 'result', title: 'result' },
  { key: 'value', title: 'median', right: true },
  { key: 'unit', title: 'unit' },
  { key: 'range', title: 'min – max', right: true },
  { key: 'p50', title: 'p50', right: true },
  { key: 'p99', title: 'p99', right: true },
  { key: 'p999', title: 'p99.9', right: true },
  { key: 'ratio', title: 'vs baseline' },
  { key: 'target', title: 'target' },
]

/** The terminal table: one block per scenario, notes and skips below it. */
export function renderTable(report: Report): string {
  const out: string[] = []
  for (const run of report.scenarios) {
    out.push('', `${run.name} — ${run.description} (${(run.durationMs / 1000).toFixed(1)} s)`)
    if (run.error) out.push(`  FAILED: ${run.error}`)
    if (run.results.length === 0) continue
    const rows = run.results.map(rowOf)
    const width = (k: keyof Row, title: string) => Math.max(title.length, ...rows.map((r) => [...r[k]].length))
    const widths = COLUMNS.map((c) => width(c.key, c.title))
    const line = (cells: string[]) =>
      '  ' +
      cells
        .map((cell, i) => (COLUMNS[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd()
    out.push(line(COLUMNS.map((c) => c.title)))
    out.push(line(widths.map((w) => '─'.repeat(w))))
    for (const row of rows) out.push(line(COLUMNS.map((c) => row[c.key])))
    for (const r of run.results) {
      if (r.skipped !== undefined) out.push(`  · ${r.name}: skipped — ${r.skipped}`)
      else if (r.note) out.push(`  · ${r.name}: ${r.note}`)
    }
  }
  const t = report.targets
  out.push('', `targets: ${t.met} met, ${t.missed} missed, ${t.unjudged} not judged${t.missed ? ` (missed: ${t.missedNames.join('; ')})` : ''}`)
  return out.join('\n')
}
