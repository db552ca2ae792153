import { jetstreamManager } from '@nats-io/jetstream'
import { describe, expect, it } from 'vitest'
import { createHaltd, type Haltd, type Standby } from '../../src/daemon/index.js'
import { LeaseHeld } from '../../src/cluster/leadership/lease.js'
import { decodeStored, streamNameOf } from '../../src/cluster/replication/log-stream.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { natsForFile } from '../support/nats-for-file.js'
import { failoverFindings, logRows, readStream } from './support/failover-invariants.js'
import { pairsForFile, quietPorts } from './support/instances.js'
import { natsClientForFile } from './support/nats-client.js'
import { limitBuy } from './support/sim-venue.js'
import { until } from '../support/until.js'

const LEASE_MS = 1_000
const nats = natsForFile()
const client = natsClientForFile(nats)
const pairs = pairsForFile(nats, { leaseMs: LEASE_MS, fenceMarginMs: 250 })
let engineNo = 0

const primary = (engine: string, instance = 'a'): Promise<Haltd> => pairs.primary(pairs.config(engine, instance))
const standby = (engine: string, instance: string): Promise<Standby> => pairs.standby(pairs.config(engine, instance))

async function streamHashes(engine: string): Promise<string[]> {
  const jsm = await jetstreamManager(client.nc)
  const last = (await jsm.streams.info(streamNameOf(engine))).state.last_seq
  const out: string[] = []
  for (let seq = 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(streamNameOf(engine), { seq })
    out.push(m ? decodeStored(m).row.hash : 'missing')
  }
  return out
}

describe('a standby and its leader', { timeout: 30_000 }, () => {
  it('given a leader trading, the standby’s log follows it row for row while it sends nothing', async () => {
    const engine = `tk-${++engineNo}`
    const a = await primary(engine)
    const b = await standby(engine, 'b')
    for (let i = 0; i < 10; i++) expect((await a.orders.submit(limitBuy(40_000 + i))).status).toBe('accepted')
    await until('the standby holds the leader’s log', () => b.status().follower.seq === a.log.committedSeq)
    expect(b.status()).toMatchObject({ role: 'standby', instance: 'b', follower: { state: 'following', unknown: [] } })
    const acquired = [...a.log.read({ types: ['leadership.acquired'] })]
    expect(acquired.map((e) => e.data)).toEqual([{ engine, instance: 'a', epoch: 1, fromSeq: acquired[0]!.seq, reason: 'startup' }])
  })

  it('given a second primary while the first leads, it is refused before it writes anything, naming the leader', async () => {
    const engine = `tk-${++engineNo}`
    await primary(engine)
    const refused = createHaltd(pairs.config(engine, 'c'), quietPorts())
    await expect(refused).rejects.toBeInstanceOf(LeaseHeld)
    await expect(refused).rejects.toThrow(/led by instance 'a' \(epoch 1\)/)
  })

  it('given the leader stops renewing, the standby takes over after the lease with the next epoch, comes up HALTED, and the stream holds one chain', async () => {
    const engine = `tk-${++engineNo}`
    const a = await primary(engine)
    const b = await standby(engine, 'b')
    for (let i = 0; i < 5; i++) await a.orders.submit(limitBuy(40_000 + i))
    const stoppedAt = performance.now()
    await a.close()
    const leader = await b.promoted
    pairs.closeAfter(leader)
    const tookMs = performance.now() - stoppedAt
    // the lease runs from its last renewal, which may have been up to a quarter lease before the close
    expect(tookMs).toBeGreaterThan(LEASE_MS * 0.75 - 100)

    const acquired = [...leader.log.read({ types: ['leadership.acquired'] })].map((e) => e.data)
    expect(acquired.at(-1)).toMatchObject({ instance: 'b', epoch: 2, reason: 'failover', previous: 'a' })
    expect(leader.state().trading.killSwitch.latched).toBe(true)
    expect((await leader.orders.submit(limitBuy(41_000))).status).toBe('refused')
    await until('the stream holds the new leader’s log', () => leader.status().replication?.lagEvents === 0)
    expect(await streamHashes(engine)).toEqual([...leader.log.readRaw()].map((r) => r.hash))
    expect(leader.log.verify()).toMatchObject({ ok: true })
  })

  it('given two standbys racing for an expired lease, exactly one leads and the other stays a standby, told who leads', async () => {
    const engine = `tk-${++engineNo}`
    const a = await primary(engine)
    const b = await standby(engine, 'b')
    const c = await standby(engine, 'c')
    const sent = await a.orders.submit(limitBuy(40_000))
    await a.close()
    const winner = await Promise.race([b.promoted, c.promoted])
    pairs.closeAfter(winner)
    const [won, lost] = b.status().role === 'leader' ? [b, c] : [c, b]
    await until('the other saw the lease taken', () => lost.status().leader?.instance === won.instance)
    expect(won.status().role).toBe('leader')
    expect(lost.status()).toMatchObject({ role: 'standby', leader: { instance: won.instance, epoch: 2 }, follower: { state: 'following' } })
    await until('the other follows the new leader', () => lost.status().follower.seq === winner.log.committedSeq)
    // the loser sent nothing and took nothing: one chain, the primary's order in it, every order from a leader
    expect([...winner.log.read({ types: ['leadership.acquired'] })].map((e) => (e.data as { instance: string }).instance)).toEqual(['a', won.instance])
    const found = failoverFindings({
      stream: await readStream(client.nc, engine),
      logs: { a: logRows(a.config.db.path), [won.instance]: [...winner.log.readRaw()], [lost.instance]: [...lost.log.readRaw()] },
      venueOrders: [sent.clientOrderId ?? ''],
    })
    expect(found).toEqual({ lost: [], forks: [], nonLeaderOrders: [], tails: {} })
  })
})

