import Database from 'better-sqlite3'
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LOG_FORMAT, type StoredRow } from '../core/log/event-log.js'
import { storedRows } from './rows.js'

/**
 * The rows of a haltd log that is too damaged to open as one (truncated, a corrupt page): read in
 * seq order until SQLite stops, so the audit can say how far the log is intact and where it breaks.
 * Undefined when the file does not even look like a haltd log.
 */
export function salvageRows(path: string): { rows: Iterable<StoredRow>; keyed: boolean; close(): void } | undefined {
  if (!existsSync(path)) return undefined
  let db = openIfLog(path)
  let scratch: string | undefined
  if (!db) {
    // A truncated file still claims its old page count in its header, and SQLite refuses the whole
    // file for it. On a scratch copy (the original is never written), mark that count stale so SQLite
    // sizes the file by its length, and read what is there.
    scratch = mkdtempSync(join(tmpdir(), 'haltd-salvage-'))
    const copy = join(scratch, 'log.db')
    try {
      copyFileSync(path, copy)
      // its WAL too: the events committed since the last checkpoint are there (a log on a read-only medium, say)
      if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`)
      invalidateHeaderPageCount(copy)
    } catch (e) {
      rmSync(scratch, { recursive: true, force: true })
      throw e
    }
    db = openIfLog(copy)
    if (!db) {
      rmSync(scratch, { recursive: true, force: true })
      return undefined
    }
  }
  const done = (): void => {
    db.close()
    if (scratch) rmSync(scratch, { recursive: true, force: true })
  }
  let keyed = false
  try {
    keyed = db.prepare(`SELECT value FROM meta WHERE key = 'chain'`).pluck().get() === 'hmac-sha256'
  } catch {
    // a meta page too damaged to say: its links are checked as plain ones
  }
  return { rows: storedRows(db, 500), keyed, close: done }
}

function openIfLog(path: string): Database.Database | undefined {
  let db: Database.Database | undefined
  try {
    db = new Database(path, { readonly: true, fileMustExist: true })
    if (db.prepare(`SELECT value FROM meta WHERE key = 'format'`).pluck().get() === LOG_FORMAT) return db
  } catch {
    // not readable this way
  }
  db?.close()
  return undefined
}

/** SQLite trusts the header's page count (offset 28) only while the "version valid for" field (offset 92) equals the change counter (offset 24). */
function invalidateHeaderPageCount(file: string): void {
  const fd = openSync(file, 'r+')
  try {
    const counter = Buffer.alloc(4)
    if (readSync(fd, counter, 0, 4, 24) !== 4) return
    const stale = Buffer.alloc(4)
    stale.writeUInt32BE((counter.readUInt32BE(0) + 1) >>> 0)
    writeSync(fd, stale, 0, 4, 92)
  } finally {
    closeSync(fd)
  }
}
