import { connect } from '@nats-io/transport-node'
import { DiscardPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { describe, expect, it } from 'vitest'
import type { EventLog, StoredRow } from '../../src/core/log/event-log.js'
import { ReplicationStopped, ReplicationTimeout, StreamAhead, StreamForked } from '../../src/cluster/replication/errors.js'
import { decodeStored, encodeRow, EPOCH_HEADER, msgIdOf, streamNameOf, subjectOf } from '../../src/cluster/replication/log-stream.js'
import { startPublisher } from '../../src/cluster/replication/publisher.js'
import { natsForFile } from '../support/nats-for-file.js'
import { mark, submitted } from '../support/events.js'
import { natsClientForFile } from './support/nats-client.js'
import { newLog, replicationOver } from './support/replication.js'

const nats = natsForFile()
const client = natsClientForFile(nats, { maxReconnectAttempts: -1, reconnectTimeWait: 100 })
const { publish } = replicationOver(client)
let engineNo = 0

const publisher = (log: EventLog, engine: string, extra: Parameters<typeof publish>[2] = {}) => publish(log, engine, { ackTimeoutMs: 1_000, ...extra })

async function streamRows(engine: string): Promise<{ row: StoredRow; epoch: number }[]> {
  const jsm = await jetstreamManager(client.nc)
  const info = await jsm.streams.info(streamNameOf(engine))
  const out: { row: StoredRow; epoch: number }[] = []
  for (let seq = 1; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(streamNameOf(engine), { seq })
    if (m) out.push(decodeStored(m))
  }
  return out
}

const rowsOf = (log: EventLog) => [...log.readRaw()]

/** A publisher over a log whose first event the stream holds, and the reasons it is fenced with, as they come. */
async function publishedOne() {
  const e = engine()
  const log = newLog()
  const fenced: string[] = []
  const p = await publisher(log, e, { onFenced: (r) => fenced.push(r) })
  log.append(mark(1))
  await p.flush(5_000)
  return { e, log, fenced, p }
}
const engine = () => `pub-${++engineNo}`

describe('the replication publisher', () => {
  it('given a log with a backlog and an empty stream, it publishes the backlog then every new event, stream seq = log seq, rows byte for byte', async () => {
    const log = newLog()
    for (let i = 0; i < 40; i++) log.append(i % 2 ? submitted() : mark(100 + i))
    const e = engine()
    const p = await publisher(log, e, { epoch: () => 7 })
    await p.flush(5_000)
    log.appendBatch(Array.from({ length: 160 }, (_, i) => mark(200 + i)))
    for (let i = 0; i < 20; i++) log.append(submitted())
    await p.flush(5_000)

    const stream = await streamRows(e)
    expect(stream.map((s) => s.row)).toEqual(rowsOf(log))
    expect(stream.every((s) => s.epoch === 7)).toBe(true)
    expect(p.status()).toMatchObject({ state: 'live', ackedSeq: 220, lagEvents: 0, lagMs: 0 })
  })

  it('given the stream already holds the start of this log (a restarted primary), it resumes after it and stores nothing twice', async () => {
    const log = newLog()
    for (let i = 0; i < 30; i++) log.append(mark(i + 1))
    const e = engine()
    const first = await publisher(log, e)
    await first.flush(5_000)
    await first.stop()
    for (let i = 0; i < 30; i++) log.append(mark(i + 50))

    const second = await publisher(log, e)
    await second.flush(5_000)
    const stream = await streamRows(e)
    expect(stream.map((s) => s.row.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1))
    expect(stream.map((s) => s.row)).toEqual(rowsOf(log))
  })

  it('given a stream written by another log, a publisher of a shorter log is refused as behind and one of a different log as forked', async () => {
    const e = engine()
    const leader = newLog()
    for (let i = 0; i < 10; i++) leader.append(mark(i + 1))
    await (await publisher(leader, e)).flush(5_000)

    const shorter = newLog()
    for (let i = 0; i < 4; i++) shorter.append(mark(i + 1))
    await expect(startPublisher({ nc: client.nc, log: shorter, engine: e })).rejects.toBeInstanceOf(StreamAhead)

    const other = newLog()
    for (let i = 0; i < 12; i++) other.append(mark(i + 1))
    const refused = startPublisher({ nc: client.nc, log: other, engine: e })
    await expect(refused).rejects.toBeInstanceOf(StreamForked)
    await expect(refused).rejects.toThrow(/differ at seq 10/)
  })

  it('given a second writer appends to the stream, the publisher is fenced: it says why, stops publishing and fails whoever waits', async () => {
    const { e, log, fenced, p } = await publishedOne()

    // another haltd, believing itself leader, appends its own seq 2
    const intruder = newLog()
    intruder.append(mark(1))
    const foreign = { ...rowsOf(log)[0]!, seq: 2, hash: 'f'.repeat(64), prevHash: rowsOf(log)[0]!.hash }
    await jetstream(client.nc).publish(subjectOf(e), encodeRow(foreign), { msgID: msgIdOf(foreign), expect: { lastSequence: 1 } })

    const appended = log.append(mark(2))
    await expect(p.waitFor(appended.seq, 5_000)).rejects.toBeInstanceOf(ReplicationStopped)
    expect(fenced).toHaveLength(1)
    expect(fenced[0]).toMatch(/differ at seq 2: another writer appended there/)
    expect(p.status().state).toBe('fenced')
    log.append(mark(3))
    await new Promise((r) => setTimeout(r, 200))
    expect((await streamRows(e)).map((s) => s.row.hash)).toEqual([rowsOf(log)[0]!.hash, 'f'.repeat(64)])
  })

  it('given a message on the stream that is no haltd row at all, the publisher is fenced at once, naming its seq, not left recovering', async () => {
    const { e, log, fenced, p } = await publishedOne()

    // garbage published on the engine's subject by anyone with access to it
    await jetstream(client.nc).publish(subjectOf(e), new TextEncoder().encode('garbage bytes'))

    const appended = log.append(mark(2))
    await expect(p.waitFor(appended.seq, 5_000)).rejects.toBeInstanceOf(ReplicationStopped)
    expect(fenced).toEqual([expect.stringMatching(/differ at seq 2: another writer appended there: stream message 2 is not a haltd log row/)])
    expect(p.status()).toMatchObject({ state: 'fenced', ackedSeq: 1 })
  })

  it('given the stream deleted under a publisher that had events acknowledged, the publisher is fenced saying so, not left recovering', async () => {
    const { e, log, fenced, p } = await publishedOne()
    // as a server that lost its store: the stream is gone (deletes are refused on the stream itself, not on the server)
    await (await jetstreamManager(client.nc)).streams.delete(streamNameOf(e))
    const appended = log.append(mark(2))
    await expect(p.waitFor(appended.seq, 5_000)).rejects.toBeInstanceOf(ReplicationStopped)
    expect(fenced).toEqual([`the stream ${streamNameOf(e)} no longer exists, and it had acknowledged seq 1 to 1: deleted, or its server lost its store`])
  })

  it('given another writer stored seq 2 unknown to a pipeline that sends seq 2 to 120 unconfirmed, the stream keeps none of them after it (no fork) and the publisher is fenced', async () => {
    const e = engine()
    const log = newLog()
    log.append(mark(1))
    const first = await publisher(log, e)
    await first.flush(5_000)
    await first.stop()
    const foreign = { ...rowsOf(log)[0]!, seq: 2, hash: 'f'.repeat(64), prevHash: rowsOf(log)[0]!.hash }
    await jetstream(client.nc).publish(subjectOf(e), encodeRow(foreign), { msgID: msgIdOf(foreign), expect: { lastSequence: 1 } })
    log.appendBatch(Array.from({ length: 119 }, (_, i) => mark(i + 2)))

    // told the stream ends at 1, it pipelines 2..120: 2 is refused (the stream ends at 2), and 3 expects
    // seq 2 — which the stream has — so only its naming of our own seq 2 keeps it out
    const fenced: string[] = []
    const p = await publisher(log, e, { streamSeq: 1, onFenced: (r) => fenced.push(r) })

    await expect(p.waitFor(120, 5_000)).rejects.toBeInstanceOf(ReplicationStopped)
    expect(fenced).toEqual([expect.stringMatching(/differ at seq 2: another writer appended there/)])
    expect((await streamRows(e)).map((s) => s.row.hash)).toEqual([rowsOf(log)[0]!.hash, 'f'.repeat(64)])
    expect(p.status()).toMatchObject({ state: 'fenced', ackedSeq: 1 })
  })

  it('given a backlog of 2,000 events, about one publish in 64 asks for an answer, and every event is stored once, in order, and confirmed', async () => {
    const e = engine()
    const log = newLog()
    log.appendBatch(Array.from({ length: 2_000 }, (_, i) => mark(i + 1)))
    const watcher = await connect({ servers: nats.url })
    let answers = 0
    watcher.subscribe('_INBOX.>', {
      callback: () => {
        answers++
      },
    })
    await watcher.flush()
    try {
      const p = await publisher(log, e)
      await p.flush(5_000)
      await watcher.flush()
      const answered = answers

      expect(p.status()).toMatchObject({ state: 'live', ackedSeq: 2_000, lagEvents: 0 })
      expect((await streamRows(e)).map((s) => s.row)).toEqual(rowsOf(log))
      // one per 64 publishes plus the last of each page read from the log, and the start's few API replies
      expect(answered).toBeGreaterThanOrEqual(Math.floor(2_000 / 64))
      expect(answered).toBeLessThan(2_000 / 64 + 40)
    } finally {
      await watcher.close()
    }
  })

  it('given an idle publisher, one event appended alone (a sync-mode order) is confirmed at once, not after 63 more', async () => {
    const e = engine()
    const log = newLog()
    const p = await publisher(log, e)
    const event = log.append(submitted())
    const started = performance.now()
    await p.waitFor(event.seq, 1_000)
    expect(performance.now() - started).toBeLessThan(250)
    expect(p.status()).toMatchObject({ state: 'live', ackedSeq: event.seq })
  })

  it('given the NATS server stops and comes back, waits time out meanwhile and then every event arrives once, in order', async () => {
    const e = engine()
    const log = newLog()
    const states: string[] = []
    const p = await publisher(log, e, { onState: (s) => states.push(s) })
    for (let i = 0; i < 20; i++) log.append(mark(i + 1))
    await p.flush(5_000)

    await nats.node.stop()
    const during = log.append(submitted())
    for (let i = 0; i < 50; i++) log.append(mark(i + 100))
    await expect(p.waitFor(during.seq, 300)).rejects.toBeInstanceOf(ReplicationTimeout)
    expect(p.status().lagEvents).toBe(51)
    await nats.node.start()
    await p.flush(10_000)

    expect(states).toContain('recovering')
    expect(p.status()).toMatchObject({ state: 'live', lagEvents: 0 })
    expect((await streamRows(e)).map((s) => s.row)).toEqual(rowsOf(log))
  })

  it('given the NATS server frozen mid-backlog with unanswered publishes in flight, after it thaws publishing resumes from the last seq of the stream: every event stored once, in order', async () => {
    const e = engine()
    const log = newLog()
    log.appendBatch(Array.from({ length: 5_000 }, (_, i) => mark(i + 1)))
    const states: string[] = []
    const p = await publisher(log, e, { onState: (s) => states.push(s) })
    nats.node.pause()
    try {
      // a quarter of the 1 s ack timeout ages the asks out: the publisher recovers, asking a frozen stream
      await new Promise((r) => setTimeout(r, 600))
      expect(p.status().state).toBe('recovering')
    } finally {
      nats.node.resume()
    }
    await p.flush(20_000)

    expect(states).toContain('recovering')
    expect(p.status()).toMatchObject({ state: 'live', ackedSeq: 5_000, lagEvents: 0 })
    expect((await streamRows(e)).map((s) => s.row)).toEqual(rowsOf(log))
  })

  it('given a stream that refuses every further event (it is full), the publisher asks again later and later, never in a loop, and goes on once the stream takes them', async () => {
    const e = engine()
    const jsm = await jetstreamManager(client.nc)
    await jsm.streams.add({ name: streamNameOf(e), subjects: [subjectOf(e)], max_msgs: 3, discard: DiscardPolicy.New, allow_direct: true })
    const log = newLog()
    for (let i = 0; i < 3; i++) log.append(mark(i + 1))
    const p = await publisher(log, e)
    await p.flush(5_000)
    const asked: string[] = []
    const watch = client.nc.subscribe(`$JS.API.STREAM.INFO.${streamNameOf(e)}`, { callback: (_err, m) => void asked.push(m.subject) })
    try {
      log.append(mark(4))
      await new Promise((r) => setTimeout(r, 2_000))
      expect(p.status()).toMatchObject({ state: 'recovering', ackedSeq: 3, lagEvents: 1 })
      expect(p.status().reason).toMatch(/the stream refused seq 4|publish of seq 4 failed/)
      // whoever waits for it is told the stream's own reason, not only that no answer came
      await expect(p.waitFor(4, 200)).rejects.toThrow(/maximum messages exceeded/)
      // at once, then after 50, 100, 250, 500 and 1000 ms: a handful, not thousands
      expect(asked.length).toBeGreaterThan(1)
      expect(asked.length).toBeLessThanOrEqual(8)
    } finally {
      watch.unsubscribe()
    }
    const info = await jsm.streams.info(streamNameOf(e))
    await jsm.streams.update(streamNameOf(e), { ...info.config, max_msgs: -1 })
    await p.flush(5_000)
    expect(p.status()).toMatchObject({ state: 'live', ackedSeq: 4 })
  })

  it('each message carries the epoch header it was published under', async () => {
    const e = engine()
    const log = newLog()
    let epoch = 3
    const p = await publisher(log, e, { epoch: () => epoch })
    log.append(mark(1))
    await p.flush(5_000)
    epoch = 4
    log.append(mark(2))
    await p.flush(5_000)
    const jsm = await jetstreamManager(client.nc)
    const m = await jsm.streams.getMessage(streamNameOf(e), { seq: 2 })
    expect(m?.header.get(EPOCH_HEADER)).toBe('4')
    expect((await streamRows(e)).map((s) => s.epoch)).toEqual([3, 4])
  })
})
