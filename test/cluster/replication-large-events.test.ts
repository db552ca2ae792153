import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect, headers } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import type { EventInput } from '../../src/events/index.js'
import { startFollower } from '../../src/cluster/replication/follower.js'
import {
  bodyHeaderLines,
  bodyStreamNameOf,
  bodySubjectOf,
  bodySubjectsOf,
  chunkMsgIdOf,
  isChunked,
  readEntry,
  streamNameOf,
  subjectOf,
} from '../../src/cluster/replication/log-stream.js'
import { startPublisher, type ReplicationPublisher } from '../../src/cluster/replication/publisher.js'
import { afterEachTest } from '../support/after-each-test.js'
import { startNatsCluster } from '../support/nats-server.js'
import { natsForFile } from '../support/nats-for-file.js'
import { mark } from '../support/events.js'
import { dist, repoRoot } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'
import { quietPorts, replicatingPrimaryConfig } from './support/instances.js'
import { natsClientForFile } from './support/nats-client.js'
import { newLog, replicationOver } from './support/replication.js'
import { limitBuy, SYMBOL } from './support/sim-venue.js'

/** The server takes messages of at most 64 KiB: an observation of a few thousand open orders is many times that. */
const MAX_PAYLOAD = 65_536

const nats = natsForFile({ maxPayload: MAX_PAYLOAD })
const client = natsClientForFile(nats)
const { publish, follow } = replicationOver(client)
let engineNo = 0

const engine = () => `big-${++engineNo}`

/** A desk's open orders on a venue, as the venue recorder observes them: `count` orders, about 130 bytes each. */
function openOrders(count: number): EventInput {
  return {
    type: 'venue.open-orders-observed',
    data: {
      venue: 'sim-a',
      orders: Array.from({ length: count }, (_, i) => ({
        symbol: SYMBOL,
        venueOrderId: `v-${1_000_000 + i}`,
        clientOrderId: `c-${1_000_000 + i}`,
        side: i % 2 ? 'buy' : 'sell',
        qty: 0.001 * (1 + (i % 7)),
        price: 40_000 + i / 2,
      })),
    },
  }
}

async function startPrimary(e: string, mode: 'sync' | 'async', dir: string): Promise<Haltd> {
  const h = await createHaltd(replicatingPrimaryConfig(nats.url, e, { mode, ackTimeoutMs: 2_000 }, join(dir, 'primary.db')), quietPorts())
  afterEachTest(() => h.close().catch(() => undefined))
  return h
}

/** Every row of the engine's stream, chunked bodies put together, and how many of them came in chunks. */
async function streamHashes(e: string): Promise<{ hashes: string[]; chunked: number }> {
  const jsm = await jetstreamManager(client.nc)
  const last = (await jsm.streams.info(streamNameOf(e))).state.last_seq
  const hashes: string[] = []
  let chunked = 0
  for (let seq = 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(streamNameOf(e), { seq })
    if (!m) throw new Error(`the stream has no message at ${seq}`)
    if (isChunked(m.header)) chunked++
    hashes.push((await readEntry(jsm, e, seq, m.data, m.header)).row.hash)
  }
  return { hashes, chunked }
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const haltd = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 20_000 })

