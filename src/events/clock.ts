import { randomFillSync } from 'node:crypto'

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
export const uuidIds: IdSource = { next: () => randomUuid() }

// Random (version 4) UUIDs as crypto.randomUUID makes them, from the same CSPRNG in blocks of
// UUIDS_PER_FILL, but each written into one flat string: randomUUID pieces its string together
// from some twenty small ones, and the log takes an id per event.
const UUIDS_PER_FILL = 256
const entropy = Buffer.alloc(16 * UUIDS_PER_FILL)
let unused = 0
const text = Buffer.alloc(36)
const HEX = Buffer.from('0123456789abcdef', 'latin1')

/** A random v4 UUID, lower case, `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`. */
export function randomUuid(): string {
  if (unused === 0) {
    randomFillSync(entropy)
    unused = UUIDS_PER_FILL
  }
  const from = 16 * --unused
  let at = 0
  for (let i = 0; i < 16; i++) {
    let byte = entropy[from + i]!
    if (i === 6) byte = (byte & 0x0f) | 0x40
    else if (i === 8) byte = (byte & 0x3f) | 0x80
    text[at++] = HEX[byte >> 4]!
    text[at++] = HEX[byte & 15]!
    if (at === 8 || at === 13 || at === 18 || at === 23) text[at++] = 0x2d
  }
  return text.toString('latin1', 0, 36)
}

/** Deterministic ids `prefix-1`, `prefix-2`, … for tests and seeded demos. */
export function sequentialIds(prefix = 'id'): IdSource {
  let n = 0
  return { next: () => `${prefix}-${++n}` }
}

/**
 * A signal that aborts with a `TimeoutError` after `ms`, as `AbortSignal.timeout` does, but held
 * by its timer until then. Node 20's `AbortSignal.timeout` is held only weakly, and inside
 * `AbortSignal.any` nothing else holds it: a collection before it fires leaves the composite
 * never aborting (nodejs/node#57736), so a call's deadline would silently never come.
 */
export function timeoutSignal(ms: number): AbortSignal {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new DOMException(`The operation was aborted due to timeout`, 'TimeoutError')), ms)
  // like AbortSignal.timeout's: a deadline alone does not keep the process alive
  timer.unref()
  return controller.signal
}
