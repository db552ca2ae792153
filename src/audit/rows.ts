import type Database from 'better-sqlite3'
import { LINK_TEXT_SQL, type StoredRow } from '../core/log/event-log.js'
import { LogDamaged } from '../core/log/errors.js'

const COLUMNS = 'seq, id, type, v, ts, stream, causation_id, correlation_id, data, prev_hash, hash'
type Raw = [number, string, string, number, number, string, string | null, string | null, string, string, string]

const toRow = (r: Raw): StoredRow => ({
  seq: r[0],
  id: r[1],
  type: r[2],
  v: r[3],
  ts: r[4],
  stream: r[5],
  causationId: r[6],
  correlationId: r[7],
  data: r[8],
  prevHash: r[9],
  hash: r[10],
})

/**
 * Every stored row in seq order, a page at a time (memory flat in the log's length), read as
 * arrays and shaped here: one fixed object shape is cheaper for V8 than SQLite's named rows. When
 * a page cannot be read (a corrupt or missing page of a damaged file), it goes on one row at a
 * time so the last readable seq is exact, then throws where reading stops. With `toSeq` (a seq
 * the log holds), a read that ends before it without an error, as SQLite's walk does at some
 * damaged pages, throws `LogDamaged`.
 */
export function* storedRows(db: Database.Database, pageSize = 2000, from = 1, toSeq?: number): Generator<StoredRow> {
  const page = db.prepare(`SELECT ${COLUMNS} FROM events WHERE seq >= ? ORDER BY seq LIMIT ?`).raw(true)
  let one: Database.Statement | undefined
  let next = from
  for (;;) {
    let batch: Raw[]
    try {
      batch = page.all(next, pageSize) as Raw[]
    } catch {
      one ??= db.prepare(`SELECT ${COLUMNS} FROM events WHERE seq >= ? ORDER BY seq LIMIT 1`).raw(true)
      for (;;) {
        const r = one.get(next) as Raw | undefined
        if (!r) return endOfRead(db, next, toSeq)
        yield toRow(r)
        next = r[0] + 1
      }
    }
    for (const r of batch) yield toRow(r)
    if (batch.length > 0) next = batch[batch.length - 1]![0] + 1
    if (batch.length < pageSize) return endOfRead(db, next, toSeq)
  }
}

/**
 * A read in seq order ended with `next` unread: fine past `toSeq`, damage before it. A `toSeq` past
 * what a page read reaches is a row moved there by hand, which the audit reports as such.
 */
function endOfRead(db: Database.Database, next: number, toSeq: number | undefined): void {
  if (toSeq !== undefined && toSeq <= Number.MAX_SAFE_INTEGER && next <= toSeq) throw new LogDamaged(db.name, next - 1, toSeq)
}

/** What the replay side of an audit reads of a row when the chain is walked on another thread. */
export type LightRow = Pick<StoredRow, 'seq' | 'type' | 'v' | 'ts' | 'data'>
/** A light row as SQLite gives it: seq, type, v, ts, data. */
export type RawLightRow = [seq: number, type: string, v: number, ts: number, data: string]

/**
 * Rows up to `toSeq`, a seq the log holds, without ids, streams, links and hashes (half the bytes
 * to turn into strings), in pages as SQLite gives them: the audit reads each row's fields where
 * they lie instead of shaping an object per row. A read that ends before `toSeq` throws `LogDamaged`.
 */
export class LightPages implements Iterable<RawLightRow[]> {
  constructor(
    private readonly db: Database.Database,
    private readonly toSeq: number,
    private readonly pageSize = 2000,
  ) {}

  [Symbol.iterator](): Iterator<RawLightRow[]> {
    const page = this.db.prepare('SELECT seq, type, v, ts, data FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?').raw(true)
    return rawPages<RawLightRow>(page, this.toSeq, this.pageSize, this.toSeq)
  }
}

/**
 * Pages of raw rows (seq first) from seq 1 up to `toSeq`, for a statement taking (from, to, limit).
 * With `held`, a seq the log holds, a read that ends before it throws `LogDamaged`.
 */
function* rawPages<R extends [number, ...unknown[]]>(page: Database.Statement, toSeq: number, pageSize: number, held?: number): Generator<R[]> {
  let next = 1
  for (;;) {
    const batch = page.all(next, toSeq, pageSize) as R[]
    yield batch
    if (batch.length > 0) next = batch[batch.length - 1]![0] + 1
    if (batch.length < pageSize) return endOfRead(page.database, next, held)
  }
}

/** The stored row at `seq`, if it can be read. */
export function storedRow(db: Database.Database, seq: number): StoredRow | undefined {
  const r = db.prepare(`SELECT ${COLUMNS} FROM events WHERE seq = ?`).raw(true).get(seq) as Raw | undefined
  return r && toRow(r)
}

/**
 * What a chain walk needs of each row up to `toSeq`: seq, stored hash, the length of its prevHash
 * and the text its link digests (`LINK_TEXT_SQL`), built by SQLite: four values turned into
 * JavaScript per row instead of eleven. The text is null where a column it joins is null.
 */
export type LinkText = [seq: number, hash: string, prevHashLength: number | null, text: string | null]

export function* linkTexts(db: Database.Database, toSeq: number, pageSize = 2000): Generator<LinkText> {
  const page = db.prepare(`SELECT seq, hash, length(prev_hash), ${LINK_TEXT_SQL} FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`).raw(true)
  for (const batch of rawPages<LinkText>(page, toSeq, pageSize)) yield* batch
}
