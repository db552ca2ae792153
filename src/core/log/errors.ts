import { HaltdError } from '../../events/errors.js'

export { HaltdError, InvalidEvent } from '../../events/errors.js'

/** The log file is not a haltd event log (or not SQLite at all). */
export class NotAnEventLog extends HaltdError {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super('NOT_AN_EVENT_LOG', `${path} is not a haltd event log: ${detail}`)
  }
}

/** The log file was written by a newer haltd whose format this version cannot read safely. */
export class NewerLogFormat extends HaltdError {
  constructor(
    readonly path: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super('NEWER_LOG_FORMAT', `${path} has log format ${found}; this haltd reads up to ${supported}. Upgrade haltd to open it.`)
  }
}

/** An append could not be written (disk full, I/O error). Nothing of it is in the log. */
export class LogWriteFailed extends HaltdError {
  constructor(
    readonly sqliteCode: string | undefined,
    message: string,
    cause: unknown,
  ) {
    super('LOG_WRITE_FAILED', `event log write failed${sqliteCode ? ` (${sqliteCode})` : ''}: ${message}`, { cause })
  }
}

/**
 * An ordered read of the log ended before a row the log holds: SQLite walked a damaged page as if
 * the table ended there, so what follows it cannot be read.
 */
export class LogDamaged extends HaltdError {
  constructor(
    readonly path: string,
    readonly lastReadSeq: number,
    readonly heldToSeq: number,
  ) {
    super(
      'LOG_DAMAGED',
      `${path} is damaged: it holds rows to seq ${heldToSeq}, but reading in order stops after seq ${lastReadSeq} (a damaged page; sqlite3's PRAGMA quick_check names it)`,
    )
  }
}

export class LogClosed extends HaltdError {
  constructor() {
    super('LOG_CLOSED', 'the event log is closed')
  }
}

export class LogReadOnly extends HaltdError {
  constructor() {
    super('LOG_READ_ONLY', 'the event log was opened read-only')
  }
}

/** Who holds a log's writer lock, as the holder recorded it. */
export type LockHolder = { pid: number; host: string; since: string }

/** The holder as a sentence names it, or `unknown` where it has not recorded itself. */
export const holderName = (holder: LockHolder | undefined, unknown: string): string =>
  holder ? `pid ${holder.pid} on ${holder.host}, since ${holder.since}` : unknown

/** Another process (or another open log in this one) is writing this log: one writer per log file. */
export class LogLocked extends HaltdError {
  constructor(
    readonly path: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(
      'LOG_LOCKED',
      `${path} is already open for writing by ${holderName(holder, 'another process (which has not recorded itself yet)')}; one writer per log. Stop that haltd first, or open the log read-only.`,
    )
  }
}

/** Why a log could not be opened for writing, when the file itself is not to blame. */
export type OpenFailure = 'read-only' | 'disk-full' | 'io-error'

const OPEN_FAILURES: Record<OpenFailure, string> = {
  'read-only': 'it is read-only',
  'disk-full': 'the disk is full',
  'io-error': 'an I/O error',
}

/** The log could not be opened or created for writing: a read-only file or directory, a full disk, an I/O error. */
export class LogOpenFailed extends HaltdError {
  constructor(
    readonly path: string,
    readonly reason: OpenFailure,
    detail: string,
    cause?: unknown,
  ) {
    super('LOG_OPEN_FAILED', `${path} cannot be opened for writing: ${OPEN_FAILURES[reason]} (${detail})`, { cause })
  }
}

/** A log recorded as keyed (its chain is HMAC-SHA256) opened for writing, or verified, without its key. */
export class ChainKeyMissing extends HaltdError {
  constructor(
    readonly path: string,
    readonly keyId: string,
  ) {
    super(
      'CHAIN_KEY_MISSING',
      `${path}: chain not verified: keyed log (hmac-sha256, key id ${keyId}), give its key file (db.chainKeyFile in the config, --key-file on the command line)`,
    )
  }
}

/** A key given for a log that was created without one: a log stays as it was created. */
export class ChainKeyUnexpected extends HaltdError {
  constructor(readonly path: string) {
    super(
      'CHAIN_KEY_UNEXPECTED',
      `${path} was created without a chain key (its chain is plain sha256) and stays so: open it without a key (drop db.chainKeyFile / --key-file), or start a new log with the key`,
    )
  }
}

/** The key given is not the one the log was created with (their key ids differ). */
export class ChainKeyMismatch extends HaltdError {
  constructor(
    readonly path: string,
    readonly logKeyId: string,
    readonly givenKeyId: string,
  ) {
    super('CHAIN_KEY_MISMATCH', `the key does not match this log: ${path} was created with key id ${logKeyId}, the key given has key id ${givenKeyId}`)
  }
}

/** A chain key file that cannot serve as one: missing, too short, or readable by others. */
export class ChainKeyFileRefused extends HaltdError {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super('CHAIN_KEY_FILE_REFUSED', `chain key file ${path} refused: ${detail}`)
  }
}

/** An event replicated from another log that does not continue this one: nothing of it was written. */
export class ReplicatedChainBroken extends HaltdError {
  constructor(
    readonly path: string,
    readonly seq: number,
    readonly problem: string,
  ) {
    super('REPLICATED_CHAIN_BROKEN', `${path}: replicated event ${seq} refused: ${problem}`)
  }
}
