import { quantity } from '../../projections/money.js'

/** Small formatting helpers the renderers share, so text, Markdown and HTML print the same figures. */

export const iso = (ts: number | null): string => (ts === null ? '—' : new Date(ts).toISOString())

/** Time of day with milliseconds: what a timeline reader compares. */
export const clock = (ts: number | null): string => (ts === null ? '—' : new Date(ts).toISOString().slice(11, 23))

export function duration(ms: number | null): string {
  if (ms === null) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
  const m = Math.floor(ms / 60_000)
  return `${m} min ${Math.round((ms - m * 60_000) / 1000)} s`
}

/** A quantity or price (see `quantity`), or a dash where there is none. */
export function num(n: number | null, digits = 8): string {
  return n === null ? '—' : quantity(n, digits)
}

export { money } from '../../projections/money.js'

/** Pad cells into aligned columns for the terminal. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}
