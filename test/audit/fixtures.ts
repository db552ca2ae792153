import Database from 'better-sqlite3'
import { chainHash, openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { manualClock, sequentialIds } from '../../src/events/clock.js'
import type { EventInput } from '../../src/events/index.js'

export const T0 = Date.UTC(2025, 0, 15, 9, 30, 0)

/** A log written through the real EventLog with a manual clock: every event 10 ms after the one before. */
export function writeLog(path: string, inputs: Iterable<EventInput>, step = 10): { log: EventLog; lastSeq: number } {
  const clock = manualClock(T0)
  const log = openEventLog({ path, clock, ids: sequentialIds('ev') })
  for (const input of inputs) {
    log.append(input)
    clock.advance(step)
  }
  return { log, lastSeq: log.lastSeq }
}

const strategyOrder = (venue: string, id: string, side: 'buy' | 'sell', qty: number, price: number): EventInput => ({
  type: 'order.submitted',
  data: { venue, clientOrderId: id, symbol: 'BTC/USDT', side, type: 'limit', qty, price, origin: { kind: 'strategy', id: 'mm' } },
})

/**
 * A day of quiet trading on two venues, without a shutdown: orders accepted, filled in parts,
 * canceled on the venue's word, marks, and venue reports that agree with haltd.
 */
export function* tradingDay(orders = 6): Generator<EventInput> {
  yield { type: 'run.started', data: { runId: 'run-1', version: '0.1.0', configHash: 'c0ffee', host: 'test', pid: 4242, refusesOverfills: true } }
  for (const venue of ['binance', 'okx']) {
    yield { type: 'venue.connected', data: { venue, latencyMs: 3 } }
    yield { type: 'venue.markets-observed', data: { venue, markets: [{ symbol: 'BTC/USDT', amountStep: 0.001, priceStep: 0.1 }] } }
    yield { type: 'market.mark', data: { venue, symbol: 'BTC/USDT', price: 100 } }
  }
  for (let i = 1; i <= orders; i++) {
    const venue = i % 2 ? 'binance' : 'okx'
    const id = `o-${i}`
    yield strategyOrder(venue, id, i % 3 ? 'buy' : 'sell', 2, 100 + i)
    yield { type: 'order.accepted', data: { venue, clientOrderId: id, venueOrderId: `V${i}` } }
    yield { type: 'order.filled', data: { venue, clientOrderId: id, tradeId: `t-${i}-1`, qty: 1, price: 100 + i, fee: 0.01 } }
    if (i % 2) {
      yield { type: 'order.filled', data: { venue, clientOrderId: id, tradeId: `t-${i}-2`, qty: 1, price: 100 + i, fee: 0.01 } }
    } else {
      yield { type: 'order.cancel-requested', data: { venue, clientOrderId: id, reason: 'requote', origin: 'strategy' } }
      yield { type: 'order.canceled', data: { venue, clientOrderId: id, confirmedBy: 'ack' } }
    }
    yield { type: 'market.mark', data: { venue, symbol: 'BTC/USDT', price: 100 + i / 2 } }
  }
}

/** Rewrite stored rows directly, as someone with file access would. */
export function tamper(path: string, edit: (db: Database.Database) => void): void {
  const db = new Database(path)
  try {
    edit(db)
  } finally {
    db.close()
  }
}

/** Swap everything but the seq between two stored rows. */
export function swapRows(db: Database.Database, a: number, b: number): void {
  const cols = ['id', 'type', 'v', 'ts', 'stream', 'causation_id', 'correlation_id', 'idem_key', 'data', 'prev_hash', 'hash']
  const get = db.prepare(`SELECT ${cols.join(', ')} FROM events WHERE seq = ?`)
  const ra = get.get(a) as Record<string, unknown>
  const rb = get.get(b) as Record<string, unknown>
  const set = db.prepare(`UPDATE events SET ${cols.map((c) => `${c} = @${c}`).join(', ')} WHERE seq = @seq`)
  db.transaction(() => {
    set.run({ ...rb, idem_key: null, seq: a })
    set.run({ ...ra, seq: b })
    db.prepare('UPDATE events SET idem_key = ? WHERE seq = ?').run(rb.idem_key, a)
  })()
}

/** A stored row's hash as the writer computes it, over `prev` and (where given) other data. */
export function rowHash(prev: string, row: Record<string, string | number | null>, data = String(row.data)): string {
  return chainHash(prev, {
    seq: Number(row.seq),
    id: String(row.id),
    type: String(row.type),
    v: Number(row.v),
    ts: Number(row.ts),
    stream: String(row.stream),
    causationId: row.causation_id as string | null,
    correlationId: row.correlation_id as string | null,
    data,
  })
}

/**
 * Recompute the hash chain from `from` to the end, as a forger who knows the hash rule does after
 * rewriting rows: every link holds again, so only what the rows say can give the rewrite away.
 */
export function rechainFrom(db: Database.Database, from: number): void {
  const rows = db.prepare('SELECT * FROM events WHERE seq >= ? ORDER BY seq').all(from) as Record<string, string | number | null>[]
  const before = db.prepare('SELECT hash FROM events WHERE seq = ?').get(from - 1) as { hash: string } | undefined
  let prev = before?.hash ?? String(rows[0]!.prev_hash)
  const update = db.prepare('UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?')
  db.transaction(() => {
    for (const row of rows) {
      const hash = rowHash(prev, row)
      update.run(prev, hash, row.seq)
      prev = hash
    }
  })()
}
