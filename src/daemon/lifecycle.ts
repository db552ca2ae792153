import type { EventEmitter } from 'eventemitter3'
import { HaltdError } from '../events/errors.js'
import type { Origin, ShutdownMode } from '../events/primitives.js'
import type { OrderGate } from '../core/execution/gate.js'
import { requestKind, type ShutdownController, type ShutdownHandle } from '../core/shutdown/controller.js'
import { EXIT } from '../core/shutdown/exit-codes.js'
import type { EventLog } from '../core/log/event-log.js'
import type { ProjectionRunner } from '../core/log/projection-runner.js'
import { EngineHandedOver, type HandoverUnderWay } from './handover.js'
import type { Logger } from './logger.js'
import type { ShutdownReport } from '../core/shutdown/report.js'
import { endRun } from './run-record.js'
import type { SignalHandlers } from './signals.js'
import type { HaltdEvents, Lifecycle } from './types.js'
import { createWatchdog, emergencyWatchdogTimes } from './watchdog.js'
import { sayOnStderr } from './stderr.js'

/** A graceful shutdown still running this long past its own deadline is escalated. */
export const GRACEFUL_OVERRUN_MS = 5_000

/** What startup opened, to release last-opened first, each on its own: one that fails stops none of the others. */
export type Cleanups = {
  push(cleanup: () => unknown): void
  run(onError: (e: unknown) => void): Promise<void>
}

export function createCleanups(): Cleanups {
  const stack: (() => unknown)[] = []
  return {
    push: (cleanup) => void stack.push(cleanup),
    async run(onError) {
      for (const c of stack.splice(0).reverse()) {
        try {
          await c()
        } catch (e) {
          onError(e)
        }
      }
    },
  }
}

/**
 * A startup that failed releases what it opened, records the run's end as a crash and closes the
 * log; the caller throws the startup's error.
 */
export async function releaseFailedStartup(input: { cleanups: Cleanups; log: EventLog; runner: ProjectionRunner; runId: string }): Promise<void> {
  // startup already failed; the first error is the one to report
  await input.cleanups.run(() => {})
  try {
    endRun(input.log, input.runId, EXIT.crash)
  } finally {
    input.runner.stop()
    input.log.close()
  }
}

export type LifecycleInput = {
  controller: ShutdownController
  gate: OrderGate
  /** Where strategies held back by a latched kill switch are enabled once it is reset. */
  strategies: { enable(id: string, reason: string, origin: 'operator'): void }
  emitter: Pick<EventEmitter<HaltdEvents>, 'emit'>
  logger: Logger
  onError: (e: unknown) => void
  deadlines: { gracefulMs: number; emergencyMs: number }
  /** Arm the hard watchdog on an emergency (see `HaltdPorts.watchdog`). */
  watchdog: boolean
  /** End the process once stopped (see `HaltdPorts.exitProcess`). */
  exitProcess: boolean
  /**
   * How `finish` closes everything, in this order: stop all that acts (nothing may write after the
   * run's end), record the run's end, then release the rest, the log last.
   */
  finish: { quiesce(): Promise<void>; recordEnd(code: number): void; release(): Promise<void> }
  /**
   * What the log could not record during this run, if anything: the run then ends with a non-zero
   * exit code (never `clean`), and says so on stderr and in the log.
   */
  unrecorded?: () => string | undefined
  /**
   * Why this instance no longer leads its engine, if it lost the lease in this run: its stop is
   * then not the engine's (the leader trades on), and it says so on stderr and in the log.
   */
  notLeading?: () => string | undefined
  /** When the log cannot take the shutdown: cancel at every venue without recording it (see `cancelEverywhereUnrecorded`). */
  cancelUnrecorded?: () => Promise<unknown>
  /** When the log cannot take an emergency: keep it outside the log, so the next start comes up with the kill switch latched. */
  keepUnrecordedEmergency?: (reason: string, error: string) => void
  /** The planned handover under way, or the one that handed the engine over: a stop waits for its outcome. */
  handover?: () => HandoverUnderWay | undefined
}

