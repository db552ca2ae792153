import { describe, expect, it } from 'vitest'
import { adminInfoPath, readAdminInfo } from '../../src/admin/info-file.js'
import { bearer, events, spawnHaltd, waitFor, whenUp, type Daemon } from '../daemon/processes.js'
import { natsForFile } from '../support/nats-for-file.js'
import { haltdCli } from './support/cli.js'
import { processPair } from './support/process-pair.js'

/**
 * Real haltd processes, a real nats-server: a primary trading under the demo's strategies, a
 * standby following it (`onUnplanned: "active"`: were it to take over, it would trade at once).
 * SIGTERM stops the engine on purpose: the standby leaves it stopped, until an operator runs its
 * config with `haltd run --lead`. A primary killed in the middle of its shutdown is a crash: the
 * standby takes over and finishes that shutdown.
 */

const LEASE_MS = 1_500
const nats = natsForFile()
let engineNo = 0

const pair = (primaryLatency?: Record<string, number>) =>
  processPair({
    url: nats.url,
    engine: `stop-${++engineNo}`,
    failover: { leaseMs: LEASE_MS, fenceMarginMs: 400, onUnplanned: 'active' },
    primaryLatency,
  })

async function getJson(d: Daemon, path: string): Promise<Record<string, unknown>> {
  const info = readAdminInfo(adminInfoPath(d.db))
  const res = await fetch(`${info.url}${path}`, { headers: bearer(info.token) })
  return (await res.json()) as Record<string, unknown>
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('a standby of an engine stopped on purpose, as real processes', { timeout: 90_000 }, () => {
  it('given SIGTERM to the primary, the standby does not lead past the lease and says why once; haltd run --lead of its config leads', async () => {
    const { primary, standby, p, s } = await pair()
    await waitFor('orders flowing', () => events(p.db, ['order.accepted']).length >= 5, primary)
    primary.child.kill('SIGTERM')
    const exit = await primary.exit
    // its own links to NATS are kept on purpose: step 12 counts them, never as a leak, and the stop is clean
    expect(exit.code).toBe(0)
    const health = events(p.db, ['shutdown.step-completed', 'shutdown.step-failed']).find((e) => (e.data as { step: number }).step === 12)
    expect(health?.type).toBe('shutdown.step-completed')
    await sleep(LEASE_MS * 3)

    expect(standby.stdout.some((l) => l.includes('leads engine'))).toBe(false)
    expect(events(s.db, ['leadership.acquired']).map((e) => (e.data as { instance: string }).instance)).toEqual(['primary'])
    // it recorded nothing: its log is the stopped primary's, event for event
    expect(events(s.db).map((e) => e.hash)).toEqual(events(p.db).map((e) => e.hash))
    const said = standby.logs().filter((l) => String(l.msg).includes('the engine was stopped by its leader'))
    expect(said).toHaveLength(1)
    const runId = (events(p.db, ['run.ended']).at(-1)!.data as { runId: string }).runId
    expect(await getJson(standby, '/status')).toMatchObject({
      role: 'standby',
      leader: null,
      engineStopped: { leader: 'primary', runId, exitCode: exit.code, message: expect.stringMatching(/haltd run --lead/) },
    })
    expect(await getJson(standby, '/health')).toMatchObject({
      ok: true,
      engineStopped: expect.stringMatching(/^the engine was stopped by its leader 'primary'/),
    })
    const shown = await haltdCli(['status', '--db', s.db])
    expect(shown).toMatchObject({ status: 0, stdout: expect.stringMatching(/not taking over: the engine was stopped by its leader 'primary' \(run /) })

    // the operator makes this instance lead: stop the standby, run its config as the leader
    standby.child.kill('SIGTERM')
    expect((await standby.exit).code).toBe(0)
    const leading = spawnHaltd(['run', '--config', s.file, '--lead'], { db: s.db })
    await whenUp(leading)
    const acquired = events(s.db, ['leadership.acquired']).map((e) => e.data as { instance: string; epoch: number; reason: string })
    expect(acquired.map((a) => `${a.instance}:${a.epoch}:${a.reason}`)).toEqual(['primary:1:startup', 'standby:2:startup'])
    // a run recorded its end: the new run starts without a crash
    expect(events(s.db, ['run.crashed'])).toEqual([])
    leading.child.kill('SIGTERM')
    await leading.exit
  })

  it('given the primary killed -9 in the middle of its graceful shutdown, the standby takes over after the lease and finishes that shutdown', async () => {
    // cancels answered slowly: the shutdown is still cancelling when the kill comes
    const { primary, standby, p, s } = await pair({ cancel: 2_000, cancelAll: 2_000 })
    await waitFor('orders resting', () => events(p.db, ['order.accepted']).length >= 5, primary)
    primary.child.kill('SIGTERM')
    // killed once the standby holds the request: a request that never reached the stream is not a
    // shutdown the standby could know of, and it would take over to trade
    const requested = await waitFor('the standby holds the shutdown request', () => events(s.db, ['shutdown.requested'])[0], primary)
    primary.child.kill('SIGKILL')
    await primary.exit
    const shutdownId = (requested.data as { shutdownId: string }).shutdownId
    expect(events(p.db, ['shutdown.completed', 'run.ended'])).toEqual([])

    await waitFor('the standby leads', () => standby.stdout.some((l) => l.includes('leads engine')), standby)
    const end = await standby.exit
    expect(events(s.db, ['leadership.acquired']).at(-1)?.data).toMatchObject({ instance: 'standby', reason: 'failover', previous: 'primary' })
    const completed = events(s.db, ['shutdown.completed']).map((e) => e.data as { shutdownId: string; exitCode: number })
    expect(completed).toEqual([expect.objectContaining({ shutdownId })])
    expect(end.code).toBe(completed[0]!.exitCode)
  })
})

describe('signals that are not haltd’s, to a standby', { timeout: 90_000 }, () => {
  it('given SIGHUP and SIGUSR1 to a following standby, it says so and ignores both: it keeps following, opens no inspector, and SIGTERM still stops it (exit 0)', async () => {
    const { primary, standby, p, s } = await pair()
    await waitFor('orders flowing', () => events(p.db, ['order.accepted']).length >= 3, primary)

    // when a closed terminal and a mistyped signal reach the standby
    standby.child.kill('SIGHUP')
    standby.child.kill('SIGUSR1')
    await waitFor('both signals said', () => standby.stdout.filter((l) => /^haltd standby: SIG(HUP|USR1) ignored/.test(l)).length === 2, standby)

    // then it still follows the primary's log, and no inspector listens
    const seen = events(s.db).length
    await waitFor('the standby still following', () => events(s.db).length > seen, standby)
    expect(standby.child.exitCode).toBeNull()
    expect(standby.stderr.join('\n')).not.toMatch(/Debugger listening/)

    // and SIGTERM stops it as a standby
    standby.child.kill('SIGTERM')
    expect(await standby.exit).toEqual({ code: 0, signal: null })
    primary.child.kill('SIGTERM')
    await primary.exit
  })
})

describe('SIGUSR2 to a following standby', { timeout: 90_000 }, () => {
  it('given a standby following a trading primary, when SIGUSR2 reaches it, then it says it leads nothing and keeps following (it does not die of the signal), and SIGTERM still stops it (exit 0)', async () => {
    const { primary, standby, p, s } = await pair()
    await waitFor('orders flowing', () => events(p.db, ['order.accepted']).length >= 3, primary)

    // when the emergency signal reaches the standby too (sent to every haltd on the host, say)
    standby.child.kill('SIGUSR2')
    await waitFor('the signal said', () => standby.stdout.some((l) => /^haltd standby: SIGUSR2: ignored: a standby leads nothing/.test(l)), standby)

    // then it still follows the primary's log
    const seen = events(s.db).length
    await waitFor('the standby still following', () => events(s.db).length > seen, standby)
    expect(standby.child.exitCode).toBeNull()

    // and SIGTERM stops it as a standby
    standby.child.kill('SIGTERM')
    expect(await standby.exit).toEqual({ code: 0, signal: null })
    primary.child.kill('SIGTERM')
    await primary.exit
  })
})
