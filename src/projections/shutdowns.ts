import type { EventData, Origin, ShutdownMode } from '../events/index.js'
import type { AnomalySink } from './anomalies.js'
import type { FactOf } from './fact.js'

export type StepOutcome = 'running' | 'completed' | 'failed' | 'timed-out' | 'skipped'

export type StepProgress = {
  step: number
  name: string
  /** null for a step that ended without a recorded start (reported as an anomaly). */
  startedAt: number | null
  endedAt?: number
  outcome: StepOutcome
  durationMs?: number
  error?: string
  detail?: Record<string, unknown>
  budgetMs?: number
  commandsIssued: number
  commandsCompleted: number
  commandsFailed: number
}

export type ShutdownProgress = {
  shutdownId: string
  /** null when step events arrived for a shutdown whose request is not in the log. */
  mode: ShutdownMode | null
  reason: string
  origin: Origin | null
  options: Record<string, unknown>
  requestedAt: number | null
  escalation?: { to: 'emergency'; reason: string; origin: Origin; at: number; seq: number }
  ignoredRequests: number
  steps: StepProgress[]
  commandsIssued: number
  commandsCompleted: number
  commandsFailed: number
  /** Open commands: id → step, so a completion is booked to the step that issued it. */
  pending: Map<string, number>
  completed?: Omit<EventData<'shutdown.completed'>, 'shutdownId'> & { at: number }
}

export type ShutdownFact =
  | FactOf<'shutdown.requested'>
  | FactOf<'shutdown.step-started'>
  | FactOf<'shutdown.step-completed'>
  | FactOf<'shutdown.step-failed'>
  | FactOf<'shutdown.step-timed-out'>
  | FactOf<'shutdown.step-skipped'>
  | FactOf<'shutdown.command-issued'>
  | FactOf<'shutdown.command-completed'>
  | FactOf<'shutdown.escalated'>
  | FactOf<'shutdown.request-ignored'>
  | FactOf<'shutdown.completed'>

function blank(shutdownId: string): ShutdownProgress {
  return {
    shutdownId, mode: null, reason: '', origin: null, options: {}, requestedAt: null, ignoredRequests: 0, steps: [],
    commandsIssued: 0, commandsCompleted: 0, commandsFailed: 0, pending: new Map(),
  }
}

const quiet: AnomalySink = () => {}

/** The last attempt at a step: a step may run again after an escalation. */
function lastIndexOf(steps: StepProgress[], step: number, name: string): number {
  for (let i = steps.length - 1; i >= 0; i--) if (steps[i]!.step === step && steps[i]!.name === name) return i
  return -1
}

/** The shutdown entity's reducer: a new progress record each time, never mutating the given one. */
export function evolveShutdown(progress: ShutdownProgress | undefined, fact: ShutdownFact, note: AnomalySink = quiet): ShutdownProgress {
  const id = fact.data.shutdownId
  if (!progress && fact.type !== 'shutdown.requested') {
    note('shutdown-event-without-request', `${fact.type} for shutdown ${id} that was never requested`, { shutdownId: id })
  }
  const next: ShutdownProgress = { ...(progress ?? blank(id)) }
  switch (fact.type) {
    case 'shutdown.requested':
      next.mode = fact.data.mode
      next.reason = fact.data.reason
      next.origin = fact.data.origin
      next.options = fact.data.options
      next.requestedAt = fact.ts
      break
    case 'shutdown.request-ignored':
      next.ignoredRequests++
      break
    case 'shutdown.escalated':
      next.escalation = { to: fact.data.to, reason: fact.data.reason, origin: fact.data.origin, at: fact.ts, seq: fact.seq }
      next.mode = 'emergency'
      break
    case 'shutdown.step-started':
      next.steps = [
        ...next.steps,
        { step: fact.data.step, name: fact.data.name, startedAt: fact.ts, outcome: 'running', commandsIssued: 0, commandsCompleted: 0, commandsFailed: 0 },
      ]
      break
    case 'shutdown.step-completed':
    case 'shutdown.step-failed':
    case 'shutdown.step-timed-out':
    case 'shutdown.step-skipped': {
      const { step, name } = fact.data
      const steps = [...next.steps]
      let i = lastIndexOf(steps, step, name)
      if (i < 0 || steps[i]!.outcome !== 'running') {
        if (fact.type !== 'shutdown.step-skipped') {
          note('step-end-without-start', `step ${step} (${name}) of shutdown ${id} ended without a start`, { shutdownId: id })
        }
        steps.push({ step, name, startedAt: fact.type === 'shutdown.step-skipped' ? fact.ts : null, outcome: 'running', commandsIssued: 0, commandsCompleted: 0, commandsFailed: 0 })
        i = steps.length - 1
      }
      const s: StepProgress = { ...steps[i]!, endedAt: fact.ts }
      if (s.startedAt !== null) s.durationMs = fact.ts - s.startedAt
      if (fact.type === 'shutdown.step-completed') {
        s.outcome = 'completed'
        if (fact.data.detail !== undefined) s.detail = fact.data.detail
      } else if (fact.type === 'shutdown.step-failed') {
        s.outcome = 'failed'
        s.error = fact.data.error
      } else if (fact.type === 'shutdown.step-timed-out') {
        s.outcome = 'timed-out'
        s.budgetMs = fact.data.budgetMs
        if (fact.data.remaining !== undefined) s.detail = fact.data.remaining
      } else {
        s.outcome = 'skipped'
        s.error = fact.data.reason
      }
      steps[i] = s
      next.steps = steps
      break
    }
    case 'shutdown.command-issued': {
      next.commandsIssued++
      next.pending = new Map(next.pending).set(fact.data.commandId, fact.data.step)
      next.steps = bumpStep(next.steps, fact.data.step, 'commandsIssued')
      break
    }
    case 'shutdown.command-completed': {
      const failed = fact.data.outcome !== 'ok'
      next.commandsCompleted++
      if (failed) next.commandsFailed++
      const step = next.pending.get(fact.data.commandId)
      if (step !== undefined) {
        const pending = new Map(next.pending)
        pending.delete(fact.data.commandId)
        next.pending = pending
        next.steps = bumpStep(next.steps, step, 'commandsCompleted')
        if (failed) next.steps = bumpStep(next.steps, step, 'commandsFailed')
      }
      break
    }
    case 'shutdown.completed': {
      const { shutdownId: _id, ...rest } = fact.data
      next.completed = { ...rest, at: fact.ts }
      break
    }
  }
  return next
}

function bumpStep(steps: StepProgress[], step: number, field: 'commandsIssued' | 'commandsCompleted' | 'commandsFailed'): StepProgress[] {
  for (let i = steps.length - 1; i >= 0; i--) {
    if (steps[i]!.step === step) {
      const out = [...steps]
      out[i] = { ...steps[i]!, [field]: steps[i]![field] + 1 }
      return out
    }
  }
  return steps
}
