import { createHash } from 'node:crypto'
import type Database from 'better-sqlite3'
import { deserializeState, serializeState, type HaltdState } from '../../projections/index.js'
import { systemClock, type Clock } from '../../events/clock.js'
import { HaltdError } from './errors.js'
import type { EventLog } from './event-log.js'

/** A snapshot was asked for at a seq the log does not hold. */
export class SnapshotNotInLog extends HaltdError {
  constructor(
    readonly seq: number,
    readonly path: string,
    readonly lastSeq: number,
  ) {
    super('SNAPSHOT_NOT_IN_LOG', `cannot snapshot at seq ${seq}: ${path} holds events 1..${lastSeq}`)
  }
}

/**
 * Bump whenever a projection changes what it derives from the same events: a snapshot written
 * by another version would otherwise be trusted and disagree with a full replay.
 */
export const SNAPSHOT_FORMAT = 4

export type SnapshotMeta = {
  id: number
  /** The state covers events 1..seq. */
  seq: number
  /** The time of event `seq`, so a replay to a time can pick a snapshot not past it. */
  ts: number
  /** The log's chain hash at `seq`: a snapshot of another (or a rewritten) log never matches. */
  logHash: string
  /** sha256 of the stored text, which is the canonical serialization: it is also the state hash. */
  stateHash: string
  format: number
  createdAt: number
  bytes: number
}

export type Warn = (message: string, detail?: Record<string, unknown>) => void

export const defaultWarn: Warn = (message) => process.emitWarning(message, { code: 'HALTD_SNAPSHOT' })

const SNAPSHOT_SCHEMA = `
CREATE TABLE IF NOT EXISTS snapshots (
  id INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  log_hash TEXT NOT NULL,
  state_hash TEXT NOT NULL,
  format INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  state TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS snapshots_seq ON snapshots(seq);
`

const META = 'id, seq, ts, log_hash AS logHash, state_hash AS stateHash, format, created_at AS createdAt, bytes'

export type SnapshotStore = {
  /** Write the state as of `state.seq` (which must be an event in the log); keeps the newest `keep`. */
  write(state: HaltdState): SnapshotMeta
  /** Newest first. */
  list(): SnapshotMeta[]
  /**
   * The newest snapshot that checks out (format, seq within the log, log hash at its seq,
   * checksum, readable) and lies within `maxSeq`/`maxTs`. Each one that fails is reported to
   * `warn` and skipped; undefined means a full replay.
   */
  loadNewestValid(options?: { maxSeq?: number; maxTs?: number; warn?: Warn }): { state: HaltdState; meta: SnapshotMeta } | undefined
}

export type SnapshotStoreOptions = { clock?: Clock; keep?: number }

/** Snapshots live in the log's own SQLite file, in a `snapshots` table beside `events`. */
export function openSnapshotStore(log: EventLog, options: SnapshotStoreOptions = {}): SnapshotStore {
  const db: Database.Database = log.database
  const clock = options.clock ?? systemClock
  const keep = Math.max(1, options.keep ?? 3)
  const hasTable = (): boolean => db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'`).get() !== undefined
  if (!log.readonly) db.exec(SNAPSHOT_SCHEMA)
  const eventAt = db.prepare('SELECT hash, ts FROM events WHERE seq = ?')

  return {
    write(state) {
      const at = eventAt.get(state.seq) as { hash: string; ts: number } | undefined
      if (at === undefined) throw new SnapshotNotInLog(state.seq, log.path, log.lastSeq)
      const text = serializeState(state)
      const stateHash = createHash('sha256').update(text).digest('hex')
      const createdAt = clock.now()
      const bytes = Buffer.byteLength(text)
      const info = db
        .prepare(`INSERT INTO snapshots (seq, ts, log_hash, state_hash, format, created_at, bytes, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(state.seq, at.ts, at.hash, stateHash, SNAPSHOT_FORMAT, createdAt, bytes, text)
      db.prepare(`DELETE FROM snapshots WHERE id NOT IN (SELECT id FROM snapshots ORDER BY seq DESC, id DESC LIMIT ?)`).run(keep)
      return { id: Number(info.lastInsertRowid), seq: state.seq, ts: at.ts, logHash: at.hash, stateHash, format: SNAPSHOT_FORMAT, createdAt, bytes }
    },

    list() {
      if (!hasTable()) return []
      return db.prepare(`SELECT ${META} FROM snapshots ORDER BY seq DESC, id DESC`).all() as SnapshotMeta[]
    },

    loadNewestValid({ maxSeq = Number.MAX_SAFE_INTEGER, maxTs, warn = defaultWarn } = {}) {
      if (!hasTable()) return undefined
      const candidates = db.prepare(`SELECT ${META} FROM snapshots WHERE seq <= ? ORDER BY seq DESC, id DESC`).all(maxSeq) as SnapshotMeta[]
      const textOf = db.prepare('SELECT state FROM snapshots WHERE id = ?').pluck()
      for (const meta of candidates) {
        if (maxTs !== undefined && meta.ts > maxTs) continue
        const skip = (why: string): void => warn(`snapshot ${meta.id} at seq ${meta.seq} skipped: ${why}`, { snapshot: meta, reason: why })
        if (meta.format !== SNAPSHOT_FORMAT) {
          skip(`written in snapshot format ${meta.format}, this build reads ${SNAPSHOT_FORMAT}`)
          continue
        }
        if (meta.seq > log.lastSeq) {
          skip(`it is beyond the end of the log (last seq ${log.lastSeq})`)
          continue
        }
        const at = eventAt.get(meta.seq) as { hash: string; ts: number } | undefined
        if (at === undefined || at.hash !== meta.logHash) {
          skip(`the log's hash at seq ${meta.seq} is not the one it was taken at`)
          continue
        }
        const text = textOf.get(meta.id) as string
        if (createHash('sha256').update(text).digest('hex') !== meta.stateHash) {
          skip('its checksum does not match its contents')
          continue
        }
        let state: HaltdState
        try {
          state = deserializeState(text)
        } catch (e) {
          skip(`it cannot be read (${e instanceof Error ? e.message : String(e)})`)
          continue
        }
        if (state.seq !== meta.seq) {
          skip(`it holds seq ${state.seq}, not ${meta.seq}`)
          continue
        }
        return { state, meta }
      }
      return undefined
    },
  }
}
