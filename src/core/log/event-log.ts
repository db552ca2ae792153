import Database from 'better-sqlite3'
import { createHash, createHmac, hash as oneShotHash } from 'node:crypto'
import { accessSync, constants, existsSync, fsyncSync, openSync, closeSync, renameSync, rmSync, statSync } from 'node:fs'
import { specialFileKind } from './special-file.js'
import { dirname } from 'node:path'
import { EventEmitter } from 'eventemitter3'
import {
  checkEnvelopeInput,
  current,
  GENESIS_HASH,
  idempotencyKeyOf,
  InvalidEvent,
  parseEvent,
  readStored,
  streamOf,
  type Envelope,
  type EventInput,
  type HaltdEvent,
} from '../../events/index.js'
import { parseCompiled, type CompiledEvent } from '../../events/compiled.js'
import { systemClock, uuidIds, type Clock, type IdSource } from '../../events/clock.js'
import {
  ChainKeyMismatch,
  ChainKeyMissing,
  ChainKeyUnexpected,
  HaltdError,
  LogClosed,
  LogDamaged,
  LogOpenFailed,
  LogReadOnly,
  LogWriteFailed,
  NewerLogFormat,
  NotAnEventLog,
  ReplicatedChainBroken,
} from './errors.js'
import { leaseCheckpoints, WAL_SIZE_LIMIT, WORKER_BEHIND_PAGES, type CheckpointLease } from './checkpointer.js'
import { retryBusy } from './busy.js'
import { PAGE_CACHE_KIB } from './page-cache.js'
import { chainKeyId, type ChainKind } from './chain-key.js'
import { keyHash, RecentKeys } from './recent-keys.js'
import { fileIdOf, sameFile, type FileId } from './file-id.js'
import { acquireWriterLock, createPrivateFile, type WriterLock } from './writer-lock.js'

export const LOG_FORMAT = 'haltd-event-log'
/** The newest format this haltd reads. A keyed log is version 2, so a haltd that predates keyed chains refuses it rather than append plain links to it. */
export const LOG_FORMAT_VERSION = 2
const PLAIN_FORMAT_VERSION = 1

/**
 * `process`: each append is its own WAL transaction with synchronous=NORMAL; an append that
 * returned survives a killed process. `power`: synchronous=FULL with group commit: the appends
 * of one event-loop turn share one fsync'd transaction; `appendDurable`/`flush` resolve once it
 * has committed, which survives power loss.
 */
export type Durability = 'process' | 'power'

export type EventLogOptions = {
  path: string
  clock?: Clock
  ids?: IdSource
  durability?: Durability
  readonly?: boolean
  /** Test seam: called before every write, may throw to simulate an I/O fault. */
  beforeWrite?: () => void
  /** The largest event data, serialized as stored (UTF-8 JSON), in bytes; larger events are `InvalidEvent`. */
  maxEventBytes?: number
  /** Test seam: called before each power-mode group commit, may throw to simulate a failed commit. */
  beforeCommit?: () => void
  /**
   * The chain key (at least 32 bytes, kept outside the data directory): each link is then
   * HMAC-SHA256(key, …) instead of sha256. A new log records that it is keyed, and the key's id;
   * from then on a writer must bring the same key, and a log created without one never takes one.
   * A reader needs it only to verify the chain.
   */
  chainKey?: Buffer
  /**
   * Who checkpoints the WAL of a writer: `background` (the default), the process's checkpoint
   * worker, off the append path; `inline`, SQLite's own, inside the commit that fills the WAL.
   */
  checkpoints?: 'background' | 'inline'
}

/** 1 MiB: far above any event haltd writes itself, far below what would stall the writer. */
export const DEFAULT_MAX_EVENT_BYTES = 1 << 20

export type ReadOptions = {
  /** First seq to return (inclusive). */
  from?: number
  /** Last seq to return (inclusive). */
  to?: number
  /** Stop before the first event stamped later than this (ms since the epoch). */
  untilTs?: number
  types?: readonly string[]
  stream?: string
  /** Every stream whose name starts with this (`shutdown:`), read through the stream index rather than the whole log. */
  streamPrefix?: string
}

/** A row exactly as stored: what the hash chain covers. */
export type StoredRow = {
  seq: number
  id: string
  type: string
  v: number
  ts: number
  stream: string
  causationId: string | null
  correlationId: string | null
  data: string
  prevHash: string
  hash: string
}

/** A stored row with the idempotency key it was stored under: what a replica needs to be this log. */
export type ReplicatedRow = StoredRow & { key: string | null }

/** A row as replication sends it: its seq, its hash, and its JSON as UTF-8 bytes. */
export type ReplicableMessage = [seq: number, hash: string, payload: Buffer]

export type VerifyResult = { ok: true; lastSeq: number; count: number } | { ok: false; seq: number; problem: string; lastGoodSeq: number }

type LogEvents = {
  event: (e: Envelope) => void
  /** A power-mode group transaction was lost: none of its events were published, and the log ends at `lastSeq`. */
  fault: (info: { error: LogWriteFailed; lastSeq: number }) => void
  /** An append or batch could not be written (disk full, I/O error): nothing of it is in the log. */
  'write-failed': (info: { error: LogWriteFailed; types: readonly string[] }) => void
  /**
   * An append carried an idempotency key already stored, but with another type or payload: the
   * stored event stands and the offered one is not written. Two facts claiming one key (a venue
   * reusing a trade id) is worth an operator's look, so it is published rather than dropped.
   */
  conflict: (info: { key: string; stored: Envelope; offered: { type: string; data: unknown } }) => void
  /** A background WAL checkpoint failed, or the checkpoint worker is gone and the writer took checkpoints back. */
  'checkpoint-failed': (info: { message: string }) => void
  /** The writer lock's file was removed or replaced, and this writer locked the one at its path again before anyone wrote the log. */
  'lock-retaken': (info: { message: string }) => void
}

const PAGE = 2000
/** SQLite's own default: a checkpoint in the commit that takes the WAL past this many pages. */
const SQLITE_AUTOCHECKPOINT = 1000
/** Idempotency keys of this process's latest appends, kept to answer an immediate repeat cheaply. */
const RECENT_KEYS = 4096
/** Rows per multi-row INSERT on the batch path (12 parameters each, well under SQLite's limit). */
const ROWS_PER_INSERT = 32

type Chained = { envelope: Envelope; json: string }

/** What `checkFile` found gone: why, what it costs, and whether another file is at the log's path. */
type FileLoss = { reason: string; consequence: string; replacedLog?: boolean }

/** A batch row was ignored as a duplicate on the fast path; the batch is redone row by row. */
class DuplicateInBatch extends Error {}

