import type { Fact, FactOf } from './fact.js'

/** The events of the run stream: each start of the process, and how it ended. */
export const RUN_EVENT_TYPES = ['run.started', 'run.ended', 'run.crashed', 'run.handed-over', 'run.lease-expired'] as const
/**
 * Where the runs are read from: the run stream, the handovers' ends (a rolled-back handover
 * takes back the end its offer recorded), and a leader's record that it lost the lease.
 */
export const RUNS_READ = [
  { stream: 'run', types: RUN_EVENT_TYPES },
  { streamPrefix: 'handover:', types: ['handover.completed'] },
  { stream: 'leadership', types: ['leadership.lost'] },
] as const
export type RunFact = FactOf<(typeof RUN_EVENT_TYPES)[number]>

/**
 * How a run ended: with its exit code, found without an end by the next run (crashed, killed), by
 * handing the engine over to another instance (its process then exits without a shutdown), or, as
 * far as this log knows, by its lease expiring and another instance (`by`) taking the engine over
 * (its process may still be alive: this log holds nothing of it after `lastSeq`).
 */
export type RunEnd =
  | { kind: 'ended'; exitCode: number; seq: number; ts: number }
  | { kind: 'crashed'; pid: number; lastSeq: number; seq: number; ts: number }
  | { kind: 'handed-over'; to: string; handoverId: string; seq: number; ts: number }
  | { kind: 'lease-expired'; pid: number; lastSeq: number; leader?: string; by: string; epoch: number; seq: number; ts: number }

/** Where a leading run learnt it no longer led the engine (`leadership.lost`). */
export type LostLead = { seq: number; ts: number; epoch: number; reason: string; leader?: string }

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
  /** Set once the run recorded that it lost the engine's lease: what it did after is not the engine's. */
  lostLead?: LostLead
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

const isRunFact = (fact: Fact): fact is RunFact | FactOf<'handover.completed'> | FactOf<'leadership.lost'> =>
  (RUN_EVENT_TYPES as readonly string[]).includes(fact.type) || fact.type === 'handover.completed' || fact.type === 'leadership.lost'

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
    case 'leadership.lost': {
      // the run leading when it was recorded: the newest, still open
      const run = state.open === undefined ? undefined : state.runs.get(state.open)
      if (run === undefined || run.lostLead !== undefined) return state
      const { epoch, reason, leader } = fact.data
      const lostLead: LostLead = { ...at, epoch, reason, ...(leader !== undefined ? { leader } : {}) }
      return { ...state, runs: new Map(state.runs).set(run.runId, { ...run, lostLead }) }
    }
    case 'run.ended':
    case 'run.crashed':
    case 'run.handed-over':
    case 'run.lease-expired': {
      const { runId } = fact.data
      const run = state.runs.get(runId)
      const end: RunEnd = endOf(fact, at)
      const next: RunsState = { runs: run === undefined ? state.runs : new Map(state.runs).set(runId, { ...run, end }) }
      if (state.open !== undefined && state.open !== runId) next.open = state.open
      return next
    }
  }
}

function endOf(fact: FactOf<'run.ended' | 'run.crashed' | 'run.handed-over' | 'run.lease-expired'>, at: { seq: number; ts: number }): RunEnd {
  switch (fact.type) {
    case 'run.ended':
      return { kind: 'ended', exitCode: fact.data.exitCode, ...at }
    case 'run.crashed':
      return { kind: 'crashed', pid: fact.data.pid, lastSeq: fact.data.lastSeq, ...at }
    case 'run.handed-over':
      return { kind: 'handed-over', to: fact.data.to, handoverId: fact.data.handoverId, ...at }
    case 'run.lease-expired': {
      const { pid, lastSeq, leader, by, epoch } = fact.data
      return { kind: 'lease-expired', pid, lastSeq, ...(leader !== undefined ? { leader } : {}), by, epoch, ...at }
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
