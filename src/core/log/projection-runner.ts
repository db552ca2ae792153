import { readStored } from '../../events/index.js'
import { evolve, initialState, type Fact, type HaltdState, type Retention } from '../../projections/index.js'
import type { Clock } from '../../events/clock.js'
import type { EventLog } from './event-log.js'
import { LogDamaged } from './errors.js'
import { defaultWarn, openSnapshotStore, type SnapshotMeta, type SnapshotStore, type Warn } from './snapshots.js'

const PAGE = 2000

/**
 * The stored events from `from` on, as the projections read them: seq, ts, type and data
 * (upcast to the current version). A page at a time, so memory stays flat whatever the log's
 * length, and without the ids and hashes a full envelope would build for nothing. A read that
 * ends before the head the log had when it began (SQLite ends its walk at some damaged pages
 * without an error) throws `LogDamaged`: a state folded from part of the log is not the log's.
 */
export function* readFacts(log: EventLog, options: { from?: number; to?: number; untilTs?: number } = {}): Generator<Fact> {
  const page = log.database.prepare('SELECT seq, ts, type, v, data FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?').raw(true)
  const to = options.to ?? Number.MAX_SAFE_INTEGER
  const untilTs = options.untilTs ?? Number.MAX_SAFE_INTEGER
  // a head past what a page read reaches is a row moved there by hand, which verify and the audit name
  const held = log.lastSeq <= Number.MAX_SAFE_INTEGER ? Math.min(log.lastSeq, to) : 0
  let next = options.from ?? 1
  for (;;) {
    const rows = page.all(next, to, PAGE) as [number, number, string, number, string][]
    for (const [seq, ts, type, v, text] of rows) {
      if (ts > untilTs) return
      const stored = readStored(type, v, text)
      // one object shape for every fact, readable or not
      yield { seq, ts, type, v: stored.v, data: stored.data, unreadable: stored.unreadable } as Fact
    }
    if (rows.length > 0) next = rows[rows.length - 1]![0] + 1
    if (rows.length < PAGE) {
      if (next <= held) throw new LogDamaged(log.path, next - 1, held)
      return
    }
  }
}

export type ReplayOptions = {
  /** Stop after this seq (inclusive). */
  until?: number
  /** Stop before the first event stamped later than this (ms since the epoch). */
  untilTs?: number
  /** Start from the newest valid snapshot within the bounds (default true). */
  fromSnapshot?: boolean
  warn?: Warn
  retention?: Partial<Retention>
}

export type ReplayResult = {
  state: HaltdState
  /** The last seq applied. */
  seq: number
  /** The snapshot the replay started from, if any. */
  snapshot?: SnapshotMeta
  /** Events folded after the snapshot (or from the start). */
  applied: number
  /** Events the fold read but could not apply (see `NotApplied`): the state lacks what they say. */
  notApplied: { total: number; first: NotApplied[] }
}

/**
 * An event the fold left out: one this build cannot read (a newer version or type, data that is
 * not JSON; the fold's `unreadable-event`), or one it failed to apply (`projection-error`).
 */
export type NotApplied = { seq: number; type: string; v: number | undefined; why: string }

/** How many events not applied a replay lists one by one; the rest are counted. */
export const NOT_APPLIED_LISTED = 20

/** Rebuild the state from the log: from a snapshot (if allowed and valid) or seq 0, to a seq or time. */
export function replayLog(log: EventLog, options: ReplayOptions = {}): ReplayResult {
  return replayWith(log, openSnapshotStore(log), options)
}

function replayWith(log: EventLog, store: SnapshotStore, options: ReplayOptions): ReplayResult {
  const restored =
    options.fromSnapshot === false
      ? undefined
      : store.loadNewestValid({
          ...(options.until !== undefined ? { maxSeq: options.until } : {}),
          ...(options.untilTs !== undefined ? { maxTs: options.untilTs } : {}),
          warn: options.warn ?? defaultWarn,
        })
  const state = restored?.state ?? initialState(options.retention)
  let applied = 0
  const bounds = {
    from: state.seq + 1,
    ...(options.until !== undefined ? { to: options.until } : {}),
    ...(options.untilTs !== undefined ? { untilTs: options.untilTs } : {}),
  }
  const notApplied = { total: 0, first: [] as NotApplied[] }
  for (const fact of readFacts(log, bounds)) {
    const anomalies = state.anomalyCount
    evolve(state, fact)
    applied++
    if (state.anomalyCount !== anomalies) noteNotApplied(notApplied, state, fact)
  }
  return { state, seq: state.seq, applied, notApplied, ...(restored ? { snapshot: restored.meta } : {}) }
}