/** The log's tables; exported so the benchmark's raw-insert baseline writes rows of the same shape. */
export const LOG_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  v INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  stream TEXT NOT NULL,
  causation_id TEXT,
  correlation_id TEXT,
  idem_key TEXT,
  data TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS events_idem ON events(idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_stream ON events(stream, seq);
`

const COLUMNS = `seq, id, type, v, ts, stream, causation_id AS causationId, correlation_id AS correlationId, data, prev_hash AS prevHash, hash`

/**
 * The link of one event: the digest of its header in a fixed order, then its data as stored,
 * after the previous link. sha256, or HMAC-SHA256 under the chain key of a keyed log.
 */
export function chainHash(prevHash: string, row: Omit<StoredRow, 'prevHash' | 'hash'>, key?: Buffer): string {
  return chainLinker(key)(prevHash, row)
}

/** `chainHash` with its digest chosen once, for walking a whole chain. */
export function chainLinker(key?: Buffer): (prevHash: string, row: Omit<StoredRow, 'prevHash' | 'hash'>) => string {
  const digest = linkDigest(key)
  return (prevHash, row) => hashLink(digest, prevHash, row.seq, row.id, row.type, row.v, row.ts, row.stream, row.causationId, row.correlationId, row.data)
}

/**
 * What `hashLink` digests, built by SQLite from a stored row: prevHash, then the header as
 * `json_array` writes it (compact JSON, like the header written by hand below), then the data.
 * For the rows haltd writes the two texts are the same bytes, so a chain walk can hash this one
 * string instead of turning eleven columns into values. Where the two differ (an integer past
 * 2^53, which JavaScript reads as the nearest double), the digest does not match and the walker
 * must rebuild the link with `chainLinker` before it calls anything wrong. A match is a real
 * match: the walker checks the prevHash's length, and JSON text decodes to one header only.
 */
export const LINK_TEXT_SQL = 'prev_hash || json_array(seq, id, type, v, ts, stream, causation_id, correlation_id) || data'

/** The digest a chain's links are made with: sha256, or HMAC-SHA256 under `key`. Chosen once per log. */
export function linkDigest(key?: Buffer): (text: string) => string {
  if (key === undefined) return sha256Hex
  const copy = Buffer.from(key)
  return (text) => createHmac('sha256', copy).update(text).digest('hex')
}

// crypto.hash (Node >= 20.12) digests a string in one native call, without a Hash object; per
// event that is most of the chain's cost. Decided once, at load.
const sha256Hex: (text: string) => string =
  typeof oneShotHash === 'function' ? (text) => oneShotHash('sha256', text, 'hex') : (text) => createHash('sha256').update(text).digest('hex')

// Strings JSON would escape (quotes, backslashes, control characters, surrogates) go through
// JSON.stringify; the usual plain ones are quoted directly, with identical bytes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are exactly what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/
const str = (s: string | null | undefined) => (s == null ? 'null' : NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`)
const num = (n: number) => (Number.isFinite(n) ? String(n) : 'null')

/**
 * An event's data as the log stores and hashes it: the JSON the compiled path built while it
 * checked the event (events/compiled.ts), or JSON.stringify's. Validation (the catalogue,
 * events/json.ts) lets through only values JSON writes faithfully, so JSON.stringify cannot
 * throw here; if it ever did, the input is at fault, not the disk, and it is reported as such.
 */
function serializeData(event: HaltdEvent | CompiledEvent, maxBytes: number): string {
  let json: string
  if ('json' in event) json = event.json
  else {
    try {
      json = JSON.stringify(event.data)
    } catch (e) {
      throw new InvalidEvent(event.type, [{ path: 'data', message: `cannot be written as JSON (${e instanceof Error ? e.message : String(e)})` }])
    }
  }
  // UTF-8 takes at most 3 bytes per UTF-16 unit, so only a long text needs its bytes counted
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json, 'utf8')
    if (bytes > maxBytes) {
      throw new InvalidEvent(event.type, [{ path: 'data', message: `is ${bytes} bytes as stored, over this log's cap of ${maxBytes} bytes (maxEventBytes)` }])
    }
  }
  return json
}

/**
 * A statement's rows in seq order, a page at a time (so writes may go on meanwhile): the statement
 * takes `lead`'s parameters, then the first seq and the last, and returns at most PAGE rows. With
 * `mustReach`, a seq whose row the log holds: a read that ends before it throws `LogDamaged`, since
 * SQLite ends a walk at a damaged page without an error.
 */
function* pagesOf<R extends { seq: number }>(
  stmt: Database.Statement,
  from: number,
  to: number,
  lead: readonly unknown[] = [],
  mustReach?: { path: string; seq: number },
): Generator<R> {
  let next = from
  for (;;) {
    const rows = stmt.all(...lead, next, to) as R[]
    for (const row of rows) yield row
    if (rows.length > 0) next = rows[rows.length - 1]!.seq + 1
    if (rows.length < PAGE) {
      const reach = mustReach === undefined ? 0 : Math.min(mustReach.seq, to)
      if (next <= reach) throw new LogDamaged(mustReach!.path, next - 1, reach)
      return
    }
  }
}

/** The event as the catalogue's schemas read it: the compiled path for the shapes it knows, zod for the rest. */
function readInput(input: EventInput): HaltdEvent | CompiledEvent {
  return parseCompiled(input) ?? parseEvent(input)
}

/**
 * digest(prevHash + header + data), where header is exactly
 * JSON.stringify([seq, id, type, v, ts, stream, causationId, correlationId]), written out by hand
 * so the hot path allocates neither the array nor a Hash object.
 */
function hashLink(
  digest: (text: string) => string,
  prevHash: string,
  seq: number,
  id: string,
  type: string,
  v: number,
  ts: number,
  stream: string,
  causationId: string | null,
  correlationId: string | null,
  data: string,
): string {
  const known = TYPE_AND_VERSION.get(type)
  const typeAndV = known !== undefined && known.v === v ? known.text : `${str(type)},${num(v)},`
  const ids = causationId === null && correlationId === null ? 'null,null]' : `${str(causationId)},${str(correlationId)}]`
  return digest(`${prevHash}[${num(seq)},${str(id)},${typeAndV}${num(ts)},${str(stream)},${ids}${data}`)
}

/** `"type",v,` of the header for each catalogue type at its current version, written once rather than per event. */
const TYPE_AND_VERSION = new Map<string, { v: number; text: string }>(
  Object.entries(current).map(([type, { v }]) => [type, { v, text: `${JSON.stringify(type)},${num(v)},` }]),
)

/**
 * Turn a stored row into the envelope readers see: data parsed and lifted to the current version.
 * A row this build cannot read keeps its stored version and data and says why in `unreadable`.
 */
function toEnvelope(row: StoredRow): Envelope {
  const stored = readStored(row.type, row.v, row.data)
  const envelope = {
    seq: row.seq,
    id: row.id,
    type: row.type,
    v: stored.v,
    ts: row.ts,
    stream: row.stream,
    causationId: row.causationId,
    correlationId: row.correlationId,
    data: stored.data,
    prevHash: row.prevHash,
    hash: row.hash,
  } as Envelope
  if (stored.unreadable !== undefined) envelope.unreadable = stored.unreadable
  return envelope
}

function sqliteCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : undefined
}

function errnoOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' && code.startsWith('E') ? code : undefined
}

/**
 * What went wrong opening a log, by its cause: a read-only file or directory, a full disk or an
 * I/O error is said as such; anything else means the file is not a log this haltd can open.
 */
function openFailure(path: string, e: unknown): Error {
  if (e instanceof HaltdError) return e
  const message = e instanceof Error ? e.message : String(e)
  const code = sqliteCode(e) ?? ''
  const errno = errnoOf(e)
  if (code === 'SQLITE_FULL' || errno === 'ENOSPC') return new LogOpenFailed(path, 'disk-full', message, e)
  if (code.startsWith('SQLITE_READONLY') || errno === 'EROFS' || errno === 'EACCES' || errno === 'EPERM')
    return new LogOpenFailed(path, 'read-only', message, e)
  if (code.startsWith('SQLITE_IOERR') || errno === 'EIO') return new LogOpenFailed(path, 'io-error', message, e)
  return new NotAnEventLog(path, message)
}

