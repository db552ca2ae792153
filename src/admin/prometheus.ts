/** One metric family in the Prometheus text exposition format (version 0.0.4). */
export type Metric = {
  name: string
  help: string
  type: 'gauge' | 'counter'
  samples: { labels?: Record<string, string>; value: number }[]
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
const escapeLabel = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')

function value(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

export function renderPrometheus(metrics: readonly Metric[]): string {
  const out: string[] = []
  for (const m of metrics) {
    if (!NAME.test(m.name)) throw new Error(`invalid metric name '${m.name}'`)
    out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`)
    for (const s of m.samples) {
      const labels = Object.entries(s.labels ?? {})
      for (const [k] of labels) if (!LABEL.test(k)) throw new Error(`invalid label name '${k}' on ${m.name}`)
      const rendered = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : ''
      out.push(`${m.name}${rendered} ${value(s.value)}`)
    }
  }
  return `${out.join('\n')}\n`
}
