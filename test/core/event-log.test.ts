import { describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  openEventLog,
  chainHash,
  manualClock,
  sequentialIds,
  InvalidEvent,
  LogWriteFailed,
  NotAnEventLog,
  NewerLogFormat,
  GENESIS_HASH,
} from '../../src/index.js'
import { createProjectionRunner, replayLog } from '../../src/core/log/projection-runner.js'
import { stateHash } from '../../src/projections/index.js'
import { PAGE_CACHE_KIB } from '../../src/core/log/page-cache.js'
import { tempDb, tempDir } from '../support/tmp.js'
import { submitted, mark } from '../support/events.js'

describe('event log', () => {
  it('assigns gap-free seqs, the injected clock and ids, and links the hash chain', () => {
    const clock = manualClock(1_000)
    const log = openEventLog({ path: tempDb(), clock, ids: sequentialIds('e') })
    const a = log.append(submitted())
    clock.advance(5)
    const b = log.append(mark())
    expect([a.seq, b.seq]).toEqual([1, 2])
    expect([a.id, b.id]).toEqual(['e-1', 'e-2'])
    expect([a.ts, b.ts]).toEqual([1_000, 1_005])
    expect(a.prevHash).toBe(GENESIS_HASH)
    expect(b.prevHash).toBe(a.hash)
    expect(a.stream).toBe(`order:sim-a:${(a.data as { clientOrderId: string }).clientOrderId}`)
    expect(log.lastSeq).toBe(2)
    expect(log.verify()).toEqual({ ok: true, lastSeq: 2, count: 2 })
    log.close()
  })

  it('never stamps an event earlier than the one before it, even if the clock steps back', () => {
    const clock = manualClock(5_000)
    const log = openEventLog({ path: tempDb(), clock })
    log.append(mark())
    clock.set(4_000)
    expect(log.append(mark()).ts).toBe(5_000)
    log.close()
  })

  it('writes nothing for an invalid event and names the field', () => {
    const log = openEventLog({ path: tempDb() })
    log.append(mark())
    expect(() => log.append(submitted({ qty: 0 }))).toThrow(InvalidEvent)
    expect(() => log.append({ type: 'order.submitted', data: 'nope' })).toThrow(/data/)
    expect(log.lastSeq).toBe(1)
    expect([...log.read()].length).toBe(1)
    log.close()
  })

  it('refuses envelope fields that are not non-empty strings, naming each, and writes nothing', () => {
    const log = openEventLog({ path: tempDb() })
    for (const [extra, problem] of [
      [{ stream: 42 }, 'stream: must be a string, got number'],
      [{ causationId: ['x'] }, 'causationId: must be a string, got array'],
      [{ correlationId: {} }, 'correlationId: must be a string, got object'],
      [{ idempotencyKey: '' }, 'idempotencyKey: must not be empty'],
      [{ stream: 's'.repeat(501) }, 'stream: must be at most 500 characters'],
    ] as const) {
      expect(() => log.append({ ...mark(), ...extra } as never), problem).toThrow(
        new InvalidEvent('market.mark', [{ path: problem.split(':')[0]!, message: problem.split(': ')[1]! }]).message,
      )
      expect(() => log.appendBatch([mark(), { ...mark(), ...extra } as never])).toThrow(InvalidEvent)
    }
    expect(log.lastSeq).toBe(0)
    const e = log.append({ ...mark(), stream: 'prices', causationId: 'c-1', correlationId: null as never })
    expect([e.stream, e.causationId, e.correlationId]).toEqual(['prices', 'c-1', null])
    expect(log.verify()).toEqual({ ok: true, lastSeq: 1, count: 1 })
    log.close()
  })

  it('returns the stored envelope for an event whose idempotency key is already in the log', () => {
    const log = openEventLog({ path: tempDb() })
    const input = submitted()
    const first = log.append(input)
    log.append(mark())
    const again = log.append(input)
    expect(again.seq).toBe(first.seq)
    expect(again.hash).toBe(first.hash)
    expect(log.lastSeq).toBe(2)
    const fill = { type: 'order.filled', data: { venue: 'sim-a', clientOrderId: 'x', tradeId: 'T1', qty: 1, price: 1 } }
    expect(log.append(fill).seq).toBe(3)
    expect(log.append(fill).seq).toBe(3)
    expect(log.append({ ...fill, idempotencyKey: 'custom' }).seq).toBe(4)
    expect(log.verify().ok).toBe(true)
    log.close()
  })

  it('keeps the stored event when another one reuses its idempotency key, and publishes the conflict', () => {
    const log = openEventLog({ path: tempDb() })
    const conflicts: unknown[] = []
    log.on('conflict', (c) => conflicts.push(c))
    const fill = { type: 'order.filled', data: { venue: 'sim-a', clientOrderId: 'x', tradeId: 'T1', qty: 1, price: 1 } }
    const stored = log.append(fill)
    log.append(fill)
    expect(conflicts).toEqual([])
    const reused = { ...fill, data: { ...fill.data, clientOrderId: 'y', price: 2 } }
    expect(log.append(reused).seq).toBe(stored.seq)
    expect(log.appendBatch([mark(), reused]).map((e) => e.seq)).toEqual([2, stored.seq])
    expect(log.lastSeq).toBe(2)
    expect(conflicts).toEqual([
      { key: 'fill:sim-a:T1', stored, offered: { type: 'order.filled', data: { ...reused.data, fee: 0 } } },
      { key: 'fill:sim-a:T1', stored, offered: { type: 'order.filled', data: { ...reused.data, fee: 0 } } },
    ])
    log.close()

    // reopened, the key is no longer among this process's recent appends: the insert finds it
    const again = openEventLog({ path: log.path })
    const later: unknown[] = []
    again.on('conflict', (c) => later.push(c))
    expect(again.append(fill)).toEqual(stored)
    expect(again.append(reused)).toEqual(stored)
    expect(again.lastSeq).toBe(2)
    expect(later).toHaveLength(1)
    expect(again.verify().ok).toBe(true)
    again.close()
  })

  it('appends a batch all or nothing', () => {
    const log = openEventLog({ path: tempDb() })
    const seen: number[] = []
    log.subscribe(1, (e) => seen.push(e.seq))
    expect(() => log.appendBatch([mark(), submitted(), submitted({ side: 'up' })])).toThrow(/data\.side/)
    expect(log.lastSeq).toBe(0)
    const out = log.appendBatch([mark(), submitted(), mark(101)])
    expect(out.map((e) => e.seq)).toEqual([1, 2, 3])
    expect(seen).toEqual([1, 2, 3])
    expect(log.verify().ok).toBe(true)
    log.close()
  })

  it('resolves duplicates inside a large batch to the envelope already stored, keeping the chain gap-free', () => {
    const log = openEventLog({ path: tempDb() })
    const already = log.append(submitted({ clientOrderId: 'dup-1' }))
    const batch = Array.from({ length: 100 }, (_, i) => mark(100 + i))
    batch[40] = submitted({ clientOrderId: 'dup-1' })
    batch[70] = submitted({ clientOrderId: 'fresh' })
    batch[90] = submitted({ clientOrderId: 'fresh' })
    const out = log.appendBatch(batch)
    expect(out[40]!.seq).toBe(already.seq)
    expect(out[90]!.seq).toBe(out[70]!.seq)
    expect(log.lastSeq).toBe(1 + 98)
    expect(log.verify()).toMatchObject({ ok: true, lastSeq: 99 })
    const big = log.appendBatch(Array.from({ length: 1000 }, (_, i) => mark(1 + i)))
    expect(big.map((e) => e.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => 100 + i))
    expect(log.verify()).toMatchObject({ ok: true, lastSeq: 1099 })
    log.close()
  })

  it('rolls a batch back whole when a write fails half way', () => {
    let writes = 0
    const log = openEventLog({
      path: tempDb(),
      beforeWrite: () => {
        if (++writes === 3) throw new Error('EIO: injected')
      },
    })
    expect(() => log.appendBatch([mark(), mark(), mark()])).toThrow(LogWriteFailed)
    expect(log.lastSeq).toBe(0)
    expect(log.appendBatch([mark(), mark()]).map((e) => e.seq)).toEqual([1, 2])
    expect(log.verify()).toMatchObject({ ok: true, lastSeq: 2 })
    log.close()
  })

  it('writes and publishes nothing for a single append whose write fails, and gives its seq to the next one', () => {
    let fail = false
    const path = tempDb()
    const log = openEventLog({
      path,
      beforeWrite: () => {
        if (fail) throw new Error('EIO: injected')
      },
    })
    const runner = createProjectionRunner({ log })
    const seen: number[] = []
    log.subscribe(1, (e) => seen.push(e.seq))
    log.append(submitted({ clientOrderId: 'a' }))
    fail = true
    const attempt = () => log.append(submitted({ clientOrderId: 'b' }))
    expect(attempt).toThrow(LogWriteFailed)
    expect(attempt).toThrow(/EIO: injected/)
    expect(log.lastSeq).toBe(1)
    expect(seen).toEqual([1])
    expect(runner.state.orders.size).toBe(1)
    fail = false
    const next = log.append(submitted({ clientOrderId: 'b' }))
    expect(next.seq).toBe(2)
    expect(seen).toEqual([1, 2])
    expect(stateHash(runner.state)).toBe(stateHash(replayLog(log, { fromSnapshot: false }).state))
    log.close()
    const reopened = openEventLog({ path, readonly: true })
    expect(reopened.verify()).toEqual({ ok: true, lastSeq: 2, count: 2 })
    reopened.close()
  })

  it('rolls a large batch back whole when a write fails after its first multi-row inserts', () => {
    let writes = 0
    let failAt = 0
    const log = openEventLog({
      path: tempDb(),
      beforeWrite: () => {
        if (++writes === failAt) throw new Error('EIO: injected')
      },
    })
    log.append(mark())
    writes = 0
    failAt = 70
    expect(() => log.appendBatch(Array.from({ length: 100 }, (_, i) => mark(100 + i)))).toThrow(LogWriteFailed)
    expect(log.lastSeq).toBe(1)
    expect(log.database.prepare('SELECT count(*) FROM events').pluck().get()).toBe(1)
    failAt = 0
    expect(log.appendBatch(Array.from({ length: 100 }, (_, i) => mark(100 + i))).map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2))
    expect(log.verify()).toMatchObject({ ok: true, lastSeq: 101 })
    log.close()
  })

  it('stores nothing of a batch that fills the disk, keeps the live projections equal to a replay, and works again once space is freed', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    const runner = createProjectionRunner({ log })
    log.append(submitted({ clientOrderId: 'before' }))
    const pages = log.database.pragma('page_count', { simple: true }) as number
    log.database.pragma(`max_page_count = ${pages + 3}`)
    const batch = Array.from({ length: 400 }, (_, i) => submitted({ clientOrderId: `big-${i}`, symbol: 'Z'.repeat(60) }))
    let failure: unknown
    try {
      log.appendBatch(batch)
    } catch (e) {
      failure = e
    }
    expect(failure).toBeInstanceOf(LogWriteFailed)
    expect((failure as LogWriteFailed).sqliteCode).toBe('SQLITE_FULL')
    expect(log.lastSeq).toBe(1)
    expect(log.database.prepare('SELECT count(*) FROM events').pluck().get()).toBe(1)
    expect(runner.seq).toBe(1)
    expect(stateHash(runner.state)).toBe(stateHash(replayLog(log, { fromSnapshot: false }).state))
    log.database.pragma('max_page_count = 1073741823')
    expect(log.appendBatch(batch).at(-1)!.seq).toBe(401)
    expect(runner.state.orders.size).toBe(401)
    expect(stateHash(runner.state)).toBe(stateHash(replayLog(log, { fromSnapshot: false }).state))
    log.close()
    const reopened = openEventLog({ path, readonly: true })
    expect(reopened.verify()).toEqual({ ok: true, lastSeq: 401, count: 401 })
    reopened.close()
  })

  it('resumes seq and chain when reopened', () => {
    const path = tempDb()
    const first = openEventLog({ path })
    first.append(mark())
    const head = first.append(mark())
    first.close()
    const again = openEventLog({ path })
    expect(again.lastSeq).toBe(2)
    const next = again.append(mark())
    expect(next.seq).toBe(3)
    expect(next.prevHash).toBe(head.hash)
    expect(again.verify()).toMatchObject({ ok: true, lastSeq: 3 })
    again.close()
  })

  it('reads by range, type, stream and time, streaming page by page', () => {
    const clock = manualClock(0)
    const log = openEventLog({ path: tempDb(), clock })
    const inputs = Array.from({ length: 5_000 }, (_, i) => (i % 2 === 0 ? mark(100 + i) : submitted({ clientOrderId: `k${i}` })))
    for (const input of inputs) {
      clock.advance(1)
      log.append(input)
    }
    expect([...log.read()].length).toBe(5_000)
    expect([...log.read({ from: 4_990 })].map((e) => e.seq)).toEqual([4990, 4991, 4992, 4993, 4994, 4995, 4996, 4997, 4998, 4999, 5000])
    expect([...log.read({ from: 10, to: 12 })].map((e) => e.seq)).toEqual([10, 11, 12])
    expect([...log.read({ types: ['order.submitted'] })].length).toBe(2_500)
    expect([...log.read({ stream: 'order:sim-a:k3' })].map((e) => e.seq)).toEqual([4])
    expect([...log.read({ untilTs: 100 })].length).toBe(100)
    log.close()
  })

  it('finds the first event stamped at or after a time, with equal stamps and a clock that stepped back, on an empty log too', () => {
    const clock = manualClock(1_000)
    const log = openEventLog({ path: tempDb(), clock })
    expect(log.firstSeqSince(0)).toBe(1)
    // stamps by seq: 1000 1000 1010 1010 1010 (clock back to 900) 1010 1500
    for (const step of [0, 0, 10, 0, 0]) {
      clock.advance(step)
      log.append(mark())
    }
    clock.set(900)
    log.append(mark())
    clock.set(1_500)
    log.append(mark())
    expect([...log.read()].map((e) => e.ts)).toEqual([1_000, 1_000, 1_010, 1_010, 1_010, 1_010, 1_500])
    expect(log.firstSeqSince(0)).toBe(1)
    expect(log.firstSeqSince(1_000)).toBe(1)
    expect(log.firstSeqSince(1_001)).toBe(3)
    expect(log.firstSeqSince(1_010)).toBe(3)
    expect(log.firstSeqSince(1_011)).toBe(7)
    expect(log.firstSeqSince(1_500)).toBe(7)
    expect(log.firstSeqSince(1_501)).toBe(8)
    log.close()
  })

  it('reads stored v1 events as the current version without rewriting them', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    const e = log.append({ type: 'order.submitted', v: 1, data: { venue: 'a', clientOrderId: 'c', symbol: 'X/Y', side: 'buy', type: 'market', amount: 2 } })
    expect(e.v).toBe(2)
    log.close()
    // a v1 row written by an older haltd: insert it as it would have been, chained properly
    const db = new Database(path)
    const row = {
      seq: 2,
      id: 'old',
      type: 'order.submitted',
      v: 1,
      ts: 1,
      stream: 'order:a:old',
      causationId: null,
      correlationId: null,
      data: JSON.stringify({ venue: 'a', clientOrderId: 'old', symbol: 'X/Y', side: 'sell', type: 'market', amount: 4, strategyId: 'mm' }),
    }
    const hash = chainHash(e.hash, row)
    db.prepare(`INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`).run(
      row.seq,
      row.id,
      row.type,
      row.v,
      row.ts,
      row.stream,
      null,
      null,
      null,
      row.data,
      e.hash,
      hash,
    )
    db.close()
    const reopened = openEventLog({ path })
    const old = [...reopened.read({ from: 2 })][0]!
    expect(old.v).toBe(2)
    expect(old.data).toMatchObject({ qty: 4, reduceOnly: false, origin: { kind: 'strategy', id: 'mm' } })
    expect(reopened.verify().ok).toBe(true)
    expect([...reopened.readRaw(2)][0]!.v).toBe(1)
    reopened.close()
  })

  it('delivers catch-up then live events to a subscriber, and stops on unsubscribe', () => {
    const log = openEventLog({ path: tempDb() })
    for (let i = 0; i < 3; i++) log.append(mark())
    const seen: number[] = []
    const stop = log.subscribe(2, (e) => seen.push(e.seq))
    log.append(mark())
    stop()
    log.append(mark())
    expect(seen).toEqual([2, 3, 4])
    log.close()
  })

  it('refuses a file that is not a haltd log, and one from a newer format', () => {
    const dir = tempDir()
    const text = join(dir, 'notes.db')
    writeFileSync(text, 'hello, this is not sqlite at all '.repeat(100))
    expect(() => openEventLog({ path: text })).toThrow(NotAnEventLog)
    const other = join(dir, 'other.db')
    const db = new Database(other)
    db.exec('CREATE TABLE users (id INTEGER)')
    db.close()
    expect(() => openEventLog({ path: other })).toThrow(/no haltd meta\/events tables/)
    const newer = join(dir, 'newer.db')
    openEventLog({ path: newer }).close()
    const n = new Database(newer)
    n.prepare(`UPDATE meta SET value = '99' WHERE key = 'format_version'`).run()
    n.close()
    expect(() => openEventLog({ path: newer })).toThrow(NewerLogFormat)
    expect(() => openEventLog({ path: join(dir, 'missing.db'), readonly: true })).toThrow(NotAnEventLog)
  })

  it('reports a full disk as a typed error and works again once space is freed', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    log.append(mark())
    const pages = log.database.pragma('page_count', { simple: true }) as number
    log.database.pragma(`max_page_count = ${pages + 2}`)
    let failure: unknown
    let acknowledged = log.lastSeq
    for (let i = 0; i < 10_000; i++) {
      try {
        acknowledged = log.append(submitted({ clientOrderId: `full-${i}`, symbol: 'X'.repeat(60) })).seq
      } catch (e) {
        failure = e
        break
      }
    }
    expect(failure).toBeInstanceOf(LogWriteFailed)
    expect((failure as LogWriteFailed).sqliteCode).toBe('SQLITE_FULL')
    expect(log.lastSeq).toBe(acknowledged)
    expect(log.verify()).toMatchObject({ ok: true, lastSeq: acknowledged })
    log.database.pragma('max_page_count = 1073741823')
    expect(log.append(mark()).seq).toBe(acknowledged + 1)
    log.close()
    const reopened = openEventLog({ path })
    expect(reopened.verify()).toMatchObject({ ok: true, lastSeq: acknowledged + 1 })
    reopened.close()
  })

  it('groups the appends of one turn into one durable transaction in power mode', async () => {
    const path = tempDb()
    const log = openEventLog({ path, durability: 'power' })
    expect(log.database.pragma('synchronous', { simple: true })).toBe(2)
    const pending = Array.from({ length: 50 }, (_, i) => log.appendDurable(mark(100 + i)))
    // not yet committed: another connection sees nothing
    const reader = new Database(path, { readonly: true })
    expect(reader.prepare('SELECT count(*) FROM events').pluck().get()).toBe(0)
    const done = await Promise.all(pending)
    expect(done.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(reader.prepare('SELECT count(*) FROM events').pluck().get()).toBe(50)
    reader.close()
    log.append(mark())
    await log.flush()
    expect(log.verify()).toMatchObject({ ok: true, lastSeq: 51 })
    log.close()
  })

  it('fails the waiters of a lost power-mode group and reports a fault, then carries on', async () => {
    const path = tempDb()
    const log = openEventLog({ path, durability: 'power' })
    await log.appendDurable(mark())
    const faults: number[] = []
    log.on('fault', (f) => faults.push(f.lastSeq))
    const pages = log.database.pragma('page_count', { simple: true }) as number
    log.database.pragma(`max_page_count = ${pages}`)
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => {
        try {
          return log.appendDurable(submitted({ clientOrderId: `p-${i}`, symbol: 'Y'.repeat(60) }))
        } catch (e) {
          return Promise.reject(e)
        }
      }),
    )
    expect(results.some((r) => r.status === 'rejected')).toBe(true)
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof LogWriteFailed)).toBe(true)
    log.database.pragma('max_page_count = 1073741823')
    const after = await log.appendDurable(mark())
    expect(after.seq).toBe(log.lastSeq)
    expect(log.verify()).toMatchObject({ ok: true })
    expect(faults.length).toBeGreaterThan(0)
    log.close()
    // on disk: every acknowledged append, none of the failed ones, and a gap-free chain
    const reopened = openEventLog({ path, readonly: true })
    const stored = new Set([...reopened.read({ types: ['order.submitted'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId))
    results.forEach((r, i) => {
      expect(stored.has(`p-${i}`), `p-${i} ${r.status}`).toBe(r.status === 'fulfilled')
    })
    expect(reopened.verify()).toMatchObject({ ok: true, lastSeq: after.seq })
    reopened.close()
  })

  it('takes a consistent online backup while appends go on', async () => {
    const dir = tempDir()
    const log = openEventLog({ path: join(dir, 'live.db') })
    for (let i = 0; i < 2_000; i++) log.append(mark(100 + i))
    const timer = setInterval(() => log.append(mark()), 0)
    await log.backup(join(dir, 'copy.db'))
    clearInterval(timer)
    const copy = openEventLog({ path: join(dir, 'copy.db'), readonly: true })
    const result = copy.verify()
    expect(result.ok).toBe(true)
    expect(copy.lastSeq).toBeGreaterThanOrEqual(2_000)
    copy.close()
    log.close()
  })
})

describe('the log’s SQLite page cache', () => {
  const cacheKib = (db: Database.Database) => -(db.pragma('cache_size', { simple: true }) as number)

  it('given a log opened to write, and one opened to read, each connection caches at most PAGE_CACHE_KIB, not the 16 MB better-sqlite3 builds SQLite with', () => {
    const path = tempDb()
    const writer = openEventLog({ path })
    writer.appendBatch(Array.from({ length: 2_000 }, (_, i) => submitted({ clientOrderId: `hdpc${i}` })))
    const reader = openEventLog({ path, readonly: true })
    try {
      expect(cacheKib(writer.database)).toBe(PAGE_CACHE_KIB)
      expect(cacheKib(reader.database)).toBe(PAGE_CACHE_KIB)
    } finally {
      reader.close()
      writer.close()
    }
  })
})
