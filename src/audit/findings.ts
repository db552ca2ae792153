import type { Check, Finding } from './audit-report.js'

/**
 * Collects findings with a cap on how many are kept, so a log broken everywhere still audits
 * in flat memory; the counts stay exact.
 */
export class Findings {
  readonly kept: Finding[] = []
  total = 0
  readonly byCheck: Partial<Record<Check, number>> = {}

  constructor(private readonly keep = 1000) {}

  add = (finding: Finding): void => {
    this.total++
    this.byCheck[finding.check] = (this.byCheck[finding.check] ?? 0) + 1
    if (this.kept.length < this.keep) this.kept.push(finding)
  }

  /** Take in findings collected elsewhere (kept list and counts), keeping the list in seq order. */
  merge(kept: readonly Finding[], total: number, byCheck: Partial<Record<Check, number>>): void {
    this.total += total
    for (const [check, n] of Object.entries(byCheck) as [Check, number][]) this.byCheck[check] = (this.byCheck[check] ?? 0) + n
    const all = [...this.kept, ...kept].sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity))
    this.kept.splice(0, this.kept.length, ...all.slice(0, this.keep))
  }

  count(check: Check): number {
    return this.byCheck[check] ?? 0
  }
}
