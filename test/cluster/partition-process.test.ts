import { execFile } from 'node:child_process'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { describe, expect, it, onTestFinished } from 'vitest'
import { adminInfoPath, readAdminInfo } from '../../src/admin/info-file.js'
import type { Envelope } from '../../src/events/index.js'
import { events, spawnHaltd, waitFor, whenUp, type Daemon } from '../daemon/processes.js'
import { startNats } from '../support/nats-server.js'
import { tempDir } from '../support/tmp.js'
import { failoverFindings, logRows, readStream } from './support/failover-invariants.js'
import { watchLeaseWrites } from './support/lease-writes.js'
import { createNetns, netnsUnavailable, type Netns } from './support/netns.js'
import { fleetCli, spawnFleetEngine } from './support/fleet-processes.js'
import { processConfigFile } from './support/process-pair.js'

/**
 * Network partitions between real haltd processes and a real nats-server: one instance runs in a
 * network namespace whose only way to NATS is a veth link, and the link is cut silently (packets
 * dropped both ways, no reset), so its connection hangs as on a real partition instead of failing.
 */

const LEASE_MS = 3_000
const FENCE_MARGIN_MS = 750
const FAILOVER = { leaseMs: LEASE_MS, fenceMarginMs: FENCE_MARGIN_MS }
/** The instances' NATS pings: a link cut silently is called dead after two go unanswered. */
const PING_MS = 1_000
const NATS = { pingIntervalMs: PING_MS }
/** Long enough after a cut for a NATS client pinging every `pingMs` to call its connection dead and start reconnecting. */
const calledDeadAfter = (pingMs: number) => 5 * pingMs
/** A fleet engine's pings: slower than its fleet's stale row (three refreshes of 500 ms and a second), so that is what it sees first. */
const FLEET_PING_MS = 2_500
const unavailable = netnsUnavailable()
let engineNo = 0

const idOf = (e: Envelope) => (e.data as { clientOrderId?: string }).clientOrderId
/**
 * What a fenced instance sent past its fence: orders submitted after it, and orders a venue took
 * after it that were not submitted before it (a venue's answer to an order sent in time may land late).
 */
