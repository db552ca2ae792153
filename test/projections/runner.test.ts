import { describe, expect, it } from 'vitest'
import { openEventLog, manualClock, sequentialIds, LogWriteFailed } from '../../src/index.js'
import { createProjectionRunner, replayLog } from '../../src/core/log/projection-runner.js'
import { openSnapshotStore, SnapshotNotInLog } from '../../src/core/log/snapshots.js'
import { createHash } from 'node:crypto'
import { order, position, serializeState, stateHash } from '../../src/projections/index.js'
import { tempDb } from '../support/tmp.js'
import { ev } from './given.js'

function history(n: number) {
  const out = []
  for (let i = 0; i < n; i++) {
    out.push(ev.submitted(`o${i}`, { side: i % 3 === 0 ? 'sell' : 'buy', qty: 1 + (i % 4) }))
    out.push(ev.accepted(`o${i}`))
    out.push(ev.filled(`o${i}`, `t${i}`, 1, 100 + (i % 7)))
    if (i % 5 === 0) out.push(ev.mark(100 + (i % 11)))
  }
  return out
}

function collectWarnings() {
  const messages: string[] = []
  return { messages, warn: (m: string) => void messages.push(m) }
}

describe('projection runner', () => {
  it('applies each event in the same tick as its append', () => {
    const log = openEventLog({ path: tempDb() })
    const runner = createProjectionRunner({ log })
    log.append(ev.submitted('a'))
    expect(order(runner.state, 'sim-a', 'a')!.status).toBe('pending-new')
    log.append(ev.filled('a', 't1', 1, 101))
    expect(position(runner.state, 'sim-a', 'BTC/USDT')!.qty).toBe(1)
    expect(runner.seq).toBe(2)
    log.close()
  })

  it('gives the live run and a full replay the same state hash', () => {
    const log = openEventLog({ path: tempDb(), clock: manualClock(1000), ids: sequentialIds() })
    const runner = createProjectionRunner({ log })
    for (const e of history(40)) log.append(e)
    expect(stateHash(replayLog(log, { fromSnapshot: false }).state)).toBe(stateHash(runner.state))
    log.close()
  })

  it('replays to a seq or to a time', () => {
    const clock = manualClock(1000)
    const log = openEventLog({ path: tempDb(), clock })
    for (const e of history(10)) {
      log.append(e)
      clock.advance(10)
    }
    const toSeq = replayLog(log, { until: 7 })
    expect(toSeq.seq).toBe(7)
    const toTime = replayLog(log, { untilTs: 1000 + 6 * 10 })
    expect(toTime.seq).toBe(7)
    expect(stateHash(toTime.state)).toBe(stateHash(toSeq.state))
    log.close()
  })

  it('writes a snapshot every N events and restarts from the newest one plus the tail', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    const runner = createProjectionRunner({ log, snapshotEvery: 25 })
    for (const e of history(30)) log.append(e)
    const live = stateHash(runner.state)
    const snaps = openSnapshotStore(log).list()
    expect(snaps.map((s) => s.seq)).toEqual([75, 50, 25])
    log.close()

    const reopened = openEventLog({ path })
    const w = collectWarnings()
    const restarted = createProjectionRunner({ log: reopened, warn: w.warn })
    expect(restarted.restoredFrom?.seq).toBe(75)
    expect(restarted.seq).toBe(reopened.lastSeq)
    expect(stateHash(restarted.state)).toBe(live)
    expect(w.messages).toEqual([])
    reopened.close()
  })

  it('given snapshot spacing by size, a state that grew is snapshotted after as many events as its last snapshot has bytes per that share, a small one every N', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    createProjectionRunner({ log, snapshotEvery: 10, snapshotBytesPerEvent: 200, keepSnapshots: 100 })
    for (const e of history(60)) log.append(e)
    const snaps = openSnapshotStore(log).list().reverse()
    // each gap is the larger of N and the bytes of the snapshot before it over the share
    expect(snaps.length).toBeGreaterThanOrEqual(3)
    expect(snaps[0]!.seq).toBe(10)
    for (let k = 1; k < snaps.length; k++) expect(snaps[k]!.seq - snaps[k - 1]!.seq).toBe(Math.max(10, Math.floor(snaps[k - 1]!.bytes / 200)))
    // and the state grew past the point where its size, not N, sets the gap
    expect(snaps.some((sn, k) => k > 0 && sn.seq - snaps[k - 1]!.seq > 10)).toBe(true)
    // a restart from the newest one replays the tail to the same state
    const live = stateHash(replayLog(log, { fromSnapshot: false }).state)
    log.close()
    const reopened = openEventLog({ path })
    const restarted = createProjectionRunner({ log: reopened, snapshotEvery: 10, snapshotBytesPerEvent: 200, keepSnapshots: 100 })
    expect(restarted.restoredFrom?.seq).toBe(snaps.at(-1)!.seq)
    expect(stateHash(restarted.state)).toBe(live)
    // and after the restart the spacing is the restored snapshot's, not N
    const gap = Math.max(10, Math.floor(snaps.at(-1)!.bytes / 200))
    expect(gap).toBeGreaterThan(10)
    const from = reopened.lastSeq
    for (let i = 0; i < gap; i++) reopened.append(ev.mark(100 + (i % 13)))
    expect(openSnapshotStore(reopened).list()[0]!.seq).toBe(from + gap)
    reopened.close()
  })

  it('skips a snapshot whose checksum does not match and falls back to an older one', () => {
    const log = openEventLog({ path: tempDb() })
    const runner = createProjectionRunner({ log, snapshotEvery: 20 })
    for (const e of history(20)) log.append(e)
    const newest = openSnapshotStore(log).list()[0]!
    log.database.prepare(`UPDATE snapshots SET state = replace(state, '"qty":1', '"qty":7') WHERE id = ?`).run(newest.id)
    const w = collectWarnings()
    const r = replayLog(log, { warn: w.warn })
    expect(r.snapshot!.seq).toBeLessThan(newest.seq)
    expect(w.messages).toEqual([expect.stringMatching(/checksum/)])
    expect(stateHash(r.state)).toBe(stateHash(runner.state))
    log.close()
  })

  it('skips a snapshot beyond the end of the log and one taken from a different log history', () => {
    const log = openEventLog({ path: tempDb() })
    const runner = createProjectionRunner({ log, snapshotEvery: 10 })
    for (const e of history(10)) log.append(e)
    const [a, b, c] = openSnapshotStore(log).list()
    log.database.prepare('UPDATE snapshots SET seq = seq + 1000 WHERE id = ?').run(a!.id)
    log.database.prepare(`UPDATE snapshots SET log_hash = ? WHERE id = ?`).run('f'.repeat(64), b!.id)
    const w = collectWarnings()
    const r = replayLog(log, { warn: w.warn })
    expect(r.snapshot!.id).toBe(c!.id)
    expect(w.messages).toEqual([expect.stringMatching(/beyond the end of the log/), expect.stringMatching(/log's hash at seq/)])
    expect(stateHash(r.state)).toBe(stateHash(runner.state))
    log.close()
  })

  it('replays the whole log when no snapshot can be trusted', () => {
    const log = openEventLog({ path: tempDb() })
    const runner = createProjectionRunner({ log, snapshotEvery: 15 })
    for (const e of history(10)) log.append(e)
    log.database.exec(`UPDATE snapshots SET state = state || ' '`)
    const w = collectWarnings()
    const r = replayLog(log, { warn: w.warn })
    expect(r.snapshot).toBeUndefined()
    expect(r.applied).toBe(log.lastSeq)
    expect(w.messages.length).toBe(openSnapshotStore(log).list().length)
    expect(stateHash(r.state)).toBe(stateHash(runner.state))
    log.close()
  })

  it('never uses a snapshot past the seq or time a replay stops at', () => {
    const clock = manualClock(0)
    const log = openEventLog({ path: tempDb(), clock })
    createProjectionRunner({ log, snapshotEvery: 10 })
    for (const e of history(10)) {
      clock.advance(1)
      log.append(e)
    }
    const r = replayLog(log, { until: 25 })
    expect(r.snapshot!.seq).toBe(20)
    expect(r.seq).toBe(25)
    expect(stateHash(r.state)).toBe(stateHash(replayLog(log, { until: 25, fromSnapshot: false }).state))
    const t = replayLog(log, { untilTs: 15 })
    expect(t.snapshot!.seq).toBe(10)
    expect(t.seq).toBe(15)
    log.close()
  })

  it('warns, and the append still succeeds, when an automatic snapshot cannot be written', () => {
    const log = openEventLog({ path: tempDb() })
    const w = collectWarnings()
    const runner = createProjectionRunner({ log, snapshotEvery: 2, warn: w.warn })
    log.append(ev.submitted('a'))
    log.database.exec('DROP TABLE snapshots')
    expect(log.append(ev.accepted('a')).seq).toBe(2)
    expect(runner.seq).toBe(2)
    expect(w.messages).toEqual([expect.stringMatching(/automatic snapshot at seq 2 failed/)])
    log.close()
  })

  it('replays a read-only log without writing snapshots', () => {
    const path = tempDb()
    const writer = openEventLog({ path })
    for (const e of history(5)) writer.append(e)
    const expected = stateHash(replayLog(writer, { fromSnapshot: false }).state)
    writer.close()
    const ro = openEventLog({ path, readonly: true })
    const runner = createProjectionRunner({ log: ro, snapshotEvery: 1 })
    expect(stateHash(runner.state)).toBe(expected)
    expect(openSnapshotStore(ro).list()).toEqual([])
    ro.close()
  })

  it('rebuilds from the log when a power-mode group is lost after its events were applied', async () => {
    const log = openEventLog({ path: tempDb(), durability: 'power' })
    const w = collectWarnings()
    const runner = createProjectionRunner({ log, warn: w.warn })
    await log.appendDurable(ev.submitted('kept'))
    const pages = log.database.pragma('page_count', { simple: true }) as number
    log.database.pragma(`max_page_count = ${pages}`)
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => {
        try {
          return log.appendDurable(ev.submitted(`lost-${i}`, { symbol: 'Y'.repeat(60) }))
        } catch (e) {
          return Promise.reject(e)
        }
      }),
    )
    expect(results.some((r) => r.status === 'rejected' && r.reason instanceof LogWriteFailed)).toBe(true)
    expect(w.messages.some((m) => /lost events after seq/.test(m))).toBe(true)
    log.database.pragma('max_page_count = 1073741823')
    await log.appendDurable(ev.accepted('kept'))
    expect(runner.seq).toBe(log.lastSeq)
    expect(stateHash(runner.state)).toBe(stateHash(replayLog(log, { fromSnapshot: false }).state))
    expect(order(runner.state, 'sim-a', 'kept')!.status).toBe('open')
    log.close()
  })

  it('refuses, with a typed error, to snapshot a state at a seq the log does not hold', () => {
    const log = openEventLog({ path: tempDb() })
    log.append(ev.submitted('a'))
    const state = replayLog(log).state
    state.seq = 5
    expect(() => openSnapshotStore(log).write(state)).toThrow(SnapshotNotInLog)
    log.close()
  })
  it('writes a snapshot on demand at the current seq, which a restart then starts from', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    const runner = createProjectionRunner({ log })
    expect(runner.snapshot()).toBeUndefined()
    for (const e of history(7)) log.append(e)
    const meta = runner.snapshot()!
    expect(meta).toMatchObject({ seq: log.lastSeq, stateHash: stateHash(runner.state), logHash: log.headHash })
    expect(
      openSnapshotStore(log)
        .list()
        .map((m) => m.id),
    ).toEqual([meta.id])
    log.append(ev.submitted('after'))
    const live = stateHash(runner.state)
    log.close()
    const reopened = openEventLog({ path })
    const restarted = createProjectionRunner({
      log: reopened,
      warn: (m) => {
        throw new Error(m)
      },
    })
    expect(restarted.restoredFrom?.id).toBe(meta.id)
    expect(stateHash(restarted.state)).toBe(live)
    reopened.close()
  })

  it('skips, with a warning each, a snapshot of another format, one that is not a state, and one holding another seq', () => {
    const log = openEventLog({ path: tempDb() })
    const runner = createProjectionRunner({ log, snapshotEvery: 10, keepSnapshots: 5 })
    for (const e of history(13)) log.append(e)
    const [newest, second, third, oldest] = openSnapshotStore(log).list()
    const rewrite = (id: number, text: string) =>
      log.database.prepare('UPDATE snapshots SET state = ?, state_hash = ? WHERE id = ?').run(text, createHash('sha256').update(text).digest('hex'), id)
    log.database.prepare('UPDATE snapshots SET format = 99 WHERE id = ?').run(newest!.id)
    // checksums that match, over contents that must not be trusted
    rewrite(second!.id, '{"hello":"world"}')
    rewrite(third!.id, serializeState(replayLog(log, { until: 3, fromSnapshot: false }).state))
    const w = collectWarnings()
    const r = replayLog(log, { warn: w.warn })
    expect(r.snapshot!.id).toBe(oldest!.id)
    expect(w.messages).toEqual([
      expect.stringMatching(new RegExp(`snapshot ${newest!.id} at seq ${newest!.seq} skipped: written in snapshot format 99`)),
      expect.stringMatching(/skipped: it cannot be read \(not a serialized haltd state\)/),
      expect.stringMatching(new RegExp(`skipped: it holds seq 3, not ${third!.seq}`)),
    ])
    expect(stateHash(r.state)).toBe(stateHash(runner.state))
    log.close()
  })

  it('holds a state of the same size after 5,000 and after 20,000 events of finished orders: replay memory does not grow with the log', () => {
    const log = openEventLog({ path: tempDb() })
    const churn = []
    for (let i = 0; i < 5_000; i++) {
      churn.push(ev.submitted(`k${i}`, { side: i % 2 ? 'sell' : 'buy' }), ev.accepted(`k${i}`), ev.filled(`k${i}`, `kt${i}`, 1, 100 + (i % 9)))
      // a late duplicate report now and then: anomalies are kept bounded too
      churn.push(i % 3 === 0 ? ev.canceled(`k${i}`) : ev.mark(100 + (i % 5)))
    }
    log.appendBatch(churn)
    const retention = { closedOrders: 200, anomalies: 50 }
    const at = (until: number) => replayLog(log, { until, fromSnapshot: false, retention }).state
    const early = at(5_000)
    const late = at(20_000)
    expect(late.anomalyCount).toBeGreaterThan(early.anomalyCount * 3)
    for (const s of [early, late]) {
      expect(s.orders.size).toBe(200)
      expect(s.anomalies.length).toBeLessThanOrEqual(50 + 50 / 4 + 1)
      expect(s.closedOrders.length).toBeLessThanOrEqual(200 + 2 * 4097)
    }
    const size = (s: typeof early) => serializeState(s).length
    expect(Math.abs(size(late) - size(early)) / size(early)).toBeLessThan(0.05)
    log.close()
  })

  it('given a live runner, finished orders appended through the log leave its state beyond the retention, and a working order stays', () => {
    const log = openEventLog({ path: tempDb() })
    const runner = createProjectionRunner({ log, retention: { closedOrders: 100 } })
    log.append(ev.submitted('working'))
    log.append(ev.accepted('working'))
    for (let from = 0; from < 5_000; from += 500) {
      const batch = []
      for (let i = from; i < from + 500; i++) {
        batch.push(ev.submitted(`f${i}`), ev.accepted(`f${i}`), i % 2 === 0 ? ev.filled(`f${i}`, `ft${i}`, 1, 100) : ev.canceled(`f${i}`))
      }
      log.appendBatch(batch)
      expect(runner.state.orders.size).toBeLessThanOrEqual(101)
    }
    expect(runner.state.orders.size).toBe(101)
    expect(order(runner.state, 'sim-a', 'working')!.status).toBe('open')
    expect(order(runner.state, 'sim-a', 'f4999')!.status).toBe('canceled')
    expect(order(runner.state, 'sim-a', 'f4899')).toBeUndefined()
    expect(runner.state.closedOrders.length - runner.state.closedHead).toBe(100)
    // the fills of the orders it forgot still count
    expect(position(runner.state, 'sim-a', 'BTC/USDT')!.qty).toBe(2_500)
    runner.stop()
    log.close()
  })
})
