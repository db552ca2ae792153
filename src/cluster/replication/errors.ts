import { HaltdError } from '../../events/errors.js'

/** The stream holds more than this log: this log is not the engine's newest, so it may not write there. */
export class StreamAhead extends HaltdError {
  constructor(
    readonly engine: string,
    readonly streamSeq: number,
    readonly logSeq: number,
  ) {
    super(
      'STREAM_AHEAD',
      `the stream of engine '${engine}' holds ${streamSeq} events and this log only ${logSeq}: another haltd wrote there; follow the stream as a standby (or restore from it) instead`,
    )
  }
}

/** The stream and this log hold different events at the same seq: two histories, never merged. */
export class StreamForked extends HaltdError {
  constructor(
    readonly engine: string,
    readonly seq: number,
    detail: string,
  ) {
    super('STREAM_FORKED', `the stream of engine '${engine}' and this log differ at seq ${seq}: ${detail}`)
  }
}

/** The stream did not acknowledge an event in time (sync mode's write-ahead). */
export class ReplicationTimeout extends HaltdError {
  constructor(
    readonly seq: number,
    readonly timeoutMs: number,
    why: string,
  ) {
    super('REPLICATION_TIMEOUT', `the stream did not acknowledge event ${seq} within ${timeoutMs} ms (${why})`)
  }
}

/** Replication stopped for good in this run: the stream refused this writer, or the publisher was stopped. */
export class ReplicationStopped extends HaltdError {
  constructor(reason: string) {
    super('REPLICATION_STOPPED', `replication stopped: ${reason}`)
  }
}

/**
 * A row no message of the stream can carry, even in chunks: the server's or the streams' largest
 * message leaves no room for a chunk next to its headers. Publishing waits at this row (asking again
 * now and then, so a server given a larger max_payload lifts it) until an operator raises the limit.
 */
export class RowTooLarge extends HaltdError {
  constructor(
    readonly seq: number,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      'REPLICATION_ROW_TOO_LARGE',
      `the event at seq ${seq} (${bytes} bytes) cannot be replicated: the stream takes messages of at most ${limit} bytes, too few to carry it even in chunks; raise the NATS server's max_payload (and the streams' max_msg_size)`,
    )
  }
}
