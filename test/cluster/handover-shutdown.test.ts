import { describe, expect, it } from 'vitest'
import { openLeaseBucket, readLease } from '../../src/cluster/leadership/lease.js'
import { openOrders } from '../../src/projections/selectors.js'
import type { Haltd, Standby } from '../../src/daemon/index.js'
import { natsForFile } from '../support/nats-for-file.js'
import { until } from '../support/until.js'
import { logRows } from './support/failover-invariants.js'
import { pairsForFile, quietPorts } from './support/instances.js'
import { natsClientForFile } from './support/nats-client.js'
import { limitBuy, simVenue } from './support/sim-venue.js'

/**
 * A stop asked for while the leader hands its engine over: the stop waits for the handover's
 * outcome (an emergency aborts it first) and runs as leader after a roll-back; once the standby
 * took the lease, the old leader runs nothing, sends nothing, records nothing and says who leads.
 */

const LEASE_MS = 2_000
const TOKEN = 'handover-shutdown-token-0123456789'
const nats = natsForFile()
const client = natsClientForFile(nats)
const pairs = pairsForFile(nats, { leaseMs: LEASE_MS, fenceMarginMs: 250 }, { adminToken: TOKEN })
let engineNo = 0

/** What each venue was asked to do, by method, with the time it was asked. */
type VenueCall = { method: string; at: number }
const ORDER_METHODS = ['submit', 'cancel', 'cancelAll', 'armDeadMansSwitch'] as const
/** A venue that records what it is asked, and answers after `lag.ms` (to hold a handover in its settle step). */
function sim(calls?: VenueCall[], lag = { ms: 0 }) {
  const venue = simVenue()
  if (calls) {
    for (const method of ORDER_METHODS) {
      const original = (venue[method] as (...a: unknown[]) => unknown).bind(venue)
      ;(venue as unknown as Record<string, unknown>)[method] = async (...a: unknown[]) => {
        calls.push({ method, at: performance.now() })
        if (lag.ms > 0) await new Promise((r) => setTimeout(r, lag.ms))
        return original(...a)
      }
    }
  }
  return venue
}

