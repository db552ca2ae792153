import { describe, expect, it } from 'vitest'
import { openLeaseBucket, readLease } from '../../src/cluster/leadership/lease.js'
import type { Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { natsForFile } from '../support/nats-for-file.js'
import { until } from '../support/until.js'
import { logRows } from './support/failover-invariants.js'
import { pairsForFile } from './support/instances.js'
import { natsClientForFile } from './support/nats-client.js'
import { limitBuy, simVenue } from './support/sim-venue.js'

/**
 * A leader stopped on purpose (a graceful or emergency shutdown, a fleet stop) ends its run with a
 * recorded end and lets its lease go: its standby, even one that would come up trading
 * (`onUnplanned: "active"`), does not take the engine over. It keeps following, says why, records
 * nothing and sends nothing, across a restart of its own process too; a primary started again
 * leads, and the standby follows it.
 */

const LEASE_MS = 1_000
const TOKEN = 'standby-stopped-token-0123456789'
const nats = natsForFile()
const client = natsClientForFile(nats)
// a standby that took over would trade at once: the case the operator's stop must not undo
const pairs = pairsForFile(nats, { leaseMs: LEASE_MS, fenceMarginMs: 250, onUnplanned: 'active' }, { adminToken: TOKEN })
let engineNo = 0

const ORDER_METHODS = ['submit', 'cancel', 'cancelAll', 'armDeadMansSwitch'] as const
/** A venue that records each order call it is asked. */
function sim(calls: string[]) {
  const venue = simVenue()
  for (const method of ORDER_METHODS) {
    const original = (venue[method] as (...a: unknown[]) => unknown).bind(venue)
    ;(venue as unknown as Record<string, unknown>)[method] = (...a: unknown[]) => {
      calls.push(method)
      return original(...a)
    }
  }
  return venue
}

type InstanceOptions = { db?: string; admin?: boolean; fleet?: boolean }
const configFor = (engine: string, instance: string, options: InstanceOptions = {}) => ({
  ...pairs.config(engine, instance, options),
  ...(options.fleet ? { fleet: { refreshMs: 200, ttlMs: 1_000 } } : {}),
})
async function primary(engine: string, options: InstanceOptions = {}): Promise<Haltd> {
  return pairs.primary(configFor(engine, 'a', options))
}
/** The standby, and what reached its venue and whether it came to lead. */
async function standby(engine: string, options: { db?: string; fleet?: boolean } = {}) {
  const calls: string[] = []
  const config = configFor(engine, 'b', options)
  const lines = memoryDestination()
  const s = await pairs.standby(config, { gateways: [sim(calls)], logger: createLogger({ destination: lines, level: 'info' }), env: {} })
  const led = { yes: false }
  void s.promoted.then(
    (h) => {
      led.yes = true
      pairs.closeAfter(h)
    },
    () => undefined,
  )
  /** What its process log said of the stop. */
  const said = () => lines.lines.filter((l) => l.includes('the engine was stopped by its leader'))
  return { s, calls, led, said, db: config.db.path }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Then: long past the lease, the standby still follows, leads nothing, sent nothing, holds the leader's log as it was, and says why. */
async function expectStillStandby(
  engine: string,
  b: Awaited<ReturnType<typeof standby>>,
  leader: { db: string; runId: string; exitCode: number; shutdownId: string },
) {
  await sleep(LEASE_MS * 2.5)
  const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
  expect(await readLease(kv, engine)).toBeUndefined()
  expect(b.led.yes).toBe(false)
  const status = b.s.status()
  expect(status).toMatchObject({
    role: 'standby',
    follower: { state: 'following' },
    engineStopped: { leader: 'a', runId: leader.runId, exitCode: leader.exitCode, shutdownId: leader.shutdownId },
  })
  expect(status.leader).toBeUndefined()
  expect(status.engineStopped?.message).toMatch(
    new RegExp(`^the engine was stopped by its leader 'a' \\(run ${leader.runId}, shutdown ${leader.shutdownId}, exit code ${leader.exitCode}\\).*haltd run`),
  )
  expect(b.calls).toEqual([])
  expect(b.said()).toHaveLength(1)
  // it recorded nothing: its log is the stopped leader's, row for row
  const rows = logRows(leader.db)
  expect(rows.at(-1)?.type).toBe('run.ended')
  expect([...b.s.log.readRaw()]).toEqual(rows)
}

describe('a standby of an engine its leader stopped on purpose', { timeout: 40_000 }, () => {
  it('given a graceful shutdown of the leader, when its lease has expired, then the standby does not lead, sends nothing and says why; restarted, it still does not; a primary started again leads and it follows', async () => {
    const engine = `ss-${++engineNo}`
    const a = await primary(engine)
    let b = await standby(engine)
    for (let i = 0; i < 3; i++) expect((await a.orders.submit(limitBuy(40_000 + i))).status).toBe('accepted')
    await until('the standby follows', () => b.s.status().follower.seq === a.log.committedSeq)

    const report = await a.shutdown({ mode: 'graceful', reason: 'desk stop' })
    const exitCode = await a.exited

    const stopped = { db: a.config.db.path, runId: a.runId, exitCode, shutdownId: report.shutdownId }
    await expectStillStandby(engine, b, stopped)

    // when the standby's process restarts on its own log, it finds no lease and still does not take it
    await b.s.close()
    b = await standby(engine, { db: b.db })
    await expectStillStandby(engine, b, stopped)

    // when the primary is started again, it leads and the standby follows it
    const again = await primary(engine, { db: stopped.db })
    await until('the standby sees the new leader', () => b.s.status().leader?.instance === 'a')
    expect(b.s.status().engineStopped).toBeUndefined()
    expect((await again.orders.submit(limitBuy(41_000))).status).toBe('accepted')
    await until('the standby follows the new run', () => b.s.status().follower.seq === again.log.committedSeq)
    expect(b.led.yes).toBe(false)
  })

  it('given an emergency shutdown of the leader, when its lease has expired, then the standby does not lead and names the exit code 3', async () => {
    const engine = `ss-${++engineNo}`
    const a = await primary(engine)
    const b = await standby(engine)
    for (let i = 0; i < 3; i++) await a.orders.submit(limitBuy(40_000 + i))
    await until('the standby follows', () => b.s.status().follower.seq === a.log.committedSeq)

    const report = await a.shutdown({ mode: 'emergency', reason: 'desk emergency' })
    expect(await a.exited).toBe(3)

    await expectStillStandby(engine, b, { db: a.config.db.path, runId: a.runId, exitCode: 3, shutdownId: report.shutdownId })
  })

  it('given a fleet stop of the engine, when the leader’s lease has expired, then its standby does not lead', async () => {
    const engine = `ss-${++engineNo}`
    const a = await primary(engine, { admin: true, fleet: true })
    const b = await standby(engine, { fleet: true })
    await a.orders.submit(limitBuy(40_000))
    await until('the standby follows', () => b.s.status().follower.seq === a.log.committedSeq)

    const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
      const res = await fetch(`${a.admin!.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${a.admin!.token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }
    await until('the fleet sees the engine running', async () =>
      ((await call('GET', '/fleet')).body.engines as { engine: string; row?: { state: string } }[]).some(
        (e) => e.engine === engine && e.row?.state === 'RUNNING',
      ),
    )

    const stop = await call('POST', '/fleet/stop', { reason: 'end of day' })
    expect(stop.status).toBe(202)
    expect((stop.body.result as { engines: string[] }).engines).toEqual([engine])
    const exitCode = await a.exited
    const requested = logRows(a.config.db.path)
      .filter((r) => r.type === 'shutdown.requested')
      .map((r) => JSON.parse(r.data) as { shutdownId: string; reason: string })
    expect(requested).toEqual([expect.objectContaining({ reason: expect.stringMatching(/^fleet stop by .*: end of day/) })])

    await expectStillStandby(engine, b, { db: a.config.db.path, runId: a.runId, exitCode, shutdownId: requested[0]!.shutdownId })
  })
})
