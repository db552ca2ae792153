/**
 * SQLite can refuse a write with SQLITE_BUSY without waiting in its busy handler: in WAL mode a
 * commit may have to start the WAL over after a checkpoint copied all of it, and a checkpoint
 * holding a reader's slot at that moment makes the commit fail at once. What failed left nothing
 * behind (the statement or the transaction rolled back), and the same write a moment later goes
 * through. Halting the gate for that would stop a desk's trading for a lock held a millisecond.
 */

/** How long a write is tried again while SQLite answers SQLITE_BUSY. */
const RETRY_FOR_MS = 1_000
const MAX_PAUSE_MS = 20
const pause = new Int32Array(new SharedArrayBuffer(4))

/** SQLITE_BUSY or one of its extended codes (SQLITE_BUSY_SNAPSHOT, …). */
export function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY')
}

/**
 * `write()`, tried again after a short pause while it fails busy and `canRetry()` says nothing of
 * it is left (no transaction open); any other failure, or busy past the window, is thrown.
 * Synchronous like the write itself: a write is never interleaved with another.
 */
export function retryBusy<T>(write: () => T, canRetry: () => boolean): T {
  const until = performance.now() + RETRY_FOR_MS
  for (let wait = 1; ; wait = Math.min(wait * 2, MAX_PAUSE_MS)) {
    try {
      return write()
    } catch (e) {
      if (!isBusy(e) || !canRetry() || performance.now() + wait > until) throw e
      Atomics.wait(pause, 0, 0, wait)
    }
  }
}
