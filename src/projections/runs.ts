import type { Fact, FactOf } from './fact.js'

/** The events of the run stream: each start of the process, and how it ended. */
export const RUN_EVENT_TYPES = ['run.started', 'run.ended', 'run.crashed', 'run.handed-over'] as const
/**
 * Where the runs are read from: the run stream, and the handovers' ends (a rolled-back handover
 * takes back the end its offer recorded).
 */
export const RUNS_READ = [
  { stream: 'run', types: RUN_EVENT_TYPES },
  { streamPrefix: 'handover:', types: ['handover.completed'] },
] as const
export type RunFact = FactOf<(typeof RUN_EVENT_TYPES)[number]>

/**
 * How a run ended: with its exit code, found without an end by the next run (crashed, killed), or
 * by handing the engine over to another instance (its process then exits without a shutdown).
 */
export type RunEnd =
  | { kind: 'ended'; exitCode: number; seq: number; ts: number }
  | { kind: 'crashed'; pid: number; lastSeq: number; seq: number; ts: number }
  | { kind: 'handed-over'; to: string; handoverId: string; seq: number; ts: number }

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

const isRunFact = (fact: Fact): fact is RunFact | FactOf<'handover.completed'> =>
  (RUN_EVENT_TYPES as readonly string[]).includes(fact.type) || fact.type === 'handover.completed'

/**
 * The run stream's reducer (a new state each time). Other events, and run events this build
 * cannot read, leave it as it is. An end for a run the log never saw start changes nothing. A
 * handed-over end is provisional: a later `run.ended` of the run replaces it, and a roll-back of
 * its handover takes it back (the run goes on, and is open again if it is the newest).
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
    case 'handover.completed': {
      if (fact.data.outcome !== 'rolled-back') return state
      const run = [...state.runs.values()].find((r) => r.end?.kind === 'handed-over' && r.end.handoverId === fact.data.handoverId)
      if (run === undefined) return state
      const { end: _, ...going } = run
      const newest = [...state.runs.keys()].at(-1) === run.runId
      return { runs: new Map(state.runs).set(run.runId, going), ...(newest ? { open: run.runId } : state.open !== undefined ? { open: state.open } : {}) }
    }
    case 'run.ended':
    case 'run.crashed':
    case 'run.handed-over': {
      const { runId } = fact.data
      const run = state.runs.get(runId)
      const end: RunEnd =
        fact.type === 'run.ended'
          ? { kind: 'ended', exitCode: fact.data.exitCode, ...at }
          : fact.type === 'run.crashed'
            ? { kind: 'crashed', pid: fact.data.pid, lastSeq: fact.data.lastSeq, ...at }
            : { kind: 'handed-over', to: fact.data.to, handoverId: fact.data.handoverId, ...at }
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
