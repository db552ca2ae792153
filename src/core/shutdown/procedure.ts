import type { EventData, HaltdEvent, Origin, ShutdownMode, StepName } from '../../events/index.js'
import { exitCodeFor } from './exit-codes.js'
import { parseRecordedShutdownOptions, parseShutdownOptions, type ShutdownOptions } from './options.js'
import type { CommandOutcome, ShutdownCommand, ShutdownStatus, ShutdownWorld } from './types.js'

/**
 * The state every shutdown procedure folds from its stream (`shutdown:<id>`), and the small
 * engine that walks a procedure's steps in runbook order. Graceful and emergency differ only in
 * their step tables (graceful.ts, emergency.ts).
 */

export type Procedure = 'graceful' | 'emergency'
export type StepStatus = 'running' | 'completed' | 'failed' | 'timed-out' | 'skipped'

export type CommandRecord = {
  commandId: string
  procedure: Procedure
  step: number
  command: ShutdownCommand
  outcome?: CommandOutcome
  detail?: Record<string, unknown>
}

export type StepRecord = {
  procedure: Procedure
  step: number
  name: string
  status: StepStatus
  startedAt?: number
  endedAt?: number
  commands: CommandRecord[]
  /** Commands issued and not yet completed. */
  pending: number
  detail?: Record<string, unknown>
  error?: string
}

/**
 * Folded in place: `evolve` writes into the state it is given and returns it (copying every
 * command list per event would make a 10,000-order shutdown quadratic). A state handed to
 * `evolve` belongs to it; `decide` only reads.
 */
export type ShutdownState = {
  shutdownId?: string
  mode?: ShutdownMode
  /** The procedure running now: emergency after an escalation. */
  procedure: Procedure
  reason: string
  origin?: Origin
  requestedAt?: number
  options: ShutdownOptions
  escalation?: { reason: string; origin: Origin; at?: number }
  steps: StepRecord[]
  commands: Map<string, CommandRecord>
  ignoredRequests: number
  completed?: Omit<EventData<'shutdown.completed'>, 'shutdownId'> & { at?: number }
  /** Time of the newest event folded (from the envelopes), for durations. */
  lastTs?: number
}

/** A stored shutdown event (an Envelope is one); `ts` is absent only in hand-built tests. */
export type ShutdownFact = Extract<HaltdEvent, { type: `shutdown.${string}` }> & { ts?: number }

export function initialShutdownState(): ShutdownState {
  return { procedure: 'graceful', reason: '', options: parseShutdownOptions({}), steps: [], commands: new Map(), ignoredRequests: 0 }
}

function lastStep(state: ShutdownState, step: number, name?: string): StepRecord | undefined {
  for (let i = state.steps.length - 1; i >= 0; i--) {
    const s = state.steps[i]!
    if (s.step === step && s.procedure === state.procedure && (name === undefined || s.name === name)) return s
  }
  return undefined
}

export function evolveShutdown(state: ShutdownState, event: ShutdownFact): ShutdownState {
  if (event.ts !== undefined) state.lastTs = event.ts
  switch (event.type) {
    case 'shutdown.requested': {
      const d = event.data
      state.shutdownId = d.shutdownId
      state.mode = d.mode
      state.procedure = d.mode
      state.reason = d.reason
      state.origin = d.origin
      state.requestedAt = event.ts
      state.options = parseRecordedShutdownOptions(d.options)
      return state
    }
    case 'shutdown.step-started':
      state.steps.push({ procedure: state.procedure, step: event.data.step, name: event.data.name, status: 'running', startedAt: event.ts, commands: [], pending: 0 })
      return state
    case 'shutdown.step-completed':
    case 'shutdown.step-failed':
    case 'shutdown.step-timed-out':
    case 'shutdown.step-skipped': {
      let s = lastStep(state, event.data.step, event.data.name)
      if (!s || s.status !== 'running') {
        s = { procedure: state.procedure, step: event.data.step, name: event.data.name, status: 'running', commands: [], pending: 0 }
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
        if (event.data.remaining) s.detail = event.data.remaining
      } else {
        s.status = 'skipped'
        s.error = event.data.reason
      }
      return state
    }
    case 'shutdown.command-issued': {
      const s = lastStep(state, event.data.step)
      const record: CommandRecord = {
        commandId: event.data.commandId,
        procedure: state.procedure,
        step: event.data.step,
        command: event.data.command as ShutdownCommand,
      }
      state.commands.set(record.commandId, record)
      if (s) {
        s.commands.push(record)
        s.pending++
      }
      return state
    }
    case 'shutdown.command-completed': {
      const record = state.commands.get(event.data.commandId)
      if (!record || record.outcome !== undefined) return state
      record.outcome = event.data.outcome
      if (event.data.detail) record.detail = event.data.detail
      for (let i = state.steps.length - 1; i >= 0; i--) {
        const s = state.steps[i]!
        if (s.procedure === record.procedure && s.step === record.step) {
          s.pending--
          break
        }
      }
      return state
    }
    case 'shutdown.escalated':
      state.procedure = 'emergency'
      state.escalation = { reason: event.data.reason, origin: event.data.origin, at: event.ts }
      return state
    case 'shutdown.request-ignored':
      state.ignoredRequests++
      return state
    case 'shutdown.completed': {
      const { shutdownId: _id, ...rest } = event.data
      state.completed = { ...rest, at: event.ts }
      return state
    }
  }
  return state
}

