import { describe, expect, it, onTestFinished } from 'vitest'
import { createRunTracker } from '../../src/audit/run-rows.js'
import type { Fact } from '../../src/projections/index.js'
import type { Envelope } from '../../src/events/index.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { adminInfoPath, readAdminInfo } from '../../src/admin/info-file.js'
import { bearer, events, spawnHaltd, waitFor, whenUp } from '../daemon/processes.js'
import { connect } from '@nats-io/transport-node'
import { startNats } from '../support/nats-server.js'
import { natsForFile } from '../support/nats-for-file.js'
import { haltdCli } from './support/cli.js'
import { failoverFindings, logRows, readStream } from './support/failover-invariants.js'
import { natsClientForFile } from './support/nats-client.js'
import { processPair } from './support/process-pair.js'

/**
 * Real haltd processes, a real nats-server: a primary trading under the demo's strategies (sync
 * replication), a standby following it, and the primary killed or paused by a real signal.
 */

const LEASE_MS = 1_500
const nats = natsForFile()
const client = natsClientForFile(nats)
let engineNo = 0

const idOf = (e: Envelope) => (e.data as { clientOrderId?: string }).clientOrderId

/**
 * The three numbers: each process trades on its own simulated venues, so what reached a venue is
 * what each log records the venue accepted.
 */
async function invariants(engine: string, p: { db: string }, s: { db: string }, link = client.nc) {
  const venueOrders = [...events(p.db, ['order.accepted']), ...events(s.db, ['order.accepted'])].map((e) => idOf(e) ?? '')
  return failoverFindings({
    stream: await readStream(link, engine),
    logs: { primary: logRows(p.db), standby: logRows(s.db) },
    venueOrders,
    deposed: ['primary'],
  })
}

const pair = (leaseMs = LEASE_MS, url = nats.url) => processPair({ url, engine: `proc-${++engineNo}`, failover: { leaseMs, fenceMarginMs: 400 } })

