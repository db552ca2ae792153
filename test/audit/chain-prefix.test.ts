import { createHash } from 'node:crypto'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import type { Finding } from '../../src/audit/audit-report.js'
import { createChainCheck } from '../../src/audit/chain-check.js'
import { intactPrefix } from '../../src/audit/chain-prefix.js'
import { storedRows } from '../../src/audit/rows.js'
import { chainHash, LINK_TEXT_SQL, type StoredRow } from '../../src/core/log/event-log.js'
import { tempDb } from '../support/tmp.js'
import { swapRows, tamper, tradingDay, writeLog } from './fixtures.js'

function cleanLog(): { path: string; lastSeq: number; head: string } {
  const path = tempDb()
  const { log, lastSeq } = writeLog(path, tradingDay(8))
  const head = log.headHash
  log.close()
  return { path, lastSeq, head }
}

function withDb<T>(path: string, use: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true })
  try {
    return use(db)
  } finally {
    db.close()
  }
}

/** The chain check over every row, and the same check over what follows the intact prefix. */
function bothWalks(path: string): { full: Finding[]; afterPrefix: Finding[]; prefixSeq: number; fullSummary: unknown; prefixSummary: unknown } {
  return withDb(path, (db) => {
    const full: Finding[] = []
    const whole = createChainCheck((f) => full.push(f))
    for (const row of storedRows(db)) whole.push(row)
    const afterPrefix: Finding[] = []
    const prefix = intactPrefix(db, Number.MAX_SAFE_INTEGER)
    const rest = createChainCheck((f) => afterPrefix.push(f), undefined, prefix)
    if (!prefix.complete) for (const row of storedRows(db, 2000, prefix.seq + 1)) rest.push(row)
    return { full, afterPrefix, prefixSeq: prefix.seq, fullSummary: whole.finish(), prefixSummary: rest.finish() }
  })
}

const rowAt = (db: Database.Database, seq: number): StoredRow =>
  db
    .prepare(
      'SELECT seq, id, type, v, ts, stream, causation_id AS causationId, correlation_id AS correlationId, data, prev_hash AS prevHash, hash FROM events WHERE seq = ?',
    )
    .get(seq) as StoredRow

describe("the chain's intact prefix, found from SQLite's link text", () => {
  it('given a clean log, then every row is in the prefix and it ends at the head hash', () => {
    const { path, lastSeq, head } = cleanLog()
    const prefix = withDb(path, (db) => intactPrefix(db, Number.MAX_SAFE_INTEGER))
    expect(prefix).toEqual({ seq: lastSeq, hash: head, rows: lastSeq, complete: true })
  })

  it('given a limit below the head, then the prefix stops at it', () => {
    const { path } = cleanLog()
    const prefix = withDb(path, (db) => intactPrefix(db, 12))
    expect(prefix).toMatchObject({ seq: 12, rows: 12, complete: true })
  })

  it('given a row whose stored values SQLite writes as other JSON than the header JavaScript reads, then its link is rebuilt and it stays in the prefix', () => {
    const { path, lastSeq } = cleanLog()
    // a timestamp past 2^53: SQLite writes every digit, JavaScript reads (and hashes) the nearest double
    tamper(path, (db) => {
      db.prepare('UPDATE events SET ts = ? WHERE seq = ?').run(2n ** 53n + 1n, lastSeq)
      const row = rowAt(db, lastSeq)
      expect(row.ts).toBe(2 ** 53)
      const hash = chainHash(row.prevHash, row)
      db.prepare('UPDATE events SET hash = ? WHERE seq = ?').run(hash, lastSeq)
      const text = (db.prepare(`SELECT ${LINK_TEXT_SQL} AS t FROM events WHERE seq = ?`).get(lastSeq) as { t: string }).t
      expect(createHash('sha256').update(text).digest('hex')).not.toBe(hash)
    })
    const { full, afterPrefix, prefixSeq } = bothWalks(path)
    expect(prefixSeq).toBe(lastSeq)
    expect(full).toEqual([])
    expect(afterPrefix).toEqual([])
  })

  it('given a prevHash that starts with the previous hash but is longer, hashed over its own text, then the prefix ends before that row', () => {
    const { path } = cleanLog()
    tamper(path, (db) => {
      db.prepare(`UPDATE events SET prev_hash = prev_hash || '[0]' WHERE seq = 20`).run()
      const text = (db.prepare(`SELECT ${LINK_TEXT_SQL} AS t FROM events WHERE seq = 20`).get() as { t: string }).t
      db.prepare('UPDATE events SET hash = ? WHERE seq = 20').run(createHash('sha256').update(text).digest('hex'))
    })
    const { full, afterPrefix, prefixSeq } = bothWalks(path)
    expect(prefixSeq).toBe(19)
    expect(afterPrefix).toEqual(full)
    expect(full.map((f) => f.seq)).toContain(20)
  })

  const tampers: [string, number, (db: Database.Database) => void][] = [
    ['an edited payload', 10, (db) => db.prepare(`UPDATE events SET data = replace(data, '"qty":1', '"qty":5') WHERE seq = 10`).run()],
    ['an edited hash', 9, (db) => db.prepare('UPDATE events SET hash = ? WHERE seq = 9').run('ab'.repeat(32))],
    ['an edited prevHash', 15, (db) => db.prepare('UPDATE events SET prev_hash = ? WHERE seq = 15').run('cd'.repeat(32))],
    ['a deleted row', 7, (db) => db.prepare('DELETE FROM events WHERE seq = 7').run()],
    ['a missing first row', 1, (db) => db.prepare('DELETE FROM events WHERE seq = 1').run()],
    [
      'rows renumbered after a deletion',
      30,
      (db) => {
        db.prepare('DELETE FROM events WHERE seq = 30').run()
        db.prepare('UPDATE events SET seq = seq - 1 WHERE seq > 30').run()
      },
    ],
    ['two swapped rows', 10, (db) => swapRows(db, 10, 11)],
    ['data replaced by null', 25, (db) => db.prepare(`UPDATE events SET data = 'null' WHERE seq = 25`).run()],
  ]

  for (const [what, firstBad, edit] of tampers) {
    it(`given ${what} at seq ${firstBad}, then the prefix ends just before it and the check after it finds what the full walk finds`, () => {
      const { path } = cleanLog()
      tamper(path, edit)
      const { full, afterPrefix, prefixSeq, fullSummary, prefixSummary } = bothWalks(path)
      expect(prefixSeq).toBe(firstBad - 1)
      expect(full.length).toBeGreaterThan(0)
      expect(afterPrefix).toEqual(full)
      expect(prefixSummary).toEqual(fullSummary)
    })
  }
})
