import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createHaltd, NotLeading, type Haltd } from '../../src/daemon/index.js'
import { chainHash, openEventLog } from '../../src/core/log/event-log.js'
import { mark } from '../support/events.js'
import { startFakeOkx, type FakeOkx } from '../support/fake-okx/index.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { failoverFindings, logRows, readStream } from './support/failover-invariants.js'
import { quietLogger } from './support/instances.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { natsClientForFile } from './support/nats-client.js'
import { until } from '../support/until.js'

/**
 * `createHaltd` with `failover.role: "standby"`: one handle that follows as a standby, connected
 * to the venue read-only with its gate shut, and leads once it takes the lease. The venue is the
 * fake OKX behind the real ccxt class, so what reaches it is what a venue would see.
 */

const SWAP = 'BTC/USDT:USDT'
const nats = natsForFile()
const client = natsClientForFile(nats)
let venue: FakeOkx
let engineNo = 0
const open: Haltd[] = []

beforeAll(async () => {
  venue = await startFakeOkx()
})
afterAll(async () => {
  await venue.close()
})
afterEach(async () => {
  for (const h of open.splice(0).reverse()) await h.close().catch(() => undefined)
})

const okx = () => ({
  kind: 'ccxt' as const,
  name: 'okx',
  exchange: 'okx',
  apiKey: venue.apiKey,
  secret: venue.secret,
  password: venue.passphrase,
  symbols: [SWAP],
  tickerPollMs: 50,
  options: { urls: { api: { rest: venue.origin } }, options: { defaultType: 'swap' } },
})

function configFor(engine: string, instance: string, role: 'primary' | 'standby', db = join(tempDir(), `${instance}.db`)) {
  return {
    db: { path: db },
    admin: { enabled: false },
    venues: [okx()],
    nats: { servers: [nats.url], engine, instance, connectTimeoutMs: 1_000 },
    replication: { mode: 'sync' as const },
    // an offer waits at most half the lease: room for a standby sharing a loaded machine
    failover: { role, leaseMs: 4_000, fenceMarginMs: 500 },
  }
}
async function start(config: ReturnType<typeof configFor>): Promise<Haltd> {
  const h = await createHaltd(config, { logger: quietLogger(), env: {} })
  open.push(h)
  return h
}

const order = (price: number) => ({
  venue: 'okx',
  symbol: SWAP,
  side: 'sell' as const,
  type: 'limit' as const,
  qty: 0.1,
  price,
  origin: { kind: 'manual' as const, id: 'desk' },
})
const venueOrders = () => [...venue.engine.orders.futures.values(), ...venue.engine.orders.spot.values()].map((o) => o.clientOrderId)

