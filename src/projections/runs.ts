import type { Fact, FactOf } from './fact.js'

/** The events of the run stream: each start of the process, and how it ended. */
export const RUN_EVENT_TYPES = ['run.started', 'run.ended', 'run.crashed'] as const
export type RunFact = FactOf<(typeof RUN_EVENT_TYPES)[number]>

/** How a run ended: with its exit code, or found without an end by the next run (crashed, killed). */
export type RunEnd = { kind: 'ended'; exitCode: number; seq: number; ts: number } | { kind: 'crashed'; pid: number; lastSeq: number; seq: number; ts: number }

export type Run = {
  runId: string
  pid: number
  version: string
  configHash: string
  host: string
  startedSeq: number
  startedAt: number
  /** Absent while the run has recorded no end. */
  end?: RunEnd
}

export type RunsState = {
  /** Every run the log saw, in the order they started. */
  runs: ReadonlyMap<string, Run>
  /**
   * The newest run while it has recorded no end. A start always records the run before it as
   * crashed first, so this is the one run that may still be going, or that died unrecorded.
   */
  open?: string
}

export function initialRuns(): RunsState {
  return { runs: new Map() }
}

const isRunFact = (fact: Fact): fact is RunFact => fact.type === 'run.started' || fact.type === 'run.ended' || fact.type === 'run.crashed'

/**
 * The run stream's reducer (a new state each time). Other events, and run events this build
 * cannot read, leave it as it is. An end for a run the log never saw start changes nothing.
 */
export function evolveRuns(state: RunsState, fact: Fact): RunsState {
  if (!isRunFact(fact) || fact.unreadable !== undefined) return state
  const at = { seq: fact.seq, ts: fact.ts }
  switch (fact.type) {
    case 'run.started': {
      const { runId, pid, version, configHash, host } = fact.data
      const run: Run = { runId, pid, version, configHash, host, startedSeq: fact.seq, startedAt: fact.ts }
      return { runs: new Map(state.runs).set(runId, run), open: runId }
    }
    case 'run.ended':
    case 'run.crashed': {
      const { runId } = fact.data
      const run = state.runs.get(runId)
      const end: RunEnd =
        fact.type === 'run.ended'
          ? { kind: 'ended', exitCode: fact.data.exitCode, ...at }
          : { kind: 'crashed', pid: fact.data.pid, lastSeq: fact.data.lastSeq, ...at }
      const next: RunsState = { runs: run === undefined ? state.runs : new Map(state.runs).set(runId, { ...run, end }) }
      if (state.open !== undefined && state.open !== runId) next.open = state.open
      return next
    }
  }
}

// ── selectors ──────────────────────────────────────────────────────────────────────────────

/** Every run, in the order they started. */
export function runs(state: RunsState): Run[] {
  return [...state.runs.values()]
}

/** The newest run if it has recorded no end: at startup, the run that crashed. */
export function openRun(state: RunsState): Run | undefined {
  return state.open === undefined ? undefined : state.runs.get(state.open)
}
