import type { Envelope, HaltdEvent } from '../../events/index.js'
import { currentStepDef, decideShutdown, PROCEDURES } from './decider.js'
import { execute, VENUE_COMMANDS } from './effects.js'
import type { ShutdownPorts } from './ports.js'
import { commandsOf, evolveShutdown, initialShutdownState, runningStep, type Procedure, type ShutdownFact, type ShutdownState } from './procedure.js'
import { anchorOf } from '../log/anchor.js'
import { buildShutdownReport, type ShutdownReport } from './report.js'
import type { ShutdownCommand, ShutdownDecision } from './types.js'

type InFlight = { procedure: Procedure; abandon: AbortController }

/**
 * Runs one shutdown: asks the decider what to do, appends what it decided, carries out each
 * issued command under its step budget and the deadline, appends each outcome, and asks again,
 * until the decider records `shutdown.completed`. The state is folded from the log itself (the
 * runner subscribes to its stream), so requests appended by others (an escalation) count at once.
 */
export class ShutdownRunner {
  readonly shutdownId: string
  private readonly state: ShutdownState = initialShutdownState()
  private readonly inFlight = new Map<string, InFlight>()
  private readonly unsubscribe: () => void
  private wakeUp: (() => void) | undefined
  private decisions = 0
  private stepStartedAt: number
  private procedureStartedAt: number
  private done: Promise<ShutdownReport> | undefined
  /** An outcome that could not be recorded (the log closed or failed): the run stops with it. */
  private failure: unknown

  constructor(
    private readonly ports: ShutdownPorts,
    shutdownId: string,
    /** Called before each decision: what others have to record in the stream first (requests counted meanwhile); true where it appended. */
    private readonly beforeDeciding?: () => boolean,
  ) {
    this.shutdownId = shutdownId
    const stream = `shutdown:${shutdownId}`
    for (const e of ports.log.read({ stream })) evolveShutdown(this.state, e as ShutdownFact)
    this.unsubscribe = ports.log.subscribe(ports.log.lastSeq + 1, (e) => {
      if (e.stream === stream) this.onEvent(e)
    })
    if (this.state.mode === undefined) throw new Error(`shutdown ${shutdownId} has not been requested in the log`)
    const now = ports.clock.now()
    this.stepStartedAt = now
    // Budgets and deadlines count from when this process took over (a resumed shutdown gets them afresh).
    this.procedureStartedAt = Math.max(now, this.procedureStart())
  }

  /** The shutdown's state as folded so far. Read it, never write it. */
  get current(): Readonly<ShutdownState> {
    return this.state
  }

  private procedureStart(): number {
    return (this.state.procedure === 'emergency' ? this.state.escalation?.at : undefined) ?? this.state.requestedAt ?? 0
  }

  private onEvent(e: Envelope): void {
    const procedureBefore = this.state.procedure
    evolveShutdown(this.state, e as ShutdownFact)
    if (e.type === 'shutdown.step-started') this.stepStartedAt = this.ports.clock.now()
    if (procedureBefore === 'graceful' && this.state.procedure === 'emergency') this.onEscalated()
  }

  /**
   * An emergency took over: graceful commands still out are no longer waited for. Each is told so,
   * and one that acts on the engine records how its action ended (abandoned), so no action it
   * started is left open in the log when the emergency ends the process before it answers.
   */
  private onEscalated(): void {
    this.procedureStartedAt = this.ports.clock.now()
    const abandoned = [...this.inFlight].filter(([, c]) => c.procedure === 'graceful')
    for (const [commandId] of abandoned) this.inFlight.delete(commandId)
    // Appended on the next turn: we are inside the append that recorded the escalation.
    queueMicrotask(() => {
      try {
        for (const [, c] of abandoned) c.abandon.abort(new Error('the shutdown was escalated to emergency'))
        for (const [commandId] of abandoned) {
          this.complete(commandId, 'failed', { error: 'abandoned: the shutdown was escalated to emergency' })
        }
      } catch (e) {
        this.failure ??= e
      }
      this.wake()
    })
  }

  /** Run to completion (or resume an unfinished shutdown); resolves with the post-shutdown report. */
  run(): Promise<ShutdownReport> {
    this.done ??= this.loop().finally(() => this.unsubscribe())
    return this.done
  }

  private append(events: HaltdEvent[], kind: ShutdownDecision['kind']): Envelope[] {
    if (events.length === 0) return []
    const causationId = `${this.shutdownId}:${kind}:${++this.decisions}`
    return this.ports.log.appendBatch(events.map((e) => ({ ...e, causationId, correlationId: this.shutdownId })))
  }