/** What became of a stop request: the shutdown's id and status, or that the engine had been handed over instead. */
export type StopAnswer =
  | { shutdownId: string; status: ShutdownHandle['status'] }
  | { shutdownId: string; status: 'handed-over'; outcome: 'HANDED_OVER'; leader: string; handoverId: string; message: string }

/**
 * A stop request: as the controller's handle, or `after-handover` while it waits for a handover
 * under way to end. `answer` says what became of it (at once, or once the handover ended); `done`
 * rejects with `EngineHandedOver` where the engine was handed over and no shutdown ran here.
 */
export type StopHandle = {
  shutdownId: string
  status: ShutdownHandle['status'] | 'after-handover'
  answer: Promise<StopAnswer>
  done: Promise<ShutdownReport>
}

export type DaemonLifecycle = {
  readonly state: Lifecycle
  set(to: Lifecycle): void
  /** Resolves with the exit code once this haltd has stopped. */
  readonly exited: Promise<number>
  /** A shutdown was asked for (recorded or not) or the run is ending: startup must not carry on. */
  readonly stopRequested: boolean
  /** Start (or escalate) a shutdown and follow it to its end, which ends the run. */
  requestShutdown(mode: ShutdownMode, reason: string, origin: Origin): StopHandle
  /** Resume the shutdown a previous run left unfinished, as a shutdown of this run. */
  resumeUnfinished(procedure: ShutdownMode): void
  /** Strategies kept disabled only by a latched kill switch, to enable once it is reset. */
  holdBack(strategyIds: string[]): void
  releaseHeldBack(): void
  signalHandlers(): SignalHandlers
  /** Close everything, in the order that keeps the log last, and record the run's end. */
  finish(code: number): Promise<void>
  /** Wait for a running shutdown to end the run, or end it now. */
  close(code: number): Promise<void>
}

/**
 * The daemon's lifecycle: starting → running or halted → shutting-down → stopped. Every way a
 * shutdown is asked for arrives here; a shutdown that completes (or fails) ends the run.
 */
