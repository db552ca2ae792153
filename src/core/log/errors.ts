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
