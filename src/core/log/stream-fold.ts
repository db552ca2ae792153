import type { Envelope } from '../../events/envelope.js'
import type { EventLog, ReadOptions } from './event-log.js'

/**
 * A fold of a few streams of a log into a state, kept per open log so each question reads only
 * what was committed since it was last asked: a takeover reading the runs or the last epoch from
 * a log of a year of restarts reads a handful of rows.
 */
export type StreamFold<S> = {
  /** Where its events are read from (each read filtered as `EventLog.read` filters). */
  readonly reads: readonly ReadOptions[]
  initial(): S
  /** A new state, the one given left as it is: the committed state is kept and folded on again. */
  evolve(state: S, event: Envelope): S
}

type Kept = { seq: number; state: unknown }
const kept = new WeakMap<EventLog, Map<object, Kept>>()

/** The events of `reads` with seqs in `from..to`, in seq order. */
const eventsIn = (log: EventLog, reads: readonly ReadOptions[], from: number, to: number): Envelope[] => {
  if (from > to) return []
  const events = reads.flatMap((read) => [...log.read({ ...read, from, to })])
  return reads.length > 1 ? events.sort((x, y) => x.seq - y.seq) : events
}

/**
 * `fold` over `log` as it stands. What was committed is kept; events written but not committed
 * yet (a `power` group still open, which may still be lost) are folded in each time and not kept.
 */
export function foldStreams<S>(log: EventLog, fold: StreamFold<S>): S {
  const committed = log.committedSeq
  let folds = kept.get(log)
  if (folds === undefined) {
    folds = new Map()
    kept.set(log, folds)
  }
  const before = folds.get(fold)
  const known = before !== undefined && before.seq <= committed ? before : { seq: 0, state: fold.initial() }
  let state = known.state as S
  for (const e of eventsIn(log, fold.reads, known.seq + 1, committed)) state = fold.evolve(state, e)
  folds.set(fold, { seq: committed, state })
  for (const e of eventsIn(log, fold.reads, committed + 1, log.lastSeq)) state = fold.evolve(state, e)
  return state
}