export function createLifecycle(input: LifecycleInput): DaemonLifecycle {
  const { controller, gate, emitter, logger, onError } = input
  let state: Lifecycle = 'starting'
  let current: ShutdownHandle | undefined
  let gracefulTimer: ReturnType<typeof setTimeout> | undefined
  let finishing: Promise<void> | undefined
  let stopRequested = false
  let heldBack: string[] = []
  let exitResolve!: (code: number) => void
  const exited = new Promise<number>((r) => (exitResolve = r))
  const watchdog = createWatchdog({
    onFire: (reason) => {
      try {
        logger.fatal({ reason }, 'watchdog: the emergency deadline passed, ending the process')
        input.finish.recordEnd(EXIT.emergency)
      } catch {
        // the process ends either way
      }
    },
  })

  const set = (to: Lifecycle) => {
    if (state === to) return
    state = to
    emitter.emit('lifecycle', to)
  }

  const armEmergencyWatchdog = (reason: string) => {
    if (!input.watchdog) return
    watchdog.arm({ ...emergencyWatchdogTimes(input.deadlines.emergencyMs), code: EXIT.emergency, reason })
  }

  function requestShutdown(mode: ShutdownMode, reason: string, origin: Origin): StopHandle {
    if (state === 'stopped') throw new HaltdError('STOPPED', 'haltd has stopped')
    // Its shutdown done, haltd is closing its parts and the log: a request now would start a second
    // shutdown on a log about to close, with venues already let go.
    if (finishing) throw new HaltdError('STOPPED', 'haltd is stopping: its shutdown has completed')
    stopRequested = true
    if (waiting) return joinWaiting(waiting, mode, reason, origin)
    const handover = controller.running ? undefined : input.handover?.()
    if (handover) return afterHandover(handover, mode, reason, origin)
    const handle = startNow(mode, reason, origin)
    return { ...handle, answer: Promise.resolve({ shutdownId: handle.shutdownId, status: handle.status }) }
  }

  /** A stop that waits for a handover's outcome, under the id it was given when asked for. */
  type Waiting = {
    shutdownId: string
    mode: ShutdownMode
    reason: string
    handover: HandoverUnderWay
    answer: Promise<StopAnswer>
    done: Promise<ShutdownReport>
    /**
     * Requests after the first that changed nothing (the log takes no write meanwhile): recorded in
     * the shutdown's stream once it starts, by kind, with how many came.
     */
    unchanged: Map<string, { mode: ShutdownMode; reason: string; origin: Origin; count: number }>
  }
  let waiting: Waiting | undefined

  /**
   * A stop asked for during a planned handover. The log takes no writes while the lease is offered,
   * and the standby may take it: the stop waits for the outcome. An emergency closes the gate now
   * and aborts the handover first. Rolled back, this haltd still leads and runs the shutdown; handed
   * over, it leads no more, so it runs nothing, sends nothing, records nothing, and says who leads.
   */
  function afterHandover(handover: HandoverUnderWay, mode: ShutdownMode, reason: string, origin: Origin): StopHandle {
    const shutdownId = controller.reserveId()
    let resolveDone!: (r: Promise<ShutdownReport>) => void
    const done = new Promise<ShutdownReport>((r) => (resolveDone = r))
    // the signal path and the fleet do not wait on it: a handed-over stop must not end the process as unhandled
    done.catch(() => {})
    const answer = handover.outcome.then(
      (outcome): StopAnswer => {
        const asked: Pick<Waiting, 'mode' | 'reason'> | Waiting = waiting ?? { mode, reason }
        waiting = undefined
        if (outcome.outcome === 'handed-over') {
          const why = new EngineHandedOver(handover.to, handover.handoverId)
          logger.warn({ shutdownId, leader: handover.to, handoverId: handover.handoverId }, `shutdown not run: ${why.message}`)
          resolveDone(Promise.reject(why))
          return { shutdownId, status: 'handed-over', outcome: 'HANDED_OVER', leader: handover.to, handoverId: handover.handoverId, message: why.message }
        }
        if (finishing) {
          resolveDone(Promise.reject(new HaltdError('STOPPED', 'haltd stopped while the shutdown waited for the handover to end')))
          return { shutdownId, status: 'ignored' }
        }
        const handle = startNow(asked.mode, asked.reason, origin, shutdownId)
        resolveDone(handle.done)
        if ('unchanged' in asked) recordUnchanged(asked)
        return { shutdownId: handle.shutdownId, status: handle.status }
      },
      (e: unknown) => {
        waiting = undefined
        resolveDone(Promise.reject(e))
        throw e
      },
    )
    // a caller that does not wait for the answer (a signal, the fleet) leaves it to the log and `done`
    answer.catch(onError)
    waiting = { shutdownId, mode, reason, handover, answer, done, unchanged: new Map() }
    set('shutting-down')
    logger.warn({ mode, origin, shutdownId, handoverId: handover.handoverId }, `${mode} shutdown waits for handover ${handover.handoverId} to end: ${reason}`)
    if (mode === 'emergency') abortFor(waiting, reason)
    return { shutdownId, status: 'after-handover', answer, done }
  }

  function abortFor(w: Waiting, reason: string) {
    gate.halt(`emergency shutdown requested during handover ${w.handover.handoverId}: ${reason}`)
    armEmergencyWatchdog(`emergency shutdown: ${reason}`)
    w.handover.abort(`emergency shutdown ${w.shutdownId} asked for: ${reason}`)
  }

  /**
   * A second request while the stop waits: an emergency escalates it (and aborts the handover), and
   * the shutdown then starts as one, both reasons in its request; anything else changes nothing, and
   * is recorded as such once the shutdown starts (`recordUnchanged`).
   */
  function joinWaiting(w: Waiting, mode: ShutdownMode, reason: string, origin: Origin): StopHandle {
    if (mode === 'emergency' && w.mode !== 'emergency') {
      w.mode = 'emergency'
      w.reason = `${reason} (escalating the graceful shutdown asked for: ${w.reason})`
      logger.warn({ shutdownId: w.shutdownId }, `shutdown escalated to emergency while it waits for handover ${w.handover.handoverId}: ${reason}`)
      abortFor(w, reason)
    } else {
      const kind = requestKind({ mode, origin, reason })
      const seen = w.unchanged.get(kind)
      if (seen) seen.count++
      else w.unchanged.set(kind, { mode, reason, origin, count: 1 })
    }
    return { shutdownId: w.shutdownId, status: 'after-handover', answer: w.answer, done: w.done }
  }

  /**
   * The requests that changed nothing while the stop waited for the handover, into the stream of the
   * shutdown it started (rolled back: this haltd leads and writes again), each as the controller
   * takes any request during a shutdown: recorded as received and ignored, with its number.
   */
  function recordUnchanged(w: Waiting) {
    for (const r of w.unchanged.values()) {
      for (let i = 0; i < r.count; i++) {
        try {
          controller.requestShutdown({ mode: r.mode, reason: `${r.reason} (while the stop waited for handover ${w.handover.handoverId})`, origin: r.origin })
        } catch (e) {
          onError(e)
          return
        }
      }
    }
  }

  function startNow(mode: ShutdownMode, reason: string, origin: Origin, shutdownId?: string): ShutdownHandle {
    let handle: ShutdownHandle
    // armed before the procedure starts: were it to spin or block, the process still ends (arming
    // keeps the earliest deadline, so a second request never moves it)
    if (mode === 'emergency') armEmergencyWatchdog(`emergency shutdown: ${reason}`)
    try {
      handle = controller.requestShutdown({ mode, reason, origin, ...(shutdownId !== undefined ? { shutdownId } : {}) })
    } catch (e) {
      stopUnrecorded(mode, reason, e)
      throw e
    }
    if (handle.status !== 'ignored' && (mode === 'emergency' || handle.status === 'escalated')) armEmergencyWatchdog(`emergency shutdown: ${reason}`)
    if (handle.status === 'started') track(handle, mode)
    logger.warn({ mode, origin, shutdownId: handle.shutdownId, status: handle.status }, `shutdown ${handle.status}: ${reason}`)
    return handle
  }

  /**
   * The request could not be written (a full disk, an I/O error): the procedure cannot run without
   * its stream, but the operator asked to stop, so the gate closes and the run ends, non-zero, saying why.
   */
  function stopUnrecorded(mode: ShutdownMode, reason: string, e: unknown) {
    const why = e instanceof Error ? e.message : String(e)
    gate.halt(`the ${mode} shutdown request could not be recorded: ${why}`)
    logger.fatal(
      { err: e, mode, reason },
      `the ${mode} shutdown request (${reason}) could not be recorded: cancelling at every venue without recording it, then stopping`,
    )
    if (mode === 'emergency' && !keptEmergency) {
      keptEmergency = true
      try {
        input.keepUnrecordedEmergency?.(reason, why)
      } catch (err) {
        onError(err)
      }
    }
    if (controller.running) return
    // once: a second signal while the sweep runs must not start another
    if (sweeping) return
    sweeping = true
    void (async () => {
      await input.cancelUnrecorded?.().catch(onError)
      await finish(EXIT.crash)
    })()
  }
  let sweeping = false
  let keptEmergency = false

  function track(handle: ShutdownHandle, mode: ShutdownMode | undefined) {
    current = handle
    set('shutting-down')
    if (mode !== 'emergency') {
      // The engine keeps its own deadline; this catches a graceful shutdown that overran it anyway.
      gracefulTimer = setTimeout(() => {
        if (controller.running) requestShutdown('emergency', 'the graceful shutdown overran its deadline', 'system')
      }, input.deadlines.gracefulMs + GRACEFUL_OVERRUN_MS)
      gracefulTimer.unref()
    }
    handle.done.then(
      (report) => {
        emitter.emit('shutdown', report)
        logger.info(
          {
            shutdownId: report.shutdownId,
            outcome: report.outcome,
            exitCode: report.exitCode,
            residual: report.residualExposure.length,
            cancelUnconfirmed: report.cancelUnconfirmedCount,
          },
          'shutdown completed',
        )
        void finish(report.exitCode ?? EXIT.crash)
      },
      (e: unknown) => {
        logger.fatal({ err: e }, 'the shutdown failed')
        void finish(EXIT.crash)
      },
    )
  }

  function finish(code: number): Promise<void> {
    stopRequested = true
    finishing ??= (async () => {
      clearTimeout(gracefulTimer)
      // Each part on its own: one that cannot record its stop (a full disk) must not keep the rest running.
      await input.finish.quiesce().catch(onError)
      let exitCode = input.unrecorded?.() !== undefined && code === EXIT.clean ? EXIT.crash : code
      try {
        input.finish.recordEnd(exitCode)
      } catch (e) {
        onError(e)
      }
      await input.finish.release().catch(onError)
      const unrecorded = input.unrecorded?.()
      if (unrecorded !== undefined) {
        if (exitCode === EXIT.clean) exitCode = EXIT.crash
        logger.fatal({ exitCode }, `stopping with exit code ${exitCode}: ${unrecorded}`)
        sayOnStderr(unrecorded)
      }
      const notLeading = input.notLeading?.()
      if (notLeading !== undefined) {
        // only what this instance knows: its gate was fenced once it learnt of the loss; what the
        // engine holds, and whether another instance leads it now, is the lease's and the leader's log's to say
        const said = `this instance no longer led its engine (${notLeading}): its stop is not the engine's. Its gate was fenced, so its shutdown sent no order, cancel or dead man's switch to the venues, and the orders and positions it last knew are left to whoever leads the engine; its exit code (${exitCode}) speaks of its own log only: audit the leader's log for the engine`
        logger.warn({ exitCode }, said)
        sayOnStderr(said)
      }
      set('stopped')
      watchdog.disarm()
      logger.info({ exitCode }, 'haltd stopped')
      emitter.emit('exit', exitCode)
      exitResolve(exitCode)
      if (input.exitProcess) {
        logger.flush?.()
        process.exit(exitCode)
      }
    })()
    return finishing
  }

  return {
    get state() {
      return state
    },
    set,
    exited,
    get stopRequested() {
      return stopRequested
    },
    requestShutdown,
    resumeUnfinished(procedure) {
      const handle = controller.resumeUnfinished()
      if (!handle) return
      if (procedure === 'emergency') armEmergencyWatchdog(`resumed emergency shutdown ${handle.shutdownId}`)
      track(handle, procedure)
    },
    holdBack(strategyIds) {
      heldBack = strategyIds
    },
    releaseHeldBack() {
      if (state !== 'halted' || controller.running || gate.halted) return
      for (const id of heldBack.splice(0)) input.strategies.enable(id, 'the kill switch was reset', 'operator')
      set('running')
      logger.info('kill switch reset: strategies enabled, trading')
    },
    signalHandlers: () => ({
      halt: (reason) => gate.halt(reason),
      request: (mode, reason) => {
        if (finishing) {
          logger.warn({ mode }, `${reason}: ignored: haltd is stopping, its shutdown has completed`)
          return
        }
        try {
          requestShutdown(mode, reason, 'signal')
        } catch (e) {
          onError(e)
        }
      },
      shuttingDown: () => (controller.running ? (controller.running.state.procedure as ShutdownMode) : waiting?.mode),
      onSignal: (signal, action) => logger.warn({ signal }, `${signal}: ${action}`),
    }),
    finish,
    close(code) {
      if (controller.running && current) return current.done.then(() => finishing ?? finish(code)).then(() => undefined)
      return finish(code)
    },
  }
}
