import { evolveRuns, initialRuns, runs, type Fact, type Run, type RunsState } from '../projections/index.js'
import type { RunRow } from './audit-report.js'

/** Every run of the process the log saw: started, ended with an exit code, handed over, crashed, or still open. */
export function createRunTracker(): { observe(fact: Fact): void; rows(): RunRow[] } {
  let state: RunsState = initialRuns()
  return {
    observe(fact) {
      state = evolveRuns(state, fact)
    },
    rows: () => runs(state).map(runRow),
  }
}

function runRow(run: Run): RunRow {
  const end: RunRow['end'] =
    run.end === undefined
      ? 'open'
      : run.end.kind === 'crashed'
        ? 'crashed'
        : run.end.kind === 'handed-over'
          ? { handedOverTo: run.end.to, at: run.end.ts }
          : { exitCode: run.end.exitCode, at: run.end.ts }
  return { runId: run.runId, startedAt: run.startedAt, startedSeq: run.startedSeq, pid: run.pid, version: run.version, end }
}