/**
 * The runbook's system status, read from where the shutdown stands: SHUTTING_DOWN_SOON from the
 * request through the announcement (step 1) until step 4 closes the gate, SHUTTING_DOWN from
 * then on, EMERGENCY_SHUTDOWN once the emergency path runs, SHUT_DOWN when it completed.
 */
export type { ShutdownStatus }

export function shutdownStatus(state: {
  shutdownId?: string | undefined
  completed?: unknown
  procedure: Procedure
  steps: readonly { procedure: Procedure; step: number }[]
}): ShutdownStatus | undefined {
  if (state.shutdownId === undefined) return undefined
  if (state.completed) return 'SHUT_DOWN'
  if (state.procedure === 'emergency') return 'EMERGENCY_SHUTDOWN'
  return state.steps.some((s) => s.procedure === 'graceful' && s.step >= 4) ? 'SHUTTING_DOWN' : 'SHUTTING_DOWN_SOON'
}

// ── the step engine ────────────────────────────────────────────────────────────────────────

/** An earlier step of the running procedure as it ended. */
export type EndedStep = { step: number; name: string; status: StepStatus; detail?: Record<string, unknown>; error?: string }

export type StepContext = {
  shutdownId: string
  state: ShutdownState
  options: ShutdownOptions
  world: ShutdownWorld
  /** This step's commands so far, oldest first, with their outcomes. */
  commands: readonly CommandRecord[]
  /** How an earlier step of this procedure ended (steps ended in this same decision included). */
  ended(name: string): EndedStep | undefined
}

export type StepPlan =
  | { kind: 'issue'; commands: ShutdownCommand[] }
  | { kind: 'complete'; detail?: Record<string, unknown> }
  | { kind: 'fail'; error: string }
  | { kind: 'time-out'; remaining?: Record<string, unknown> }

/**
 * One runbook step: the commands it wants, given the state, as a small pure function. `plan` is
 * asked again each time the step's commands have all completed, until it ends the step.
 */
export type StepDef = {
  step: number
  name: StepName
  budgetMs(options: ShutdownOptions): number
  /** A reason to skip the step, or undefined to run it. */
  skip?(ctx: StepContext): string | undefined
  /** Facts about haltd itself the step records as it starts (trading state, locks). */
  start?(ctx: StepContext): HaltdEvent[]
  plan(ctx: StepContext): StepPlan
}

export type ProcedureDef = {
  procedure: Procedure
  steps: readonly StepDef[]
  /** The overall deadline, from when the procedure began. */
  deadlineMs(options: ShutdownOptions): number
  /** Whether every command, local ones included, must end by the deadline (emergency), or only venue calls (graceful). */
  strictDeadline: boolean
  /** How the procedure ended; the exit code follows from it (`exitCodeFor`). */
  finish(ctx: StepContext): EventData<'shutdown.completed'>['outcome']
}

/** Deterministic from the state: an audit re-running `decide` gets the same ids. */
export const commandIdOf = (shutdownId: string, procedure: Procedure, step: number, n: number): string =>
  `${shutdownId}:${procedure}.${step}:${n}`

/** The error a step ends with when haltd stopped in the middle of it; such a step runs again on resume. */
export const INTERRUPTED = 'interrupted: haltd stopped during this step'
export const isInterrupted = (s: StepRecord): boolean => s.status === 'failed' && (s.error ?? '').startsWith(INTERRUPTED)

/** The step of the running procedure that is open now, if any. */
export function runningStep(state: ShutdownState): StepRecord | undefined {
  const last = state.steps[state.steps.length - 1]
  return last && last.procedure === state.procedure && last.status === 'running' ? last : undefined
}

/**
 * Walk the procedure from where the state stands: end the running step when its plan says so,
 * start (or skip) the next ones, and stop at the first step that issues commands and must wait
 * for them. Returns the events to append, in order.
 */
