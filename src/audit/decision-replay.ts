import { current, type EventType, type HaltdEvent } from '../events/index.js'
import { evolve, initialShutdownState, initialState, type Fact, type HaltdState, type ShutdownState } from '../projections/index.js'
import type { EventLog } from '../core/log/event-log.js'
import { readFacts } from '../core/log/projection-runner.js'
import { canonicalJson } from '../core/shutdown/checkpoint.js'
import { shutdownDecider } from '../core/shutdown/decider.js'
import { INTERRUPTED } from '../core/shutdown/procedure.js'
import { worldOf } from '../core/shutdown/world.js'

/**
 * Decision replay for the audit: re-run each shutdown's `decide` on the state replayed from the
 * log (the shutdown's fold in the projections, as it stood just before each event) and compare
 * what it calls for with what the log recorded. The runner appends each decision
 * as one batch, nothing in between, so a batch starts at the first decided event after anything
 * else and `decide` is asked with the projections exactly as they stood just before it.
 * Requests are decisions too: an escalation, an ignored request, a resume and a start are each
 * re-decided from the request the log recorded and the shutdown's state just before it, so a
 * hand-made "ignored" for an emergency request during a graceful shutdown is a divergence.
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
  'shutdown.step-started',
  'shutdown.step-completed',
  'shutdown.step-failed',
  'shutdown.step-timed-out',
  'shutdown.step-skipped',
  'shutdown.command-issued',
  'shutdown.completed',
])
/** Facts about haltd itself a step records as it starts: part of the decision batch. */
const DECIDED_FACTS = new Set(['trading.state-changed', 'deployments.locked', 'killswitch.activated'])

type Batch = { shutdownId: string; kind: 'advance'; expected: HaltdEvent[]; pos: number; firstSeq: number }

const comparable = (e: { type: string; data: unknown }) => canonicalJson({ type: e.type, data: e.data })

/** A request's decision the log began (the step-failed of an escalation) and the state it was decided on. */
type PendingEscalation = { seq: number; fact: { type: string; data: unknown }; before: ShutdownState }

/** What deciding a request reads of the state (the running step and its name), copied before evolve changes them in place. */
const requestView = (state: ShutdownState): ShutdownState => ({ ...state, steps: state.steps.map((s) => ({ ...s })) })

/** Replays read stored data unchecked, for speed; the few shutdown events a decision rests on are checked. */
const readable = (fact: Fact): boolean => current[fact.type as EventType]?.data.safeParse(fact.data).success === true

