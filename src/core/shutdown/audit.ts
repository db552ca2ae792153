import type { HaltdEvent } from '../../events/index.js'
import { evolve, initialState, type Fact, type HaltdState } from '../../projections/index.js'
import type { EventLog } from '../event-log.js'
import { readFacts } from '../projection-runner.js'
import { canonicalJson } from './checkpoint.js'
import { decideShutdown } from './decider.js'
import { evolveShutdown, initialShutdownState, INTERRUPTED, type ShutdownFact, type ShutdownState } from './procedure.js'
import { worldOf } from './world.js'

/**
 * Decision replay for the audit: re-run each shutdown's `decide` on the state replayed from the
 * log and compare what it calls for with what the log recorded. The runner appends each decision
 * as one batch, nothing in between, so a batch starts at the first decided event after anything
 * else and `decide` is asked with the projections exactly as they stood just before it.
 */
export type DecisionDivergence = {
  shutdownId: string
  seq: number
  problem: string
  expected?: unknown
  found?: unknown
}

export type DecisionReplay = {
  /** Call with each fact before the projections apply it, and the projections as they stand. */
  before(fact: Fact, state: HaltdState): DecisionDivergence[]
  /** Call at the end of the log. */
  finish(): DecisionDivergence[]
  /** Decisions checked so far (each an `advance` batch) and commands among them. */
  readonly checked: { decisions: number; commands: number }
}

const DECIDED = new Set([
  'shutdown.step-started', 'shutdown.step-completed', 'shutdown.step-failed', 'shutdown.step-timed-out', 'shutdown.step-skipped',
  'shutdown.command-issued', 'shutdown.completed',
])
/** Facts about haltd itself a step records as it starts: part of the decision batch. */
const DECIDED_FACTS = new Set(['trading.state-changed', 'deployments.locked', 'killswitch.activated'])

type Batch = { shutdownId: string; kind: 'advance' | 'request'; expected: HaltdEvent[]; pos: number; firstSeq: number }

const comparable = (e: { type: string; data: unknown }) => canonicalJson({ type: e.type, data: e.data })

export function createDecisionReplay(): DecisionReplay {
  const states = new Map<string, ShutdownState>()
  const checked = { decisions: 0, commands: 0 }
  let batch: Batch | undefined

  const close = (out: DecisionDivergence[]): void => {
    if (batch?.kind === 'advance' && batch.pos < batch.expected.length) {
      for (const missing of batch.expected.slice(batch.pos)) {
        out.push({ shutdownId: batch.shutdownId, seq: batch.firstSeq, problem: `the decision called for ${missing.type} but the log does not have it`, expected: missing })
      }
    }
    batch = undefined
  }

  const compare = (fact: Fact, out: DecisionDivergence[]): void => {
    if (!batch || batch.kind !== 'advance') return
    const expected = batch.expected[batch.pos++]
    if (fact.type === 'shutdown.command-issued') checked.commands++
    if (expected === undefined) {
      out.push({ shutdownId: batch.shutdownId, seq: fact.seq, problem: `${fact.type} was not called for by the replayed decision`, found: { type: fact.type, data: fact.data } })
      return
    }
    if (comparable(expected) !== comparable(fact)) {
      out.push({
        shutdownId: batch.shutdownId, seq: fact.seq,
        problem: `the log has ${fact.type} where the replayed decision calls for ${expected.type}${expected.type === fact.type ? ' with other data' : ''}`,
        expected, found: { type: fact.type, data: fact.data },
      })
      // Past a divergence the rest of the batch cannot be lined up: stop comparing it.
      batch.pos = batch.expected.length
    }
  }

  return {
    checked,
    before(fact, projections) {
      const out: DecisionDivergence[] = []
      if (fact.type.startsWith('shutdown.')) {
        const shutdownId = (fact.data as { shutdownId: string }).shutdownId
        const state = states.get(shutdownId) ?? initialShutdownState()
        states.set(shutdownId, state)
        const error = fact.type === 'shutdown.step-failed' ? fact.data.error : ''
        if (error.startsWith('escalated to emergency') || error.startsWith(INTERRUPTED)) {
          // A request's decision (escalation, resume), not an advance: it may follow an advance
          // batch directly. An escalation batch ends at its `escalated`; a resume is this one event.
          close(out)
          if (error.startsWith('escalated to emergency')) batch = { shutdownId, kind: 'request', expected: [], pos: 0, firstSeq: fact.seq }
        } else if (DECIDED.has(fact.type)) {
          if (!batch || batch.shutdownId !== shutdownId) {
            close(out)
            let expected: HaltdEvent[] = []
            try {
              expected = decideShutdown({ kind: 'advance', world: worldOf(projections) }, state)
            } catch (e) {
              out.push({ shutdownId, seq: fact.seq, problem: `replaying the decision failed: ${e instanceof Error ? e.message : String(e)}` })
            }
            checked.decisions++
            batch = { shutdownId, kind: 'advance', expected, pos: 0, firstSeq: fact.seq }
          }
          compare(fact, out)
        } else {
          close(out)
        }
        evolveShutdown(state, fact as ShutdownFact)
      } else if (batch) {
        if (batch.kind === 'advance' && DECIDED_FACTS.has(fact.type) && batch.expected[batch.pos]?.type === fact.type) compare(fact, out)
        else close(out)
      }
      return out
    },
    finish() {
      const out: DecisionDivergence[] = []
      close(out)
      return out
    },
  }
}

/** Replay a whole log (streaming, one pass) and return every decision that does not match. */
export function replayShutdownDecisions(log: EventLog): { divergences: DecisionDivergence[]; decisions: number; commands: number } {
  const replay = createDecisionReplay()
  const state = initialState()
  const divergences: DecisionDivergence[] = []
  for (const fact of readFacts(log)) {
    divergences.push(...replay.before(fact, state))
    evolve(state, fact)
  }
  divergences.push(...replay.finish())
  return { divergences, ...replay.checked }
}
