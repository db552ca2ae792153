/**
 * Baselines measured in the same run as haltd's figures, so a ratio survives a noisy machine.
 * Scenarios call these next to their own measurements; this file runs nothing by itself (it
 * exports no `scenarios`).
 */
import Database from 'better-sqlite3'
import { createHash, randomUUID } from 'node:crypto'
import { closeSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { LOG_SCHEMA } from '../../src/core/log/event-log.js'
import { current, idempotencyKeyOf, parseEvent, streamOf, type EventInput } from '../../src/events/index.js'
import { loadEmmettSqlite, type EmmettStore } from '../peer.js'
import { skippedResult, throughputResult, type BenchContext, type BenchResult, type Contender } from '../harness.js'

export type RunShape = { warmup: number; repetitions: number; opsPerRep: number }

/** A row as the log stores it, columns in the log's insert order. */
type RawRow = [number, string, string, number, number, string, null, null, string | null, string, string, string]

const INSERT = `INSERT OR IGNORE INTO events (seq, id, type, v, ts, stream, causation_id, correlation_id, idem_key, data, prev_hash, hash)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

/**
 * The rows haltd would store for these inputs (same data bytes, stream, key, id and hash
 * lengths), computed before timing starts: the baseline is the insert alone.
 */
export function rawRows(inputs: readonly EventInput[]): RawRow[] {
  let prev = '0'.repeat(64)
  const now = Date.now()
  return inputs.map((input, k) => {
    const event = parseEvent(input)
    const data = JSON.stringify(event.data)
    const hash = createHash('sha256').update(prev).update(data).digest('hex')
    const row: RawRow = [
      k + 1,
      randomUUID(),
      event.type,
      current[event.type].v,
      now + k,
      streamOf(event),
      null,
      null,
      idempotencyKeyOf(event) ?? null,
      data,
      prev,
      hash,
    ]
    prev = hash
    return row
  })
}

/** A better-sqlite3 database with the log's tables, WAL, and the given synchronous level. */
export function rawEventsTable(path: string, synchronous: 'NORMAL' | 'FULL'): { db: Database.Database; insert: Database.Statement } {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${synchronous}`)
  db.exec(LOG_SCHEMA)
  return { db, insert: db.prepare(INSERT) }
}

/** Raw prepared inserts, one per autocommit transaction (WAL, synchronous=NORMAL), each timed. */
export function rawInsertAutocommit(ctx: BenchContext, inputs: readonly EventInput[], shape: RunShape, name = 'raw insert autocommit'): Contender {
  need(inputs, shape.warmup + shape.repetitions * shape.opsPerRep, name)
  const rows = rawRows(inputs)
  const { db, insert } = rawEventsTable(join(ctx.tmpDir, `${slug(name)}.db`), 'NORMAL')
  return {
    fn: (i) => {
      insert.run(...rows[i]!)
    },
    options: shape,
    result: (m) => throughputResult(name, m, { note: 'better-sqlite3 prepared INSERT, WAL, synchronous=NORMAL, one row per transaction' }),
    close: () => db.close(),
  }
}

/** Raw prepared inserts, `batch` per transaction; one operation is one transaction. */
export function rawInsertBatched(
  ctx: BenchContext,
  inputs: readonly EventInput[],
  shape: RunShape & { batch: number; synchronous: 'NORMAL' | 'FULL' },
  name = `raw insert ${shape.batch}/tx${shape.synchronous === 'FULL' ? ' FULL' : ''}`,
): Contender {
  need(inputs, (shape.warmup + shape.repetitions * shape.opsPerRep) * shape.batch, name)
  const rows = rawRows(inputs)
  const { db, insert } = rawEventsTable(join(ctx.tmpDir, `${slug(name)}.db`), shape.synchronous)
  const insertMany = db.transaction((from: number) => {
    for (let k = from; k < from + shape.batch; k++) insert.run(...rows[k]!)
  })
  return {
    fn: (i) => insertMany(i * shape.batch),
    options: { ...shape, unitsPerOp: shape.batch },
    result: (m) =>
      throughputResult(name, m, {
        note: `better-sqlite3 prepared INSERT, WAL, synchronous=${shape.synchronous}, ${shape.batch} rows per transaction; percentiles per transaction`,
      }),
    close: () => db.close(),
  }
}

