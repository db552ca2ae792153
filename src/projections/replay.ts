import type { Fact } from './fact.js'
import { evolve, initialState, type HaltdState } from './state.js'

/** Fold events into a state (a fresh one unless given): the same `evolve` the live runner uses. */
export function replay(facts: Iterable<Fact>, state: HaltdState = initialState()): HaltdState {
  for (const fact of facts) evolve(state, fact)
  return state
}
