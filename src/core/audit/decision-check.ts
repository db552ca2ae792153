import type { Fact, HaltdState } from '../../projections/index.js'
import type { Finding } from './report.js'

/**
 * Decision replay: re-derive what each shutdown should have commanded from the replayed state
 * and compare it with the `shutdown.command-issued` events the log holds.
 */
export type DecisionCheck = {
  before(fact: Fact, state: HaltdState): void
  finish(state: HaltdState): void
}

export function createDecisionCheck(_report: (finding: Finding) => void): DecisionCheck {
  return { before() {}, finish() {} }
}
