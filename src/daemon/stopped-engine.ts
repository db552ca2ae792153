import type { EventLog } from '../core/log/event-log.js'
import type { RunsState } from '../projections/index.js'
import { lastLeaderIn } from './cluster.js'
import { runsIn } from './run-record.js'

/**
 * An engine its leader stopped on purpose: the newest run ended with a recorded end, after the
 * newest shutdown completed in it (SIGTERM, SIGUSR2, `haltd stop`, POST /shutdown, a fleet stop).
 * A standby does not take such an engine over: its lease went because the operator stopped it.
 */
export type DeliberateStop = {
  /** The instance that led when it stopped, as the log's newest `leadership.acquired` says. */
  leader: string | undefined
  runId: string
  exitCode: number
  shutdownId: string
}

type ShutdownMark = { type: 'shutdown.requested' | 'shutdown.completed'; seq: number; shutdownId: string }

/**
 * Pure: the stop, if the runs and the shutdowns' requests and completions (in log order) say the
 * newest run ended on purpose. Not a stop: a run still open (crashed, killed, mid-shutdown), one
 * that handed over, one that ended without a shutdown (closed by an embedder, a failed startup),
 * and one whose newest shutdown never completed (a standby takes over and resumes it).
 */
export function deliberateStopOf(runs: RunsState, shutdowns: readonly ShutdownMark[]): Omit<DeliberateStop, 'leader'> | undefined {
  const last = [...runs.runs.values()].at(-1)
  if (last?.end?.kind !== 'ended') return undefined
  let newest: string | undefined
  const completedAt = new Map<string, number>()
  for (const s of shutdowns) {
    if (s.type === 'shutdown.requested') newest = s.shutdownId
    else completedAt.set(s.shutdownId, s.seq)
  }
  if (newest === undefined) return undefined
  const done = completedAt.get(newest)
  // completed in this run (a shutdown resumed from an earlier run counts where it completed), before its end
  if (done === undefined || done < last.startedSeq || done > last.end.seq) return undefined
  return { runId: last.runId, exitCode: last.end.exitCode, shutdownId: newest }
}

/** `deliberateStopOf` over a log, with who led. */
export function deliberateStopIn(log: EventLog): DeliberateStop | undefined {
  const runs = runsIn(log)
  const shutdowns: ShutdownMark[] = []
  for (const e of log.read({ streamPrefix: 'shutdown:', types: ['shutdown.requested', 'shutdown.completed'] })) {
    if (e.unreadable !== undefined) continue
    shutdowns.push({ type: e.type as ShutdownMark['type'], seq: e.seq, shutdownId: (e.data as { shutdownId: string }).shutdownId })
  }
  const stop = deliberateStopOf(runs, shutdowns)
  return stop && { leader: lastLeaderIn(log).instance, ...stop }
}

/** What a standby says of it: in its process log, its status and health. */
export function describeDeliberateStop(stop: DeliberateStop): string {
  const by = stop.leader === undefined ? 'its leader' : `its leader '${stop.leader}'`
  return (
    `the engine was stopped by ${by} (run ${stop.runId}, shutdown ${stop.shutdownId}, exit code ${stop.exitCode}): this standby does not take it over; ` +
    'start a leader with haltd run to trade again (its primary, or this instance: haltd run --lead with its config)'
  )
}
