import { hostname } from 'node:os'
import type { EventLog } from '../core/log/event-log.js'

export type RunInfo = { runId: string; crashed?: { runId: string; pid: number; lastSeq: number } }

/**
 * Record the start of a run. A previous run that never recorded its end crashed (or was killed):
 * that is written first, before anything else this run does.
 */
export function startRun(log: EventLog, input: { runId: string; version: string; configHash: string }): RunInfo {
  let open: { runId: string; pid: number } | undefined
  for (const e of log.read({ stream: 'run' })) {
    if (e.type === 'run.started') open = { runId: e.data.runId, pid: e.data.pid }
    else if ((e.type === 'run.ended' || e.type === 'run.crashed') && open?.runId === e.data.runId) open = undefined
  }
  let crashed: RunInfo['crashed']
  if (open) {
    crashed = { runId: open.runId, pid: open.pid, lastSeq: log.lastSeq }
    log.append({ type: 'run.crashed', data: crashed })
  }
  log.append({ type: 'run.started', data: { runId: input.runId, version: input.version, configHash: input.configHash, host: hostname().slice(0, 255), pid: process.pid } })
  return { runId: input.runId, ...(crashed ? { crashed } : {}) }
}

export function endRun(log: EventLog, runId: string, exitCode: number): void {
  if (log.isClosed) return
  log.append({ type: 'run.ended', data: { runId, exitCode } })
}