async function primary(engine: string, calls?: VenueCall[], admin = false, lag?: { ms: number }): Promise<Haltd> {
  return pairs.primary(pairs.config(engine, 'a', { admin }), quietPorts(sim(calls, lag)))
}
async function standby(engine: string): Promise<Standby> {
  return pairs.standby(pairs.config(engine, 'b'))
}
async function post(h: Haltd, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${h.admin!.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.admin!.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}
const typesIn = (h: Haltd) => [...h.log.read({})].map((e) => e.type)

describe('a stop asked for during a planned handover', { timeout: 30_000 }, () => {
  it('given resting orders and a standby following, when an emergency is asked mid-handover, then the handover rolls back, the emergency cancels every order as leader well inside 30 s, and the standby still follows', async () => {
    const engine = `hs-${++engineNo}`
    const a = await primary(engine)
    const b = await standby(engine)
    for (let i = 0; i < 5; i++) expect((await a.orders.submit(limitBuy(40_000 + i))).status).toBe('accepted')

    // when: the emergency comes while the handover flushes the stream
    const handover = a.handover({ to: 'b', reason: 'rolling restart' })
    const askedAt = performance.now()
    const report = await a.shutdown({ mode: 'emergency', reason: 'desk stop' })
    const tookMs = performance.now() - askedAt

    // then: rolled back for the emergency, which ran as leader after it
    expect(await handover).toMatchObject({ outcome: 'rolled-back', reason: expect.stringMatching(/^emergency shutdown .* asked for: desk stop/) })
    expect(report).toMatchObject({ mode: 'emergency', cancelUnconfirmed: [] })
    expect(tookMs).toBeLessThan(10_000)
    const types = typesIn(a)
    expect(types.lastIndexOf('handover.completed')).toBeLessThan(types.indexOf('shutdown.requested'))
    expect([...a.log.read({ types: ['shutdown.requested'] })].map((e) => (e.data as { shutdownId: string }).shutdownId)).toEqual([report.shutdownId])
    expect(report.openOrders.count).toBe(0)
    expect(openOrders(a.state())).toEqual([])
    expect(await a.exited).toBe(3)
    // the standby never took the lease, and holds the old leader's whole log
    expect(b.status().role).toBe('standby')
    const rows = logRows(a.config.db.path)
    await until('the standby holds the leader’s last row', () => b.log.lastSeq === rows.length)
    expect([...b.log.readRaw()].map((r) => r.hash)).toEqual(rows.map((r) => r.hash))
  })

  it('given the lease offered to a standby that does not take it, when an emergency is asked, then the offer is withdrawn at its revision, this haltd still holds the lease and the emergency runs under the id it was asked with', async () => {
    const engine = `hs-${++engineNo}`
    const a = await primary(engine, undefined, true)
    await a.orders.submit(limitBuy(40_000))
    const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
    const handover = a.handover({ to: 'nobody', reason: 'try' })
    await until('the lease is offered', async () => (await readLease(kv, engine))?.value.offeredTo === 'nobody')

    const answer = await post(a, '/shutdown', { mode: 'emergency', reason: 'desk stop' })

    expect(answer.status).toBe(202)
    const result = answer.body.result as { shutdownId: string; status: string }
    expect(result.status).toBe('started')
    expect(await handover).toMatchObject({ outcome: 'rolled-back' })
    const lease = await readLease(kv, engine)
    expect(lease?.value).toMatchObject({ instance: 'a' })
    expect(lease?.value.offeredTo).toBeUndefined()
    expect(await a.exited).toBe(3)
    const requested = logRows(a.config.db.path).filter((r) => r.type === 'shutdown.requested')
    expect(requested.map((r) => (JSON.parse(r.data) as { shutdownId: string }).shutdownId)).toEqual([result.shutdownId])
  })

  it('given a graceful stop asked mid-handover, when the standby takes the lease, then the stop is answered HANDED_OVER naming the new leader, the old leader calls no venue and writes nothing after it, and exits 0', async () => {
    const engine = `hs-${++engineNo}`
    const calls: VenueCall[] = []
    const lag = { ms: 0 }
    const a = await primary(engine, calls, true, lag)
    const b = await standby(engine)
    for (let i = 0; i < 3; i++) await a.orders.submit(limitBuy(40_000 + i))
    await until('the standby follows', () => b.status().follower.seq === a.log.committedSeq)
    // a submit the venue answers late holds the handover in its settle step while the stop arrives
    lag.ms = 300
    const sent = calls.length
    const late = a.orders.submit(limitBuy(39_000))
    await until('the venue holds the late submit', () => calls.length > sent)

    const handover = a.handover({ to: 'b', reason: 'rolling restart' })
    const askedAt = performance.now()
    const answer = await post(a, '/shutdown', { mode: 'graceful', reason: 'desk stop' })
    const outcome = await handover
    const rowsAtOutcome = a.log.lastSeq
    expect(await late).toMatchObject({ status: 'accepted' })

    expect(outcome.outcome).toBe('handed-over')
    expect(answer.status).toBe(202)
    expect(answer.body.result).toMatchObject({ status: 'handed-over', outcome: 'HANDED_OVER', leader: 'b', handoverId: outcome.handoverId })
    expect((answer.body.result as { message: string }).message).toMatch(/'b', which leads it now/)
    const leader = await b.promoted
    pairs.closeAfter(leader)
    expect(await a.exited).toBe(0)
    expect(calls.filter((c) => c.at >= askedAt)).toEqual([])
    const rows = logRows(a.config.db.path)
    expect(rows).toHaveLength(rowsAtOutcome)
    expect(rows.map((r) => r.type)).not.toContain('shutdown.requested')
    expect(rows).toEqual([...leader.log.readRaw(1, rows.length)])
  })

  it('given a graceful stop asked while the lease is offered to a standby that does not take it, when the handover rolls back, then the graceful shutdown runs as leader under the id the stop was answered with', async () => {
    const engine = `hs-${++engineNo}`
    const a = await primary(engine, undefined, true)
    await a.orders.submit(limitBuy(40_000))
    const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
    const handover = a.handover({ to: 'nobody', reason: 'try' })
    await until('the lease is offered', async () => (await readLease(kv, engine))?.value.offeredTo === 'nobody')

    const reports: string[] = []
    a.on('shutdown', (r) => reports.push(`${r.shutdownId}:${r.mode}`))
    const answer = await post(a, '/shutdown', { mode: 'graceful', reason: 'desk stop' })

    expect(await handover).toMatchObject({ outcome: 'rolled-back', reason: expect.stringMatching(/'nobody' did not take the lease/) })
    const result = answer.body.result as { shutdownId: string; status: string }
    expect(result.status).toBe('started')
    await a.exited
    expect(reports).toEqual([`${result.shutdownId}:graceful`])
    const types = logRows(a.config.db.path).map((r) => r.type)
    expect(types.lastIndexOf('handover.completed')).toBeLessThan(types.indexOf('shutdown.requested'))
    expect(types).toContain('shutdown.completed')
  })

  it('given a graceful stop waiting for a handover, when a second request asks for an emergency, then the handover is aborted and the emergency runs under the same id', async () => {
    const engine = `hs-${++engineNo}`
    const a = await primary(engine)
    const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
    const handover = a.handover({ to: 'nobody', reason: 'try' })
    await until('the lease is offered', async () => (await readLease(kv, engine))?.value.offeredTo === 'nobody')
    const graceful = a.shutdown({ mode: 'graceful', reason: 'first stop' })
    const emergency = a.shutdown({ mode: 'emergency', reason: 'second stop' })

    const report = await emergency
    expect(await graceful).toBe(report)
    expect(await handover).toMatchObject({ outcome: 'rolled-back', reason: expect.stringMatching(/asked for: second stop/) })
    expect(report.mode).toBe('emergency')
    expect(await a.exited).toBe(3)
  })

  it('given a shutdown under way, when a handover is asked for, then it is refused with SHUTTING_DOWN and nothing of it is recorded', async () => {
    const engine = `hs-${++engineNo}`
    const a = await primary(engine, undefined, true)
    await standby(engine)
    const stopping = a.shutdown({ mode: 'graceful', reason: 'desk stop' })

    const refused = await post(a, '/handover', { to: 'b', reason: 'rolling restart' })

    expect(refused.status).toBe(409)
    expect(refused.body.error).toMatchObject({ code: 'SHUTTING_DOWN', message: expect.stringMatching(/a shutdown was asked for/) })
    await expect(a.handover({ to: 'b', reason: 'again' })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' })
    await stopping
    expect(typesIn(a).filter((t) => t.startsWith('handover.'))).toEqual([])
  })
})
