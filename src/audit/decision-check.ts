import type { Fact, HaltdState } from '../projections/index.js'
import { createDecisionReplay, type DecisionDivergence } from './decision-replay.js'
import type { Finding } from './audit-report.js'

/**
 * Decision replay, as findings: the decision replay (decision-replay.ts)
 * re-runs each shutdown's `decide` on the state replayed so far, just before each decision the
 * log recorded (each advance, and each request: start, escalation, ignored request, resume), and
 * names every event where the log and the decider part ways.
 */
export type DecisionCheck = {
  /** Called with each valid row before the projections apply it. */
  before(fact: Fact, state: HaltdState): void
  finish(): void
  /** How many decisions were re-derived and compared. */
  readonly decisions: number
}

function kindOf(d: DecisionDivergence): string {
  if (d.problem.startsWith('replaying the decision failed') || d.problem.startsWith('the decider refuses')) return 'decision.decider-refused'
  if (d.problem.includes('no shutdown.escalated follows')) return 'decision.missing-event'
  if (d.problem.includes('does not have it')) return 'decision.missing-event'
  if (d.problem.includes('was not called for'))
    return (d.found as { type?: string } | undefined)?.type === 'shutdown.command-issued' ? 'decision.undecided-command' : 'decision.undecided-event'
  return 'decision.divergence'
}

const brief = (e: unknown): string => {
  if (!e || typeof e !== 'object') return 'nothing'
  const { type, data } = e as { type: string; data: Record<string, unknown> }
  if (type === 'shutdown.command-issued') return `command ${JSON.stringify(data.command)}`
  if (typeof data?.step === 'number') return `${type} step ${data.step} (${String(data.name)})`
  return `${type} ${JSON.stringify(data).slice(0, 160)}`
}

export function createDecisionCheck(report: (finding: Finding) => void): DecisionCheck {
  const replay = createDecisionReplay()
  const flag = (d: DecisionDivergence): void => {
    const detail = [d.found !== undefined ? `the log has ${brief(d.found)}` : '', d.expected !== undefined ? `the decider calls for ${brief(d.expected)}` : '']
      .filter(Boolean)
      .join('; ')
    report({ check: 'decision', kind: kindOf(d), seq: d.seq, message: `seq ${d.seq}, shutdown ${d.shutdownId}: ${d.problem}${detail ? ` (${detail})` : ''}` })
  }
  return {
    get decisions() {
      return replay.checked.decisions
    },
    before(fact, state) {
      for (const d of replay.before(fact, state)) flag(d)
    },
    finish() {
      for (const d of replay.finish()) flag(d)
    },
  }
}