describe('createHaltd with the standby role', { timeout: 30_000 }, () => {
  it('given a primary trading at the venue, the standby follows, sees the venue read-only and refuses every order: nothing of it reaches the venue', async () => {
    const engine = `role-${++engineNo}`
    const before = venueOrders().length
    const a = await start(configFor(engine, 'a', 'primary'))
    const b = await start(configFor(engine, 'b', 'standby'))

    expect(b.status()).toMatchObject({ state: 'standby', standby: { role: 'standby', instance: 'b', follower: { state: 'following' } } })
    await until('the standby hears the venue’s market data', () => (b.status().standby?.venues.find((v) => v.venue === 'okx')?.ticks ?? 0) > 0)
    expect(b.status().standby?.venues).toEqual([expect.objectContaining({ venue: 'okx', connected: true })])

    const sent = await a.orders.submit(order(60_000))
    expect(sent.status).toBe('accepted')
    const refused = await b.orders.submit(order(60_100))
    expect(refused).toEqual({ status: 'refused', reason: `instance 'b' is a standby: only the leader of '${engine}' sends orders` })
    await expect(b.orders.cancel({ venue: 'okx', symbol: SWAP, clientOrderId: sent.clientOrderId ?? '' })).rejects.toBeInstanceOf(NotLeading)
    expect(() => b.strategies).toThrow(/instance 'b' is a standby of engine '.*': it runs no strategy until it leads/)
    await expect(b.shutdown({ mode: 'graceful', reason: 'x' })).rejects.toBeInstanceOf(NotLeading)

    // the standby wrote nothing of its own: its log is the leader's, and it knows the leader's order
    await until('the standby holds the leader’s log', () => b.log.lastSeq === a.log.committedSeq)
    expect([...b.log.readRaw()]).toEqual([...a.log.readRaw(1, b.log.lastSeq)])
    expect([...b.log.read({ types: ['order.accepted'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId)).toEqual([sent.clientOrderId])
    expect(venueOrders().slice(before)).toEqual([sent.clientOrderId])

    const findings = failoverFindings({
      stream: await readStream(client.nc, engine),
      logs: { a: [...a.log.readRaw()], b: [...b.log.readRaw()] },
      venueOrders: venueOrders().slice(before),
    })
    expect(findings).toEqual({ lost: [], forks: [], nonLeaderOrders: [], tails: {} })
  })

  it('given a handover to it, the same handle leads: its status says running and its orders reach the venue', async () => {
    const engine = `role-${++engineNo}`
    const before = venueOrders().length
    const a = await start(configFor(engine, 'a', 'primary'))
    const b = await start(configFor(engine, 'b', 'standby'))
    const lifecycle: string[] = []
    b.on('lifecycle', (to) => lifecycle.push(to))
    expect((await a.orders.submit(order(60_000))).status).toBe('accepted')

    expect(await a.handover({ to: 'b', reason: 'rolling restart' })).toMatchObject({ outcome: 'handed-over' })
    expect(await a.exited).toBe(0)
    await until('the standby leads', () => b.status().state === 'running')
    expect(lifecycle).toContain('running')
    expect(b.status().standby).toBeUndefined()
    const now = await b.orders.submit(order(60_200))
    expect(now.status).toBe('accepted')
    expect(b.startup.unreachable).toEqual([])

    const findings = failoverFindings({
      stream: await readStream(client.nc, engine),
      logs: { a: logRows(a.config.db.path), b: [...b.log.readRaw()] },
      venueOrders: venueOrders().slice(before),
    })
    expect(findings).toEqual({ lost: [], forks: [], nonLeaderOrders: [], tails: {} })
    expect(venueOrders().slice(before)).toHaveLength(2)
  })

  it('given a standby closed before it leads, it exits 0 and leaves its log a prefix of the stream', async () => {
    const engine = `role-${++engineNo}`
    const a = await start(configFor(engine, 'a', 'primary'))
    const b = await createHaltd(configFor(engine, 'b', 'standby'), { logger: quietLogger(), env: {} })
    await until('the standby holds the leader’s log', () => b.log.lastSeq === a.log.committedSeq)
    await b.close()
    expect(await b.exited).toBe(0)
    const rows = logRows(b.config.db.path)
    expect(rows).toEqual([...a.log.readRaw(1, rows.length)])
  })
})

describe('rollback safety', { timeout: 30_000 }, () => {
  it('given the log holds an event type and a version this build cannot read, the standby declines the offer naming both; the handover rolls back at once with that reason and the primary trades again', async () => {
    const engine = `role-${++engineNo}`
    const before = venueOrders().length
    // a log a newer haltd wrote: one event of a type, and one of a version, this build does not know
    const db = join(tempDir(), 'a.db')
    const seeded = openEventLog({ path: db })
    seeded.append(mark(1))
    let head = [...seeded.readRaw()].at(-1)!
    for (const [type, v, data] of [
      ['venue.teleported', 3, '{"to":"mars"}'],
      ['order.submitted', 9, '{"clientOrderId":"x"}'],
    ] as const) {
      const body = { seq: head.seq + 1, id: `newer-${type}`, type, v, ts: head.ts + 1, stream: 'venue:x', causationId: null, correlationId: null, data }
      seeded.appendReplicated([{ ...body, prevHash: head.hash, hash: chainHash(head.hash, body), key: null }])
      head = [...seeded.readRaw()].at(-1)!
    }
    seeded.close()

    const a = await start(configFor(engine, 'a', 'primary', db))
    // the standby's own word on why it declined, as it said it (its status drops a refusal once the leader renews plainly again)
    const said = memoryDestination()
    const b = await createHaltd(configFor(engine, 'b', 'standby'), { logger: createLogger({ destination: said, level: 'error' }), env: {} })
    open.push(b)
    await until('the standby follows past the unknown events', () => b.log.lastSeq >= 3)
    expect(b.status().standby?.follower.unknown.map((u) => `${u.type} v${u.v}`)).toEqual(['venue.teleported v3', 'order.submitted v9'])

    // the standby declines the offer in the lease's key: the primary rolls back at once, with its reason, not after waiting out the offer
    const asked = performance.now()
    const outcome = await a.handover({ to: 'b', reason: 'upgrade' })
    const tookMs = performance.now() - asked
    expect(outcome).toMatchObject({
      outcome: 'rolled-back',
      reason: expect.stringMatching(
        /^'b' declined the lease: its log holds events this build cannot read: seq 2: venue\.teleported v3 .*upgrade this instance/,
      ),
    })
    expect(tookMs).toBeLessThan(a.config.failover!.leaseMs / 4)
    expect(b.status()).toMatchObject({ state: 'standby', standby: { role: 'standby' } })
    const declined = said.lines.map((l) => JSON.parse(l) as { msg: string; reason?: string }).find((l) => l.msg === 'standby: not taking over')
    expect(declined?.reason).toMatch(/this build cannot read: seq 2: venue\.teleported v3 .*; seq 3: order\.submitted v9 .*upgrade this instance/)

    // every step on the primary's log, with the roll-back, and its gate open again
    const steps = [...a.log.read({ stream: `handover:${outcome.handoverId}` })].map((e) =>
      e.type === 'handover.step' ? `${(e.data as { step: string }).step}:${(e.data as { phase: string }).phase}` : e.type,
    )
    expect(steps.slice(0, 9)).toEqual([
      'handover.requested',
      'close-gate:started',
      'close-gate:completed',
      'settle-in-flight:started',
      'settle-in-flight:completed',
      'flush-replication:started',
      'flush-replication:completed',
      'release-lease:started',
      'release-lease:completed',
    ])
    expect(steps).toContain('roll-back:completed')
    expect(steps.at(-1)).toBe('handover.completed')
    expect([...a.log.read({ types: ['handover.completed'] })].at(-1)?.data).toMatchObject({
      outcome: 'rolled-back',
      reason: expect.stringMatching(/^'b' declined the lease: its log holds events this build cannot read/),
    })
    expect(a.gate.fenced).toBeUndefined()
    expect((await a.orders.submit(order(60_300))).status).toBe('accepted')

    await until('the standby holds the leader’s log', () => b.log.lastSeq === a.log.committedSeq)
    const findings = failoverFindings({
      stream: await readStream(client.nc, engine),
      logs: { a: [...a.log.readRaw()], b: [...b.log.readRaw()] },
      venueOrders: venueOrders().slice(before),
    })
    expect(findings).toEqual({ lost: [], forks: [], nonLeaderOrders: [], tails: {} })
  })
})
