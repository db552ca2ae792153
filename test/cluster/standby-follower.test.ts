import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { describe, expect, it } from 'vitest'
import { chainHash } from '../../src/core/log/event-log.js'
import { createProjectionRunner } from '../../src/core/log/projection-runner.js'
import { stateHash } from '../../src/projections/serialize.js'
import { StreamForked } from '../../src/cluster/replication/errors.js'
import { LogAheadOfStream, startFollower } from '../../src/cluster/replication/follower.js'
import { encodeRow, msgIdOf, streamNameOf, subjectOf } from '../../src/cluster/replication/log-stream.js'
import { afterEachTest } from '../support/after-each-test.js'
import { natsForFile } from '../support/nats-for-file.js'
import { mark, submitted } from '../support/events.js'
import { natsClientForFile } from './support/nats-client.js'
import { newLog, replicationOver } from './support/replication.js'

const client = natsClientForFile(natsForFile())
const { publish, follow } = replicationOver(client)
let engineNo = 0
const engine = () => `fol-${++engineNo}`

/** Publish a row straight into the stream, as a writer other than haltd's publisher would. */
async function inject(e: string, row: Parameters<typeof encodeRow>[0]): Promise<void> {
  await jetstream(client.nc).publish(subjectOf(e), encodeRow(row), { msgID: msgIdOf(row), expect: { lastSequence: row.seq - 1 } })
}

describe('a standby following the stream', () => {
  it('given a leader appending as it follows, its log is the leader’s row for row, its chain verifies and its projections reach the same state', async () => {
    const e = engine()
    const leader = newLog()
    for (let i = 0; i < 100; i++) leader.append(i % 3 ? mark(100 + i) : submitted())
    const p = await publish(leader, e)
    const standby = newLog()
    const projections = createProjectionRunner({ log: standby, snapshotEvery: 0 })
    afterEachTest(() => projections.stop())
    const f = await follow(standby, e)
    leader.appendBatch(Array.from({ length: 400 }, (_, i) => (i % 4 ? mark(200 + i) : submitted())))
    await p.flush(5_000)
    expect(await f.catchUp(5_000)).toBe(leader.lastSeq)

    expect([...standby.readReplicable()]).toEqual([...leader.readReplicable()])
    expect(standby.verify()).toEqual({ ok: true, lastSeq: 500, count: 500 })
    const leaderState = createProjectionRunner({ log: leader, snapshotEvery: 0 })
    afterEachTest(() => leaderState.stop())
    expect(stateHash(projections.state)).toBe(stateHash(leaderState.state))
    expect(f.status()).toMatchObject({ state: 'following', seq: 500, unknown: [] })
  })

  it('given a standby restarted on its own log, it resumes after its last event', async () => {
    const e = engine()
    const leader = newLog()
    const p = await publish(leader, e)
    for (let i = 0; i < 30; i++) leader.append(mark(i + 1))
    await p.flush(5_000)
    const standby = newLog()
    const first = await follow(standby, e)
    await first.catchUp(5_000)
    await first.stop()
    for (let i = 0; i < 30; i++) leader.append(mark(i + 100))
    await p.flush(5_000)
    const second = await follow(standby, e)
    expect(await second.catchUp(5_000)).toBe(60)
    expect([...standby.readRaw()]).toEqual([...leader.readRaw()])
  })

  it('given a stream event that does not continue the chain, the standby stops, says which seq and why, and stores nothing of it', async () => {
    const e = engine()
    const leader = newLog()
    const p = await publish(leader, e)
    for (let i = 0; i < 5; i++) leader.append(mark(i + 1))
    await p.flush(5_000)
    await p.stop()
    const last = [...leader.readRaw()].at(-1)!
    await inject(e, { ...last, seq: 6, id: 'forged', prevHash: last.hash, hash: 'a'.repeat(64) })

    const broken: string[] = []
    const standby = newLog()
    const f = await follow(standby, e, { onBroken: (r) => broken.push(r) })
    await expect(f.waitForSeq(6, 2_000)).rejects.toThrow(/no longer follows|holds seq 5/)
    expect(broken).toEqual([expect.stringMatching(/replicated event 6 refused: its hash does not match its contents/)])
    expect(f.status()).toMatchObject({ state: 'broken', seq: 5 })
    expect(standby.lastSeq).toBe(5)
  })

  it('given the stream deleted under it (its server lost its store), the standby stops following and says so, rather than follow nothing', async () => {
    const e = engine()
    const leader = newLog()
    for (let i = 0; i < 10; i++) leader.append(mark(100 + i))
    const p = await publish(leader, e)
    await p.flush(5_000)
    const standby = newLog()
    const f = await follow(standby, e)
    await f.catchUp(5_000)
    await p.stop()
    // when the stream is gone
    await (await jetstreamManager(client.nc)).streams.delete(streamNameOf(e))
    // then within a few stall checks the follower breaks, naming the stream and what this log holds
    const until = Date.now() + 15_000
    while (f.status().state === 'following' && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
    expect(f.status()).toMatchObject({
      state: 'broken',
      reason: `the stream ${streamNameOf(e)} no longer exists (deleted, or its server lost its store): this log holds seq 1 to 10`,
    })
  })

  it('given a message that is no haltd row, the standby stops following, naming its seq, and stores nothing of it', async () => {
    const e = engine()
    const leader = newLog()
    leader.append(mark(1))
    const p = await publish(leader, e)
    await p.flush(5_000)
    const standby = newLog()
    const f = await follow(standby, e)
    await f.catchUp(5_000)
    await jetstream(client.nc).publish(subjectOf(e), new TextEncoder().encode('garbage bytes'))
    const until = Date.now() + 10_000
    while (f.status().state === 'following' && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    expect(f.status()).toMatchObject({ state: 'broken', seq: 1, reason: expect.stringMatching(/^stream message 2 is not a haltd log row/) })
  })

  it('given an event type this build does not know, the standby stores it whole and names it', async () => {
    const e = engine()
    const leader = newLog()
    const p = await publish(leader, e)
    leader.append(mark(1))
    await p.flush(5_000)
    await p.stop()
    const head = [...leader.readRaw()].at(-1)!
    const body = {
      seq: 2,
      id: 'from-a-newer-haltd',
      type: 'venue.teleported',
      v: 3,
      ts: head.ts + 1,
      stream: 'venue:x',
      causationId: null,
      correlationId: null,
      data: '{"to":"mars"}',
    }
    await inject(e, { ...body, prevHash: head.hash, hash: chainHash(head.hash, body) })

    const standby = newLog()
    const f = await follow(standby, e)
    await f.waitForSeq(2, 5_000)
    expect(f.status().unknown).toEqual([{ seq: 2, type: 'venue.teleported', v: 3, why: expect.any(String) }])
    expect(standby.verify()).toMatchObject({ ok: true, lastSeq: 2 })
  })

  it('given a local log the stream does not hold, the standby refuses to follow: ahead of the stream, or forked from it', async () => {
    const e = engine()
    const leader = newLog()
    const p = await publish(leader, e)
    for (let i = 0; i < 3; i++) leader.append(mark(i + 1))
    await p.flush(5_000)

    const ahead = newLog()
    for (let i = 0; i < 5; i++) ahead.append(mark(i + 1))
    await expect(startFollower({ nc: client.nc, log: ahead, engine: e })).rejects.toBeInstanceOf(LogAheadOfStream)

    const forked = newLog()
    for (let i = 0; i < 2; i++) forked.append(mark(i + 1))
    await expect(startFollower({ nc: client.nc, log: forked, engine: e })).rejects.toBeInstanceOf(StreamForked)
  })
})
