import {
  recordedShutdownOptions,
  ShutdownOptions,
  type CommandOutcome,
  type EventData,
  type HaltdEvent,
  type Origin,
  type ShutdownCommand,
  type ShutdownMode,
  type ShutdownStatus,
  type StepStatus,
} from '../events/index.js'
import type { AnomalySink } from './anomalies.js'

/**
 * A shutdown's stream (`shutdown:<id>`), folded once. The same state serves the shutdown's
 * decider (which step runs, its commands and what they came to, the options it was started
 * with) and the read side: status, audit and report (`shutdownProgress` below: counts,
 * durations, the timeline). Graceful and emergency differ only in their step tables
 * (src/core/shutdown); an escalated shutdown goes on in the same stream with the emergency steps.
 */

/** Which procedure a step or command belongs to: the one running when it was recorded. */
export type Procedure = ShutdownMode

export type CommandRecord = {
  commandId: string
  procedure: Procedure
  step: number
  command: ShutdownCommand
  outcome?: CommandOutcome
  detail?: Record<string, unknown>
}

/** One attempt at a step: a step runs again after haltd stopped in the middle of it. */
export type StepRecord = {
  procedure: Procedure
  step: number
  name: string
  status: StepStatus
  /** When its start was recorded; absent for a step that ended, or was skipped, without one. */
  startedAt?: number
  /** The seq of its start, so the audit can point at a start that never ended. */
  startedSeq?: number
  endedAt?: number
  /** The commands it issued, oldest first, by id (the records are in `ShutdownState.commands`). */
  commandIds: string[]
  /** Commands issued and not yet completed. */
  pending: number
  /** The budget it ran out of, when it timed out. */
  budgetMs?: number
  detail?: Record<string, unknown>
  error?: string
}

/**
 * Folded in place: `evolveShutdown` writes into the state it is given and returns it (copying
 * the command list per event would make a 10,000-order shutdown quadratic). A state handed to
 * `evolveShutdown` belongs to it; deciders and selectors only read.
 */
export type ShutdownState = {
  /** From the stream's first event (absent before any). */
  shutdownId?: string
  /** The mode it was requested in; absent until the request is folded: a shutdown is started by its request. */
  mode?: ShutdownMode
  /** The procedure running now: emergency after an escalation. */
  procedure: Procedure
  reason: string
  origin?: Origin
  requestedAt?: number
  /** As recorded, defaults filled in. */
  options: ShutdownOptions
  escalation?: { reason: string; origin: Origin; at?: number; seq?: number }
  /** Every attempt at a step, in the order they were recorded. */
  steps: StepRecord[]
  /** Every command issued, by id (ids are unique within a shutdown). */
  commands: Map<string, CommandRecord>
  ignoredRequests: number
  /** The requests that arrived once it ran and changed nothing (the first `IGNORED_KEPT`; `ignoredRequests` counts all). */
  ignored: IgnoredRequest[]
  completed?: Omit<EventData<'shutdown.completed'>, 'shutdownId'> & { at?: number }
  /** Time of the newest event folded (from the envelopes), for durations. */
  lastTs?: number
}

/** A request for a shutdown while one ran that changed nothing (an emergency already under way), as recorded. */
export type IgnoredRequest = { mode: ShutdownMode; reason: string; origin: Origin; at?: number; seq?: number; count?: number }

/** How many ignored requests a fold keeps by name: a flood of signals must not grow it without end. */
export const IGNORED_KEPT = 20

/**
 * A stored shutdown event: an Envelope or a projection's Fact is one. `ts` and `seq` are
 * absent only in events built by hand (the deciders' given/when/then tests).
 */
export type ShutdownFact = Extract<HaltdEvent, { type: `shutdown.${string}` }> & { ts?: number; seq?: number }

const quiet: AnomalySink = () => {}

export function initialShutdownState(): ShutdownState {
  return { procedure: 'graceful', reason: '', options: ShutdownOptions.parse({}), steps: [], commands: new Map(), ignoredRequests: 0, ignored: [] }
}

const optionsOf = recordedShutdownOptions

/** The last attempt at a step (by number and name, in any procedure) if it is still running: the one its end closes. */
export function openStep(state: ShutdownState, step: number, name: string): StepRecord | undefined {
  for (let i = state.steps.length - 1; i >= 0; i--) {
    const s = state.steps[i]!
    if (s.step === step && s.name === name) return s.status === 'running' ? s : undefined
  }
  return undefined
}

/** The last attempt at a step of a procedure, by number: where its commands are booked. */
function lastStepOf(state: ShutdownState, procedure: Procedure, step: number): StepRecord | undefined {
  for (let i = state.steps.length - 1; i >= 0; i--) {
    const s = state.steps[i]!
    if (s.step === step && s.procedure === procedure) return s
  }
  return undefined
}

/**
 * Apply one event of the shutdown's stream. Mutates and returns `state`; reads nothing else but
 * the event, and never throws. `note` hears of events that break the stream's rules (an event
 * before the request, a step that ends without a start): applied all the same, and reported.
 */
