import { jetstreamManager } from '@nats-io/jetstream'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { InvalidConfig } from '../../src/daemon/config.js'
import { REPLICATION_RECOVERY_GRACE_MS, replicationHealth } from '../../src/daemon/admin-backend.js'
import type { ReplicationStatus } from '../../src/cluster/replication/publisher.js'
import { decodeStored, streamNameOf } from '../../src/cluster/replication/log-stream.js'
import type { OrderRequest } from '../../src/exchanges/gateway.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { until } from '../support/until.js'
import { quietPorts, replicatingPrimaryConfig, type ReplicationSection } from './support/instances.js'
import { natsClientForFile } from './support/nats-client.js'
import { limitBuy, simVenue } from './support/sim-venue.js'

const nats = natsForFile()
const client = natsClientForFile(nats, { maxReconnectAttempts: -1, reconnectTimeWait: 100 })
let engineNo = 0
const open: Haltd[] = []

afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => undefined)
})

async function start(engine: string, replication: ReplicationSection, venue = simVenue()): Promise<Haltd> {
  const h = await createHaltd(replicatingPrimaryConfig(nats.url, engine, replication, join(tempDir(), 'primary.db')), quietPorts(venue))
  open.push(h)
  return h
}

async function streamLastSeq(engine: string): Promise<number> {
  const jsm = await jetstreamManager(client.nc)
  return (await jsm.streams.info(streamNameOf(engine))).state.last_seq
}

async function streamHashes(engine: string): Promise<string[]> {
  const jsm = await jetstreamManager(client.nc)
  const out: string[] = []
  for (let seq = 1; seq <= (await streamLastSeq(engine)); seq++) {
    const m = await jsm.streams.getMessage(streamNameOf(engine), { seq })
    out.push(m ? decodeStored(m).row.hash : 'missing')
  }
  return out
}

describe('a primary with replication', { timeout: 30_000 }, () => {
  it('given no nats section, a replication section is refused naming what it needs', async () => {
    await expect(createHaltd({ db: { path: join(tempDir(), 'x.db') }, replication: { mode: 'sync' } }, { env: {} })).rejects.toBeInstanceOf(InvalidConfig)
  })

  it('in sync mode, an order reaches the venue only after the stream holds its order.submitted', async () => {
    const engine = `d-${++engineNo}`
    const venue = simVenue()
    const seenAtVenue: { clientOrderId: string; streamLast: number }[] = []
    const submit = venue.submit.bind(venue)
    venue.submit = async (request: OrderRequest) => {
      seenAtVenue.push({ clientOrderId: request.clientOrderId, streamLast: await streamLastSeq(engine) })
      return submit(request)
    }
    const h = await start(engine, { mode: 'sync' }, venue)
    for (let i = 0; i < 5; i++) expect((await h.orders.submit(limitBuy(40_000 + i))).status).toBe('accepted')

    const submittedSeqs = new Map(
      [...h.log.read({ types: ['order.submitted'] })].map((e) => [String((e.data as { clientOrderId: string }).clientOrderId), e.seq]),
    )
    expect(seenAtVenue).toHaveLength(5)
    for (const seen of seenAtVenue) expect(seen.streamLast).toBeGreaterThanOrEqual(submittedSeqs.get(seen.clientOrderId)!)
    expect(h.status().replication).toMatchObject({ mode: 'sync', state: 'live' })
  })

  it('in sync mode, a stream that cannot be reached closes the gate: the order is not sent, recorded NOT_SENT, and haltd goes HALTED', async () => {
    const engine = `d-${++engineNo}`
    const venue = simVenue()
    const sent: string[] = []
    const submit = venue.submit.bind(venue)
    venue.submit = async (request: OrderRequest) => {
      sent.push(request.clientOrderId)
      return submit(request)
    }
    const h = await start(engine, { mode: 'sync', ackTimeoutMs: 300 }, venue)
    expect((await h.orders.submit(limitBuy(40_000))).status).toBe('accepted')
    await nats.node.stop()
    try {
      const outcome = await h.orders.submit(limitBuy(40_001))
      expect(outcome).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/^not sent: the stream did not acknowledge event \d+ within 300 ms/) })
      expect(sent).toHaveLength(1)
      expect(h.gate.halted).toBe(true)
      const rejected = [...h.log.read({ types: ['order.rejected'] })].at(-1)
      expect(rejected?.data).toMatchObject({ code: 'NOT_SENT' })
      await new Promise((r) => setTimeout(r, 20))
      expect(h.status().state).toBe('halted')
      expect((await h.orders.submit(limitBuy(40_002))).status).toBe('refused')
    } finally {
      await nats.node.start()
    }
    // once the stream answers again the gate stays closed, and /health says so rather than ok
    const health = async () => {
      const answer = await fetch(`${h.admin!.url}/health`, { headers: { authorization: `Bearer ${h.admin!.token}` } })
      return { status: answer.status, body: (await answer.json()) as { ok: boolean; replication?: { state: string; problem?: string } } }
    }
    const seen = await until(
      'replication live again',
      async () => {
        const now = await health()
        return now.body.replication?.state === 'live' && now
      },
      15_000,
      100,
    )
    expect(h.gate.halted).toBe(true)
    expect(seen.status).toBe(503)
    expect(seen.body).toMatchObject({
      ok: false,
      replication: { problem: expect.stringMatching(/^trading is halted until haltd restarts: the replicated log did not take the order at seq \d+/) },
    })
  })

  it('in async mode, the stream holds the log and /metrics reports the lag, 0 once caught up', async () => {
    const engine = `d-${++engineNo}`
    const h = await start(engine, { mode: 'async' })
    for (let i = 0; i < 20; i++) await h.orders.submit(limitBuy(40_000 + i))
    const deadline = Date.now() + 5_000
    while ((await streamLastSeq(engine)) < h.log.committedSeq && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(await streamHashes(engine)).toEqual([...h.log.readRaw()].map((r) => r.hash))
    const metrics = await (await fetch(`${h.admin!.url}/metrics`, { headers: { authorization: `Bearer ${h.admin!.token}` } })).text()
    expect(metrics).toMatch(/^haltd_replication_lag_events\{mode="async"\} 0$/m)
    expect(metrics).toMatch(/^haltd_replication_state\{state="live"\} 1$/m)
    expect(metrics).toMatch(new RegExp(`^haltd_replication_acked_seq ${h.log.committedSeq}$`, 'm'))
  })

  it('in async mode, orders are refused while the stream lags more than its bound, and pass again once it caught up', async () => {
    const engine = `d-${++engineNo}`
    const h = await start(engine, { mode: 'async', maxLagEvents: 5, ackTimeoutMs: 300 })
    await nats.node.stop()
    try {
      for (let i = 0; i < 4; i++) await h.orders.submit(limitBuy(40_000 + i))
      const refused = await h.orders.submit(limitBuy(40_010))
      expect(refused).toMatchObject({ status: 'refused', reason: expect.stringMatching(/^replication is \d+ events behind \(the bound is 5\)$/) })
      expect(h.status().gate.fenced).toMatch(/replication is/)
    } finally {
      await nats.node.start()
    }
    const deadline = Date.now() + 10_000
    while (h.status().replication!.lagEvents > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect((await h.orders.submit(limitBuy(40_020))).status).toBe('accepted')
  })

  it('a second primary on a log the stream does not hold is refused at start, naming the stream ahead of it', async () => {
    const engine = `d-${++engineNo}`
    const first = await start(engine, { mode: 'async' })
    await first.orders.submit(limitBuy(40_000))
    await first.close()
    await expect(start(engine, { mode: 'async' })).rejects.toThrow(/the stream of engine 'd-\d+' holds \d+ events and this log only \d+/)
  })
})

