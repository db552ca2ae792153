import Database from 'better-sqlite3'
import { closeSync, existsSync, openSync, realpathSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { LogLocked, type LockHolder } from './errors.js'

/**
 * One writer per log file, held with SQLite's own locking on a small side file `<log>.lock`.
 *
 * The writer keeps a write transaction open on that file (BEGIN IMMEDIATE in rollback-journal
 * mode: a RESERVED lock, which is an fcntl byte-range lock) for as long as the log is open.
 * The kernel drops it when the process ends, however it ends (kill -9 included), so there is
 * never a stale lock to clean up by hand. Another opener's BEGIN IMMEDIATE fails at once with
 * SQLITE_BUSY. A RESERVED lock still lets readers in, so a refused opener reads the holder's
 * pid, host and start time from the row the holder committed before taking the lock for good.
 * Readers of the log itself never touch this file.
 *
 * The lock belongs to the process: logs opened for writing on one file within one process (an
 * embedder reopening a log that a stopping haltd has not closed yet) share it, counted, and it
 * is let go when the last of them closes.
 *
 * The file is never deleted: removing it while a writer runs would let a second writer lock a
 * fresh file of the same name.
 */
export type WriterLock = {
  readonly path: string
  release(): void
}

const HOLDER_SCHEMA = 'CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, host TEXT NOT NULL, since TEXT NOT NULL, token TEXT NOT NULL) STRICT'
/** How long a commit or a read of the holder row waits for another opener's brief lock. */
const BRIEF_WAIT_MS = 2000

export function lockPathOf(logPath: string): string {
  return `${logPath}.lock`
}

type Held = { db: Database.Database; users: number }
/** The locks this process holds, by the lock file's real path. */
const held = new Map<string, Held>()

/** The log's path with symbolic links resolved, so two names for one file share one lock. */
function realLogPath(logPath: string): string {
  try {
    return realpathSync(logPath)
  } catch {
    return join(realpathSync(dirname(logPath)), basename(logPath))
  }
}

/** Take the writer lock of the log at `logPath`, or throw `LogLocked` naming its holder. */
export function acquireWriterLock(logPath: string): WriterLock {
  const path = lockPathOf(realLogPath(logPath))
  let mine = held.get(path)
  if (!mine) {
    mine = { db: lock(logPath, path), users: 0 }
    held.set(path, mine)
  }
  mine.users++
  const holding = mine
  let released = false
  return {
    path,
    release() {
      if (released) return
      released = true
      if (--holding.users > 0) return
      held.delete(path)
      if (holding.db.inTransaction) holding.db.exec('ROLLBACK')
      holding.db.close()
    },
  }
}

function lock(logPath: string, path: string): Database.Database {
  createPrivateFile(path)
  const db = new Database(path)
  const me = { pid: process.pid, host: hostname(), since: new Date().toISOString() }
  const token = randomUUID()
  try {
    db.pragma('busy_timeout = 0')
    if (!tryBegin(db)) throw new LogLocked(logPath, readHolder(db, token))
    db.exec(HOLDER_SCHEMA)
    db.exec('DELETE FROM holder')
    db.prepare('INSERT INTO holder (pid, host, since, token) VALUES (?, ?, ?, ?)').run(me.pid, me.host, me.since, token)
    // the commit waits for a refused opener that is reading the row
    db.pragma(`busy_timeout = ${BRIEF_WAIT_MS}`)
    db.exec('COMMIT')
    db.pragma('busy_timeout = 0')
    // The row is readable now; take the lock again and keep it. An opener that slipped in
    // between the commit and this is the writer, and this one is refused.
    if (!tryBegin(db)) throw new LogLocked(logPath, readHolder(db, token))
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK')
    db.close()
    throw e
  }
  return db
}

/** Create the file with mode 0600 when it is missing; an existing one is left alone (never opened here: closing a descriptor would drop this process's locks on it). */
export function createPrivateFile(path: string): boolean {
  if (existsSync(path)) return false
  try {
    closeSync(openSync(path, 'wx', 0o600))
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw e
  }
}

function tryBegin(db: Database.Database): boolean {
  try {
    db.exec('BEGIN IMMEDIATE')
    return true
  } catch (e) {
    if ((e as { code?: unknown }).code === 'SQLITE_BUSY') return false
    throw e
  }
}

/**
 * The holder's row. When it still names this opener, the one that took the lock in the moment
 * after this one's commit has not written itself yet: wait briefly for it to.
 */
function readHolder(db: Database.Database, token: string): LockHolder | undefined {
  db.pragma(`busy_timeout = ${BRIEF_WAIT_MS}`)
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (let attempt = 0; attempt < 50; attempt++) {
    let row: (LockHolder & { token: string }) | undefined
    try {
      row = db.prepare('SELECT pid, host, since, token FROM holder LIMIT 1').get() as (LockHolder & { token: string }) | undefined
    } catch {
      // no holder table yet: the holder is between taking the lock and committing its row
      row = undefined
    }
    if (row && row.token !== token) return { pid: row.pid, host: row.host, since: row.since }
    Atomics.wait(pause, 0, 0, 20)
  }
  return undefined
}
