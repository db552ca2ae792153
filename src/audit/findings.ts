import type { Check, Finding, FindingGroup } from './audit-report.js'

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

/** Checks of the log's storage: a finding of theirs is a root cause (an edit, a gap, a break). */
const STORAGE: readonly Check[] = ['read', 'chain', 'sequence']

/**
 * Findings by root cause. A storage finding (an edited, deleted, swapped row; an unreadable
 * page) roots a group, and every finding of the replay checks (schema, invariants, decisions)
 * at or after its seq goes under it: an edited log replays differently from that seq on, so
 * those may follow from the edit. Without such a root, a decision divergence roots the ones after
 * it (the replay no longer follows the log once it diverged); any other finding stands alone.
 */
export function groupFindings(findings: readonly Finding[]): FindingGroup[] {
  const seqOf = (f: Finding) => f.seq ?? Number.POSITIVE_INFINITY
  const ordered = findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => seqOf(a.f) - seqOf(b.f) || Number(!STORAGE.includes(a.f.check)) - Number(!STORAGE.includes(b.f.check)) || a.i - b.i)
  const groups: FindingGroup[] = []
  let storageRoot: FindingGroup | undefined
  let decisionRoot: FindingGroup | undefined
  for (const { f } of ordered) {
    if (STORAGE.includes(f.check)) {
      storageRoot = { root: f, consequences: [] }
      groups.push(storageRoot)
    } else if (storageRoot) storageRoot.consequences.push(f)
    else if (f.check === 'decision' && decisionRoot) decisionRoot.consequences.push(f)
    else {
      const group = { root: f, consequences: [] }
      if (f.check === 'decision') decisionRoot = group
      groups.push(group)
    }
  }
  return groups
}