export function createDecisionReplay(): DecisionReplay {
  const checked = { decisions: 0, commands: 0 }
  let batch: Batch | undefined
  const escalations = new Map<string, PendingEscalation>()

  const close = (out: DecisionDivergence[]): void => {
    if (batch?.kind === 'advance' && batch.pos < batch.expected.length) {
      for (const missing of batch.expected.slice(batch.pos)) {
        out.push({
          shutdownId: batch.shutdownId,
          seq: batch.firstSeq,
          problem: `the decision called for ${missing.type} but the log does not have it`,
          expected: missing,
        })
      }
    }
    batch = undefined
  }

  const compare = (fact: Fact, out: DecisionDivergence[]): void => {
    if (batch?.kind !== 'advance') return
    const expected = batch.expected[batch.pos++]
    if (fact.type === 'shutdown.command-issued') checked.commands++
    if (expected === undefined) {
      out.push({
        shutdownId: batch.shutdownId,
        seq: fact.seq,
        problem: `${fact.type} was not called for by the replayed decision`,
        found: { type: fact.type, data: fact.data },
      })
      return
    }
    if (comparable(expected) !== comparable(fact)) {
      out.push({
        shutdownId: batch.shutdownId,
        seq: fact.seq,
        problem: `the log has ${fact.type} where the replayed decision calls for ${expected.type}${expected.type === fact.type ? ' with other data' : ''}`,
        expected,
        found: { type: fact.type, data: fact.data },
      })
      // Past a divergence the rest of the batch cannot be lined up: stop comparing it.
      batch.pos = batch.expected.length
    }
  }

  /**
   * A request's decision (start, escalation, ignored request, resume) re-derived from the request
   * the log recorded and the state before it, and compared whole with what the log has.
   */
  const compareRequest = (
    shutdownId: string,
    seq: number,
    decide: () => HaltdEvent[],
    found: readonly { type: string; data: unknown }[],
    out: DecisionDivergence[],
  ): void => {
    checked.decisions++
    let expected: HaltdEvent[]
    try {
      expected = decide()
    } catch (e) {
      out.push({ shutdownId, seq, problem: `the decider refuses this request: ${e instanceof Error ? e.message : String(e)}`, found: found[found.length - 1] })
      return
    }
    const n = Math.max(expected.length, found.length)
    for (let i = 0; i < n; i++) {
      const e = expected[i]
      const f = found[i]
      if (e && f && comparable(e) === comparable(f)) continue
      const problem = !f
        ? `the decision on this request called for ${e!.type} but the log does not have it`
        : !e
          ? `${f.type} was not called for by the replayed decision on this request`
          : `the log has ${f.type} where the replayed decision on this request calls for ${e.type}${e.type === f.type ? ' with other data' : ''}`
      out.push({ shutdownId, seq, problem, ...(e ? { expected: e } : {}), ...(f ? { found: f } : {}) })
      return
    }
  }

  /** A step-failed that said "escalated" with no `shutdown.escalated` right after it. */
  const unfinishedEscalation = (shutdownId: string, out: DecisionDivergence[]): void => {
    const pending = escalations.get(shutdownId)
    if (!pending) return
    escalations.delete(shutdownId)
    out.push({ shutdownId, seq: pending.seq, problem: 'a step ended as escalated to emergency but no shutdown.escalated follows it', found: pending.fact })
  }

  return {
    checked,
    before(fact, projections) {
      const out: DecisionDivergence[] = []
      // A stored event this build cannot read is the schema check's finding; its data cannot be
      // trusted to line up with a decision, so the batch it interrupts ends there.
      if (fact.unreadable !== undefined || (fact.type.startsWith('shutdown.') && !readable(fact))) {
        close(out)
        return out
      }
      if (fact.type.startsWith('shutdown.')) {
        const shutdownId = (fact.data as { shutdownId: string }).shutdownId
        // the first event of a shutdown is decided on the state before any
        const state = projections.shutdowns.get(shutdownId) ?? initialShutdownState()
        const error = fact.type === 'shutdown.step-failed' ? fact.data.error : ''
        const found = { type: fact.type, data: fact.data }
        if (fact.type !== 'shutdown.escalated') unfinishedEscalation(shutdownId, out)
        if (error.startsWith('escalated to emergency')) {
          // The first event of an escalation's decision: judged with the `escalated` that follows.
          close(out)
          escalations.set(shutdownId, { seq: fact.seq, fact: found, before: requestView(state) })
        } else if (error.startsWith(INTERRUPTED)) {
          close(out)
          compareRequest(shutdownId, fact.seq, () => shutdownDecider.decide({ kind: 'resume' }, state), [found], out)
        } else if (fact.type === 'shutdown.escalated' || fact.type === 'shutdown.request-ignored') {
          close(out)
          const pending = fact.type === 'shutdown.escalated' ? escalations.get(shutdownId) : undefined
          escalations.delete(shutdownId)
          const d = fact.data
          const request = { mode: fact.type === 'shutdown.escalated' ? ('emergency' as const) : fact.data.mode, reason: d.reason, origin: d.origin }
          const base = pending?.before ?? state
          compareRequest(
            shutdownId,
            pending?.seq ?? fact.seq,
            // how many requests alike an ignored one records is what arrived, not a decision: given as recorded
            () =>
              shutdownDecider.decide(
                { kind: 'request', request, ...(fact.type === 'shutdown.request-ignored' && fact.data.count !== undefined ? { count: fact.data.count } : {}) },
                base,
              ),
            pending ? [pending.fact, found] : [found],
            out,
          )
        } else if (fact.type === 'shutdown.requested') {
          close(out)
          const { shutdownId: id, mode, reason, origin, options } = fact.data
          // Only whether the decider would start it (options it can use, a stream not started yet):
          // options recorded by an older haltd may lack defaults added since, which is no divergence.
          compareRequest(
            shutdownId,
            fact.seq,
            () => {
              shutdownDecider.decide({ kind: 'start', shutdownId: id, request: { mode, reason, origin }, options }, state)
              return [found as HaltdEvent]
            },
            [found],
            out,
          )
        } else if (DECIDED.has(fact.type)) {
          if (!batch || batch.shutdownId !== shutdownId) {
            close(out)
            let expected: HaltdEvent[] = []
            try {
              expected = shutdownDecider.decide({ kind: 'advance', world: worldOf(projections) }, state)
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
      } else if (batch) {
        if (batch.kind === 'advance' && DECIDED_FACTS.has(fact.type) && batch.expected[batch.pos]?.type === fact.type) compare(fact, out)
        else close(out)
      }
      return out
    },
    finish() {
      const out: DecisionDivergence[] = []
      close(out)
      for (const id of [...escalations.keys()]) unfinishedEscalation(id, out)
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
