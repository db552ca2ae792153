import { describe, expect, it } from 'vitest'
import { ShutdownOptions } from '../../src/events/index.js'
import {
  anomalies,
  deserializeState,
  evolve,
  initialState,
  runningStep,
  serializeState,
  shutdownProgress,
  shutdowns,
  stateHash,
  type Fact,
  type HaltdState,
} from '../../src/projections/index.js'
import { decideShutdown, foldShutdown } from '../../src/core/shutdown/decider.js'
import { buildShutdownReport } from '../../src/core/shutdown/report.js'
import type { ShutdownFact } from '../../src/core/shutdown/procedure.js'
import type { ShutdownWorld } from '../../src/core/shutdown/types.js'
import { advanceWith, answer, appended, decided, driveTo, order, requested, SD, world } from '../shutdown/given.js'
import { given as givenEvents } from './given.js'

/**
 * The shutdown's stream is folded once (src/projections/shutdowns.ts): the decider decides on the
 * fold the projections hold, and status, audit and report read the same fold. Given stored
 * shutdown events, when the projections apply them, then each reader sees the same shutdown.
 */

/** The projections after these shutdown events, each stored with a seq (and its time). */
function projected(events: readonly ShutdownFact[], state: HaltdState = initialState()): HaltdState {
  for (const e of events) evolve(state, { ...e, seq: state.seq + 1, ts: e.ts ?? state.ts } as Fact)
  return state
}

/** Drive a shutdown with the decider to its end, every command answered `ok`, the world unchanged. */
function toTheEnd(w: ShutdownWorld, mode: 'graceful' | 'emergency' = 'graceful'): ShutdownFact[] {
  let log: ShutdownFact[] = [requested({}, mode)]
  for (let guard = 0; guard < 100 && !foldShutdown(log).completed; guard++) log = answer(log, decided(log, advanceWith(w)))
  return log
}

const twoOrders = () => world({ orders: [order({ venue: 'bravo' }), order({ venue: 'bravo' })] })

describe('the shutdown fold, read by the decider and by status alike', () => {
  it('given a graceful shutdown whose cancels came back, deciding on the shutdown the projections folded calls for what deciding on its stream alone does', () => {
    const w = twoOrders()
    const before = driveTo('cancel orders and flatten', w)
    const cancels = decided(before, advanceWith(w))
    const log = answer(before, cancels)

    const state = projected(log)
    const next = decideShutdown(advanceWith(w), state.shutdowns.get(SD)!)

    expect(next.length).toBeGreaterThan(0)
    expect(next).toEqual(decideShutdown(advanceWith(w), foldShutdown(log)))
  })

  it('given cancels still out, the decider waits on the step the projections hold open, and status counts the same commands as issued and not yet completed', () => {
    const w = twoOrders()
    const before = driveTo('cancel orders and flatten', w)
    const cancels = decided(before, advanceWith(w))
    const state = projected(appended(before, cancels))

    const shutdown = state.shutdowns.get(SD)!
    const issued = cancels.filter((e) => e.type === 'shutdown.command-issued').length
    expect(issued).toBeGreaterThan(0)
    expect(runningStep(shutdown)).toMatchObject({ step: 5, status: 'running', pending: issued })
    expect(decideShutdown(advanceWith(w), shutdown)).toEqual([])
    expect(shutdowns(state)[0]!.steps.at(-1)).toMatchObject({ step: 5, outcome: 'running', commandsIssued: issued, commandsCompleted: 0, commandsFailed: 0 })
  })

  it('given a finished shutdown, the post-shutdown report and the audit timeline list the same steps, outcomes, durations and commands', () => {
    const w = twoOrders()
    const state = projected(toTheEnd(w))
    const shutdown = state.shutdowns.get(SD)!

    const report = buildShutdownReport(shutdown, w)
    const progress = shutdownProgress(shutdown)

    // the world never changed, so the orders are still there: not clean, and both say so
    expect(report.outcome).toBe('residual-exposure')
    expect(progress.completed?.outcome).toBe(report.outcome)
    expect(progress.steps.map((s) => [s.step, s.name, s.outcome, s.commandsIssued, s.commandsFailed])).toEqual(
      report.steps.map((s) => [s.step, s.name, s.status, s.commands.issued, s.commands.failed + s.commands.timedOut]),
    )
    for (const [i, s] of report.steps.entries()) {
      // a skipped step never started: the report leaves its duration out, the timeline shows it at the time it was skipped
      expect(progress.steps[i]!.durationMs).toBe(s.status === 'skipped' ? 0 : s.durationMs)
    }
    expect(progress.commandsIssued).toBe(report.steps.reduce((n, s) => n + s.commands.issued, 0))
  })

  it('given an escalated graceful shutdown, status shows it running as emergency while the report keeps the mode it was requested in', () => {
    const before = [requested()]
    const escalation = decided(before, { kind: 'request', request: { mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' } })
    const state = projected(appended(before, escalation))
    const shutdown = state.shutdowns.get(SD)!

    expect(shutdown).toMatchObject({ mode: 'graceful', procedure: 'emergency', escalation: { reason: 'SIGUSR2', origin: 'signal', seq: 2 } })
    expect(shutdowns(state)[0]).toMatchObject({ mode: 'emergency', escalation: { to: 'emergency', reason: 'SIGUSR2', seq: 2 } })
    expect(buildShutdownReport(shutdown, world())).toMatchObject({ mode: 'graceful', escalated: true })
    // the decider goes on with the emergency steps
    expect(decideShutdown(advanceWith(world()), shutdown).find((e) => e.type === 'shutdown.step-started')?.data).toMatchObject({ step: 1, name: 'halt' })
  })

  it('given a shutdown half-way through a step, a state restored from its serialization folds on, hashes and decides as the live one', () => {
    const w = twoOrders()
    const before = driveTo('cancel orders and flatten', w)
    const cancels = decided(before, advanceWith(w))
    const live = projected(appended(before, cancels))
    const restored = deserializeState(serializeState(live))

    const answers = answer([], cancels).filter((e) => e.type === 'shutdown.command-completed')
    projected(answers, live)
    projected(answers, restored)

    expect(stateHash(restored)).toBe(stateHash(live))
    expect(runningStep(restored.shutdowns.get(SD)!)?.pending).toBe(0)
    expect(decideShutdown(advanceWith(w), restored.shutdowns.get(SD)!)).toEqual(decideShutdown(advanceWith(w), live.shutdowns.get(SD)!))
  })

  it('given a request whose options this build cannot use, the fold takes the defaults and goes on, never throwing', () => {
    const state = givenEvents(
      { type: 'shutdown.requested', data: { shutdownId: 'odd', mode: 'graceful', reason: 'x', origin: 'cli', options: { graceful: { flatten: 'yolo' } } } },
      { type: 'shutdown.step-started', data: { shutdownId: 'odd', step: 1, name: 'announce' } },
    )
    expect(state.shutdowns.get('odd')).toMatchObject({ mode: 'graceful', options: ShutdownOptions.parse({}), steps: [{ step: 1, status: 'running' }] })
    expect(anomalies(state)).toEqual([])
  })
})