export function evolveShutdown(state: ShutdownState, event: ShutdownFact, note: AnomalySink = quiet): ShutdownState {
  const id = event.data.shutdownId
  if (state.shutdownId === undefined) {
    state.shutdownId = id
    if (event.type !== 'shutdown.requested')
      note('shutdown-event-without-request', `${event.type} for shutdown ${id} that was never requested`, { shutdownId: id })
  }
  if (event.ts !== undefined) state.lastTs = event.ts
  switch (event.type) {
    case 'shutdown.requested': {
      const d = event.data
      state.mode = d.mode
      state.procedure = d.mode
      state.reason = d.reason
      state.origin = d.origin
      state.requestedAt = event.ts
      state.options = optionsOf(d.options)
      return state
    }
    case 'shutdown.step-started':
      state.steps.push({
        procedure: state.procedure,
        step: event.data.step,
        name: event.data.name,
        status: 'running',
        startedAt: event.ts,
        startedSeq: event.seq,
        commandIds: [],
        pending: 0,
      })
      return state
    case 'shutdown.step-completed':
    case 'shutdown.step-failed':
    case 'shutdown.step-timed-out':
    case 'shutdown.step-skipped': {
      const { step, name } = event.data
      let s = openStep(state, step, name)
      if (!s) {
        // a step is skipped without a start; any other end needs one
        if (event.type !== 'shutdown.step-skipped')
          note('step-end-without-start', `step ${step} (${name}) of shutdown ${id} ended without a start`, { shutdownId: id })
        s = { procedure: state.procedure, step, name, status: 'running', commandIds: [], pending: 0 }
        state.steps.push(s)
      }
      s.endedAt = event.ts
      if (event.type === 'shutdown.step-completed') {
        s.status = 'completed'
        if (event.data.detail) s.detail = event.data.detail
      } else if (event.type === 'shutdown.step-failed') {
        s.status = 'failed'
        s.error = event.data.error
      } else if (event.type === 'shutdown.step-timed-out') {
        s.status = 'timed-out'
        s.budgetMs = event.data.budgetMs
        if (event.data.remaining) s.detail = event.data.remaining
      } else {
        s.status = 'skipped'
        s.error = event.data.reason
      }
      return state
    }
    case 'shutdown.command-issued': {
      const { commandId, step } = event.data
      state.commands.set(commandId, { commandId, procedure: state.procedure, step, command: event.data.command as ShutdownCommand })
      const s = lastStepOf(state, state.procedure, step)
      if (s) {
        s.commandIds.push(commandId)
        s.pending++
      }
      return state
    }
    case 'shutdown.command-completed': {
      const record = state.commands.get(event.data.commandId)
      if (!record || record.outcome !== undefined) return state
      record.outcome = event.data.outcome
      if (event.data.detail) record.detail = event.data.detail
      const s = lastStepOf(state, record.procedure, record.step)
      if (s) s.pending--
      return state
    }
    case 'shutdown.escalated':
      state.procedure = 'emergency'
      state.escalation = { reason: event.data.reason, origin: event.data.origin, at: event.ts, seq: event.seq }
      return state
    case 'shutdown.request-ignored':
      state.ignoredRequests += event.data.count ?? 1
      if (state.ignored.length < IGNORED_KEPT) {
        const { mode, reason, origin, count } = event.data
        state.ignored.push({
          mode,
          reason,
          origin,
          ...(count !== undefined ? { count } : {}),
          ...(event.ts !== undefined ? { at: event.ts } : {}),
          ...(event.seq !== undefined ? { seq: event.seq } : {}),
        })
      }
      return state
    case 'shutdown.completed': {
      const { shutdownId: _id, ...rest } = event.data
      state.completed = { ...rest, at: event.ts }
      return state
    }
  }
  return state
}

// ── reading the fold ───────────────────────────────────────────────────────────────────────

/** The step of the running procedure that is open now, if any. */
export function runningStep(state: ShutdownState): StepRecord | undefined {
  const last = state.steps[state.steps.length - 1]
  return last && last.procedure === state.procedure && last.status === 'running' ? last : undefined
}

/** A step's commands, oldest first, with what they came to. */
export function commandsOf(state: ShutdownState, step: StepRecord): CommandRecord[] {
  return step.commandIds.map((id) => state.commands.get(id)!)
}

/** The mode the shutdown runs in now: as requested, emergency once escalated; null while the log holds neither. */
export function runningMode(state: ShutdownState): ShutdownMode | null {
  return state.mode !== undefined || state.escalation !== undefined ? state.procedure : null
}

/**
 * The runbook's system status, read from where the shutdown stands: SHUTTING_DOWN_SOON from the
 * request through the announcement (step 1) until step 4 closes the gate, SHUTTING_DOWN from
 * then on, EMERGENCY_SHUTDOWN once the emergency path runs, SHUT_DOWN when it completed.
 * Undefined before the request.
 */
export function shutdownStatus(state: {
  mode?: ShutdownMode | null | undefined
  completed?: unknown
  procedure: Procedure
  steps: readonly { procedure: Procedure; step: number }[]
}): ShutdownStatus | undefined {
  if (state.mode === undefined || state.mode === null) return undefined
  if (state.completed) return 'SHUT_DOWN'
  if (state.procedure === 'emergency') return 'EMERGENCY_SHUTDOWN'
  return state.steps.some((s) => s.procedure === 'graceful' && s.step >= 4) ? 'SHUTTING_DOWN' : 'SHUTTING_DOWN_SOON'
}

