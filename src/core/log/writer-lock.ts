import Database from 'better-sqlite3'
import { closeSync, existsSync, openSync, realpathSync, statSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { holderName, LogLocked, type LockHolder } from './errors.js'
import { fileIdOf, sameFile, type FileId } from './file-id.js'

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
 * The file is never deleted by haltd. One removed or replaced while a writer runs would let a
 * second opener lock a fresh file of the same name, so each side looks out for it:
 *
 * - the writer calls `check` at least once a second (the daemon's log-file watch): when the path
 *   no longer names the file it locks, it locks the file there now, creating it if need be, or,
 *   where another process holds that one, reports the lock lost;
 * - an opener that finds the lock file not yet settled (no writer kept this very file: the mark
 *   names the file's device and inode, so a copy of a settled file put back is not settled) while
 *   the log shows signs of a live connection (its `-wal` or `-shm` beside it) writes its row,
 *   lets the lock go for `LOCK_SETTLE_MS`, longer than a live writer takes to notice and lock the
 *   new file, and is refused if someone took it meanwhile. A writer that kept the lock marks the
 *   file settled.
 */
export type WriterLock = {
  readonly path: string
  /** Whether this process still holds the lock at `path`; takes it back when the file there is new and free. */
  check(): LockCheck
  release(): void
}

/**
 * What `check` found: the lock file in place (`held`); a new one at the path that this process
 * now locks (`retaken`: the caller makes sure no one wrote the log meanwhile); a new one that
 * another opener holds for a moment (`contended`: look again); or one held by another process, or
 * none to be had (`lost`).
 */
export type LockCheck = { readonly kind: 'held' } | { readonly kind: 'retaken' | 'contended' | 'lost'; readonly why: string }

const HOLDER_SCHEMA = 'CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, host TEXT NOT NULL, since TEXT NOT NULL, token TEXT NOT NULL) STRICT'
/** One row once a writer has kept this lock file, naming the file: an opener finding it has no live writer's removed lock to wait out. */
const SETTLED_SCHEMA = 'CREATE TABLE IF NOT EXISTS settled (at TEXT NOT NULL, file TEXT NOT NULL) STRICT'
/** How long a commit or a read of the holder row waits for another opener's brief lock. */
const BRIEF_WAIT_MS = 2000
/**
 * How long an opener of an unsettled lock file leaves it free for a live writer to take back:
 * a writer looks every second and, finding the file held for the moment, looks again once more.
 */
export const LOCK_SETTLE_MS = 3000
/** Looks in a row that find a new lock file held by another opener before the lock counts as lost. */
const CONTENDED_LOOKS = 2

export function lockPathOf(logPath: string): string {
  return `${logPath}.lock`
}

/**
 * How long after `settleWriterLock` waited the lock out the open that follows may count that wait
 * as its own. Waiting longer is only safer (a live writer has had more looks to take its lock
 * back); the bound keeps an old wait from standing in for a new one.
 */
const WAIT_COUNTS_FOR_MS = 1000

type Held = { db: Database.Database; users: number; file: FileId | undefined; contended: number }
/** The locks this process holds, by the lock file's real path. */
const held = new Map<string, Held>()
/** Settle waits done without blocking, by the lock file's real path: the file waited on (device:inode) and when the wait ended. */
const waited = new Map<string, { file: string; endedAt: number }>()

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
    const db = lock(logPath, path)
    let file: FileId | undefined
    try {
      file = fileIdOf(path)
    } catch {
      // looked at again at the first check
    }
    mine = { db, users: 0, file, contended: 0 }
    held.set(path, mine)
  }
  mine.users++
  const holding = mine
  let released = false
  return {
    path,
    check: () => (released ? { kind: 'held' } : checkHeld(logPath, path, holding)),
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
  const token = randomUUID()
  try {
    db.pragma('busy_timeout = 0')
    if (!tryBegin(db)) throw new LogLocked(logPath, readHolder(db, token))
    db.exec(HOLDER_SCHEMA)
    db.exec(SETTLED_SCHEMA)
    if (!isSettled(db, path) && mayHaveLiveWriter(logPath) && !waitedJustNow(path)) {
      // A live writer whose lock file was removed takes this one back within LOCK_SETTLE_MS;
      // until then it may still be writing the log. Leave the lock free that long, then try.
      commitHolder(db, token)
      pause(LOCK_SETTLE_MS)
      if (!tryBegin(db)) throw new LogLocked(logPath, readHolder(db, token))
    }
    keep(db, path, token)
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

/**
 * The settle wait an open of an unsettled lock file would make (see the top of this file), made
 * without blocking the event loop, for an opener that can wait: the open that follows within
 * `WAIT_COUNTS_FOR_MS` takes the lock without pausing again, or is refused naming the writer that
 * took it back meanwhile. Where there is nothing to wait out (a settled or held lock file, no sign
 * of a live connection) it returns at once; what is wrong with the files is the open's to report.
 * Resolves with whether it waited.
 */
export async function settleWriterLock(logPath: string, sleep: (ms: number) => Promise<void> = delay): Promise<boolean> {
  let path: string
  let file: string | undefined
  let db: Database.Database | undefined
  try {
    path = lockPathOf(realLogPath(logPath))
    if (held.has(path) || !mayHaveLiveWriter(logPath)) return false
    createPrivateFile(path)
    db = new Database(path)
    db.pragma('busy_timeout = 0')
    // held by another process: the open refuses, naming it
    if (!tryBegin(db)) return false
    db.exec(HOLDER_SCHEMA)
    db.exec(SETTLED_SCHEMA)
    if (isSettled(db, path)) return false
    file = fileNameOf(path)
    if (file === undefined) return false
    // written in, as the blocking wait does: a refused opener meanwhile names this process
    commitHolder(db, randomUUID())
  } catch {
    return false
  } finally {
    if (db?.inTransaction) db.exec('ROLLBACK')
    db?.close()
  }
  await sleep(LOCK_SETTLE_MS)
  waited.set(path, { file, endedAt: Date.now() })
  return true
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Whether `settleWriterLock` just waited out this very file; the wait counts once. */
function waitedJustNow(path: string): boolean {
  const w = waited.get(path)
  waited.delete(path)
  return w !== undefined && Date.now() - w.endedAt <= WAIT_COUNTS_FOR_MS && w.file === fileNameOf(path)
}

/** Inside the lock's transaction: mark the file settled, write this process as the holder and commit. */
function keep(db: Database.Database, path: string, token: string): void {
  db.exec(HOLDER_SCHEMA)
  db.exec(SETTLED_SCHEMA)
  const file = fileNameOf(path)
  // a file that cannot be looked at stays unsettled: the next opener waits, which costs only time
  if (file !== undefined && !isSettled(db, path)) {
    db.exec('DELETE FROM settled')
    db.prepare('INSERT INTO settled (at, file) VALUES (?, ?)').run(new Date().toISOString(), file)
  }
  commitHolder(db, token)
}

function commitHolder(db: Database.Database, token: string): void {
  db.exec('DELETE FROM holder')
  db.prepare('INSERT INTO holder (pid, host, since, token) VALUES (?, ?, ?, ?)').run(process.pid, hostname(), new Date().toISOString(), token)
  // the commit waits for a refused opener that is reading the row
  db.pragma(`busy_timeout = ${BRIEF_WAIT_MS}`)
  db.exec('COMMIT')
  db.pragma('busy_timeout = 0')
}

function isSettled(db: Database.Database, path: string): boolean {
  const file = fileNameOf(path)
  return file !== undefined && db.prepare('SELECT 1 FROM settled WHERE file = ?').get(file) !== undefined
}

/** The file at `path` as device:inode, exact at any size; undefined where it cannot be looked at. */
function fileNameOf(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true })
    return `${s.dev}:${s.ino}`
  } catch {
    return undefined
  }
}

/** The log is there with its WAL or shared-memory file: some connection has it open, or had it when it ended. */
function mayHaveLiveWriter(logPath: string): boolean {
  return existsSync(logPath) && (existsSync(`${logPath}-wal`) || existsSync(`${logPath}-shm`))
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * Whether `holding` still locks the file at `path`. Where the path names another file or none,
 * lock what is there now (making it when missing) without waiting: an opener that holds it is
 * between its brief steps, so look again; after `CONTENDED_LOOKS` looks it is a live holder.
 */
function checkHeld(logPath: string, path: string, holding: Held): LockCheck {
  let now: FileId | undefined
  try {
    now = fileIdOf(path)
  } catch {
    // an unreadable folder says nothing of the file
    return { kind: 'held' }
  }
  // not known since the lock was taken: the file there now is taken for the one locked
  if (holding.file === undefined) holding.file = now
  if (sameFile(now, holding.file)) {
    holding.contended = 0
    return { kind: 'held' }
  }
  const why = `the writer lock ${path} was ${now === undefined ? 'removed' : 'replaced by another file'} while this process held it`
  let db: Database.Database | undefined
  const token = randomUUID()
  try {
    createPrivateFile(path)
    db = new Database(path)
    db.pragma('busy_timeout = 0')
    if (!tryBegin(db)) {
      const holder = readHolderNow(db)
      db.close()
      if (++holding.contended < CONTENDED_LOOKS) return { kind: 'contended', why }
      return { kind: 'lost', why: `${why}, and ${holderName(holder, 'another process')} holds the one there now: another writer may have opened ${logPath}` }
    }
    keep(db, path, token)
    if (!tryBegin(db)) {
      const holder = readHolder(db, token)
      db.close()
      return { kind: 'lost', why: `${why}, and ${holderName(holder, 'another process')} took the one there now: another writer may have opened ${logPath}` }
    }
  } catch (e) {
    if (db?.inTransaction) db.exec('ROLLBACK')
    db?.close()
    return { kind: 'lost', why: `${why}, and it could not be taken back: ${e instanceof Error ? e.message : String(e)}` }
  }
  // the old file's lock goes with its connection; no one else can reach that file by name
  if (holding.db.inTransaction) holding.db.exec('ROLLBACK')
  holding.db.close()
  holding.db = db
  try {
    holding.file = fileIdOf(path)
  } catch {
    holding.file = undefined
  }
  holding.contended = 0
  return { kind: 'retaken', why }
}

/** The holder's row, read once without waiting; undefined while it cannot be read. */
function readHolderNow(db: Database.Database): LockHolder | undefined {
  try {
    const row = db.prepare('SELECT pid, host, since FROM holder LIMIT 1').get() as LockHolder | undefined
    return row === undefined ? undefined : { pid: row.pid, host: row.host, since: row.since }
  } catch {
    return undefined
  }
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