  private async loop(): Promise<ShutdownReport> {
    // A shutdown found unfinished: commands that were out when haltd stopped will not answer now.
    const interrupted = [...this.state.commands.values()].filter((c) => c.outcome === undefined)
    if (interrupted.length > 0 || runningStep(this.state)) {
      for (const c of interrupted) this.complete(c.commandId, 'failed', { error: 'interrupted: haltd stopped before this command finished' })
      this.append(decideShutdown({ kind: 'resume' }, this.state), 'resume')
    }
    for (;;) {
      // Decide only on a state that holds everything this runner appended: with power durability
      // an append is published (and folded here) once its group commits, at the end of the turn;
      // deciding before that would decide the same again, for ever.
      if (this.ports.log.uncommitted) await this.ports.log.flush()
      if (this.state.completed) break
      const open = runningStep(this.state)
      if (!open || open.pending === 0) {
        // what was recorded meanwhile goes first; decided on once folded, with nothing awaited between
        if (this.beforeDeciding?.() && this.ports.log.uncommitted) continue
        const envelopes = this.append(decideShutdown({ kind: 'advance', world: this.ports.world() }, this.state), 'advance')
        if (envelopes.length > 0) {
          // a command's budget runs from its step's start: launched once the step is folded
          if (this.ports.log.uncommitted) await this.ports.log.flush()
          for (const e of envelopes) if (e.type === 'shutdown.command-issued') this.launch(e.data.commandId, e.data.command as ShutdownCommand)
          continue
        }
      }
      if (this.state.completed) break
      if (this.inFlight.size === 0) {
        const step = runningStep(this.state)
        if (step && step.pending > 0) {
          // Commands issued by an earlier run of this process that nobody carries out: fail them.
          for (const c of commandsOf(this.state, step))
            if (c.outcome === undefined) this.complete(c.commandId, 'failed', { error: 'no runner carried this command out' })
          continue
        }
        throw new Error(`shutdown ${this.shutdownId}: the decider is waiting with nothing in flight`)
      }
      await new Promise<void>((resolve) => (this.wakeUp = resolve))
      if (this.failure !== undefined) throw this.failure
    }
    return { ...buildShutdownReport(this.state, this.ports.world()), head: anchorOf(this.ports.log) }
  }

  private wake(): void {
    const w = this.wakeUp
    this.wakeUp = undefined
    w?.()
  }

  private complete(commandId: string, outcome: 'ok' | 'failed' | 'timed-out', detail?: Record<string, unknown>): void {
    this.ports.log.append({ type: 'shutdown.command-completed', data: { shutdownId: this.shutdownId, commandId, outcome, ...(detail ? { detail } : {}) } })
  }

  /** Step budget and deadline, whichever ends first; local commands of a graceful shutdown only have their budget. */
  private limitFor(command: ShutdownCommand): { limitMs: number; limitBy: 'step budget' | 'deadline' } {
    const now = this.ports.clock.now()
    const def = PROCEDURES[this.state.procedure]
    const stepEnd = this.stepStartedAt + (currentStepDef(this.state)?.budgetMs(this.state.options) ?? 0)
    const deadline = this.procedureStartedAt + def.deadlineMs(this.state.options)
    if ((def.strictDeadline || VENUE_COMMANDS.has(command.kind)) && deadline < stepEnd) return { limitMs: deadline - now, limitBy: 'deadline' }
    return { limitMs: stepEnd - now, limitBy: 'step budget' }
  }

  private launch(commandId: string, command: ShutdownCommand): void {
    const procedure = this.state.procedure
    const abandon = new AbortController()
    this.inFlight.set(commandId, { procedure, abandon })
    const { limitMs, limitBy } = this.limitFor(command)
    execute(command, { ports: this.ports, shutdownId: this.shutdownId, commandId, state: this.state, limitMs, limitBy, abandoned: abandon.signal }).then(
      (result) => this.settle(commandId, result.outcome, result.detail),
      (e: unknown) => this.settle(commandId, 'failed', { error: e instanceof Error ? e.message : String(e) }),
    )
  }

  private settle(commandId: string, outcome: 'ok' | 'failed' | 'timed-out', detail?: Record<string, unknown>): void {
    if (!this.inFlight.delete(commandId)) return // abandoned on escalation: its outcome was recorded then
    try {
      try {
        this.complete(commandId, outcome, detail)
      } catch (e) {
        if (this.ports.log.isClosed) throw e
        // The detail could not be stored as is (too large, not JSON): record the outcome without it.
        this.complete(commandId, outcome, { error: `detail not recordable: ${e instanceof Error ? e.message : String(e)}` })
      }
    } catch (e) {
      this.failure ??= e
    }
    this.wake()
  }
}
