import { describe, expect, it } from 'vitest'
import {
  decideHandover,
  evolveHandover,
  HandoverRefused,
  initialHandoverState,
  LEADER_STEPS,
  standbySteps,
  type HandoverCommand,
  type HandoverFact,
  type HandoverState,
} from '../../src/core/handover/decider.js'
import type { HaltdEvent } from '../../src/events/index.js'

const given = (...commands: HandoverCommand[]): HandoverState => {
  let state = initialHandoverState()
  for (const c of commands) for (const e of decideHandover(c, state)) state = evolveHandover(state, e as HandoverFact)
  return state
}
const start: HandoverCommand = { kind: 'start', handoverId: 'h1', from: 'a', to: 'b', budgetMs: 5_000, reason: 'rolling restart' }
const ok = (step: (typeof LEADER_STEPS)[number]['step']): HandoverCommand => ({ kind: 'step-ended', step, ok: true })
const steps = (events: HaltdEvent[]) => events.map((e) => (e.type === 'handover.step' ? `${e.data.step}:${e.data.phase}` : e.type))

describe('the handover decider', () => {
  it('given nothing, a start requests the handover and starts closing the gate with its share of the budget', () => {
    const events = decideHandover(start, initialHandoverState())
    expect(steps(events)).toEqual(['handover.requested', 'close-gate:started'])
    expect(events[1]).toMatchObject({ data: { budgetMs: 100 } })
  })

  it('given each leader step completing, the next starts, in runbook order, and the last leaves the rest to the new leader', () => {
    let state = given(start)
    const seen: string[] = []
    for (const { step } of LEADER_STEPS) {
      const events = decideHandover(ok(step), state)
      seen.push(...steps(events))
      for (const e of events) state = evolveHandover(state, e as HandoverFact)
    }
    expect(seen).toEqual([
      'close-gate:completed',
      'settle-in-flight:started',
      'settle-in-flight:completed',
      'flush-replication:started',
      'flush-replication:completed',
      'release-lease:started',
      'release-lease:completed',
    ])
    expect(state).toMatchObject({ status: 'running', running: undefined })
  })

  it('given a step that fails half way, the handover rolls back to the primary and says why', () => {
    const state = given(start, ok('close-gate'))
    const failed = decideHandover({ kind: 'step-ended', step: 'settle-in-flight', ok: false, detail: '2 submits still unanswered after 2000 ms' }, state)
    expect(steps(failed)).toEqual(['settle-in-flight:failed', 'roll-back:started'])
    let after = state
    for (const e of failed) after = evolveHandover(after, e as HandoverFact)
    expect(after.status).toBe('rolling-back')
    const done = decideHandover({ kind: 'step-ended', step: 'roll-back', ok: true }, after)
    expect(done.at(-1)).toEqual({
      type: 'handover.completed',
      data: { handoverId: 'h1', outcome: 'rolled-back', reason: '2 submits still unanswered after 2000 ms' },
    })
  })

  it('given the lease offered and not taken, the handover rolls back; before an offer that is refused', () => {
    const offered = given(start, ok('close-gate'), ok('settle-in-flight'), ok('flush-replication'), ok('release-lease'))
    expect(steps(decideHandover({ kind: 'not-taken', detail: 'b did not take the lease within 2000 ms' }, offered))).toEqual(['roll-back:started'])
    expect(() => decideHandover({ kind: 'not-taken', detail: 'x' }, given(start))).toThrow(HandoverRefused)
  })

  it('refuses a second start while one runs, a handover to itself, and a step that is not the running one', () => {
    expect(() => decideHandover(start, given(start))).toThrow(/handover h1 is under way/)
    expect(() => decideHandover({ ...start, to: 'a' }, initialHandoverState())).toThrow(/'a' is this instance/)
    expect(() => decideHandover(ok('flush-replication'), given(start))).toThrow(/step flush-replication is not the one running \(close-gate\)/)
  })

  it('the new leader records its four steps and the outcome', () => {
    const events = standbySteps('h1', {
      'confirm-last-seq': 'holds seq 120',
      'take-lease': 'epoch 3',
      'adopt-orders': '4 resting orders kept',
      'open-gate': 'open',
    })
    expect(steps(events)).toEqual(['confirm-last-seq:completed', 'take-lease:completed', 'adopt-orders:completed', 'open-gate:completed', 'handover.completed'])
    let state = given(start)
    for (const e of events) state = evolveHandover(state, e as HandoverFact)
    expect(state.status).toBe('handed-over')
  })
})
