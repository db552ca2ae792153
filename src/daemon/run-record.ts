import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { evolveRuns, initialRuns, openRun, RUNS_READ, type RunsState } from '../projections/index.js'
import type { EventLog } from '../core/log/event-log.js'
import { foldStreams, type StreamFold } from '../core/log/stream-fold.js'
import type { Logger } from './logger.js'

export type RunInfo = { runId: string; crashed?: { runId: string; pid: number; lastSeq: number } }

/** A run's id: its start time to the second (so ids sort by start), then a random tail for runs started in the same second. */
export function newRunId(startedAt: number): string {
  return `${new Date(startedAt)
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14)}-${randomBytes(3).toString('hex')}`
}

const RUNS: StreamFold<RunsState> = { reads: RUNS_READ, initial: initialRuns, evolve: evolveRuns }

/** The runs projection over a log, read from the streams that hold run facts only (what was read before is kept). */
export const runsIn = (log: EventLog): RunsState => foldStreams(log, RUNS)

/**
 * Record the start of a run. A previous run that never recorded its end crashed (or was killed):
 * that is written first, before anything else this run does.
 */
export function startRun(log: EventLog, input: { runId: string; version: string; configHash: string }, logger: Pick<Logger, 'warn'>): RunInfo {
  const open = openRun(runsIn(log))
  let crashed: RunInfo['crashed']
  if (open) {
    crashed = { runId: open.runId, pid: open.pid, lastSeq: log.lastSeq }
    log.append({ type: 'run.crashed', data: crashed })
  }
  log.append({
    type: 'run.started',
    data: { runId: input.runId, version: input.version, configHash: input.configHash, host: hostname().slice(0, 255), pid: process.pid },
  })
  if (crashed) logger.warn({ crashedRun: crashed.runId, pid: crashed.pid }, 'the previous run ended without recording its end: recorded as crashed')
  return { runId: input.runId, ...(crashed ? { crashed } : {}) }
}

/** Record that this run handed the engine over (its end, unless the handover rolls back). */
export function handedOverRun(log: EventLog, runId: string, handover: { handoverId: string; to: string }): void {
  if (log.isClosed) return
  log.append({ type: 'run.handed-over', data: { runId, ...handover } })
}

export function endRun(log: EventLog, runId: string, exitCode: number): void {
  if (log.isClosed) return
  log.append({ type: 'run.ended', data: { runId, exitCode } })
}