describe('a planned handover', { timeout: 30_000 }, () => {
  it('given a standby following, the leader hands over: every step logged with its budget, the standby leads with the next epoch and trades at once', async () => {
    const engine = `tk-${++engineNo}`
    const a = await primary(engine)
    const b = await standby(engine, 'b')
    for (let i = 0; i < 5; i++) await a.orders.submit(limitBuy(40_000 + i))
    const outcome = await a.handover({ to: 'b', reason: 'rolling restart' })
    expect(outcome).toMatchObject({ outcome: 'handed-over' })
    const leader = await b.promoted
    pairs.closeAfter(leader)
    await until('the new leader recorded the handover', () => [...leader.log.read({ types: ['handover.completed'] })].length === 1)

    const steps = [...leader.log.read({ stream: `handover:${outcome.handoverId}` })].map((e) =>
      e.type === 'handover.step' ? `${(e.data as { step: string }).step}:${(e.data as { phase: string }).phase}` : e.type,
    )
    expect(steps).toEqual([
      'handover.requested',
      'close-gate:started',
      'close-gate:completed',
      'settle-in-flight:started',
      'settle-in-flight:completed',
      'flush-replication:started',
      'flush-replication:completed',
      'release-lease:started',
      'release-lease:completed',
      'confirm-last-seq:completed',
      'take-lease:completed',
      'adopt-orders:completed',
      'open-gate:completed',
      'handover.completed',
    ])
    expect([...leader.log.read({ types: ['leadership.acquired'] })].at(-1)?.data).toMatchObject({ instance: 'b', epoch: 2, reason: 'handover', previous: 'a' })
    expect([...leader.log.read({ types: ['run.crashed'] })]).toEqual([])
    expect(leader.state().trading.killSwitch.latched).toBe(false)
    expect((await leader.orders.submit(limitBuy(41_000))).status).toBe('accepted')
    expect(await a.exited).toBe(0)
    // the old primary wrote nothing after it offered the lease: its log is a prefix of the stream, so it can follow as a standby
    const old = openEventLog({ path: a.config.db.path, readonly: true })
    const oldRows = [...old.readRaw()]
    old.close()
    expect(oldRows).toEqual([...leader.log.readRaw(1, oldRows.length)])
  })

  it('given a standby that never takes the lease, the handover rolls back within its budget and the primary trades again', async () => {
    const engine = `tk-${++engineNo}`
    const a = await primary(engine)
    const outcome = await a.handover({ to: 'nobody', reason: 'try' })
    expect(outcome).toMatchObject({ outcome: 'rolled-back', reason: expect.stringMatching(/'nobody' did not take the lease/) })
    expect([...a.log.read({ types: ['handover.completed'] })].at(-1)?.data).toMatchObject({ outcome: 'rolled-back' })
    expect(await a.orders.submit(limitBuy(40_000))).toMatchObject({ status: 'accepted' })
  })
})
