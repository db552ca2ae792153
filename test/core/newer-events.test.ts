import { describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { openEventLog, chainHash, readStored, upcast, UnreadableEvent, type EventLog } from '../../src/index.js'
import { createProjectionRunner, replayLog } from '../../src/core/log/projection-runner.js'
import { auditLog } from '../../src/audit/audit.js'
import { anomalies, order, position, stateHash } from '../../src/projections/index.js'
import { tempDb } from '../support/tmp.js'
import { ev } from '../projections/given.js'

/** Append a row as another haltd build would have written it: raw, but chained properly. */
function appendForeignRow(path: string, type: string, v: number, data: unknown): number {
  const db = new Database(path)
  const head = db.prepare('SELECT seq, hash, ts FROM events ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string; ts: number }
  const row = {
    seq: head.seq + 1,
    id: `foreign-${head.seq + 1}`,
    type,
    v,
    ts: head.ts,
    stream: 'order:sim-a:a',
    causationId: null,
    correlationId: null,
    data: JSON.stringify(data),
  }
  db.prepare('INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)').run(
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
    head.hash,
    chainHash(head.hash, row),
  )
  db.close()
  return row.seq
}

/**
 * A log where a newer haltd wrote an `order.filled` v9 whose quantity field is renamed (read as
 * v1 it would book `undefined` quantities, i.e. NaN positions), and a type this build never heard of.
 */
function logWithNewerEvents(): { path: string; newerSeq: number; unknownSeq: number } {
  const path = tempDb()
  const log = openEventLog({ path })
  log.append(ev.submitted('a', { qty: 2 }))
  log.append(ev.filled('a', 't1', 1, 100))
  log.close()
  const newerSeq = appendForeignRow(path, 'order.filled', 9, {
    venue: 'sim-a',
    clientOrderId: 'a',
    tradeId: 't2',
    quantity: { amount: 1, unit: 'base' },
    price: 101,
  })
  const unknownSeq = appendForeignRow(path, 'order.amended', 1, { venue: 'sim-a', clientOrderId: 'a', qty: 5 })
  const again = openEventLog({ path })
  again.append(ev.accepted('a'))
  again.close()
  return { path, newerSeq, unknownSeq }
}

function expectUntouchedByNewerEvents(state: ReturnType<typeof replayLog>['state'], newerSeq: number, unknownSeq: number): void {
  // only the fill this build can read is booked; nothing became NaN
  expect(position(state, 'sim-a', 'BTC/USDT')).toMatchObject({ qty: 1, avgEntry: 100 })
  expect(order(state, 'sim-a', 'a')).toMatchObject({ status: 'partially-filled', filledQty: 1, qty: 2 })
  expect(Number.isFinite(state.pnl.equity)).toBe(true)
  expect(anomalies(state).map((a) => [a.seq, a.kind])).toEqual([
    [newerSeq, 'unreadable-event'],
    [unknownSeq, 'unreadable-event'],
  ])
  expect(anomalies(state)[0]!.detail).toMatch(/order\.filled v9 not applied: version 9 is newer than this build reads \(v1\)/)
  expect(anomalies(state)[1]!.detail).toMatch(/'order\.amended' is not an event type this build knows/)
}

describe('stored events written by a newer haltd', () => {
  it('are read back as stored, flagged unreadable, never lifted or misread', () => {
    const { path, newerSeq, unknownSeq } = logWithNewerEvents()
    const log = openEventLog({ path, readonly: true })
    expect(log.verify()).toMatchObject({ ok: true, lastSeq: 5 })
    const all = [...log.read()]
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5])
    expect(all.filter((e) => e.unreadable !== undefined).map((e) => [e.seq, e.v])).toEqual([
      [newerSeq, 9],
      [unknownSeq, 1],
    ])
    expect(all[newerSeq - 1]!.data).toMatchObject({ quantity: { amount: 1 } })
    expect(all[0]!.unreadable).toBeUndefined()
    log.close()
  })

  it('are skipped by replay and by a restarted runner as recorded anomalies, leaving the state uncorrupted', () => {
    const { path, newerSeq, unknownSeq } = logWithNewerEvents()
    const log: EventLog = openEventLog({ path })
    const replayed = replayLog(log, { fromSnapshot: false })
    expect(replayed.seq).toBe(5)
    expectUntouchedByNewerEvents(replayed.state, newerSeq, unknownSeq)
    const runner = createProjectionRunner({ log, snapshotEvery: 1 })
    expectUntouchedByNewerEvents(runner.state, newerSeq, unknownSeq)
    expect(stateHash(runner.state)).toBe(stateHash(replayed.state))
    // and live appends go on on top of them
    log.append(ev.filled('a', 't3', 1, 102))
    expect(order(runner.state, 'sim-a', 'a')!.status).toBe('filled')
    expect(stateHash(runner.state)).toBe(stateHash(replayLog(log, { fromSnapshot: false }).state))
    log.close()
  })

  it('are reported by the audit by seq, type and version', () => {
    const { path, newerSeq, unknownSeq } = logWithNewerEvents()
    const log = openEventLog({ path, readonly: true })
    const report = auditLog(log)
    log.close()
    expect(report.verdict).toBe('findings')
    expect(report.findings.filter((f) => f.check === 'schema').map((f) => [f.kind, f.seq])).toEqual([
      ['schema.unknown-version', newerSeq],
      ['schema.unknown-type', unknownSeq],
    ])
    expect(report.findings.find((f) => f.kind === 'schema.unknown-version')!.message).toMatch(
      /order\.filled v9.*version 9 of order\.filled is unknown \(current is 1\)/,
    )
  })

  it('reads stored data without throwing, saying why when it cannot lift it', () => {
    expect(readStored('order.accepted', 1, '{"venue":"v","clientOrderId":"c","venueOrderId":"x"}')).toEqual({
      v: 1,
      data: { venue: 'v', clientOrderId: 'c', venueOrderId: 'x' },
    })
    expect(
      readStored('order.submitted', 1, JSON.stringify({ venue: 'v', clientOrderId: 'c', symbol: 'S', side: 'buy', type: 'market', amount: 2 })),
    ).toMatchObject({
      v: 2,
      data: { qty: 2, origin: { kind: 'manual' } },
    })
    expect(readStored('order.accepted', 1, '{"venue":')).toMatchObject({ v: 1, data: null, unreadable: expect.stringMatching(/not JSON/) })
    expect(readStored('order.submitted', 0, '{}')).toMatchObject({ v: 0, unreadable: expect.stringMatching(/cannot be upcast from v0.*no upcaster from v0/) })
    expect(() => upcast('order.submitted', 0, {})).toThrow(UnreadableEvent)
  })
})
