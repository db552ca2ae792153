import { describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { openEventLog, LogWriteFailed, type Envelope } from '../../src/index.js'
import { createProjectionRunner, replayLog } from '../../src/core/log/projection-runner.js'
import { stateHash } from '../../src/projections/index.js'
import { tempDb } from '../support/tmp.js'
import { mark, submitted } from '../support/events.js'

const clientOrderId = (e: Envelope) => (e.data as { clientOrderId?: string }).clientOrderId

describe('publication: subscribers see only what the log keeps', () => {
  for (const durability of ['process', 'power'] as const) {
    it(`publishes each seq of a batch once when a later event in it repeats an earlier one's idempotency key (${durability})`, async () => {
      const log = openEventLog({ path: tempDb(), durability })
      const seen: number[] = []
      const subscribed: number[] = []
      log.on('event', (e) => seen.push(e.seq))
      log.subscribe(1, (e) => subscribed.push(e.seq))
      const a = submitted({ clientOrderId: 'twice' })
      const out = log.appendBatch([a, mark(), a, mark()])
      await log.flush()
      expect(out.map((e) => e.seq)).toEqual([1, 2, 1, 3])
      expect(seen).toEqual([1, 2, 3])
      expect(subscribed).toEqual([1, 2, 3])
      log.close()
    })
  }

  it('publishes nothing of a power-mode group whose commit fails, and delivers the seqs later appends reuse once each', async () => {
    let failCommit = false
    const path = tempDb()
    const log = openEventLog({
      path,
      durability: 'power',
      beforeCommit: () => {
        if (failCommit) throw new Error('EIO: injected at commit')
      },
    })
    await log.appendDurable(mark())
    const runner = createProjectionRunner({ log, warn: () => {} })
    const seen: Envelope[] = []
    log.subscribe(1, (e) => seen.push(e))
    const faults: number[] = []
    log.on('fault', (f) => faults.push(f.lastSeq))

    failCommit = true
    const lost = [log.appendDurable(submitted({ clientOrderId: 'lost-a' })), log.appendDurable(submitted({ clientOrderId: 'lost-b' }))]
    // appended, not yet committed: not published
    expect(log.lastSeq).toBe(3)
    expect(log.committedSeq).toBe(1)
    expect(seen.map((e) => e.seq)).toEqual([1])
    const outcomes = await Promise.allSettled(lost)
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected'])
    expect((outcomes[0] as PromiseRejectedResult).reason).toBeInstanceOf(LogWriteFailed)
    expect(faults).toEqual([1])
    expect(seen.map((e) => e.seq)).toEqual([1])
    expect(log.lastSeq).toBe(1)
    expect(runner.seq).toBe(1)

    failCommit = false
    const kept = [log.append(submitted({ clientOrderId: 'kept-a' })), log.append(submitted({ clientOrderId: 'kept-b' }))]
    expect(kept.map((e) => e.seq)).toEqual([2, 3])
    expect(seen.map((e) => e.seq)).toEqual([1])
    await log.flush()
    expect(seen.map((e) => [e.seq, clientOrderId(e)])).toEqual([
      [1, undefined],
      [2, 'kept-a'],
      [3, 'kept-b'],
    ])
    expect(seen.slice(1)).toEqual(kept)
    expect(stateHash(runner.state)).toBe(stateHash(replayLog(log, { fromSnapshot: false }).state))
    log.close()
    const reopened = openEventLog({ path, readonly: true })
    expect([...reopened.read()].map(clientOrderId)).toEqual([undefined, 'kept-a', 'kept-b'])
    expect(reopened.verify()).toMatchObject({ ok: true, lastSeq: 3 })
    reopened.close()
  })

  it('publishes a power-mode group only after it is committed: what a subscriber is handed, another connection can read', async () => {
    const path = tempDb()
    const log = openEventLog({ path, durability: 'power' })
    const other = new Database(path, { readonly: true })
    const storedElsewhere: number[] = []
    log.subscribe(1, (e) => {
      storedElsewhere.push(other.prepare('SELECT count(*) FROM events WHERE seq = ?').pluck().get(e.seq) as number)
    })
    for (let i = 0; i < 20; i++) log.append(mark(100 + i))
    log.appendBatch([mark(1), mark(2), mark(3)])
    expect(storedElsewhere).toEqual([])
    await log.flush()
    expect(storedElsewhere).toEqual(Array(23).fill(1))
    other.close()
    log.close()
  })

  it('catches a subscriber that joins during an open power-mode group up to what is committed, then hands it the group once at its commit', async () => {
    const log = openEventLog({ path: tempDb(), durability: 'power' })
    await log.appendDurable(mark())
    log.append(mark())
    log.append(mark())
    const seen: number[] = []
    log.subscribe(1, (e) => seen.push(e.seq))
    expect(seen).toEqual([1])
    await log.flush()
    expect(seen).toEqual([1, 2, 3])
    log.append(mark())
    await log.flush()
    expect(seen).toEqual([1, 2, 3, 4])
    log.close()
  })

  it('publishes the events a subscriber appends while a group is being published after that group, each once', async () => {
    const log = openEventLog({ path: tempDb(), durability: 'power' })
    const seen: number[] = []
    log.subscribe(1, (e) => {
      seen.push(e.seq)
      if (e.type === 'market.mark' && e.seq <= 2) log.append(submitted({ clientOrderId: `reacting-to-${e.seq}` }))
    })
    log.append(mark())
    log.append(mark())
    await log.flush()
    expect(seen).toEqual([1, 2])
    await log.flush()
    expect(seen).toEqual([1, 2, 3, 4])
    expect(log.verify()).toMatchObject({ ok: true, lastSeq: 4 })
    log.close()
  })

  it('publishes what is still unpublished when a power-mode log is closed with a group open', () => {
    const log = openEventLog({ path: tempDb(), durability: 'power' })
    const seen: number[] = []
    log.subscribe(1, (e) => seen.push(e.seq))
    log.append(mark())
    log.append(mark())
    expect(seen).toEqual([])
    log.close()
    expect(seen).toEqual([1, 2])
  })

  it('publishes in process mode as each append returns, as before', () => {
    const log = openEventLog({ path: tempDb() })
    const seen: number[] = []
    log.subscribe(1, (e) => seen.push(e.seq))
    log.append(mark())
    expect(seen).toEqual([1])
    log.appendBatch([mark(), mark()])
    expect(seen).toEqual([1, 2, 3])
    expect(log.committedSeq).toBe(3)
    log.close()
  })
})