export function advance(def: ProcedureDef, state: ShutdownState, world: ShutdownWorld): HaltdEvent[] {
  const shutdownId = state.shutdownId
  if (shutdownId === undefined || state.completed) return []
  const out: HaltdEvent[] = []
  const mine = state.steps.filter((s) => s.procedure === def.procedure)
  const endedHere: EndedStep[] = []
  const ended = (name: string): EndedStep | undefined => {
    for (let i = endedHere.length - 1; i >= 0; i--) if (endedHere[i]!.name === name) return endedHere[i]
    for (let i = mine.length - 1; i >= 0; i--) if (mine[i]!.name === name && mine[i]!.status !== 'running') return mine[i]
    return undefined
  }
  const ctxFor = (commands: readonly CommandRecord[]): StepContext => ({ shutdownId, state, options: state.options, world, commands, ended })

  // Ids count every attempt at a step, so a step run again after a restart gets fresh ones.
  const issuedBefore = (step: number, except?: StepRecord): number =>
    mine.reduce((n, s) => (s.step === step && s !== except ? n + s.commands.length : n), 0)
  const lastMine = mine[mine.length - 1]
  let index = lastMine ? def.steps.findIndex((s) => s.step === lastMine.step) : -1
  let open: { def: StepDef; commands: readonly CommandRecord[]; offset: number } | undefined
  if (lastMine && lastMine.status === 'running' && index >= 0) {
    if (lastMine.pending > 0) return out
    open = { def: def.steps[index]!, commands: lastMine.commands, offset: issuedBefore(lastMine.step, lastMine) }
  } else if (!(lastMine && isInterrupted(lastMine))) {
    // an interrupted step runs again; any other ended step hands over to the next
    index++
  }

  // Bounded: each pass ends a step or starts one, and a step is planned at most twice here.
  for (let guard = 0; guard < def.steps.length * 3 + 3; guard++) {
    if (open) {
      const { def: step, commands, offset } = open
      const plan = step.plan(ctxFor(commands))
      const base = { shutdownId, step: step.step, name: step.name }
      if (plan.kind === 'issue') {
        if (plan.commands.length === 0) throw new Error(`step ${step.step} (${step.name}) planned an empty batch`)
        plan.commands.forEach((command, i) => {
          const commandId = commandIdOf(shutdownId, def.procedure, step.step, offset + commands.length + i + 1)
          out.push({ type: 'shutdown.command-issued', data: { shutdownId, commandId, step: step.step, command } })
        })
        return out
      }
      let end: EndedStep
      if (plan.kind === 'complete') {
        out.push({ type: 'shutdown.step-completed', data: plan.detail ? { ...base, detail: plan.detail } : base })
        end = { step: step.step, name: step.name, status: 'completed', ...(plan.detail ? { detail: plan.detail } : {}) }
      } else if (plan.kind === 'fail') {
        out.push({ type: 'shutdown.step-failed', data: { ...base, error: plan.error } })
        end = { step: step.step, name: step.name, status: 'failed', error: plan.error }
      } else {
        const budgetMs = step.budgetMs(state.options)
        out.push({ type: 'shutdown.step-timed-out', data: plan.remaining ? { ...base, budgetMs, remaining: plan.remaining } : { ...base, budgetMs } })
        end = { step: step.step, name: step.name, status: 'timed-out', ...(plan.remaining ? { detail: plan.remaining } : {}) }
      }
      endedHere.push(end)
      open = undefined
      index++
      continue
    }
    const step = def.steps[index]
    if (!step) {
      const outcome = def.finish(ctxFor([]))
      const exitCode = exitCodeFor(outcome)
      const durationMs = Math.max(0, (state.lastTs ?? 0) - (state.requestedAt ?? state.lastTs ?? 0))
      out.push({ type: 'shutdown.completed', data: { shutdownId, outcome, exitCode, durationMs } })
      return out
    }
    const ctx = ctxFor([])
    const why = step.skip?.(ctx)
    if (why !== undefined) {
      out.push({ type: 'shutdown.step-skipped', data: { shutdownId, step: step.step, name: step.name, reason: why } })
      endedHere.push({ step: step.step, name: step.name, status: 'skipped', error: why })
      index++
      continue
    }
    out.push({ type: 'shutdown.step-started', data: { shutdownId, step: step.step, name: step.name } })
    out.push(...(step.start?.(ctx) ?? []))
    open = { def: step, commands: [], offset: issuedBefore(step.step) }
  }
  throw new Error(`the ${def.procedure} procedure did not settle (a step keeps ending without progress)`)
}

/** Helpers the step tables share. */
export const outcomes = {
  allOk: (commands: readonly CommandRecord[]): boolean => commands.every((c) => c.outcome === 'ok'),
  anyTimedOut: (commands: readonly CommandRecord[]): boolean => commands.some((c) => c.outcome === 'timed-out'),
  failures: (commands: readonly CommandRecord[]): string[] =>
    commands
      .filter((c) => c.outcome !== undefined && c.outcome !== 'ok')
      .map((c) => `${describe(c.command)}: ${c.outcome}${typeof c.detail?.error === 'string' ? ` (${c.detail.error})` : ''}`),
}

export function describe(command: ShutdownCommand): string {
  switch (command.kind) {
    case 'cancel-order':
      return `cancel ${command.venue} ${command.clientOrderId}`
    case 'cancel-all':
    case 'arm-dead-mans-switch':
    case 'observe-venue':
    case 'close-venue':
      return `${command.kind} ${command.venue}`
    case 'flatten':
      return `flatten ${command.venue} ${command.symbol} ${command.side} ${command.qty}`
    case 'stop-service':
      return `stop ${command.service}`
    default:
      return command.kind
  }
}