describe('replication in /health', () => {
  const status = (over: Partial<ReplicationStatus & { halted: string }>): ReplicationStatus & { mode: string; halted?: string } => ({
    state: 'live',
    ackedSeq: 10,
    lagEvents: 0,
    lagMs: 0,
    stateForMs: 0,
    mode: 'sync',
    ...over,
  })

  it('is ok while live, and while it recovers for no longer than a server takes to come back', () => {
    expect(replicationHealth(status({})).replication).toMatchObject({ ok: true, state: 'live' })
    expect(replicationHealth(status({ state: 'recovering', reason: 'publish of seq 11 failed', stateForMs: 3_000 })).replication).toMatchObject({
      ok: true,
      problem: 'publish of seq 11 failed',
    })
  })

  it('is not ok once it has recovered for longer than that, saying for how long and why, nor when fenced or blocked', () => {
    const long = replicationHealth(
      status({ state: 'recovering', reason: 'the stream cannot be reached: timeout', stateForMs: REPLICATION_RECOVERY_GRACE_MS + 5_000 }),
    )
    expect(long.replication).toMatchObject({ ok: false, problem: 'recovering for 15 s: the stream cannot be reached: timeout' })
    expect(replicationHealth(status({ state: 'fenced', reason: 'another writer' })).replication).toMatchObject({ ok: false, problem: 'another writer' })
    expect(replicationHealth(status({ state: 'blocked', reason: 'too large' })).replication).toMatchObject({ ok: false })
  })

  it('is not ok, though live, once replication has closed the gate: that gate stays closed until a restart', () => {
    expect(replicationHealth(status({ halted: 'the replicated log did not take the order at seq 9: timeout' })).replication).toMatchObject({
      ok: false,
      state: 'live',
      problem: 'trading is halted until haltd restarts: the replicated log did not take the order at seq 9: timeout',
    })
  })
})