describe('failover between real haltd processes', { timeout: 60_000 }, () => {
  it('kill -9 of the primary under load: the standby takes over after the lease, HALTED, with every order the primary sent, on one unforked chain, recording the dead run as taken over after its lease expired', async () => {
    const { engine, primary, standby, p, s } = await pair()
    await waitFor('orders flowing', () => events(p.db, ['order.accepted']).length >= 10, primary)
    primary.child.kill('SIGKILL')
    await primary.exit
    const killedAt = Date.now()
    await waitFor('the standby leads', () => standby.stdout.some((l) => l.includes('leads engine')), standby)
    await whenUp(standby)
    expect(Date.now() - killedAt).toBeGreaterThan(LEASE_MS - 600)

    const dead = logRows(p.db)
    const led = logRows(s.db)
    // all the new leader knows is that the lease expired: the run's end is not in its log
    const firstOwn = led.findIndex((r) => r.type === 'run.lease-expired')
    expect(firstOwn).toBeGreaterThan(0)
    expect(events(s.db, ['run.lease-expired', 'run.crashed']).map((e) => [e.type, e.data])).toEqual([
      ['run.lease-expired', { runId: expect.any(String), pid: primary.child.pid, lastSeq: firstOwn, leader: 'primary', by: 'standby', epoch: 2 }],
    ])
    // the standby's log up to its takeover is the primary's, event for event: one chain, no fork
    expect(led.slice(0, firstOwn)).toEqual(dead.slice(0, firstOwn))
    // sync mode: every order that reached a venue was in the stream first, so the new leader has it
    const sent = events(p.db, ['order.accepted']).map(idOf)
    const known = new Set(events(s.db, ['order.submitted']).map(idOf))
    expect(sent.filter((id) => !known.has(id))).toEqual([])
    const acquired = events(s.db, ['leadership.acquired']).map((e) => e.data)
    expect(acquired.at(-1)).toMatchObject({ instance: 'standby', epoch: 2, reason: 'failover', previous: 'primary' })
    expect(events(s.db, ['killswitch.activated']).length).toBeGreaterThan(0)
    const verify = openEventLog({ path: s.db, readonly: true })
    expect(verify.verify()).toMatchObject({ ok: true })
    verify.close()
    standby.child.kill('SIGTERM')
    await standby.exit
    // the killed primary may hold a tail the stream never took; nothing of it reached a venue
    const found = await invariants(engine, p, s)
    expect({ ...found, tails: Object.keys(found.tails) }).toEqual({
      lost: [],
      forks: [],
      nonLeaderOrders: [],
      tails: Object.keys(found.tails).filter((k) => k === 'primary'),
    })
  })

  it('kill -STOP past the lease: the standby takes over; after kill -CONT the old primary sends no order, records that it lost the lead, and the stream keeps one chain; each log audits as what it knows', async () => {
    const { engine, primary, standby, p, s } = await pair()
    await waitFor('orders flowing', () => events(p.db, ['order.accepted']).length >= 10, primary)
    primary.child.kill('SIGSTOP')
    await waitFor('the standby leads', () => standby.stdout.some((l) => l.includes('leads engine')), standby)
    await whenUp(standby)
    const takeover = events(s.db, ['leadership.acquired']).at(-1)!
    const sentBefore = new Set(events(p.db, ['order.submitted']).map(idOf))
    const pausedAt = events(p.db).at(-1)!.seq
    primary.child.kill('SIGCONT')
    // the old primary wakes to a lease it no longer holds: it must halt, not trade
    await waitFor(
      'the old primary halts',
      () => primary.logs().some((l) => /no longer leads|not the leader|refused this haltd/.test(String(l.msg ?? '') + String(l.reason ?? ''))),
      primary,
      15_000,
    )
    await new Promise((r) => setTimeout(r, 1_000))

    const after = events(p.db, ['order.submitted', 'order.accepted', 'order.filled']).filter((e) => !sentBefore.has(idOf(e)) && e.type !== 'order.filled')
    // anything it wrote after waking never reached a venue: its submits were refused or never sent
    const accepted = after.filter((e) => e.type === 'order.accepted')
    expect(accepted).toEqual([])
    // nor did it cancel anything: the orders it left are the new leader's to cancel
    expect(events(p.db, ['order.cancel-requested', 'venue.cancel-all-requested']).filter((e) => e.seq > pausedAt)).toEqual([])
    // and its health says it no longer leads
    const info = readAdminInfo(adminInfoPath(p.db))
    const health = await fetch(`${info.url}/health`, { headers: bearer(info.token) })
    expect(health.status).toBe(503)
    expect(await health.json()).toMatchObject({
      ok: false,
      leadership: { ok: false, problem: expect.stringMatching(/^this haltd no longer leads its engine: /) },
    })
    // the stream, as the new leader holds it, is one chain from the start
    const led = logRows(s.db)
    const verify = openEventLog({ path: s.db, readonly: true })
    expect(verify.verify()).toMatchObject({ ok: true })
    verify.close()
    expect(led.find((r) => r.seq === takeover.seq)?.type).toBe('leadership.acquired')
    // stopped, it says its stop is not the engine's, and its shutdown leaves the venues to the leader
    // its own log says it lost the lead (not replicated: the stream fences it), before it stops
    const lostLead = events(p.db, ['leadership.lost'])
    // the bucket names the new holder, or (read in the moment between expiry and take) none
    const holder = (lostLead[0]?.data as { leader?: string } | undefined)?.leader === undefined ? {} : { leader: 'standby', leaderEpoch: 2 }
    expect(lostLead.map((e) => e.data)).toEqual([
      { engine, instance: 'primary', epoch: 1, reason: expect.stringMatching(/^the leadership of engine '[^']+' is lost: /), ...holder },
    ])
    expect(lostLead[0]!.seq).toBeGreaterThan(pausedAt)
    const stoppingAt = events(p.db).at(-1)!.seq
    primary.child.kill('SIGTERM')
    // its code is its own log's (orders it can no longer cancel left open: 2), and it says so
    const stopped = await primary.exit
    expect(primary.stderr.join('')).toContain(`its exit code (${stopped.code}) speaks of its own log only: audit the leader's log for the engine`)
    expect(primary.stderr.join('')).not.toContain('the leader trades on')
    expect(primary.stderr.join('')).toMatch(
      /haltd: this instance no longer led its engine \(the leadership of engine '[^']+' is lost: instance 'standby' holds it now .*\): its stop is not the engine's/,
    )
    expect(
      events(p.db, ['order.cancel-requested', 'venue.cancel-all-requested', 'venue.dead-mans-switch-disarmed', 'order.submitted']).filter(
        (e) => e.seq > stoppingAt,
      ),
    ).toEqual([])
    // nor tried: its shutdown skipped the steps that act on the venues, naming why, rather than retry what its gate refuses
    expect(
      events(p.db, ['shutdown.step-skipped'])
        .filter((e) => e.seq > stoppingAt && [5, 6].includes((e.data as { step: number }).step))
        .map((e) => e.data),
    ).toEqual(
      [5, 6].map((step) =>
        expect.objectContaining({ step, reason: expect.stringMatching(/^this instance no longer leads its engine \(the leadership of engine .* is lost: /) }),
      ),
    )
    // its audit: the last shutdown is not the engine's, and says so; not residual exposure
    const deposedAudit = await haltdCli(['audit', '--db', p.db])
    expect(deposedAudit.status, deposedAudit.stdout).toBe(3)
    expect(deposedAudit.stdout).toMatch(/^LOG INTACT — LAST SHUTDOWN [^:]+: NOT THE LEADER \(THE ENGINE’S STOP IS ITS LEADER’S\)/m)
    expect(deposedAudit.stdout).toContain(
      `this instance ('primary', epoch 1) no longer led the engine (lost at seq ${lostLead[0]!.seq}: ${(lostLead[0]!.data as { reason: string }).reason}); its shutdown sent nothing to the venues`,
    )
    expect(deposedAudit.stdout).toContain("the engine's stop is its leader's")
    expect(deposedAudit.stdout).not.toContain('RESIDUAL EXPOSURE')
    expect(deposedAudit.stdout).toMatch(new RegExp(`exit \\d+ at \\S+; no longer led the engine from seq ${lostLead[0]!.seq} \\(epoch 1`))
    standby.child.kill('SIGTERM')
    await standby.exit
    // the new leader's: the old primary's run was taken over after its lease expired, not crashed
    expect(events(s.db, ['run.crashed'])).toEqual([])
    expect(events(s.db, ['run.lease-expired']).map((e) => e.data)).toEqual([
      { runId: expect.any(String), pid: primary.child.pid, lastSeq: takeover.seq - 3, leader: 'primary', by: 'standby', epoch: 2 },
    ])
    const leaderAudit = await haltdCli(['audit', '--db', s.db])
    expect(leaderAudit.stdout).toMatch(/led by 'primary': lease expired; taken over by 'standby' \(epoch 2\) at \S+; its own end is not in this log/)
    expect(leaderAudit.stdout).not.toMatch(/^\S+ +\S+ +\d+ +\d+ +\S+ +crashed$/m)
    const found = await invariants(engine, p, s)
    expect({ ...found, tails: Object.keys(found.tails) }).toEqual({
      lost: [],
      forks: [],
      nonLeaderOrders: [],
      tails: Object.keys(found.tails).filter((k) => k === 'primary'),
    })
  })

  it('a rolling restart from the command line: handover to the standby, the old primary back as a standby catching up from the stream, handed back; one chain throughout', async () => {
    // a longer lease than the failover cases (an offer may wait half of it for a standby under load),
    // so a server of its own: the lease bucket's TTL is the first instance's, for every engine on it
    const own = await startNats()
    const link = await connect({ servers: own.url })
    onTestFinished(async () => {
      await link.close()
      await own.close()
    })
    const { engine, primary, standby, p, s } = await pair(4_000, own.url)
    await waitFor('orders flowing', () => events(p.db, ['order.accepted']).length >= 5, primary)
    const first = await haltdCli(['handover', '--to', 'standby', '--db', p.db, '--reason', 'rolling restart'])
    expect(first).toMatchObject({ status: 0, stderr: '', stdout: expect.stringMatching(/to standby: handed-over/) })
    expect((await primary.exit).code).toBe(0)
    await waitFor('the standby leads', () => standby.stdout.some((l) => l.includes('leads engine')), standby)
    await whenUp(standby)

    // the old primary, restarted (or upgraded) with its own config and command, finds the engine led and follows from where its log ends
    const again = spawnHaltd(['run', '--config', p.file], { db: p.db })
    await waitFor('the old primary follows again', () => again.stdout.some((l) => l.startsWith('haltd standby: instance primary follows')), again)
    expect(again.stderr.join('')).toMatch(/engine '.*' is led by instance 'standby' \(epoch 2\).*following it as a standby/)
    const ledBy = events(s.db, ['order.accepted']).length
    await waitFor('the new leader trades', () => events(s.db, ['order.accepted']).length > ledBy, standby)
    const back = await haltdCli(['handover', '--to', 'primary', '--db', s.db, '--reason', 'hand back'])
    expect(back).toMatchObject({ status: 0, stderr: '', stdout: expect.stringMatching(/to primary: handed-over/) })
    expect((await standby.exit).code).toBe(0)
    await waitFor('the primary leads again', () => again.stdout.some((l) => l.includes('leads engine')), again)
    await whenUp(again)
    const acquired = events(p.db, ['leadership.acquired']).map((e) => e.data as { instance: string; epoch: number; reason: string })
    expect(acquired.map((a) => `${a.instance}:${a.epoch}:${a.reason}`)).toEqual(['primary:1:startup', 'standby:2:handover', 'primary:3:handover'])
    expect(events(p.db, ['run.crashed'])).toEqual([])
    const audit = createRunTracker()
    for (const e of events(p.db)) audit.observe(e as Fact)
    // each leader's run ended by handing over, naming to whom; the leader now is the one run open
    expect(audit.rows().map((r) => r.end)).toEqual([
      { handedOverTo: 'standby', at: expect.any(Number) },
      { handedOverTo: 'primary', at: expect.any(Number) },
      'open',
    ])
    const resumed = events(p.db, ['order.accepted']).length
    await waitFor('the primary trades again', () => events(p.db, ['order.accepted']).length > resumed, again)

    again.child.kill('SIGKILL')
    await again.exit
    const found = await invariants(engine, p, s, link)
    expect({ ...found, tails: Object.keys(found.tails) }).toEqual({
      lost: [],
      forks: [],
      nonLeaderOrders: [],
      tails: Object.keys(found.tails).filter((k) => k === 'primary'),
    })
  })
})
