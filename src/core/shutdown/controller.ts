import type { Envelope, HaltdEvent, Origin, ShutdownMode } from '../../events/index.js'
import { uuidIds, type IdSource } from '../../events/clock.js'
import type { EventLog } from '../log/event-log.js'
import { foldShutdown, PROCEDURES, shutdownDecider } from './decider.js'
import { ENGINE_STOP_MS } from './engine-control.js'
import type { ShutdownOptionsInput } from './options.js'
import type { ShutdownPorts } from './ports.js'
import { isInterrupted, runningStep, shutdownStatus, type Procedure, type ShutdownState, type ShutdownStatus } from './procedure.js'
import type { ShutdownReport } from './report.js'
import { ShutdownRunner } from './runner.js'
import type { ShutdownRequest, VenueInfo } from './types.js'

export type ShutdownRequestInput = {
  mode: ShutdownMode
  reason: string
  origin: Origin
  /** Overrides the controller's default options for this shutdown (venues are filled in from the gateways). */
  options?: ShutdownOptionsInput
  /** The id given at the request when the shutdown had to wait (for a handover to end), so its answer and its report tie together. */
  shutdownId?: string
}

export type ShutdownHandle = {
  shutdownId: string
  /** `started` a new shutdown, `escalated` the running one to emergency, or `ignored` (recorded, nothing else). */
  status: 'started' | 'escalated' | 'ignored'
  done: Promise<ShutdownReport>
}

/**
 * Where shutdown requests arrive (signals, admin API, risk triggers, the daemon's startup). It
 * closes the gate for an emergency before anything else, starts a runner for a new shutdown,
 * and turns a request during a running shutdown into an escalation or a recorded no-op.
 */
export class ShutdownController {
  private active: ShutdownRunner | undefined
  private activeDone: Promise<ShutdownReport> | undefined
  private readonly ids: IdSource
  /** The running shutdown's ignored requests by kind (mode, origin, reason): recorded once, and how many alike wait to be recorded together. */
  private readonly ignoredKinds = new Map<string, { request: ShutdownRequest; waiting: number }>()
  private ignoredTimer: NodeJS.Timeout | undefined

  constructor(private readonly ports: ShutdownPorts & { ids?: IdSource; options?: ShutdownOptionsInput }) {
    this.ids = ports.ids ?? uuidIds
  }

  /** The shutdown running now, if any. */
  get running(): { shutdownId: string; state: Readonly<ShutdownState>; status: ShutdownStatus } | undefined {
    const r = this.active
    return r && !r.current.completed ? { shutdownId: r.shutdownId, state: r.current, status: shutdownStatus(r.current) ?? 'SHUTTING_DOWN_SOON' } : undefined
  }

  /** An id for a shutdown asked for now and started later (see `ShutdownRequestInput.shutdownId`). */
  reserveId(): string {
    return this.ids.next()
  }

  requestShutdown(request: ShutdownRequestInput): ShutdownHandle {
    // Synchronous and first: no order passes between the decision to stop and anything after it.
    if (request.mode === 'emergency') this.ports.gate.halt(`emergency shutdown requested (${request.origin}): ${request.reason}`)
    const req = { mode: request.mode, reason: request.reason, origin: request.origin }
    const running = this.active
    if (running && !running.current.completed && this.activeDone) {
      const events = shutdownDecider.decide({ kind: 'request', request: req }, running.current as ShutdownState)
      const escalated = events.some((e) => e.type === 'shutdown.escalated')
      const handle = { shutdownId: running.shutdownId, status: escalated ? 'escalated' : 'ignored', done: this.activeDone } as const
      if (!escalated) {
        // A request like one recorded already (a flood of signals) is counted, and recorded with the others alike within a moment
        const kind = this.ignoredKinds.get(requestKind(req))
        if (kind) {
          kind.waiting++
          this.ignoredTimer ??= setTimeout(() => this.recordIgnored(), IGNORED_COALESCE_MS).unref()
          return handle
        }
      }
      this.appendRequest(running, events)
      // the first of its kind counts as recorded once the log took it
      if (!escalated) this.ignoredKinds.set(requestKind(req), { request: req, waiting: 0 })
      return handle
    }
    const shutdownId = request.shutdownId ?? this.ids.next()
    const given = { ...(this.ports.options ?? {}), ...(request.options ?? {}) }
    // Recorded explicitly: a log without the field replays with the behaviour before it existed.
    const emergency = { observeAfterCancels: true, settleByObservation: true, observeAfterSettles: true, ...given.emergency }
    const graceful = {
      observePositions: true,
      settleByObservation: true,
      engineRunningIsExposure: true,
      exposureOutranksFailure: true,
      fillUnknownIsExposure: true,
      cancelAllFirst: true,
      ...given.graceful,
    }
    const engine = given.engine === undefined ? {} : { engine: { stopMs: ENGINE_STOP_MS, ...given.engine } }
    const notLeading = this.ports.notLeading?.()
    const options = {
      ...given,
      ...engine,
      ...(notLeading === undefined ? {} : { notLeading: notLeading.slice(0, 1_000) }),
      reportNamesUnpriced: true,
      emergency,
      graceful,
      venues: this.venueInfo(request.options),
    }
    const events = shutdownDecider.decide({ kind: 'start', shutdownId, request: req, options }, foldShutdown([]))
    this.ports.log.appendBatch(events.map((e) => ({ ...e, causationId: `${shutdownId}:start:0`, correlationId: shutdownId })))
    return this.runToEnd(shutdownId, 'started')
  }

