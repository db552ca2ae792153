import type { Check, Finding } from './report.js'

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

  count(check: Check): number {
    return this.byCheck[check] ?? 0
  }
}
