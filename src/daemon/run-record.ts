import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { evolveRuns, initialRuns, openRun, RUNS_READ, type RunsState } from '../projections/index.js'
import type { EventLog } from '../core/log/event-log.js'
import { foldStreams, type StreamFold } from '../core/log/stream-fold.js'
import type { Logger } from './logger.js'
import { lastLeaderIn } from './cluster.js'

export type RunInfo = { runId: string; crashed?: { runId: string; pid: number; lastSeq: number } }

/**
 * The lease this run leads under, where it leads an engine: this instance, the epoch it took, why,
 * and the instance whose lease it found (`previous`, where the bucket still named it).
 */
export type RunLease = { instance: string; epoch: number; reason: 'startup' | 'handover' | 'failover'; previous?: string | undefined }

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
 * Record the start of a run. A previous run that never recorded its end is written off first,
 * before anything else this run does, as what this instance knows of it: where another instance
 * led it and this one took the lease after it expired (a standby's failover, or a start on another
 * machine than that run's), `run.lease-expired` (that process may be alive, paused or cut off from
 * NATS); otherwise it was this log's own writer, gone (the log's lock is free), and it crashed or
 * was killed: `run.crashed`, also when a restart here carries a new instance id (host-pid).
 */
export function startRun(
  log: EventLog,
  input: { runId: string; version: string; configHash: string; lease?: RunLease | undefined },
  logger: Pick<Logger, 'warn'>,
): RunInfo {
  const open = openRun(runsIn(log))
  let crashed: RunInfo['crashed']
  if (open) {
    const ledBy = leaderOf(log, open.startedSeq, input.lease)
    const lease = input.lease
    // a restart on this host under a new instance id (host-pid) took over nothing: the log's free
    // lock says its own process is gone
    const elsewhere = open.host !== hostname().slice(0, 255)
    if (lease && ledBy !== lease.instance && (lease.reason === 'failover' || (ledBy !== undefined && (lease.reason !== 'startup' || elsewhere)))) {
      const data = { runId: open.runId, pid: open.pid, lastSeq: log.lastSeq, ...(ledBy ? { leader: ledBy } : {}), by: lease.instance, epoch: lease.epoch }
      log.append({ type: 'run.lease-expired', data })
      logger.warn(
        { previousRun: open.runId, pid: open.pid, leader: ledBy, epoch: lease.epoch },
        `the previous run ${ledBy ? `(led by '${ledBy}') ` : ''}recorded no end and its lease expired: recorded as taken over, its end unknown here`,
      )
    } else {
      crashed = { runId: open.runId, pid: open.pid, lastSeq: log.lastSeq }
      log.append({ type: 'run.crashed', data: crashed })
    }
  }
  log.append({
    type: 'run.started',
    data: {
      runId: input.runId,
      version: input.version,
      configHash: input.configHash,
      host: hostname().slice(0, 255),
      pid: process.pid,
      refusesOverfills: true,
    },
  })
  if (crashed) logger.warn({ crashedRun: crashed.runId, pid: crashed.pid }, 'the previous run ended without recording its end: recorded as crashed')
  return { runId: input.runId, ...(crashed ? { crashed } : {}) }
}

/**
 * The instance that led the run started at `startedSeq`: the newest `leadership.acquired` recorded
 * in it, else the instance whose lease was found (a lease still named when it was taken), else
 * none known.
 */
function leaderOf(log: EventLog, startedSeq: number, lease: RunLease | undefined): string | undefined {
  const last = lastLeaderIn(log)
  if (last.seq > startedSeq && last.instance !== undefined) return last.instance
  return lease?.previous
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
