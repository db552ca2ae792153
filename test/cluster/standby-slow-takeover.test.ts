import { describe, expect, it } from 'vitest'
import { openLeaseBucket, readLease } from '../../src/cluster/leadership/lease.js'
import { until } from '../support/until.js'
import { quietPorts } from './support/instances.js'
import { proxiedStandbysForFile } from './support/proxied-standby.js'
import { watchLeaseWrites } from './support/lease-writes.js'

/**
 * A standby is the engine's leader from its take of the lease on; its catch-up with the stream and
 * the start of its leading haltd may last longer than the lease. The lease is renewed all along,
 * as a leader's keeper renews it, and the leading haltd's keeper renews on from there: it never
 * expires, and no other standby takes it; one that finds the lease taken meanwhile does not lead,
 * and follows again. The catch-up, the stream's answer included, takes no
 * longer than the handover budget.
 */

const LEASE_MS = 1_500
// each of the standby's questions how far the stream goes is answered this late (its other
// requests, its lease's among them, in time): its catch-up after the take outlasts the lease
const HOLD_MS = 2_500
const failover = { leaseMs: LEASE_MS, fenceMarginMs: 375 }
const { client, pairs, standbyBehindAProxy } = proxiedStandbysForFile(failover)

describe('a standby whose takeover outlasts its lease', { timeout: 40_000 }, () => {
  it('given the leader gone and the stream answering the standby’s catch-up late, when it takes over, then its lease is renewed through the catch-up and by its leading haltd, never expires, and a second standby never takes it', async () => {
    const engine = `slow-take-${Date.now()}`
    const { proxy, a, b } = await standbyBehindAProxy(engine)
    const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
    const writes = await watchLeaseWrites(client.nc, engine, LEASE_MS)

    // given the leader gone, and the stream's answers to how far it goes held back from the standby
    proxy.hold('stream_info_response', HOLD_MS)
    await a.close()
    const took = await until('the standby’s take in the bucket', () => writes.find((w) => w.instance === 'b'), LEASE_MS * 8)
    // and a second standby, on a link of its own, watching for the lease to expire
    const c = await pairs.standby(pairs.config(engine, 'c'), quietPorts())

    // when the standby leads, its catch-up having lasted longer than the lease
    const leader = pairs.closeAfter(await b.promoted)
    const ledAt = Date.now()
    proxy.hold(undefined)
    expect(ledAt - took.seenAt).toBeGreaterThan(LEASE_MS)
    // and its leading haltd has led for two leases more
    await new Promise((r) => setTimeout(r, LEASE_MS * 2))

    // then every write since the take is the standby's own at its epoch, each within the lease of the last
    const since = writes.slice(writes.indexOf(took))
    expect(since.every((w) => w.operation === 'PUT' && w.instance === 'b' && w.epoch === took.epoch)).toBe(true)
    const gaps = since.slice(1).map((w, i) => w.seenAt - since[i]!.seenAt)
    expect(Math.max(...gaps)).toBeLessThan(LEASE_MS)
    // renewed through the catch-up, before its leading haltd was up, and by that haltd after
    expect(since.filter((w) => w.seenAt > took.seenAt && w.seenAt < ledAt).length).toBeGreaterThanOrEqual(2)
    expect(since.filter((w) => w.seenAt > ledAt).length).toBeGreaterThanOrEqual(2)
    expect(await readLease(kv, engine)).toMatchObject({ value: { instance: 'b', epoch: took.epoch } })
    expect([...leader.log.read({ types: ['leadership.lost'] })]).toEqual([])
    expect(c.status()).toMatchObject({ role: 'standby', leader: { instance: 'b', epoch: took.epoch } })
  })

  it('given a standby catching up after its take, when another instance takes the lease meanwhile, then its renewal finds it so: it does not lead, gives nothing back, follows again saying why, and takes the lease anew once it is free', async () => {
    const engine = `slow-take-${Date.now()}`
    const { proxy, a, b, said } = await standbyBehindAProxy(engine)
    const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })

    proxy.hold('stream_info_response', HOLD_MS)
    await a.close()
    const took = await until('the standby’s take in the bucket', () => readLease(kv, engine).then((l) => l?.value.instance === 'b' && l), LEASE_MS * 8)
    // another instance takes the lease at the revision the standby took, before its first renewal
    const epoch = took.value.epoch + 1
    await kv.update(engine, JSON.stringify({ instance: 'x', epoch, renewedAt: new Date().toISOString() }), took.revision)

    const refused = await until('the standby refused to lead', () => said().find((l) => l.msg === 'standby: not taking over'), LEASE_MS * 4)
    expect(refused.reason).toBe(
      `it took the lease but lost it before it could lead: the leadership of engine '${engine}' is lost: instance 'x' holds it now (epoch ${epoch})`,
    )
    expect(b.status().role).toBe('standby')
    expect(said().map((l) => l.msg)).not.toContain('standby: gave the lease back: another instance may take over at once')
    expect(await readLease(kv, engine)).toMatchObject({ value: { instance: 'x', epoch } })

    proxy.hold(undefined)
    const leader = pairs.closeAfter(await b.promoted)
    const acquired = [...leader.log.read({ types: ['leadership.acquired'] })].map((e) => e.data as { instance: string; reason: string })
    expect(acquired.map((d) => `${d.instance}:${d.reason}`)).toEqual(['a:startup', 'b:failover'])
  })

  it('given the stream answering how far it goes later than the handover budget, when the lease is gone, then the standby does not take it and says the stream did not answer within the budget; once the stream answers in time, it takes over', async () => {
    const engine = `slow-take-${Date.now()}`
    const budget = { ...failover, handoverBudgetMs: 1_000 }
    const { proxy, a, b } = await standbyBehindAProxy(engine, budget)

    // given answers held longer than the budget, and shorter than the client's own 5 s request timeout
    proxy.hold('stream_info_response', 4_000)
    await a.close()
    const refused = await until('the standby refused to take over', () => b.status().refused, LEASE_MS * 8)
    expect(refused).toMatch(/the stream did not say how far it goes within 1000 ms/)
    expect(b.status().role).toBe('standby')

    proxy.hold(undefined)
    const leader = pairs.closeAfter(await b.promoted)
    const acquired = [...leader.log.read({ types: ['leadership.acquired'] })].map((e) => e.data as { instance: string; reason: string })
    expect(acquired.map((d) => `${d.instance}:${d.reason}`)).toEqual(['a:startup', 'b:failover'])
  })
})
