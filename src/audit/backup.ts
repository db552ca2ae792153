import Database from 'better-sqlite3'
import { closeSync, existsSync, openSync, rmSync } from 'node:fs'
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
 * The copy is then opened as a log and its chain verified before it is reported good. A keyed
 * log's chain is verified under `chainKey`; without it the copy is taken but its chain not
 * checked (`verify` undefined).
 */
export async function backupLog(
  source: string,
  target: string,
  options: { chainKey?: Buffer } = {},
): Promise<{ verify: VerifyResult | undefined; pages: number }> {
  if (existsSync(target)) throw new BackupFailed(target, 'the file exists already (a backup never overwrites)')
  const keyed = options.chainKey ? { chainKey: options.chainKey } : {}
  // opening as a log first proves the source is one (and that a key given is its key), and names what is wrong if not
  const probe = openEventLog({ path: source, readonly: true, ...keyed })
  const verifiable = probe.chainKind === 'sha256' || options.chainKey !== undefined
  probe.close()
  // made here, empty, mode 0600 like the log, and only if nothing is there: the copy is never readable by others, even while it is written
  try {
    closeSync(openSync(target, 'wx', 0o600))
  } catch (e) {
    throw new BackupFailed(target, e instanceof Error ? e.message : String(e))
  }
  const db = new Database(source, { readonly: true, fileMustExist: true })
  db.pragma('busy_timeout = 5000')
  let pages: number
  try {
    const result = await db.backup(target, { progress: () => 0x7fffffff })
    pages = result.totalPages
  } catch (e) {
    rmSync(target, { force: true })
    throw new BackupFailed(target, e instanceof Error ? e.message : String(e))
  } finally {
    db.close()
  }
  let verify: VerifyResult | undefined
  const copy = openEventLog({ path: target, readonly: true, ...keyed })
  try {
    verify = verifiable ? copy.verify() : undefined
  } finally {
    copy.close()
  }
  // one file, as a backup should be: the reader's WAL and shared memory beside it are folded back and removed
  const fold = new Database(target, { fileMustExist: true })
  fold.pragma('wal_checkpoint(TRUNCATE)')
  fold.close()
  return { verify, pages }
}
