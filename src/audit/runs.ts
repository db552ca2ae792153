import type { Fact } from '../projections/index.js'
import type { RunRow } from './audit-report.js'

/** Every run of the process the log saw: started, ended with an exit code, crashed, or still open. */
export function createRunTracker(): { observe(fact: Fact): void; rows(): RunRow[] } {
  const runs = new Map<string, RunRow>()
  return {
    observe(fact) {
      switch (fact.type) {
        case 'run.started':
          runs.set(fact.data.runId, { runId: fact.data.runId, startedAt: fact.ts, startedSeq: fact.seq, pid: fact.data.pid, version: fact.data.version, end: 'open' })
          return
        case 'run.ended': {
          const run = runs.get(fact.data.runId)
          if (run) run.end = { exitCode: fact.data.exitCode, at: fact.ts }
          return
        }
        case 'run.crashed': {
          const run = runs.get(fact.data.runId)
          if (run) run.end = 'crashed'
          return
        }
        default:
          return
      }
    },
    rows: () => [...runs.values()],
  }
}