/** Refuse, before anything is locked or created, a log that this process could not write. */
function checkWritable(path: string): void {
  const dir = dirname(path)
  const denied = (e: unknown) => errnoOf(e) === 'EACCES' || errnoOf(e) === 'EROFS' || errnoOf(e) === 'EPERM'
  try {
    accessSync(dir, constants.W_OK)
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') throw new NotAnEventLog(path, `its directory ${dir} does not exist`)
    if (denied(e)) throw new LogOpenFailed(path, 'read-only', `the directory ${dir} is read-only`, e)
    throw e
  }
  try {
    accessSync(path, constants.W_OK)
  } catch (e) {
    if (denied(e)) throw new LogOpenFailed(path, 'read-only', 'the file is read-only', e)
  }
}

/**
 * A new, empty log at `path`, mode 0600 (its WAL and shared-memory files take the same mode
 * from it). Written under a temporary name and renamed into place, so a crash part way leaves
 * no file rather than a half-made one. The caller holds the writer lock.
 */
function createLog(path: string, createdAt: string, key: Buffer | undefined): void {
  const temp = `${path}.new`
  rmSync(temp, { force: true })
  rmSync(`${temp}-journal`, { force: true })
  createPrivateFile(temp)
  try {
    const db = new Database(temp)
    try {
      db.exec(LOG_SCHEMA)
      const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)')
      db.transaction(() => {
        put.run('format', LOG_FORMAT)
        put.run('format_version', String(key ? LOG_FORMAT_VERSION : PLAIN_FORMAT_VERSION))
        put.run('created_at', createdAt)
        put.run('chain', key ? 'hmac-sha256' : 'sha256')
        if (key) put.run('chain_key_id', chainKeyId(key))
      })()
    } finally {
      db.close()
    }
    renameSync(temp, path)
  } catch (e) {
    rmSync(temp, { force: true })
    throw e
  }
  // make the new name durable too (best effort: not every platform lets a directory be opened)
  try {
    const fd = openSync(dirname(path), 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {}
}

function writeFailure(e: unknown): LogWriteFailed {
  if (e instanceof LogWriteFailed) return e
  return new LogWriteFailed(sqliteCode(e), e instanceof Error ? e.message : String(e), e)
}

export class EventLog {
  readonly path: string
  readonly durability: Durability
  readonly readonly: boolean
  /** The open database, for sibling stores in core (snapshots) that live in the same file. */
  readonly database: Database.Database
  private readonly clock: Clock
  private readonly ids: IdSource
  private readonly beforeWrite: (() => void) | undefined
  private readonly maxEventBytes: number
  private readonly beforeCommit: (() => void) | undefined
  /** How the chain's links are made, as the log recorded it when it was created. */
  readonly chainKind: ChainKind
  /** The id of the key a keyed log was created with (its meta's `chain_key_id`). */
  readonly chainKeyId: string | undefined
  /** Makes each link: sha256, or HMAC-SHA256 under the key given; undefined for a keyed log read without its key. */
  private readonly digest: ((text: string) => string) | undefined
  /** The writer lock (one writer per log file); none for a read-only log. */
  private readonly lock: WriterLock | undefined
  private readonly emitter = new EventEmitter<LogEvents>()
  private readonly recentKeys = new RecentKeys(RECENT_KEYS)
  private readonly insert: Database.Statement
  private readonly insertMany: Database.Statement
  /** Writes a batch in one transaction; wrapped once, not per call. */
  private readonly writeAll: (inputs: readonly EventInput[], events: readonly HaltdEvent[]) => Envelope[]
  private readonly power: boolean
  private readonly byKey: Database.Statement
  private readonly page: Database.Statement
  private readonly pageKeyed: Database.Statement
  private readonly pageMessages: Database.Statement
  // prepared at their first read: a log read only by seq never needs them
  private pageOfStream: Database.Statement | undefined
  private pageOfStreams: Database.Statement | undefined
  private pageOfStreamsOfType: Database.Statement | undefined
  private tsAt: Database.Statement | undefined
  private seq = 0
  private hash = GENESIS_HASH
  private lastTs = 0
  private closed = false
  /** The file this writer opened (device and inode), to notice one removed or replaced under it. */
  private fileId: FileId | undefined
  /** The WAL and its shared-memory index this writer opened, where they were there at open. */
  private sideIds: { wal?: FileId | undefined; shm?: FileId | undefined } = {}
  /** Why the path no longer names that file, or the lock is lost, once seen. */
  private fileLost: string | undefined
  /** Why this writer no longer holds the writer lock, once seen: from then on it writes nothing. */
  private lockLost: string | undefined
  // power mode: the open group transaction and who waits for it
  private groupOpen = false
  private groupWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = []
  private committed: Promise<void> = Promise.resolve()
  /** Written in the open group, published once it commits. */
  private unpublished: Envelope[] = []
  /** The newest seq committed and published to subscribers. */
  private published = 0
  /** Appends asked for with `appendSoon`, written as one batch before anything else. */
  private soon: { input: EventInput; onError: (e: unknown) => void }[] = []
  /** The checkpoint worker's hold on this log, while it checkpoints it. */
  private checkpoints: CheckpointLease | undefined

  constructor(options: EventLogOptions) {
    this.path = options.path
    this.durability = options.durability ?? 'process'
    this.power = this.durability === 'power'
    this.readonly = options.readonly ?? false
    this.clock = options.clock ?? systemClock
    this.ids = options.ids ?? uuidIds
    this.beforeWrite = options.beforeWrite
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
    if (!Number.isSafeInteger(this.maxEventBytes) || this.maxEventBytes < 1) {
      throw new RangeError(`maxEventBytes must be a positive integer, got ${options.maxEventBytes}`)
    }
    this.beforeCommit = options.beforeCommit
    if (options.chainKey !== undefined && options.chainKey.length === 0) throw new RangeError('chainKey is empty')
    if (this.readonly && !existsSync(this.path)) throw new NotAnEventLog(this.path, 'no such file')
    // a FIFO or a device would block the open, or read without end
    const special = specialFileKind(this.path)
    if (special !== undefined) throw new NotAnEventLog(this.path, `it is a ${special}, not a file`)
    if (!this.readonly) checkWritable(this.path)
    let db: Database.Database | undefined
    try {
      this.lock = this.readonly ? undefined : acquireWriterLock(this.path)
      if (!this.readonly) {
        // a new log only where there is no file: an empty file is someone else's mistake, not a log
        if (!existsSync(this.path)) {
          // SQLite would read a WAL it finds beside a new file into it, frames of another log
          if (existsSync(`${this.path}-wal`))
            throw new NotAnEventLog(
              this.path,
              `there is no file there, but there is ${this.path}-wal, the WAL of a log that was removed or moved: a new log there would take in its frames; put back the log it belongs to, or move ${this.path}-wal and ${this.path}-shm away`,
            )
          createLog(this.path, new Date(this.clock.now()).toISOString(), options.chainKey)
        } else if (statSync(this.path).size === 0)
          throw new NotAnEventLog(this.path, 'the file is empty (0 bytes); haltd creates a new log only where no file exists')
      }
      db = new Database(this.path, { readonly: this.readonly, fileMustExist: true })
      this.database = db
      if (!this.readonly) this.fileId = fileIdOf(this.path)
      this.checkFormat(db)
      const chain = this.chainOf(db, options.chainKey)
      this.chainKind = chain.kind
      this.chainKeyId = chain.keyId
      this.digest = chain.digest
      db.pragma('busy_timeout = 5000')
      db.pragma(`cache_size = -${PAGE_CACHE_KIB}`)
      if (!this.readonly) {
        db.pragma('journal_mode = WAL')
        db.pragma(`synchronous = ${this.durability === 'power' ? 'FULL' : 'NORMAL'}`)
      }
    } catch (e) {
      db?.close()
      this.lock?.release()
      if (this.readonly && !(e instanceof HaltdError)) throw new NotAnEventLog(this.path, e instanceof Error ? e.message : String(e))
      throw openFailure(this.path, e)
    }
    this.insert = this.readonly
      ? db.prepare('SELECT 1')
      : db.prepare(
          `INSERT OR IGNORE INTO events (seq, id, type, v, ts, stream, causation_id, correlation_id, idem_key, data, prev_hash, hash)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
    this.byKey = db.prepare(`SELECT ${COLUMNS} FROM events WHERE idem_key = ?`)
    this.page = db.prepare(`SELECT ${COLUMNS} FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ${PAGE}`)
    this.pageKeyed = db.prepare(`SELECT ${COLUMNS}, idem_key AS key FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ${PAGE}`)
    // replication's messages: SQLite writes each row's JSON (its columns by their row names, the
    // stored data as a string, `key` the idempotency key) and hands it over as UTF-8 bytes (a blob
    // arrives as a Buffer), each row an array: no object per column or row, no string to encode
    this.pageMessages = db
      .prepare(
        `SELECT seq, hash, CAST(json_object('seq', seq, 'id', id, 'type', type, 'v', v, 'ts', ts, 'stream', stream, 'causationId', causation_id,
           'correlationId', correlation_id, 'data', data, 'prevHash', prev_hash, 'hash', hash, 'key', idem_key) AS BLOB)
         FROM events WHERE seq >= ? ORDER BY seq LIMIT ?`,
      )
      .raw(true)
    this.insertMany = this.readonly
      ? db.prepare('SELECT 1')
      : db.prepare(
          `INSERT OR IGNORE INTO events (seq, id, type, v, ts, stream, causation_id, correlation_id, idem_key, data, prev_hash, hash)
           VALUES ${new Array(ROWS_PER_INSERT).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        )
    const writeEach = (inputs: readonly EventInput[], events: readonly HaltdEvent[]) => {
      const out = new Array<Envelope>(events.length)
      for (let i = 0; i < events.length; i++) out[i] = this.write(inputs[i]!, events[i]!)
      return out
    }
    const writeMany = db.transaction((inputs: readonly EventInput[], events: readonly HaltdEvent[]) => this.writeMany(inputs, events))
    const writeAll = db.transaction((inputs: readonly EventInput[], events: readonly HaltdEvent[]) => {
      if (events.length < ROWS_PER_INSERT) return writeEach(inputs, events)
      const seq = this.seq
      const hash = this.hash
      const lastTs = this.lastTs
      try {
        return writeMany(inputs, events)
      } catch (e) {
        if (!(e instanceof DuplicateInBatch)) throw e
        // a duplicate idempotency key: its savepoint is rolled back, so write row by row, where
        // each duplicate resolves to the envelope already stored
        this.seq = seq
        this.hash = hash
        this.lastTs = lastTs
        return writeEach(inputs, events)
      }
    })
    // IMMEDIATE: the write lock at BEGIN, where SQLite waits out another holder (the checkpoint
    // worker's RESTART) under busy_timeout. A deferred transaction that read first (a duplicate's
    // lookup) and then writes asks for the lock as an upgrade, which SQLite refuses at once with
    // SQLITE_BUSY instead of waiting. Inside a power-mode group it is a savepoint, as before.
    this.writeAll = (inputs, events) => writeAll.immediate(inputs, events)
    this.loadTail()
    if (!this.readonly) this.sideIds = { wal: lookedAt(`${this.path}-wal`), shm: lookedAt(`${this.path}-shm`) }
    if (!this.readonly && (options.checkpoints ?? 'background') === 'background') this.checkpointInBackground(db)
  }

  /**
   * Hand the WAL's checkpoints to the worker. The writer keeps SQLite's own until the worker says
   * it holds the log: until then (a thread not yet running, a main thread that has not yet let its
   * message in, a connection the worker could not open) nothing else would bound the WAL.
   */
  private checkpointInBackground(db: Database.Database): void {
    this.checkpoints = leaseCheckpoints(this.path, {
      taken: () => {
        if (!this.closed && this.checkpoints) db.pragma(`wal_autocheckpoint = ${WORKER_BEHIND_PAGES}`)
      },
      failed: (message) => this.emitter.emit('checkpoint-failed', { message }),
      lost: (reason) => {
        this.checkpoints = undefined
        if (this.closed) return
        db.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT}`)
        this.emitter.emit('checkpoint-failed', { message: `${reason}; the writer checkpoints again` })
      },
    })
    if (!this.checkpoints) return
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`)
  }

  private checkFormat(db: Database.Database): void {
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[]
    if (tables.length === 0) throw new NotAnEventLog(this.path, 'the file is empty')
    if (!tables.includes('meta') || !tables.includes('events')) {
      throw new NotAnEventLog(this.path, `it has tables (${tables.join(', ')}) but no haltd meta/events tables`)
    }
    const meta = Object.fromEntries((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]))
    if (meta.format !== LOG_FORMAT) throw new NotAnEventLog(this.path, `format is '${meta.format ?? 'missing'}'`)
    const version = Number(meta.format_version)
    if (!Number.isInteger(version)) throw new NotAnEventLog(this.path, `format_version is '${meta.format_version}'`)
    if (version > LOG_FORMAT_VERSION) throw new NewerLogFormat(this.path, version, LOG_FORMAT_VERSION)
  }

  /**
   * How this log's links are made, from what it recorded at creation, and whether the key given
   * fits: a writer must bring a keyed log's key and may not bring one to a plain log; a key whose
   * id differs from the recorded one is refused. A reader may read a keyed log without the key
   * (all but the chain check), and a reader with a key checks the links under it even where the
   * log says it is plain, so a chain rewritten without the key and marked plain still fails.
   */
  private chainOf(
    db: Database.Database,
    key: Buffer | undefined,
  ): { kind: ChainKind; keyId: string | undefined; digest: ((text: string) => string) | undefined } {
    const meta = db.prepare('SELECT value FROM meta WHERE key = ?').pluck()
    const recorded = (meta.get('chain') as string | undefined) ?? 'sha256'
    const keyId = meta.get('chain_key_id') as string | undefined
    if (recorded !== 'sha256' && recorded !== 'hmac-sha256') throw new NotAnEventLog(this.path, `its chain is '${recorded}', which this haltd does not know`)
    if (recorded === 'hmac-sha256') {
      if (key === undefined) {
        if (!this.readonly) throw new ChainKeyMissing(this.path, keyId ?? 'not recorded')
        return { kind: recorded, keyId, digest: undefined }
      }
      const given = chainKeyId(key)
      if (given !== keyId) throw new ChainKeyMismatch(this.path, keyId ?? 'not recorded', given)
      return { kind: recorded, keyId, digest: linkDigest(key) }
    }
    if (key !== undefined && !this.readonly) throw new ChainKeyUnexpected(this.path)
    return { kind: recorded, keyId: undefined, digest: linkDigest(key) }
  }

  /** The newest stored event's seq, ts and hash, as the file holds it now. */
  private storedTail(): { seq: number; ts: number; hash: string } | undefined {
    return this.database.prepare('SELECT seq, ts, hash FROM events ORDER BY seq DESC LIMIT 1').get() as { seq: number; ts: number; hash: string } | undefined
  }

  private loadTail(): void {
    const last = this.storedTail()
    this.seq = last?.seq ?? 0
    this.hash = last?.hash ?? GENESIS_HASH
    this.lastTs = last?.ts ?? 0
    this.published = this.seq
  }

  /** The seq of the newest event, 0 for an empty log. */
  get lastSeq(): number {
    return this.seq
  }

  /**
   * The seq of the newest event committed and published to subscribers. It trails `lastSeq`
   * only in `power` mode, while a group transaction is open.
   */
  get committedSeq(): number {
    return this.published
  }

  /** The hash at the head of the chain. */
  get headHash(): string {
    return this.hash
  }

  /**
   * Validate, chain and write one event, then publish it. Returns the stored envelope, or the
   * envelope already stored under the same idempotency key. Throws `InvalidEvent` (nothing
   * written) or `LogWriteFailed` (nothing written; the log stays usable).
   */
  append(input: EventInput): Envelope {
    this.writable()
    if (this.soon.length > 0) this.appendSoonNow()
    const event = readInput(input)
    checkEnvelopeInput(input)
    if (this.power) this.openGroup(input)
    const seq = this.seq
    const hash = this.hash
    const lastTs = this.lastTs
    let envelope: Envelope | undefined
    try {
      // inside a power-mode group a failed write leaves the group's transaction open: not retried
      envelope = retryBusy(
        () => this.write(input, event),
        () => !this.database.inTransaction,
      )
    } catch (e) {
      this.seq = seq
      this.hash = hash
      this.lastTs = lastTs
      throw this.afterWriteError(e, [input.type])
    }
    if (envelope.seq > seq) this.publish(envelope)
    return envelope
  }

  /** Append all or nothing: one transaction, published only once it has been written whole. */
  appendBatch(inputs: readonly EventInput[]): Envelope[] {
    this.writable()
    if (this.soon.length > 0) this.appendSoonNow()
    const events = inputs.map((input) => {
      const event = readInput(input)
      checkEnvelopeInput(input)
      return event
    })
    if (this.power) this.openGroup(inputs)
    const seq = this.seq
    const hash = this.hash
    const lastTs = this.lastTs
    let out: Envelope[]
    try {
      out = retryBusy(
        () => {
          // a transaction that failed part-way advanced the chain in memory: start from the top again
          this.seq = seq
          this.hash = hash
          this.lastTs = lastTs
          return this.writeAll(inputs, events)
        },
        () => !this.database.inTransaction,
      )
    } catch (e) {
      this.seq = seq
      this.hash = hash
      this.lastTs = lastTs
      throw this.afterWriteError(
        e,
        inputs.map((i) => i.type),
      )
    }
    // each new seq once: a later input repeating an earlier one's key in this batch gets that envelope back, not a second publication
    let last = seq
    for (const envelope of out) {
      if (envelope.seq <= last) continue
      this.publish(envelope)
      last = envelope.seq
    }
    return out
  }

  /**
   * Append `input` a moment later, with whatever else is appended soon, as one batch: at the end
   * of the current task, or before any other append, whichever comes first, so the log's order
   * is still the order of the calls. For facts that arrive in bursts (a venue confirming a mass
   * cancel order by order): one transaction for the burst instead of one per fact. An event the
   * catalogue refuses is reported to its own `onError` and does not take the others with it; a
   * write that fails is reported to every caller in the batch.
   */
  appendSoon(input: EventInput, onError: (e: unknown) => void): void {
    if (this.soon.push({ input, onError }) === 1) queueMicrotask(() => this.appendSoonNow())
  }

  private appendSoonNow(): void {
    const pending = this.soon
    if (pending.length === 0) return
    this.soon = []
    if (pending.length === 1) {
      // one fact alone is an ordinary append: no transaction around it
      try {
        this.append(pending[0]!.input)
      } catch (e) {
        pending[0]!.onError(e)
      }
      return
    }
    try {
      this.appendBatch(pending.map((p) => p.input))
    } catch (e) {
      if (!(e instanceof InvalidEvent)) {
        for (const report of new Set(pending.map((p) => p.onError))) report(e)
        return
      }
      for (const p of pending) {
        try {
          this.append(p.input)
        } catch (err) {
          p.onError(err)
        }
      }
    }
  }

  /**
   * Subscribers see an event once it is committed: in `process` mode that is when its write
   * returns; in `power` mode when its group commits, so a group that is lost was never seen and
   * the seqs it would have taken reach subscribers once, with what is really stored under them.
   */
  private publish(envelope: Envelope): void {
    if (this.groupOpen) {
      this.unpublished.push(envelope)
      return
    }
    this.published = envelope.seq
    this.emitter.emit('event', envelope)
  }

  /** Append, resolving once the event is durable under the configured mode. */
  appendDurable(input: EventInput): Promise<Envelope> {
    const envelope = this.append(input)
    return this.power ? this.flush().then(() => envelope) : Promise.resolve(envelope)
  }

  /** Whether appends wait for their group to commit (power durability) before they are published. */
  get uncommitted(): boolean {
    return this.groupOpen
  }

  /** Resolves once everything appended so far is durable (immediately in `process` mode). */
  flush(): Promise<void> {
    if (!this.groupOpen) return this.committed
    return new Promise((resolve, reject) => this.groupWaiters.push({ resolve, reject }))
  }

  /**
   * Serialise, stamp and hash the event that follows `prevHash` at `seq`. Writes nothing.
   * Throws `InvalidEvent` for data over the size cap.
   */
  private chain(input: EventInput, event: HaltdEvent, seq: number, prevHash: string, lastTs: number): Chained {
    const json = serializeData(event, this.maxEventBytes)
    this.beforeWrite?.()
    const now = this.clock.now()
    const ts = Math.max(now, lastTs)
    const id = this.ids.next()
    const stream = input.stream ?? streamOf(event)
    const causationId = input.causationId ?? null
    const correlationId = input.correlationId ?? null
    const v = current[event.type].v
    const hash = hashLink(this.digest!, prevHash, seq, id, event.type, v, ts, stream, causationId, correlationId, json)
    return {
      envelope: { seq, id, type: event.type, v, ts, stream, causationId, correlationId, data: event.data, prevHash, hash } as Envelope,
      json,
    }
  }

  private write(input: EventInput, event: HaltdEvent): Envelope {
    // An event this process appended a moment ago arriving again (a venue's stream and the
    // router both report an ack) is answered by one indexed read instead of a chained insert
    // SQLite would ignore. The filter is a hint: a key it may hold that is not stored is written as usual.
    const key = input.idempotencyKey ?? idempotencyKeyOf(event) ?? null
    const hashed = key === null ? 0 : keyHash(key)
    if (key !== null && this.recentKeys.mayHaveHash(hashed)) {
      const existing = this.byKey.get(key) as StoredRow | undefined
      if (existing) return this.duplicate(key, existing, event.type, event.data, 'json' in event ? (event.json as string) : JSON.stringify(event.data))
    }
    const { envelope: e, json } = this.chain(input, event, this.seq + 1, this.hash, this.lastTs)
    const info = this.insert.run(e.seq, e.id, e.type, e.v, e.ts, e.stream, e.causationId, e.correlationId, key, json, e.prevHash, e.hash)
    if (info.changes === 0) {
      const existing = key === null ? undefined : (this.byKey.get(key) as StoredRow | undefined)
      if (!existing) throw new LogWriteFailed(undefined, `event ${e.seq} was not stored`, undefined)
      return this.duplicate(key!, existing, e.type, e.data, json)
    }
    if (key !== null) this.recentKeys.addHash(hashed)
    this.seq = e.seq
    this.hash = e.hash
    this.lastTs = e.ts
    return e
  }

  /** The envelope stored under `key`, publishing a conflict when the offered event differs from it. */
  private duplicate(key: string, existing: StoredRow, type: string, data: unknown, json: string): Envelope {
    const stored = toEnvelope(existing)
    if (existing.type !== type || existing.data !== json) this.emitter.emit('conflict', { key, stored, offered: { type, data } })
    return stored
  }

  /**
   * The batch fast path: rows chained in memory, then written ROWS_PER_INSERT at a time (one
   * statement per chunk costs far less than one per row). It assumes no row is a duplicate and
   * throws DuplicateInBatch when SQLite ignored one, so the caller can redo the batch row by row.
   */
  private writeMany(inputs: readonly EventInput[], events: readonly HaltdEvent[]): Envelope[] {
    const out = new Array<Envelope>(events.length)
    const params: unknown[] = new Array(ROWS_PER_INSERT * 12)
    let seq = this.seq
    let prevHash = this.hash
    let lastTs = this.lastTs
    let filled = 0
    for (let i = 0; i < events.length; i++) {
      const input = inputs[i]!
      const event = events[i]!
      const key = input.idempotencyKey ?? idempotencyKeyOf(event) ?? null
      const { envelope: e, json } = this.chain(input, event, ++seq, prevHash, lastTs)
      const at = filled * 12
      params[at] = seq
      params[at + 1] = e.id
      params[at + 2] = e.type
      params[at + 3] = e.v
      params[at + 4] = e.ts
      params[at + 5] = e.stream
      params[at + 6] = e.causationId
      params[at + 7] = e.correlationId
      params[at + 8] = key
      params[at + 9] = json
      params[at + 10] = prevHash
      params[at + 11] = e.hash
      out[i] = e
      prevHash = e.hash
      lastTs = e.ts
      if (++filled === ROWS_PER_INSERT) {
        if (this.insertMany.run(params).changes !== ROWS_PER_INSERT) throw new DuplicateInBatch()
        filled = 0
      }
    }
    for (let r = 0; r < filled; r++) {
      if (this.insert.run(params.slice(r * 12, r * 12 + 12)).changes !== 1) throw new DuplicateInBatch()
    }
    this.seq = seq
    this.hash = prevHash
    this.lastTs = lastTs
    return out
  }

  private afterWriteError(e: unknown, types: readonly string[]): unknown {
    if (e instanceof Error && e.name === 'InvalidEvent') return e
    const failure = writeFailure(e)
    this.emitter.emit('write-failed', { error: failure, types })
    // SQLite may roll the whole transaction back on SQLITE_FULL / IOERR: in power mode the
    // group's earlier appends are gone too, so take the tail from disk and fail the waiters.
    if (this.groupOpen && !this.database.inTransaction) this.abandonGroup(failure)
    return failure
  }

  /** Begin the group transaction if none is open; `writing` is what is about to be written, named if BEGIN fails. */
  private openGroup(writing: { type: string } | readonly { type: string }[]): void {
    if (this.groupOpen) return
    try {
      // IMMEDIATE for the reason `writeAll` is (the group's first append may read before it writes)
      this.database.exec('BEGIN IMMEDIATE')
    } catch (e) {
      throw this.afterWriteError(e, Array.isArray(writing) ? writing.map((w: { type: string }) => w.type) : [(writing as { type: string }).type])
    }
    this.groupOpen = true
    this.committed = new Promise((resolve, reject) => {
      this.groupWaiters.push({ resolve, reject })
      setImmediate(() => this.commitGroup())
    })
    this.committed.catch(() => {})
  }

  private commitGroup(): void {
    if (!this.groupOpen) return
    const waiters = this.groupWaiters
    const written = this.unpublished
    this.groupWaiters = []
    this.unpublished = []
    this.groupOpen = false
    try {
      // a COMMIT refused busy leaves the transaction open, to be committed again
      retryBusy(
        () => {
          this.beforeCommit?.()
          this.database.exec('COMMIT')
        },
        () => this.database.inTransaction,
      )
    } catch (e) {
      if (this.database.inTransaction) this.database.exec('ROLLBACK')
      this.groupWaiters = waiters
      this.abandonGroup(writeFailure(e))
      return
    }
    this.published = this.seq
    try {
      // a subscriber that appends opens the next group; its events follow these
      for (const envelope of written) this.emitter.emit('event', envelope)
    } finally {
      for (const w of waiters) w.resolve()
    }
  }

  private abandonGroup(error: LogWriteFailed): void {
    const waiters = this.groupWaiters
    this.groupWaiters = []
    this.unpublished = []
    this.groupOpen = false
    this.loadTail()
    for (const w of waiters) w.reject(error)
    this.committed = Promise.resolve()
    this.emitter.emit('fault', { error, lastSeq: this.seq })
  }

  private writable(): void {
    if (this.closed) throw new LogClosed()
    if (this.readonly) throw new LogReadOnly()
    // another process may be writing the file now: an append here would race it for the next seq
    if (this.lockLost !== undefined)
      throw new LogWriteFailed(undefined, `${this.lockLost}: this writer no longer holds the log's writer lock and writes nothing more`, undefined)
  }

  /**
   * Where a reader's ordered reads must get to: the newest row when it opened, which another
   * process's appends can only add to. A writer's own reads are not checked: its head moves
   * while it reads. Nor is a head past what a page read reaches (a row moved there by hand, which
   * `verify` and the audit report as such).
   */
  private heldRows(): { path: string; seq: number } | undefined {
    return this.readonly && this.seq <= Number.MAX_SAFE_INTEGER ? { path: this.path, seq: this.seq } : undefined
  }

  /** Rows as stored, in seq order, a page at a time (so writes may go on meanwhile). */
  *readRaw(from = 1, to = Number.MAX_SAFE_INTEGER): Generator<StoredRow> {
    if (this.closed) throw new LogClosed()
    yield* pagesOf<StoredRow>(this.page, from, to, [], this.heldRows())
  }

  /** Rows as stored with their idempotency keys, in seq order: what replication sends. */
  *readReplicable(from = 1, to = Number.MAX_SAFE_INTEGER): Generator<ReplicatedRow> {
    if (this.closed) throw new LogClosed()
    yield* pagesOf<ReplicatedRow>(this.pageKeyed, from, to, [], this.heldRows())
  }

  /**
   * At most `limit` rows from `from` on, in seq order, each as `[seq, hash, payload]`: the payload
   * the row of `readReplicable` as JSON (the message `encodeRow` makes) in UTF-8, written by SQLite.
   * What the replication publisher sends.
   */
  replicableMessages(from: number, limit: number): ReplicableMessage[] {
    if (this.closed) throw new LogClosed()
    return this.pageMessages.all(from, limit) as ReplicableMessage[]
  }

  /**
   * Append events another log already formed (a standby following its leader's stream), keeping
   * their seq, id, timestamp and hashes. Each must be the next seq, link to this log's head and hash
   * to what it says under this log's chain; the first that does not throws `ReplicatedChainBroken`
   * and nothing of the batch is written. A type or version this build cannot read is stored as it
   * came (its envelope says `unreadable`): the chain stays whole, and the reader decides.
   */
  appendReplicated(rows: readonly ReplicatedRow[]): Envelope[] {
    this.writable()
    if (this.soon.length > 0) this.appendSoonNow()
    const digest = this.digest!
    let seq = this.seq
    let prev = this.hash
    for (const row of rows) {
      const refuse = (problem: string) => new ReplicatedChainBroken(this.path, row.seq, problem)
      if (row.seq !== seq + 1) throw refuse(`this log ends at seq ${seq}, so the next is ${seq + 1}`)
      if (row.prevHash !== prev) throw refuse(`its prevHash ${row.prevHash.slice(0, 12)}… is not this log's head ${prev.slice(0, 12)}…`)
      const hash = hashLink(digest, prev, row.seq, row.id, row.type, row.v, row.ts, row.stream, row.causationId, row.correlationId, row.data)
      if (hash !== row.hash) throw refuse(`its hash does not match its contents under this log's chain (${this.chainKind})`)
      seq = row.seq
      prev = row.hash
    }
    if (rows.length === 0) return []
    if (this.power) this.openGroup(rows)
    const before = { seq: this.seq, hash: this.hash, lastTs: this.lastTs }
    try {
      retryBusy(
        () => {
          this.seq = before.seq
          this.hash = before.hash
          this.lastTs = before.lastTs
          this.writeReplicated(rows)
        },
        () => !this.database.inTransaction,
      )
    } catch (e) {
      this.seq = before.seq
      this.hash = before.hash
      this.lastTs = before.lastTs
      if (e instanceof ReplicatedChainBroken) throw e
      throw this.afterWriteError(
        e,
        rows.map((r) => r.type),
      )
    }
    const out = rows.map(toEnvelope)
    for (const envelope of out) this.publish(envelope)
    return out
  }

  private writeReplicated(rows: readonly ReplicatedRow[]): void {
    this.database
      .transaction(() => {
        for (const r of rows) {
          this.beforeWrite?.()
          const info = this.insert.run(r.seq, r.id, r.type, r.v, r.ts, r.stream, r.causationId, r.correlationId, r.key, r.data, r.prevHash, r.hash)
          if (info.changes !== 1) throw new ReplicatedChainBroken(this.path, r.seq, `its idempotency key '${r.key}' is already stored under another seq`)
          this.seq = r.seq
          this.hash = r.hash
          this.lastTs = Math.max(this.lastTs, r.ts)
          if (r.key !== null) this.recentKeys.add(r.key)
        }
      })
      .immediate()
  }

  /** Stored events as envelopes (current versions), streamed in seq order. */
  *read(options: ReadOptions = {}): Generator<Envelope> {
    const types = options.types ? new Set(options.types) : undefined
    const rows = options.stream === undefined && options.streamPrefix === undefined ? this.readRaw(options.from ?? 1, options.to) : this.readStream(options)
    for (const row of rows) {
      if (options.untilTs !== undefined && row.ts > options.untilTs) return
      if (types && !types.has(row.type)) continue
      yield toEnvelope(row)
    }
  }

  private *readStream(options: ReadOptions): Generator<StoredRow> {
    const prefix = options.stream === undefined ? options.streamPrefix : undefined
    // one type asked of many streams (every handover's completion): SQLite leaves the other rows
    // unread, so a question about a few events does not read all their streams' events
    const oneType = prefix !== undefined && options.types?.length === 1 ? options.types[0] : undefined
    if (prefix === undefined) {
      this.pageOfStream ??= this.database.prepare(`SELECT ${COLUMNS} FROM events WHERE stream = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ${PAGE}`)
    } else if (oneType === undefined) {
      this.pageOfStreams ??= this.database.prepare(
        `SELECT ${COLUMNS} FROM events INDEXED BY events_stream WHERE stream >= ? AND stream < ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ${PAGE}`,
      )
    } else {
      this.pageOfStreamsOfType ??= this.database.prepare(
        `SELECT ${COLUMNS} FROM events INDEXED BY events_stream WHERE stream >= ? AND stream < ? AND type = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ${PAGE}`,
      )
    }
    const stmt = prefix === undefined ? this.pageOfStream! : oneType === undefined ? this.pageOfStreams! : this.pageOfStreamsOfType!
    // the streams from the prefix up to, not including, the prefix with its last character one higher
    const range = prefix === undefined ? [options.stream] : [prefix, prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)]
    yield* pagesOf<StoredRow>(stmt, options.from ?? 1, options.to ?? Number.MAX_SAFE_INTEGER, oneType === undefined ? range : [...range, oneType])
  }

  /**
   * The seq of the first event stamped at or after `ts`, `lastSeq + 1` when none is. Seqs run
   * 1..lastSeq without a gap and a stamp is never earlier than the one before it (the writer takes
   * the later of its clock and the last stamp), so a binary search finds it in about log2(lastSeq)
   * point reads by the primary key: a question about the last second costs the same on any log.
   */
  firstSeqSince(ts: number): number {
    if (this.closed) throw new LogClosed()
    this.tsAt ??= this.database.prepare('SELECT ts FROM events WHERE seq = ?').pluck()
    let lo = 1
    let hi = this.seq + 1
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2)
      const at = this.tsAt.get(mid) as number | undefined
      if (at !== undefined && at >= ts) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  /** The envelope stored under an idempotency key, if any. */
  findByKey(key: string): Envelope | undefined {
    const row = this.byKey.get(key) as StoredRow | undefined
    return row && toEnvelope(row)
  }

  /**
   * Deliver every committed event from `fromSeq` on, then each new one as it is committed, each
   * seq once. Catch-up runs synchronously, so no append can slip between catch-up and live delivery.
   */
  subscribe(fromSeq: number, handler: (e: Envelope) => void): () => void {
    let delivered = fromSeq - 1
    for (const e of this.read({ from: fromSeq, to: this.published })) {
      delivered = e.seq
      handler(e)
    }
    const listener = (e: Envelope) => {
      if (e.seq <= delivered) return
      delivered = e.seq
      handler(e)
    }
    this.emitter.on('event', listener)
    return () => {
      this.emitter.off('event', listener)
    }
  }

  on<K extends keyof LogEvents>(name: K, listener: LogEvents[K]): () => void {
    this.emitter.on(name, listener as never)
    return () => {
      this.emitter.off(name, listener as never)
    }
  }

  /**
   * Walk the whole chain: seq continuity, each prevHash link, each hash. Throws `ChainKeyMissing`
   * for a keyed log opened without its key: its links cannot be checked.
   */
  verify(): VerifyResult {
    const digest = this.digest
    if (digest === undefined) throw new ChainKeyMissing(this.path, this.chainKeyId ?? 'not recorded')
    // a log that says it is plain, checked under a key: either it was never keyed, or it was rewritten without the key
    const plainUnderKey = this.chainKind === 'sha256' && digest !== sha256Hex
    const changed = plainUnderKey
      ? 'hash does not match the stored event under the key given (the log says its chain is plain sha256: if it was created without a key, verify it without one; otherwise it was rewritten without the key)'
      : 'hash does not match the stored event (contents changed)'
    let expectSeq = 1
    let prev = GENESIS_HASH
    let count = 0
    for (const row of this.readRaw()) {
      if (row.seq !== expectSeq) {
        return { ok: false, seq: expectSeq, problem: `seq ${expectSeq} is missing (next stored is ${row.seq})`, lastGoodSeq: expectSeq - 1 }
      }
      if (row.prevHash !== prev) {
        return { ok: false, seq: row.seq, problem: 'prevHash does not match the hash of the previous event', lastGoodSeq: row.seq - 1 }
      }
      if (hashLink(digest, prev, row.seq, row.id, row.type, row.v, row.ts, row.stream, row.causationId, row.correlationId, row.data) !== row.hash) {
        return { ok: false, seq: row.seq, problem: changed, lastGoodSeq: row.seq - 1 }
      }
      prev = row.hash
      expectSeq++
      count++
    }
    // rows no page reads: a seq past what a number holds exactly, or below 1, put there by hand
    const outside = outOfRangeRows(this.database)
    if (outside > 0)
      return {
        ok: false,
        seq: expectSeq,
        problem: `${outside} row(s) stored at a seq outside 1 to ${Number.MAX_SAFE_INTEGER}: no append writes there, so the file was edited`,
        lastGoodSeq: expectSeq - 1,
      }
    return { ok: true, lastSeq: expectSeq - 1, count }
  }

  /**
   * Whether the files this writer works on are still the ones it opened, and it still holds the
   * log's writer lock. SQLite goes on writing a log file, WAL or shared-memory index removed or
   * replaced under it, and no one finds what it took (a WAL gone takes the commits not yet copied
   * into the log file; an index gone lets a second connection build another over the same WAL);
   * a lock file gone lets a second writer in. The first time one of them is found gone, that is a
   * failed write (`write-failed`), and the reason comes back, as it does on every later call.
   *
   * A lock file gone is taken back where no one else holds the one at its path now, and kept only
   * if the log still ends where this writer left it (`lock-retaken`); otherwise it is lost too.
   * Undefined while all is in place, or where a path cannot be looked at (a folder made
   * unreadable), which says nothing of the files.
   */
  checkFile(): string | undefined {
    if (this.fileId === undefined || this.closed || this.fileLost !== undefined) return this.fileLost
    const gone = this.fileGone()
    const lost = gone ?? this.lockGone()
    if (lost === undefined) return undefined
    this.fileLost = lost.reason
    if (gone === undefined) this.lockLost = lost.reason
    const unlinked = lost.replacedLog === true ? this.unlinkOwnSideFiles() : ''
    const failure = new LogWriteFailed(undefined, `${lost.reason}: ${lost.consequence}${unlinked}`, undefined)
    this.emitter.emit('write-failed', { error: failure, types: [] })
    return this.fileLost
  }

  /** The first of the log file, its WAL and its index that the path no longer names; `replacedLog` when another file is at the log's path. */
  private fileGone(): FileLoss | undefined {
    const log = this.fileId!
    const files = [
      {
        path: this.path,
        side: undefined,
        id: log,
        gone: (what: string) => ({
          reason: `${this.path} was ${what} while haltd was writing it`,
          consequence: `its events, to seq ${this.seq}, are in a file no path names, and are lost when haltd exits unless saved`,
          replacedLog: what !== 'removed',
        }),
      },
      {
        path: `${this.path}-wal`,
        side: 'wal' as const,
        id: this.sideIds.wal,
        gone: (what: string) => ({
          reason: `${this.path}-wal, the log's WAL, was ${what} while haltd was writing the log`,
          consequence: `its events not yet copied into ${this.path} (to seq ${this.seq} at most) are in a WAL no path names: no reader or later opener sees them, and a crash loses them`,
        }),
      },
      {
        path: `${this.path}-shm`,
        side: 'shm' as const,
        id: this.sideIds.shm,
        gone: (what: string) => ({
          reason: `${this.path}-shm, the log's WAL index, was ${what} while haltd was writing the log`,
          consequence: `another connection would index the WAL afresh beside this writer's own index, and the two would overwrite each other's commits`,
        }),
      },
    ]
    for (const file of files) {
      let now: FileId | undefined
      try {
        now = fileIdOf(file.path)
      } catch {
        // an unreadable folder says nothing of the file
        continue
      }
      if (file.id === undefined) {
        // not there at open: watched from when it is
        if (now !== undefined && file.side !== undefined) this.sideIds[file.side] = now
        continue
      }
      if (sameFile(now, file.id)) continue
      return file.gone(now === undefined ? 'removed' : 'replaced by another file')
    }
    return undefined
  }

  /**
   * With another file at the log's path, the WAL and index still beside it are this writer's, of
   * a log no path names: SQLite would read their pages into the new file for whoever opens it, a
   * mix of two logs. Unlink them (this connection keeps them open; what it holds is saved through
   * it). Ones that are not this writer's (the new file's own) are left alone. Says what was done.
   */
  private unlinkOwnSideFiles(): string {
    const unlinked: string[] = []
    for (const side of ['wal', 'shm'] as const) {
      const path = `${this.path}-${side}`
      try {
        if (!sameFile(fileIdOf(path), this.sideIds[side])) continue
        rmSync(path)
        unlinked.push(path)
      } catch {
        // gone already, or not to be touched: either way not this writer's to read into the new file
      }
    }
    return unlinked.length === 0 ? '' : `; this writer's ${unlinked.join(' and ')} were unlinked so no opener reads them into the new file`
  }

  private lockGone(): FileLoss | undefined {
    const checked = this.lock?.check()
    if (checked === undefined || checked.kind === 'held' || checked.kind === 'contended') return undefined
    const consequence = `from the moment it was gone, another writer could open ${this.path}; this one stops writing`
    if (checked.kind === 'lost') return { reason: checked.why, consequence }
    let tail: { seq: number; hash: string } | undefined
    try {
      tail = this.storedTail()
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e)
      return {
        reason: `${checked.why}; it was locked again, but the log's last event could not be read to make sure no one wrote it meanwhile: ${why}`,
        consequence,
      }
    }
    const seq = tail?.seq ?? 0
    const hash = tail?.hash ?? GENESIS_HASH
    if (seq === this.seq && hash === this.hash) {
      this.emitter.emit('lock-retaken', { message: `${checked.why}; it is locked again, and the log still ends at seq ${this.seq} as this writer left it` })
      return undefined
    }
    return {
      reason: `${checked.why}; it was locked again, but the log now ends at seq ${seq}, not at seq ${this.seq} where this writer left it: another process wrote it`,
      consequence,
    }
  }

  /** A consistent online copy, taken while appends go on. */
  async backup(toPath: string): Promise<void> {
    if (this.closed) throw new LogClosed()
    await this.flush()
    await this.database.backup(toPath)
  }

  close(): void {
    if (this.closed) return
    this.appendSoonNow()
    if (this.groupOpen) this.commitGroup()
    this.closed = true
    this.emitter.removeAllListeners()
    this.checkpoints?.release()
    this.database.close()
    this.lock?.release()
  }

  get isClosed(): boolean {
    return this.closed
  }
}

export function openEventLog(options: EventLogOptions): EventLog {
  return new EventLog(options)
}

/** The file at `path`, or undefined where there is none or it cannot be looked at. */
function lookedAt(path: string): FileId | undefined {
  try {
    return fileIdOf(path)
  } catch {
    return undefined
  }
}

/** Rows at a seq a page read never reaches (past 2^53 - 1, or below 1). */
export function outOfRangeRows(database: Database.Database): number {
  const row = database.prepare(`SELECT COUNT(*) AS n FROM events WHERE seq > ${Number.MAX_SAFE_INTEGER} OR seq < 1`).get() as { n: number }
  return row.n
}
