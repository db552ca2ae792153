import { randomUUID } from 'node:crypto'

/** Time enters haltd only through a clock, so tests and replays can fix it. */
export type Clock = { now(): number }
export const systemClock: Clock = { now: () => Date.now() }

/** A clock that moves only when told to. */
export function manualClock(start = 0): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = start
  return {
    now: () => t,
    advance: (ms) => {
      t += ms
    },
    set: (ms) => {
      t = ms
    },
  }
}

/** Ids enter haltd only through an id source, for the same reason. */
export type IdSource = { next(): string }
export const uuidIds: IdSource = { next: () => randomUUID() }

/** Deterministic ids `prefix-1`, `prefix-2`, … for tests and seeded demos. */
export function sequentialIds(prefix = 'id'): IdSource {
  let n = 0
  return { next: () => `${prefix}-${++n}` }
}