/** Whether the fold left `fact` out, as the anomaly it recorded for it says. */
function noteNotApplied(into: ReplayResult['notApplied'], state: HaltdState, fact: Fact): void {
  const last = state.anomalies.at(-1)
  if (last === undefined || last.seq !== fact.seq || (last.kind !== 'unreadable-event' && last.kind !== 'projection-error')) return
  into.total++
  if (into.first.length >= NOT_APPLIED_LISTED) return
  const why = fact.unreadable ?? `it could not be applied (${last.detail})`
  into.first.push({ seq: fact.seq, type: String(fact.type), v: fact.v, why })
}

export type ProjectionRunnerOptions = {
  log: EventLog
  /** Write a snapshot after every this many events applied live (off when absent or 0). */
  snapshotEvery?: number
  /**
   * Space a large state's snapshots out: the next one comes after at least the last one's bytes
   * divided by this many events (off when absent or 0). A snapshot costs time in proportion to
   * the state, so at a fixed `snapshotEvery` a desk with 100,000 resting orders spent a third of
   * its time writing them; spaced this way each event pays about the same share whatever the
   * state's size, and a restart replays at most that many events past the snapshot.
   */
  snapshotBytesPerEvent?: number
  /** Snapshots kept in the file (default 3). */
  keepSnapshots?: number
  /** Restore from the newest valid snapshot on start (default true). */
  fromSnapshot?: boolean
  warn?: Warn
  clock?: Clock
  retention?: Partial<Retention>
}

export type ProjectionRunner = {
  /**
   * The live state: updated as each event is published (in the same tick as its append; in
   * `power` mode once its group commits). Read it, never write it, and read
   * it through the runner each time (it is replaced when the log reports lost events).
   */
  readonly state: HaltdState
  /** The last seq applied. */
  readonly seq: number
  /** The snapshot the runner started from, if any. */
  readonly restoredFrom: SnapshotMeta | undefined
  /** Write a snapshot of the current state now (undefined before the first event). */
  snapshot(): SnapshotMeta | undefined
  /** Unsubscribe from the log. */
  stop(): void
}

/**
 * Keep the projections live: restore (newest valid snapshot + the tail), then apply each event
 * as the log publishes it (synchronously inside its append, or in `power` mode as its group commits). A failing automatic snapshot is a
 * warning, never an error thrown into the append that triggered it.
 */
export function createProjectionRunner(options: ProjectionRunnerOptions): ProjectionRunner {
  const { log } = options
  const warn = options.warn ?? defaultWarn
  const store = openSnapshotStore(log, {
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.keepSnapshots ? { keep: options.keepSnapshots } : {}),
  })
  const every = log.readonly ? 0 : Math.max(0, Math.floor(options.snapshotEvery ?? 0))
  const restored = replayWith(log, store, {
    warn,
    ...(options.fromSnapshot === false ? { fromSnapshot: false } : {}),
    ...(options.retention ? { retention: options.retention } : {}),
  })
  let state = restored.state
  let sinceSnapshot = 0
  const perEvent = Math.max(0, options.snapshotBytesPerEvent ?? 0)
  /** Events until the next automatic snapshot: `every`, or more after a large one. */
  let interval = every
  const spaceAfter = (meta: SnapshotMeta) => {
    interval = perEvent > 0 ? Math.max(every, Math.floor(meta.bytes / perEvent)) : every
  }
  // a restart from a large snapshot keeps its spacing
  if (restored.snapshot) spaceAfter(restored.snapshot)

  // A lost power-mode group transaction: the log publishes a group only once it has committed,
  // so none of it was applied here and the state needs no repair. Should the state ever run
  // ahead of the log, it is rebuilt from what the log really holds rather than show facts that
  // never were and skip the seqs that get reused.
  const offFault = log.on('fault', ({ lastSeq }) => {
    if (state.seq <= lastSeq) {
      warn(`the log lost events after seq ${lastSeq}; none of them had been applied to the projections`, { lastSeq })
      return
    }
    warn(`the log lost events after seq ${lastSeq}; rebuilding the projections from the log`, { lastSeq })
    state = replayWith(log, store, { warn, ...(options.retention ? { retention: options.retention } : {}) }).state
    sinceSnapshot = 0
  })

  const unsubscribe = log.subscribe(state.seq + 1, (envelope) => {
    if (envelope.seq <= state.seq) return
    evolve(state, envelope)
    if (every > 0 && ++sinceSnapshot >= interval) {
      sinceSnapshot = 0
      try {
        spaceAfter(store.write(state))
      } catch (e) {
        warn(`automatic snapshot at seq ${state.seq} failed: ${e instanceof Error ? e.message : String(e)}`, { seq: state.seq })
      }
    }
  })

  return {
    get state() {
      return state
    },
    get seq() {
      return state.seq
    },
    restoredFrom: restored.snapshot,
    snapshot() {
      if (state.seq === 0) return undefined
      sinceSnapshot = 0
      const meta = store.write(state)
      spaceAfter(meta)
      return meta
    },
    stop() {
      unsubscribe()
      offFault()
    },
  }
}
