import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'
import { HaltdError } from '../events/errors.js'
import { openEventLog, type VerifyResult } from '../core/log/event-log.js'

export class BackupFailed extends HaltdError {
  constructor(
    readonly target: string,
    detail: string,
  ) {
    super('BACKUP_FAILED', `backup to ${target} failed: ${detail}`)
  }
}

/**
 * A consistent copy of a log that a daemon may be writing to at that moment. SQLite's online
 * backup restarts whenever another connection writes between two of its steps, so against a busy
 * writer it is asked to copy every page in a single step: one read transaction, one snapshot.
 * The copy is then opened as a log and its chain verified before it is reported good.
 */
export async function backupLog(source: string, target: string): Promise<{ verify: VerifyResult; pages: number }> {
  if (existsSync(target)) throw new BackupFailed(target, 'the file exists already (a backup never overwrites)')
  // opening as a log first proves the source is one, and names what is wrong if it is not
  openEventLog({ path: source, readonly: true }).close()
  const db = new Database(source, { readonly: true, fileMustExist: true })
  db.pragma('busy_timeout = 5000')
  let pages: number
  try {
    const result = await db.backup(target, { progress: () => 0x7fffffff })
    pages = result.totalPages
  } catch (e) {
    throw new BackupFailed(target, e instanceof Error ? e.message : String(e))
  } finally {
    db.close()
  }
  const copy = openEventLog({ path: target, readonly: true })
  try {
    return { verify: copy.verify(), pages }
  } finally {
    copy.close()
  }
}
