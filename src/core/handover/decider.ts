import type { EventData, HaltdEvent } from '../../events/catalogue.js'
import { HaltdError } from '../../events/errors.js'

/**
 * A planned handover of the engine's leadership, as a decider like the shutdown procedures: `decide`
 * says what should happen next from the handover's state, `evolve` folds its events, and a runner
 * at the edges does the effects and reports each step's end. The leader runs its four steps in its
 * log; the standby that takes the lease records its four in the same log once it leads. A step that
 * fails (or overruns its budget) on the leader's side rolls the handover back: the leader keeps the
 * lease and reopens its gate.
 */

export type HandoverStep = EventData<'handover.step'>['step']

/** The leader's steps, in order, each with its share of the handover's budget. */
export const LEADER_STEPS = [
  { step: 'close-gate', share: 0.02 },
  { step: 'settle-in-flight', share: 0.4 },
  { step: 'flush-replication', share: 0.18 },
  { step: 'release-lease', share: 0.4 },
] as const satisfies readonly { step: HandoverStep; share: number }[]

/** The new leader's steps, recorded once it holds the lease. */
export const STANDBY_STEPS = ['confirm-last-seq', 'take-lease', 'adopt-orders', 'open-gate'] as const satisfies readonly HandoverStep[]

export type HandoverState = {
  handoverId: string | undefined
  from: string | undefined
  to: string | undefined
  budgetMs: number
  status: 'idle' | 'running' | 'rolling-back' | 'handed-over' | 'rolled-back'
  /** The step started last and not yet ended. */
  running: HandoverStep | undefined
  ended: { step: HandoverStep; phase: 'completed' | 'failed'; detail?: string }[]
  /** Why a roll-back started, as its start recorded. */
  rollBackReason?: string
}

export const initialHandoverState = (): HandoverState => ({
  handoverId: undefined,
  from: undefined,
  to: undefined,
  budgetMs: 0,
  status: 'idle',
  running: undefined,
  ended: [],
})

export type HandoverFact = Extract<HaltdEvent, { type: 'handover.requested' | 'handover.step' | 'handover.completed' }>

export type HandoverCommand =
  | { kind: 'start'; handoverId: string; from: string; to: string; budgetMs: number; reason: string; by?: string }
  | { kind: 'step-ended'; step: HandoverStep; ok: boolean; detail?: string }
  /** The lease was offered and not taken within the budget, and the offer was withdrawn. */
  | { kind: 'not-taken'; detail: string }

export class HandoverRefused extends HaltdError {
  constructor(why: string) {
    super('HANDOVER_REFUSED', `handover refused: ${why}`)
  }
}

export function evolveHandover(state: HandoverState, event: HandoverFact): HandoverState {
  switch (event.type) {
    case 'handover.requested':
      return {
        ...initialHandoverState(),
        handoverId: event.data.handoverId,
        from: event.data.from,
        to: event.data.to,
        budgetMs: event.data.budgetMs,
        status: 'running',
      }
    case 'handover.step': {
      const d = event.data
      if (d.phase === 'started') {
        if (d.step !== 'roll-back') return { ...state, running: d.step }
        return { ...state, running: d.step, status: 'rolling-back', ...(d.detail !== undefined ? { rollBackReason: d.detail } : {}) }
      }
      return {
        ...state,
        running: undefined,
        ended: [...state.ended, { step: d.step, phase: d.phase, ...(d.detail !== undefined ? { detail: d.detail } : {}) }],
      }
    }
    case 'handover.completed':
      return { ...state, running: undefined, status: event.data.outcome === 'handed-over' ? 'handed-over' : 'rolled-back' }
  }
}

/** The budget of a leader's step: its share of the handover's. */
export function stepBudget(state: Pick<HandoverState, 'budgetMs'>, step: HandoverStep): number {
  const def = LEADER_STEPS.find((s) => s.step === step)
  return def ? Math.max(1, Math.floor(state.budgetMs * def.share)) : state.budgetMs
}

const started = (handoverId: string, step: HandoverStep, budgetMs: number): HaltdEvent => ({
  type: 'handover.step',
  data: { handoverId, step, phase: 'started', budgetMs },
})

export function decideHandover(command: HandoverCommand, state: HandoverState): HaltdEvent[] {
  if (command.kind === 'start') {
    if (state.status === 'running' || state.status === 'rolling-back') throw new HandoverRefused(`handover ${state.handoverId} is under way`)
    if (command.from === command.to) throw new HandoverRefused(`'${command.to}' is this instance`)
    const { kind: _, ...data } = command
    const first = LEADER_STEPS[0]
    return [{ type: 'handover.requested', data }, started(command.handoverId, first.step, stepBudget(command, first.step))]
  }
  const id = state.handoverId
  if (command.kind === 'not-taken') {
    const offered = state.ended.at(-1)
    if (id === undefined || state.status !== 'running' || offered?.step !== 'release-lease')
      throw new HandoverRefused('no lease has been offered in this handover')
    return [{ type: 'handover.step', data: { handoverId: id, step: 'roll-back', phase: 'started', budgetMs: 0, detail: command.detail } }]
  }
  if (id === undefined || state.running !== command.step) throw new HandoverRefused(`step ${command.step} is not the one running (${state.running ?? 'none'})`)
  const ended: HaltdEvent = {
    type: 'handover.step',
    data: {
      handoverId: id,
      step: command.step,
      phase: command.ok ? 'completed' : 'failed',
      budgetMs: stepBudget(state, command.step),
      ...(command.detail !== undefined ? { detail: command.detail } : {}),
    },
  }
  if (command.step === 'roll-back') {
    const why = state.ended.find((e) => e.phase === 'failed')?.detail ?? state.rollBackReason ?? 'the standby did not take the lease within the budget'
    return [ended, { type: 'handover.completed', data: { handoverId: id, outcome: 'rolled-back', reason: why } }]
  }
  if (!command.ok) return [ended, started(id, 'roll-back', 0)]
  const at = LEADER_STEPS.findIndex((s) => s.step === command.step)
  const next = LEADER_STEPS[at + 1]
  // after the leader's last step the lease is offered: the new leader records the rest
  return next ? [ended, started(id, next.step, stepBudget(state, next.step))] : [ended]
}

/** The steps the new leader records once it holds the lease, each with what it found. */
export function standbySteps(handoverId: string, found: Record<(typeof STANDBY_STEPS)[number], string>): HaltdEvent[] {
  return [
    ...STANDBY_STEPS.map((step): HaltdEvent => ({ type: 'handover.step', data: { handoverId, step, phase: 'completed', budgetMs: 0, detail: found[step] } })),
    { type: 'handover.completed', data: { handoverId, outcome: 'handed-over' } },
  ]
}