/**
 * The floor without SQLite: one `fs.writeSync` of a JSON line per event to a file opened for
 * append (no fsync: like `process` durability, it survives a killed process, not power loss).
 */
export function rawNdjsonAppend(ctx: BenchContext, inputs: readonly EventInput[], shape: RunShape, name = 'raw ndjson writeSync'): Contender {
  need(inputs, shape.warmup + shape.repetitions * shape.opsPerRep, name)
  const rows = rawRows(inputs).map(([seq, id, type, v, ts, stream, , , key, data, prevHash, hash]) => ({
    seq,
    id,
    type,
    v,
    ts,
    stream,
    key,
    data,
    prevHash,
    hash,
  }))
  const fd = openSync(join(ctx.tmpDir, `${slug(name)}.ndjson`), 'a')
  return {
    fn: (i) => {
      writeSync(fd, `${JSON.stringify(rows[i])}\n`)
    },
    options: shape,
    result: (m) => throughputResult(name, m, { note: 'JSON.stringify + fs.writeSync of one line per event, no fsync' }),
    close: () => closeSync(fd),
  }
}

/**
 * The peer event store, @event-driven-io/emmett-sqlite, appending the same events one per
 * `appendToStream` call (its own durability: node-sqlite3, WAL, SQLite's default
 * synchronous=FULL, a connection per call). When it cannot load, a skipped result with the
 * reason comes back instead of a contender; when it fails while running, its result is skipped.
 */
export async function emmettAppend(
  ctx: BenchContext,
  inputs: readonly EventInput[],
  shape: RunShape,
  name = 'emmett-sqlite append per-event',
): Promise<Contender | BenchResult> {
  need(inputs, shape.warmup + shape.repetitions * shape.opsPerRep, name)
  let store: EmmettStore
  try {
    const emmett = loadEmmettSqlite()
    store = emmett.getSQLiteEventStore({ fileName: join(ctx.tmpDir, `${slug(name)}.db`) })
  } catch (e) {
    const reason = `@event-driven-io/emmett-sqlite could not be loaded: ${e instanceof Error ? e.message : String(e)}`
    ctx.log(`${name}: skipped (${reason})`)
    return skippedResult(name, 'events/s', reason)
  }
  const events = inputs.map((input) => {
    const event = parseEvent(input)
    return { stream: streamOf(event), event: { type: event.type, data: event.data } }
  })
  // emmett-sqlite 0.38.5 now and then commits while its INSERT … RETURNING statement is still
  // open and fails with SQLITE_BUSY; it rolls back, so the append is retried and the failed
  // attempt's time counts against it.
  let retried = 0
  let failure: string | undefined
  const print = console.log
  return {
    fn: async (i) => {
      if (failure !== undefined) return
      const { stream, event } = events[i]!
      // It prints every failed transaction with console.log; keep that out of the report.
      console.log = () => {}
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await store.appendToStream(stream, [event])
            return
          } catch (e) {
            if (attempt < 5 && (e as { code?: unknown }).code === 'SQLITE_BUSY') {
              retried++
              continue
            }
            failure = `emmett-sqlite failed while appending: ${e instanceof Error ? e.message : String(e)}`
            ctx.log(`${name}: skipped (${failure})`)
            return
          }
        }
      } finally {
        console.log = print
      }
    },
    options: shape,
    result: (m) =>
      failure !== undefined
        ? skippedResult(name, 'events/s', failure)
        : throughputResult(name, m, {
            note: `appendToStream of one event per call; node-sqlite3, WAL, synchronous=FULL (SQLite default)${retried ? `; ${retried} SQLITE_BUSY failures retried` : ''}`,
          }),
  }
}

function need(inputs: readonly unknown[], n: number, name: string): void {
  if (inputs.length < n) throw new RangeError(`${name} needs ${n} inputs, got ${inputs.length}`)
}

function slug(name: string): string {
  return name
    .replace(/[^a-z0-9]+/gi, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase()
}