/** A step as status and audit show it: its times, its duration and its commands counted. */
export type StepProgress = {
  step: number
  name: string
  /** null for a step that ended without a recorded start (reported as an anomaly); a skipped step shows when it was skipped. */
  startedAt: number | null
  endedAt?: number
  outcome: StepStatus
  durationMs?: number
  error?: string
  detail?: Record<string, unknown>
  budgetMs?: number
  commandsIssued: number
  commandsCompleted: number
  commandsFailed: number
}

/** A shutdown as status and audit show it, read from its fold. */
export type ShutdownProgress = {
  shutdownId: string
  /** The mode it runs in now (see `runningMode`); null when step events arrived for a shutdown whose request is not in the log. */
  mode: ShutdownMode | null
  reason: string
  origin: Origin | null
  options: ShutdownOptions
  requestedAt: number | null
  escalation?: { to: 'emergency'; reason: string; origin: Origin; at?: number; seq?: number }
  ignoredRequests: number
  ignored: IgnoredRequest[]
  steps: StepProgress[]
  commandsIssued: number
  commandsCompleted: number
  commandsFailed: number
  completed?: ShutdownState['completed']
}

export function shutdownProgress(state: ShutdownState): ShutdownProgress {
  let completedCount = 0
  let failedCount = 0
  for (const c of state.commands.values()) {
    if (c.outcome === undefined) continue
    completedCount++
    if (c.outcome !== 'ok') failedCount++
  }
  const steps = state.steps.map((s): StepProgress => {
    let completed = 0
    let failed = 0
    for (const id of s.commandIds) {
      const outcome = state.commands.get(id)?.outcome
      if (outcome === undefined) continue
      completed++
      if (outcome !== 'ok') failed++
    }
    const startedAt = s.startedAt ?? (s.status === 'skipped' ? (s.endedAt ?? null) : null)
    const view: StepProgress = {
      step: s.step,
      name: s.name,
      startedAt,
      outcome: s.status,
      commandsIssued: s.commandIds.length,
      commandsCompleted: completed,
      commandsFailed: failed,
    }
    if (s.endedAt !== undefined) {
      view.endedAt = s.endedAt
      if (startedAt !== null) view.durationMs = s.endedAt - startedAt
    }
    if (s.error !== undefined) view.error = s.error
    if (s.detail !== undefined) view.detail = s.detail
    if (s.budgetMs !== undefined) view.budgetMs = s.budgetMs
    return view
  })
  const e = state.escalation
  return {
    shutdownId: state.shutdownId ?? '',
    mode: runningMode(state),
    reason: state.reason,
    origin: state.origin ?? null,
    options: state.options,
    requestedAt: state.requestedAt ?? null,
    ...(e ? { escalation: { to: 'emergency' as const, ...e } } : {}),
    ignoredRequests: state.ignoredRequests,
    ignored: state.ignored.map((r) => ({ ...r })),
    steps,
    commandsIssued: state.commands.size,
    commandsCompleted: completedCount,
    commandsFailed: failedCount,
    ...(state.completed ? { completed: state.completed } : {}),
  }
}

/** How long one procedure of a shutdown ran; the emergency's (and a graceful one's that ran to its end) against its own deadline. */
export type ShutdownPhase = { durationMs: number; deadlineMs?: number; withinDeadline?: boolean }

/**
 * A completed shutdown's time by procedure. An escalated one gives its graceful part (request to
 * escalation) apart, and judges the emergency from the escalation, where its deadline starts:
 * never the whole run against the emergency's deadline. Undefined before its completion.
 */
export function shutdownPhases(s: {
  mode?: ShutdownMode | null | undefined
  requestedAt?: number | null | undefined
  escalation?: { at?: number | undefined } | undefined
  completed?: { at?: number | undefined; durationMs?: number | undefined } | undefined
  options: ShutdownOptions
}): { graceful?: ShutdownPhase; emergency?: ShutdownPhase } | undefined {
  const start = s.requestedAt ?? undefined
  if (start === undefined || s.completed === undefined) return undefined
  // the run's end as its completion recorded it, so that the parts add up to its duration
  const end = s.completed.durationMs !== undefined ? start + s.completed.durationMs : s.completed.at
  if (end === undefined) return undefined
  const judged = (durationMs: number, deadlineMs: number): ShutdownPhase => ({ durationMs, deadlineMs, withinDeadline: durationMs <= deadlineMs })
  const escalatedAt = s.escalation?.at
  if (escalatedAt !== undefined) return { graceful: { durationMs: escalatedAt - start }, emergency: judged(end - escalatedAt, s.options.emergency.deadlineMs) }
  if (s.escalation !== undefined) return undefined
  return s.mode === 'emergency'
    ? { emergency: judged(end - start, s.options.emergency.deadlineMs) }
    : { graceful: judged(end - start, s.options.graceful.deadlineMs) }
}