describe('replicating events larger than the server’s max payload', { timeout: 60_000 }, () => {
  for (const mode of ['sync', 'async'] as const) {
    it(`given a primary in ${mode} mode that records an open-orders observation of 5,000 orders (many times the max payload), the stream holds it at its seq, a standby stores it with the same hash and chain, and restore --from-stream rebuilds the same log`, async () => {
      const e = engine()
      const dir = tempDir()
      const h = await startPrimary(e, mode, dir)
      const big = h.log.append(openOrders(5_000))
      const bigRow = [...h.log.readRaw(big.seq, big.seq)][0]!
      expect(Buffer.byteLength(bigRow.data)).toBeGreaterThan(5 * MAX_PAYLOAD)
      // an order after it: in sync mode it leaves only once the stream holds its order.submitted, so the big event before it too
      expect((await h.orders.submit(limitBuy(40_000))).status).toBe('accepted')
      h.log.append(mark(101))
      await until('the stream holds the whole log', async () => (await streamHashes(e)).hashes.length === h.log.committedSeq)

      const stream = await streamHashes(e)
      expect(stream.hashes).toEqual([...h.log.readRaw()].map((r) => r.hash))
      expect(stream.chunked).toBe(1)
      expect(h.status().replication).toMatchObject({ mode, state: 'live', lagEvents: 0 })

      const standby = newLog()
      const f = await follow(standby, e)
      await f.catchUp(10_000)
      expect([...standby.readReplicable()]).toEqual([...h.log.readReplicable()])
      expect(standby.verify()).toMatchObject({ ok: true, lastSeq: h.log.committedSeq })
      expect(f.status().state).toBe('following')

      const config = join(dir, 'haltd.json')
      writeFileSync(config, JSON.stringify({ db: { path: join(dir, 'unused.db') }, nats: { servers: [nats.url], engine: e } }))
      const to = join(dir, 'restored.db')
      const restored = haltd('restore', '--from-stream', '--config', config, '--to', to)
      expect(restored.stderr).toBe('')
      expect(restored.status).toBe(0)
      const log = openEventLog({ path: to, readonly: true })
      afterEachTest(() => log.close())
      expect([...log.readRaw()].map((r) => r.hash)).toEqual([...h.log.readRaw()].map((r) => r.hash))
      expect(log.verify()).toMatchObject({ ok: true, lastSeq: h.log.committedSeq })
    })
  }

  it('given chunks of a big event left in the body stream without its log message (a crash between, cut at another size) and another writer’s chunks at the same seq, a publisher started again stores it whole: the readers get its own bytes', async () => {
    const e = engine()
    const log = newLog()
    log.append(mark(100))
    const first = await startPublisher({ nc: client.nc, log, engine: e, ackTimeoutMs: 2_000 })
    await first.flush(5_000)
    await first.stop()
    const big = log.append(openOrders(2_000))
    const [, hash, payload] = log.replicableMessages(big.seq, 1)[0]!
    const js = jetstream(client.nc)
    await js.publish(bodySubjectOf(e, big.seq, hash, 0), payload.subarray(0, 10_000), { msgID: chunkMsgIdOf(big.seq, hash, 10_000, 0) })
    await js.publish(bodySubjectOf(e, big.seq, 'f'.repeat(64), 0), new TextEncoder().encode('another writer'))

    const again = await publish(log, e, { ackTimeoutMs: 2_000 })
    log.append(mark(101))
    await again.flush(10_000)
    const stream = await streamHashes(e)
    expect(stream.hashes).toEqual([...log.readRaw()].map((r) => r.hash))
    expect(stream.chunked).toBe(1)
    expect(again.status()).toMatchObject({ state: 'live', lagEvents: 0 })
    const standby = newLog()
    await (await follow(standby, e)).catchUp(10_000)
    expect([...standby.readReplicable()]).toEqual([...log.readReplicable()])
  })

  it('given a log message that names chunks the body stream does not hold, a standby stops at it, names the seq and the missing chunk, and stores nothing of it', async () => {
    const e = engine()
    const leader = newLog()
    leader.append(mark(100))
    const p = await startPublisher({ nc: client.nc, log: leader, engine: e })
    await p.flush(5_000)
    await p.stop()
    const big = leader.append(openOrders(1_000))
    const [, hash, payload] = leader.replicableMessages(big.seq, 1)[0]!
    const h = headers()
    h.set('Nats-Msg-Id', `${big.seq}:${hash}`)
    for (const line of bodyHeaderLines(3, payload.length, hash).split('\r\n')) {
      const [name, value] = line.split(': ') as [string, string]
      h.set(name, value)
    }
    await jetstream(client.nc).publish(subjectOf(e), new Uint8Array(0), { headers: h, expect: { lastSequence: big.seq - 1 } })

    const standby = newLog()
    const broken: string[] = []
    const f = await follow(standby, e, { onBroken: (r) => broken.push(r) })
    await until('the standby stops', () => f.status().state === 'broken')
    expect(f.status().reason).toMatch(
      new RegExp(`stream message ${big.seq} is not a haltd log row: chunk 1 of 3 of its body is not in stream ${bodyStreamNameOf(e)}`),
    )
    expect(broken).toHaveLength(1)
    expect(standby.lastSeq).toBe(big.seq - 1)
  })

  it('given a cluster of three and a stream of three replicas, an event the log takes by default but over the default 1 MiB max payload is replicated with its chunks on three replicas too, and a standby stores it', async () => {
    const cluster = await startNatsCluster(3)
    const cnc = await connect({ servers: cluster.urls })
    afterEachTest(() => cnc.close())
    const e = engine()
    // under the log's default cap of 1 MiB of data, yet over 1 MiB as a message: the data travels as an escaped JSON string
    const log = newLog()
    log.append(mark(100))
    const big = log.append(openOrders(7_700))
    expect(log.replicableMessages(big.seq, 1)[0]![2].length).toBeGreaterThan(cnc.info!.max_payload)
    log.append(mark(101))
    const p = await startPublisher({ nc: cnc, log, engine: e, replicas: 3, ackTimeoutMs: 10_000 })
    afterEachTest(() => p.stop(500))
    await p.flush(20_000)
    expect(p.status()).toMatchObject({ state: 'live', ackedSeq: 3 })

    const jsm = await jetstreamManager(cnc)
    const bodies = await jsm.streams.info(bodyStreamNameOf(e))
    expect(bodies.config).toMatchObject({ num_replicas: 3, deny_delete: true, deny_purge: true })
    expect(bodies.state.messages).toBe(2)
    const standby = newLog()
    const f = await startFollower({ nc: cnc, log: standby, engine: e, timeoutMs: 10_000 })
    afterEachTest(() => f.stop())
    await f.catchUp(20_000)
    expect([...standby.readReplicable()]).toEqual([...log.readReplicable()])
  })

  it('given a primary whose big event cannot be replicated even in chunks, /status, /health and /metrics say so, naming the seq', async () => {
    const e = engine()
    const jsm = await jetstreamManager(client.nc)
    await jsm.streams.add({ name: bodyStreamNameOf(e), subjects: [bodySubjectsOf(e)], max_msg_size: 1_500, max_msgs_per_subject: 1 })
    const h = await startPrimary(e, 'async', tempDir())
    const big = h.log.append(openOrders(1_000))
    await until('replication is blocked', () => h.status().replication?.state === 'blocked')
    const get = async (path: string) => fetch(`${h.admin!.url}${path}`, { headers: { authorization: `Bearer ${h.admin!.token}` } })

    const health = await get('/health')
    expect(health.status).toBe(503)
    expect(((await health.json()) as { replication: unknown }).replication).toMatchObject({
      ok: false,
      state: 'blocked',
      problem: expect.stringContaining(`the event at seq ${big.seq} (`),
    })
    expect(h.status().replication?.reason).toMatch(/cannot be replicated: the stream takes messages of at most 1500 bytes/)
    expect(await (await get('/metrics')).text()).toMatch(/^haltd_replication_state\{state="blocked"\} 1$/m)
  })

  it('given a body stream whose messages are too small to carry a chunk, the event is named as unreplicable (seq, size, limit), publishing waits at it without spinning, and goes on once the limit is raised', async () => {
    const e = engine()
    const jsm = await jetstreamManager(client.nc)
    await jsm.streams.add({ name: bodyStreamNameOf(e), subjects: [bodySubjectsOf(e)], max_msg_size: 1_500, max_msgs_per_subject: 1 })
    const log = newLog()
    log.append(mark(100))
    const p: ReplicationPublisher = await publish(log, e, { ackTimeoutMs: 2_000 })
    await p.flush(5_000)
    const asked: string[] = []
    const watch = client.nc.subscribe(`$JS.API.STREAM.INFO.${bodyStreamNameOf(e)}`, { callback: (_err, m) => void asked.push(m.subject) })
    afterEachTest(() => watch.unsubscribe())
    const big = log.append(openOrders(1_000))
    const size = [...log.readRaw(big.seq, big.seq)][0]!.data.length

    await until('the publisher is blocked', () => p.status().state === 'blocked')
    expect(p.status().reason).toMatch(new RegExp(`seq ${big.seq} \\(\\d+ bytes\\) cannot be replicated: the stream takes messages of at most 1500 bytes`))
    expect(Number(/\((\d+) bytes\)/.exec(p.status().reason!)![1])).toBeGreaterThan(size)
    await expect(p.waitFor(big.seq, 300)).rejects.toThrow(/cannot be replicated/)
    await new Promise((r) => setTimeout(r, 2_500))
    expect(p.status()).toMatchObject({ state: 'blocked', ackedSeq: 1, lagEvents: 1 })
    expect(asked.length).toBeLessThanOrEqual(4)

    const info = await jsm.streams.info(bodyStreamNameOf(e))
    await jsm.streams.update(bodyStreamNameOf(e), { ...info.config, max_msg_size: -1 })
    await p.waitFor(big.seq, 10_000)
    expect(p.status()).toMatchObject({ state: 'live', ackedSeq: big.seq })
    expect((await streamHashes(e)).hashes).toEqual([...log.readRaw()].map((r) => r.hash))
  })
})
