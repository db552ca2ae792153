import { evolveRuns, initialRuns, runs, type Fact, type Run, type RunsState } from '../projections/index.js'
import type { RunRow } from './audit-report.js'

/** Every run of the process the log saw: started, ended with an exit code, handed over, taken over after its lease expired, crashed, or still open. */
export function createRunTracker(): { observe(fact: Fact): void; rows(): RunRow[] } {
  let state: RunsState = initialRuns()
  return {
    observe(fact) {
      state = evolveRuns(state, fact)
    },
    rows: () => runs(state).map(runRow),
  }
}

function endRow(end: Run['end']): RunRow['end'] {
  if (end === undefined) return 'open'
  switch (end.kind) {
    case 'crashed':
      return 'crashed'
    case 'handed-over':
      return { handedOverTo: end.to, at: end.ts }
    case 'lease-expired':
      return { leaseExpired: { leader: end.leader ?? null, takenOverBy: end.by, epoch: end.epoch }, at: end.ts }
    case 'ended':
      return { exitCode: end.exitCode, at: end.ts }
  }
}

function runRow(run: Run): RunRow {
  const lost = run.lostLead
  return {
    runId: run.runId,
    startedAt: run.startedAt,
    startedSeq: run.startedSeq,
    pid: run.pid,
    version: run.version,
    end: endRow(run.end),
    ...(lost ? { lostLead: { seq: lost.seq, at: lost.ts, epoch: lost.epoch, reason: lost.reason, leader: lost.leader ?? null } } : {}),
  }
}
