import type { HaltdEvent } from '../../events/index.js'
import { HaltdError } from '../../events/errors.js'
import { emergency } from './emergency.js'
import { graceful } from './graceful.js'
import { parseShutdownOptions } from './options.js'
import {
  advance,
  evolveShutdown,
  initialShutdownState,
  runningStep,
  INTERRUPTED,
  type Procedure,
  type ProcedureDef,
  type ShutdownFact,
  type ShutdownState,
  type StepDef,
} from './procedure.js'
import type { Decider, ShutdownDecision } from './types.js'

export class ShutdownNotStarted extends HaltdError {
  constructor(what: string) {
    super('SHUTDOWN_NOT_STARTED', `${what}: no shutdown has been requested in this stream`)
  }
}

export class ShutdownAlreadyStarted extends HaltdError {
  constructor(readonly shutdownId: string) {
    super('SHUTDOWN_ALREADY_STARTED', `shutdown ${shutdownId} has been requested already; send another request instead of a start`)
  }
}

export class ShutdownFinished extends HaltdError {
  constructor(readonly shutdownId: string) {
    super('SHUTDOWN_FINISHED', `shutdown ${shutdownId} has completed; a new request starts a new shutdown`)
  }
}

export const PROCEDURES: Readonly<Record<Procedure, ProcedureDef>> = { graceful, emergency }

/** The step definition of the step running now, for its budget. */
export function currentStepDef(state: ShutdownState): StepDef | undefined {
  const s = runningStep(state)
  return s && PROCEDURES[s.procedure].steps.find((d) => d.step === s.step)
}

/**
 * One decider for a shutdown stream. A graceful shutdown that is escalated continues in the same
 * stream with the emergency steps, so status, report and audit see one shutdown.
 */
export function decideShutdown(command: ShutdownDecision, state: ShutdownState): HaltdEvent[] {
  switch (command.kind) {
    case 'start': {
      if (state.mode !== undefined) throw new ShutdownAlreadyStarted(state.shutdownId ?? command.shutdownId)
      const options = parseShutdownOptions(command.options)
      return [{ type: 'shutdown.requested', data: { shutdownId: command.shutdownId, ...command.request, options } }]
    }
    case 'request': {
      const shutdownId = state.shutdownId
      if (state.mode === undefined || shutdownId === undefined) throw new ShutdownNotStarted('a further shutdown request')
      if (state.completed) throw new ShutdownFinished(shutdownId)
      const { request } = command
      if (request.mode === 'emergency' && state.procedure === 'graceful') {
        const out: HaltdEvent[] = []
        const open = runningStep(state)
        if (open)
          out.push({ type: 'shutdown.step-failed', data: { shutdownId, step: open.step, name: open.name, error: `escalated to emergency: ${request.reason}` } })
        out.push({ type: 'shutdown.escalated', data: { shutdownId, to: 'emergency', reason: request.reason, origin: request.origin } })
        return out
      }
      const count = command.count !== undefined && command.count > 1 ? { count: command.count } : {}
      return [{ type: 'shutdown.request-ignored', data: { shutdownId, ...request, ...count } }]
    }
    case 'resume': {
      const shutdownId = state.shutdownId
      if (state.mode === undefined || shutdownId === undefined) throw new ShutdownNotStarted('resuming')
      if (state.completed) throw new ShutdownFinished(shutdownId)
      const open = runningStep(state)
      return open ? [{ type: 'shutdown.step-failed', data: { shutdownId, step: open.step, name: open.name, error: `${INTERRUPTED}; it runs again` } }] : []
    }
    case 'advance':
      if (state.mode === undefined) throw new ShutdownNotStarted('advancing')
      return advance(PROCEDURES[state.procedure], state, command.world)
  }
}

/** Decided events include facts outside the shutdown stream (trading state, kill switch); evolve skips those. */
export type DecidedEvent = HaltdEvent & { ts?: number }

export const shutdownDecider: Decider<ShutdownDecision, DecidedEvent, ShutdownState> = {
  initialState: initialShutdownState,
  evolve: (state, event) => (event.type.startsWith('shutdown.') ? evolveShutdown(state, event as ShutdownFact) : state),
  decide: decideShutdown,
}

/** Fold a shutdown's stored events (envelopes or hand-built events) into its state. */
export function foldShutdown(events: Iterable<ShutdownFact | { type: string }>): ShutdownState {
  let state = shutdownDecider.initialState()
  for (const e of events) state = shutdownDecider.evolve(state, e as DecidedEvent)
  return state
}