const sentPastTheFence = (db: string, fenceBy: number) => {
  const submitted = events(db, ['order.submitted'])
  const inTime = new Set(submitted.filter((e) => e.ts <= fenceBy).map(idOf))
  return [...submitted.filter((e) => e.ts > fenceBy), ...events(db, ['order.accepted']).filter((e) => e.ts > fenceBy && !inTime.has(idOf(e)))].map(
    (e) => `${e.type} ${idOf(e)} at +${e.ts - fenceBy} ms`,
  )
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A NATS server on the link's root end (reachable from inside the namespace and from here), and this test's own connection to it. */
async function natsOnLink(ns: Netns): Promise<{ url: string; nc: NatsConnection }> {
  const server = await startNats({ host: ns.rootAddress })
  const nc = await connect({ servers: server.url })
  onTestFinished(async () => {
    await nc.close()
    await server.close()
  })
  return { url: server.url, nc }
}

/** `GET path` on a haltd's admin API from inside its namespace (its listener is on the namespace's loopback). */
async function adminGet(ns: Netns, db: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const info = readAdminInfo(adminInfoPath(db))
  const [command, ...args] = [...ns.exec, 'curl', '-s', '-m', '5', '-H', `authorization: Bearer ${info.token}`, '-w', '\n%{http_code}', `${info.url}${path}`]
  const out = await new Promise<string>((resolve, reject) => execFile(command!, args, (e, stdout) => (e ? reject(e) : resolve(stdout))))
  const cut = out.lastIndexOf('\n')
  return { status: Number(out.slice(cut + 1)), body: JSON.parse(out.slice(0, cut)) as Record<string, unknown> }
}

const logsSay = (d: Daemon, pattern: RegExp) => d.logs().some((l) => pattern.test(`${String(l.msg ?? '')} ${String(l.reason ?? '')}`))

/**
 * A primary and its standby on NATS across a namespace's link, `cutOff` the one inside it (the link
 * can be cut under it), the primary trading (`orders` accepted) and the standby following; the
 * lease key's writes as the bucket took them.
 */
async function pairAcrossTheLink(options: {
  cutOff: 'primary' | 'standby'
  orders: number
  replication?: Record<string, unknown>
  shutdown?: Record<string, unknown>
}) {
  const ns = createNetns()
  const { url, nc } = await natsOnLink(ns)
  const engine = `part-${++engineNo}`
  const dir = tempDir()
  const replication = options.replication ? { replication: options.replication } : {}
  const p = processConfigFile(dir, { url, engine, instance: 'primary', failover: FAILOVER, nats: NATS, ...replication, shutdown: options.shutdown })
  const s = processConfigFile(dir, { url, engine, instance: 'standby', failover: FAILOVER, nats: NATS, ...replication })
  const writes = await watchLeaseWrites(nc, engine, LEASE_MS)
  const inside = (who: 'primary' | 'standby') => (options.cutOff === who ? { within: ns.exec } : {})
  const primary = spawnHaltd(['run', '--config', p.file], { db: p.db, ...inside('primary') })
  await whenUp(primary)
  const standby = spawnHaltd(['standby', '--config', s.file], { db: s.db, ...inside('standby') })
  await waitFor('the standby follows', () => standby.stdout.some((l) => l.startsWith('haltd standby: instance standby follows')), standby)
  await waitFor('orders flowing', () => events(p.db, ['order.accepted']).length >= options.orders, primary)
  return { ns, nc, engine, p, s, primary, standby, writes }
}

describe.skipIf(unavailable !== undefined)(`network partitions${unavailable ? ` (skipped: ${unavailable})` : ''}`, { timeout: 90_000 }, () => {
  it('given a leader trading in a namespace, when its link to NATS is cut silently, then it fences itself before its lease can expire, the standby takes over only after it expired, the old leader sends nothing after its fence, and its health names the lease; once the link is back it learns it was deposed, records it, and stays fenced', async () => {
    const { ns, nc, engine, p, s, primary, standby, writes } = await pairAcrossTheLink({ cutOff: 'primary', orders: 10 })

    // when: the primary's link is cut, silently
    ns.cut()
    const cutAt = Date.now()
    await waitFor('the standby leads', () => standby.stdout.some((l) => l.includes('leads engine')), standby)
    await whenUp(standby)

    // the primary's last write of the lease the bucket took: its fence runs from no later than this
    const lastRenewal = writes.filter((w) => w.operation === 'PUT' && w.instance === 'primary').at(-1)!
    expect(lastRenewal.writtenAt).toBeLessThanOrEqual(cutAt + 50)
    const fenceBy = lastRenewal.writtenAt + LEASE_MS - FENCE_MARGIN_MS
    const acquired = events(s.db, ['leadership.acquired']).at(-1)!
    expect(acquired.data).toMatchObject({ instance: 'standby', epoch: 2, reason: 'failover', previous: 'primary' })
    // then: the standby took the lease only once it had expired in the bucket
    expect(acquired.ts).toBeGreaterThanOrEqual(lastRenewal.writtenAt + LEASE_MS)
    const standbyTake = writes.find((w) => w.operation === 'PUT' && w.instance === 'standby')!
    expect(standbyTake.writtenAt).toBeGreaterThanOrEqual(lastRenewal.writtenAt + LEASE_MS)

    // and the old leader, cut off, is fenced and says why, naming its lease
    const status = await adminGet(ns, p.db, '/status')
    expect(status.body).toMatchObject({ gate: { fenced: expect.stringMatching(/^not the leader: the lease was last renewed \d+ ms ago/) } })
    const health = await adminGet(ns, p.db, '/health')
    expect(health.status).toBe(503)
    // its stream out of reach, said once
    expect(health.body).toMatchObject({ replication: { ok: false, problem: expect.stringContaining('(the stream cannot be reached: ') } })
    expect(JSON.stringify(health.body)).not.toContain('the stream cannot be reached: the stream cannot be reached')
    // what it knows: its lease not renewed in time; not that another instance holds it, which it cannot see
    expect(health.body).toMatchObject({
      ok: false,
      leadership: {
        ok: false,
        problem: expect.stringMatching(
          /^this haltd cannot confirm it still leads its engine: the lease was last renewed \d+ ms ago \(it must be within 2250 ms\)/,
        ),
      },
    })

    // nothing it submitted after its fence, nor anything that reached its venues after it
    expect(sentPastTheFence(p.db, fenceBy)).toEqual([])

    // long enough for its NATS client to call the connection dead (two missed pings) and start reconnecting
    await sleep(Math.max(0, cutAt + calledDeadAfter(PING_MS) - Date.now()))
    expect(sentPastTheFence(p.db, fenceBy)).toEqual([])
    expect(events(p.db, ['leadership.lost'])).toEqual([])

    // when: the link is back
    ns.restore()
    const restoredAt = Date.now()
    await waitFor('the old primary learns it lost the lead', () => events(p.db, ['leadership.lost']).length > 0, primary, 30_000)
    const lost = events(p.db, ['leadership.lost'])
    console.info(
      `partition: the old primary recorded leadership.lost ${lost[0]!.ts - restoredAt} ms after the link came back (cut for ${restoredAt - cutAt} ms)`,
    )
    // within a lease of the link's return: a reconnect (its connect timeout is 1 s) and one renewal refused
    expect(lost[0]!.ts - restoredAt).toBeLessThan(LEASE_MS)
    expect(lost.map((e) => e.data)).toEqual([
      {
        engine,
        instance: 'primary',
        epoch: 1,
        reason: `the leadership of engine '${engine}' is lost: instance 'standby' holds it now (epoch 2)`,
        leader: 'standby',
        leaderEpoch: 2,
      },
    ])
    // then: it stays fenced, sends nothing, and its health names the lost lease
    await sleep(LEASE_MS)
    expect(sentPastTheFence(p.db, fenceBy)).toEqual([])
    const after = await adminGet(ns, p.db, '/health')
    expect(after.status).toBe(503)
    expect(after.body).toMatchObject({
      leadership: { ok: false, problem: expect.stringMatching(/^this haltd no longer leads its engine: .*instance 'standby' holds it now/) },
    })
    expect((await adminGet(ns, p.db, '/status')).body).toMatchObject({ gate: { fenced: expect.stringMatching(/^not the leader: /) } })
    expect(logsSay(primary, /no longer leads/)).toBe(true)

    // one chain, no order from anyone but the leader of the moment (the new leader came up HALTED: an unplanned failover)
    standby.child.kill('SIGTERM')
    await standby.exit
    primary.child.kill('SIGKILL')
    await primary.exit
    const found = failoverFindings({
      stream: await readStream(nc, engine),
      logs: { primary: logRows(p.db), standby: logRows(s.db) },
      venueOrders: [...events(p.db, ['order.accepted']), ...events(s.db, ['order.accepted'])].map((e) => idOf(e) ?? ''),
      deposed: ['primary'],
    })
    expect({ lost: found.lost, forks: found.forks, nonLeaderOrders: found.nonLeaderOrders }).toEqual({ lost: [], forks: [], nonLeaderOrders: [] })
  })
  it('given a leader on async replication (nothing but its lease to stop it), when its link to NATS is cut silently, then it trades on only until its fence, leaseMs - fenceMarginMs after its last renewal, and the standby takes over after the lease', async () => {
    const replication = { mode: 'async', ackTimeoutMs: 1_000 }
    const { ns, p, s, standby, writes } = await pairAcrossTheLink({ cutOff: 'primary', orders: 10, replication })

    ns.cut()
    const cutAt = Date.now()
    await waitFor('the standby leads', () => standby.stdout.some((l) => l.includes('leads engine')), standby)
    const lastRenewal = writes.filter((w) => w.operation === 'PUT' && w.instance === 'primary').at(-1)!
    const fenceBy = lastRenewal.writtenAt + LEASE_MS - FENCE_MARGIN_MS
    const submitted = events(p.db, ['order.submitted'])
    // it did trade while cut off (the stream lagging is no barrier under async), so the fence is what stopped it
    expect(submitted.filter((e) => e.ts > cutAt).length).toBeGreaterThan(0)
    expect(sentPastTheFence(p.db, fenceBy)).toEqual([])
    const taken = events(s.db, ['leadership.acquired']).at(-1)!
    expect(taken.data).toMatchObject({ instance: 'standby', epoch: 2 })
    expect(taken.ts).toBeGreaterThanOrEqual(lastRenewal.writtenAt + LEASE_MS)
    expect((await adminGet(ns, p.db, '/status')).body).toMatchObject({ gate: { fenced: expect.stringMatching(/^not the leader: the lease was last renewed/) } })
  })

  it('given a leader in a namespace, when its link to NATS drops packets for a moment shorter than its fence, then it keeps the lease and trades on, and the standby stays a standby', async () => {
    // the stream's default wait for an order's write-ahead: a blip delays orders, it does not halt them
    const replication = { mode: 'sync' }
    const { ns, p, standby, writes } = await pairAcrossTheLink({ cutOff: 'primary', orders: 5, replication })

    // when: a blip of 1 s, under the fence (2250 ms) whatever the renewal it catches
    ns.cut()
    const cutAt = Date.now()
    await sleep(1_000)
    ns.restore()
    const restoredAt = Date.now()
    const acceptedAt = events(p.db, ['order.accepted']).length
    await sleep(2 * LEASE_MS)

    // then: the leader renewed on and trades on; nobody else took the lease
    expect(events(p.db, ['leadership.lost'])).toEqual([])
    expect(new Set(writes.filter((w) => w.operation === 'PUT' && w.writtenAt > cutAt).map((w) => `${w.instance}:${w.epoch}`))).toEqual(new Set(['primary:1']))
    expect(writes.filter((w) => w.operation === 'PUT' && w.writtenAt > restoredAt).length).toBeGreaterThanOrEqual(4)
    expect(events(p.db, ['order.accepted']).length).toBeGreaterThan(acceptedAt)
    expect(standby.stdout.some((l) => l.includes('standby: taking over the engine') || l.includes('leads engine'))).toBe(false)
    expect((await adminGet(ns, p.db, '/health')).body).toMatchObject({ ok: true })
  })

  it('given a leader cut off from NATS and deposed, when it is stopped (SIGTERM) while still cut off, then its shutdown ends without NATS, sending nothing to the venues after its lease lapsed', async () => {
    // the demo's graceful shutdown with short waits: its cancels are refused by the fence, and waiting them out is not what this tests
    const shutdown = { graceful: { flatten: 'aggressive', waitTimeoutMs: 1_000, settleMs: 250 } }
    const { ns, p, primary, standby } = await pairAcrossTheLink({ cutOff: 'primary', orders: 10, shutdown })
    ns.cut()
    await waitFor('the standby leads', () => standby.stdout.some((l) => l.includes('leads engine')), standby)
    const stoppingAt = Date.now()
    const before = events(p.db).at(-1)!.seq

    // when: stopped while its link is still cut
    primary.child.kill('SIGTERM')
    const exit = await Promise.race([primary.exit, sleep(45_000).then(() => 'still running' as const)])
    console.info(`partition: the cut-off old primary's SIGTERM ended in ${Date.now() - stoppingAt} ms: ${JSON.stringify(exit)}`)

    // then: it ended, and sent nothing to the venues: no order, no cancel, no switch touched
    expect(exit).toMatchObject({ code: expect.any(Number), signal: null })
    expect(
      events(p.db, ['order.submitted', 'order.cancel-requested', 'venue.cancel-all-requested', 'venue.dead-mans-switch-disarmed']).filter(
        (e) => e.seq > before,
      ),
    ).toEqual([])
    standby.child.kill('SIGTERM')
    await standby.exit
  })

  it('given a standby in a namespace, when its link to NATS is cut silently, then it does not take over on its own while the leader trades on and renews its lease; once the link is back it catches up with the stream', async () => {
    const { ns, p, s, standby, writes } = await pairAcrossTheLink({ cutOff: 'standby', orders: 5 })

    // when: the standby's link is cut, silently, for longer than its NATS client takes to call the connection dead (two missed pings)
    ns.cut()
    const cutAt = Date.now()
    const tradedBefore = events(p.db, ['order.accepted']).length
    // then: cut off, it does not say it follows a stream it cannot see
    let unhealthy: { status: number; body: Record<string, unknown> } | undefined
    while (unhealthy === undefined && Date.now() - cutAt < 20_000) {
      const h = await adminGet(ns, s.db, '/health')
      if (h.status !== 200) unhealthy = h
      else await sleep(250)
    }
    const failedAfter = Date.now() - cutAt
    console.info(`partition: the cut-off standby's health failed ${failedAfter} ms after the cut`)
    // once its NATS client calls the link dead (two pings unanswered), not after a question's timeout on top
    expect(failedAfter).toBeLessThan(calledDeadAfter(PING_MS))
    expect(unhealthy).toMatchObject({
      status: 503,
      body: {
        ok: false,
        log: { problem: expect.stringMatching(/^the stream has not answered since \S+ \(.+\): this log may be behind it, and the lease cannot be seen$/) },
      },
    })
    await sleep(Math.max(0, cutAt + 4 * LEASE_MS - Date.now()))

    // then: it took nothing: the leader renewed throughout and traded on, the standby never led
    expect(standby.stdout.some((l) => l.includes('leads engine') || l.includes('standby: taking over the engine'))).toBe(false)
    expect(events(s.db, ['leadership.acquired']).map((e) => (e.data as { instance: string }).instance)).toEqual(['primary'])
    const renewals = writes.filter((w) => w.operation === 'PUT' && w.writtenAt > cutAt)
    expect(renewals.length).toBeGreaterThanOrEqual(10)
    expect(new Set(renewals.map((w) => `${w.instance}:${w.epoch}`))).toEqual(new Set(['primary:1']))
    expect(events(p.db, ['order.accepted']).length).toBeGreaterThan(tradedBefore)
    expect(events(p.db, ['leadership.lost'])).toEqual([])

    // when: the link is back, then it catches up with what the leader wrote meanwhile, link by link
    ns.restore()
    const leaderAt = events(p.db).at(-1)!.seq
    await waitFor('the standby caught up', () => (events(s.db).at(-1)?.seq ?? 0) >= leaderAt, standby, 20_000)
    expect(logRows(s.db).slice(0, leaderAt)).toEqual(logRows(p.db).slice(0, leaderAt))
    // and says it follows again once the stream answers
    expect(await adminGet(ns, s.db, '/health')).toMatchObject({ status: 200, body: { ok: true } })
    expect(standby.stdout.some((l) => l.includes('leads engine'))).toBe(false)
  })
  it('given a standby cut off from NATS, when the leader dies meanwhile, then the standby takes over only once its link is back and it sees the lease expired, with every event the stream holds', async () => {
    const { ns, nc, engine, p, s, primary, standby } = await pairAcrossTheLink({ cutOff: 'standby', orders: 5 })

    // when: the standby is cut off, then the leader is killed and its lease expires while the standby cannot see it
    ns.cut()
    await sleep(1_000)
    primary.child.kill('SIGKILL')
    await primary.exit
    await sleep(2 * LEASE_MS)
    expect(standby.stdout.some((l) => l.includes('leads engine'))).toBe(false)
    expect(events(s.db, ['leadership.acquired']).map((e) => (e.data as { instance: string }).instance)).toEqual(['primary'])

    // and the link comes back: then it takes over, holding all the stream held
    ns.restore()
    const restoredAt = Date.now()
    await waitFor('the standby leads', () => standby.stdout.some((l) => l.includes('leads engine')), standby, 30_000)
    console.info(`partition: the standby cut off while its leader died led ${Date.now() - restoredAt} ms after its link came back`)
    const streamed = await readStream(nc, engine)
    const acquired = events(s.db, ['leadership.acquired']).at(-1)!
    expect(acquired.data).toMatchObject({ instance: 'standby', epoch: 2, reason: 'failover', previous: 'primary' })
    const found = failoverFindings({
      stream: streamed,
      logs: { primary: logRows(p.db), standby: logRows(s.db) },
      venueOrders: [...events(p.db, ['order.accepted']), ...events(s.db, ['order.accepted'])].map((e) => idOf(e) ?? ''),
      deposed: ['primary'],
    })
    expect({ lost: found.lost, forks: found.forks, nonLeaderOrders: found.nonLeaderOrders }).toEqual({ lost: [], forks: [], nonLeaderOrders: [] })
    standby.child.kill('SIGTERM')
    await standby.exit
  })

  it('given an engine of a fleet that halts out of view, when its link to NATS is cut silently, then it halts and records that it cannot see the fleet; a fleet kill switch set meanwhile is obeyed once the link is back, and its gate stays closed', async () => {
    const ns = createNetns()
    const { url } = await natsOnLink(ns)
    const engine = `fleet-part-${++engineNo}`
    const d = spawnFleetEngine(tempDir(), engine, url, { onDisconnect: 'halt' }, { within: ns.exec, nats: { pingIntervalMs: FLEET_PING_MS } })
    await whenUp(d)
    await waitFor('orders flowing', () => events(d.db, ['order.accepted']).length >= 3, d)

    // when: its link is cut, silently
    ns.cut()
    const cutAt = Date.now()
    const disconnected = await waitFor('the engine knows it cannot see the fleet', () => events(d.db, ['fleet.disconnected'])[0], d, 30_000)
    console.info(`partition: the cut-off engine recorded fleet.disconnected ${disconnected.ts - cutAt} ms after the cut`)
    // as soon as the fleet sees its row stale (three refreshes of 500 ms and a second), not after its NATS client's missed pings
    expect(disconnected.data).toMatchObject({ onDisconnect: 'halt', reason: expect.stringMatching(/^NATS has not answered for \d+ ms/) })
    expect(disconnected.ts - cutAt).toBeLessThan(5_000)
    // then: its gate is closed for it, it says so, and nothing reaches a venue after
    const status = await adminGet(ns, d.db, '/status')
    expect(status.body).toMatchObject({ fleet: { seen: false } })
    const health = await adminGet(ns, d.db, '/health')
    expect(health.body).toMatchObject({ fleet: { seen: false, problem: expect.stringMatching(/^cannot see the fleet: .*NATS has not answered/) } })
    expect(status.body).toMatchObject({ gate: { halted: true } })
    await sleep(1_000)
    expect(events(d.db, ['order.submitted', 'order.accepted']).filter((e) => e.ts > disconnected.ts)).toEqual([])

    // when: the fleet kill switch is set while it cannot see it
    const activated = await fleetCli(url, ['killswitch', 'activate', '--reason', 'partition drill', '--all'])
    expect(activated).toMatchObject({ status: 0, stderr: '' })
    expect(events(d.db, ['killswitch.activated'])).toEqual([])
    // long enough for its NATS client to call the connection dead (two missed pings) and start reconnecting
    await sleep(Math.max(0, cutAt + calledDeadAfter(FLEET_PING_MS) - Date.now()))
    expect(events(d.db, ['fleet.disconnected', 'fleet.reconnected', 'killswitch.activated']).map((e) => e.type)).toEqual(['fleet.disconnected'])

    // and the link comes back: then it records the switch, with its origin, once
    ns.restore()
    await waitFor('the engine obeys the switch once back', () => events(d.db, ['killswitch.activated']).length === 1, d, 40_000)
    expect(events(d.db, ['killswitch.activated'])[0]!.data).toMatchObject({ scope: 'fleet', by: 'ops-test', reason: 'fleet kill switch: partition drill' })
    await waitFor('the engine sees the fleet again', () => events(d.db, ['fleet.reconnected']).length === 1, d, 40_000)
    // its gate stays closed: released from the outage, latched by the switch
    await sleep(1_000)
    const back = await adminGet(ns, d.db, '/status')
    expect(back.body).toMatchObject({ fleet: { seen: true } })
    expect(events(d.db, ['order.submitted', 'order.accepted']).filter((e) => e.ts > disconnected.ts)).toEqual([])
    expect(events(d.db, ['fleet.disconnected', 'fleet.reconnected']).map((e) => e.type)).toEqual(['fleet.disconnected', 'fleet.reconnected'])
  })
})