  /**
   * On startup: finish a shutdown the previous run left unfinished, from the step it was in
   * (that step runs again). Undefined when there is none.
   */
  resumeUnfinished(): ShutdownHandle | undefined {
    const found = findUnfinishedShutdown(this.ports.log)
    if (!found) return undefined
    if (found.procedure === 'emergency' || found.afterGateClosed) this.ports.gate.halt(`resuming unfinished shutdown ${found.shutdownId}`)
    return this.runToEnd(found.shutdownId, 'started')
  }

  private appendRequest(running: ShutdownRunner, events: readonly HaltdEvent[]): void {
    const causationId = `${running.shutdownId}:request:${this.ports.clock.now()}`
    this.ports.log.appendBatch(events.map((e) => ({ ...e, causationId, correlationId: running.shutdownId })))
  }

  /**
   * Record the ignored requests counted since the last of their kind was recorded, one event per
   * kind with their number. Runs a moment after the first of them, and before each of the runner's
   * decisions, so none is left uncounted when the shutdown completes.
   */
  private recordIgnored(): boolean {
    clearTimeout(this.ignoredTimer)
    this.ignoredTimer = undefined
    const running = this.active
    let appended = false
    for (const kind of this.ignoredKinds.values()) {
      if (kind.waiting === 0 || !running || running.current.completed) continue
      try {
        this.appendRequest(running, shutdownDecider.decide({ kind: 'request', request: kind.request, count: kind.waiting }, running.current as ShutdownState))
        kind.waiting = 0
        appended = true
      } catch {
        // kept counted: the log took no write (haltd is halted for it, and the runner's own appends say so); tried again before the next decision
      }
    }
    return appended
  }

  private runToEnd(shutdownId: string, status: ShutdownHandle['status']): ShutdownHandle {
    this.ignoredKinds.clear()
    const runner = new ShutdownRunner(this.ports, shutdownId, () => this.recordIgnored())
    this.active = runner
    this.activeDone = runner.run()
    return { shutdownId, status, done: this.activeDone }
  }

  private venueInfo(override?: ShutdownOptionsInput): VenueInfo[] {
    const given = new Map((override?.venues ?? this.ports.options?.venues ?? []).map((v) => [v.name, v]))
    for (const [name, g] of this.ports.venues) {
      if (!given.has(name))
        given.set(name, { name, massCancel: g.capabilities.massCancel, batchCancel: g.capabilities.batchCancel, deadMansSwitch: g.capabilities.deadMansSwitch })
    }
    return [...given.values()].map((v) => ({ massCancel: 'none', batchCancel: 0, deadMansSwitch: 'none', ...v }) as VenueInfo)
  }
}

/** How long ignored requests alike are counted before they are recorded together. */
export const IGNORED_COALESCE_MS = 1_000

/** What makes requests alike, to be counted together: the same mode, origin and reason. */
export const requestKind = (r: ShutdownRequest): string => JSON.stringify([r.mode, r.origin, r.reason])

/** Where an unfinished shutdown stands: what the daemon logs and resumes on startup. */
export type ResumePoint = {
  shutdownId: string
  mode: ShutdownMode | undefined
  procedure: Procedure
  /** The last step of the running procedure that ended normally (0 before any). */
  lastCompletedStep: number
  /** The step that runs next (again, if it was interrupted). */
  nextStep: { step: number; name: string } | undefined
  /** Commands that were out when haltd stopped: they get a `failed` outcome, never a guess. */
  interruptedCommands: string[]
  /** Whether trading had been halted already (step 4 of graceful, or any emergency). */
  afterGateClosed: boolean
}

/** Pure: from a shutdown's folded state, where it resumes. Undefined when it completed. */
export function resumePoint(state: ShutdownState): ResumePoint | undefined {
  if (state.mode === undefined || state.shutdownId === undefined || state.completed) return undefined
  const def = PROCEDURES[state.procedure]
  const mine = state.steps.filter((s) => s.procedure === state.procedure)
  const ended = mine.filter((s) => s.status !== 'running' && !isInterrupted(s))
  const open = runningStep(state)
  const last = mine[mine.length - 1]
  let nextStep: { step: number; name: string } | undefined
  if (open) nextStep = { step: open.step, name: open.name }
  else if (last && isInterrupted(last)) nextStep = { step: last.step, name: last.name }
  else {
    const at = last ? def.steps.findIndex((d) => d.step === last.step) + 1 : 0
    const d = def.steps[at]
    nextStep = d && { step: d.step, name: d.name }
  }
  const gateStep = state.steps.find((s) => s.procedure === 'graceful' && s.step === 4)
  return {
    shutdownId: state.shutdownId,
    mode: state.mode,
    procedure: state.procedure,
    lastCompletedStep: ended.reduce((n, s) => Math.max(n, s.step), 0),
    nextStep,
    interruptedCommands: [...state.commands.values()].filter((c) => c.outcome === undefined).map((c) => c.commandId),
    afterGateClosed: state.procedure === 'emergency' || gateStep !== undefined,
  }
}

/** The newest shutdown in the log that never completed, with where it resumes. */
export function findUnfinishedShutdown(log: EventLog): ResumePoint | undefined {
  let latest: string | undefined
  const done = new Set<string>()
  for (const e of log.read({ streamPrefix: 'shutdown:', types: ['shutdown.requested', 'shutdown.completed'] }) as Iterable<Envelope>) {
    const id = (e.data as { shutdownId: string }).shutdownId
    if (e.type === 'shutdown.requested') latest = id
    else done.add(id)
  }
  if (latest === undefined || done.has(latest)) return undefined
  return resumePoint(foldShutdown(log.read({ stream: `shutdown:${latest}` })))
}

/** What the risk monitor's `startEmergency` port is wired to: a trip with action EMERGENCY. */
export function emergencyFromRisk(controller: ShutdownController): (reason: string) => Promise<ShutdownReport> {
  return (reason) => controller.requestShutdown({ mode: 'emergency', reason, origin: 'risk' }).done
}
