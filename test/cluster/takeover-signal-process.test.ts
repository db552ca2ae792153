import { afterEach, describe, expect, it } from 'vitest'
import { openLeaseBucket, LeaseValue } from '../../src/cluster/leadership/lease.js'
import { events, spawnHaltd, waitFor, whenUp, type Daemon } from '../daemon/processes.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { natsClientForFile } from './support/nats-client.js'
import { processConfigFile } from './support/process-pair.js'
import { linkProxy, type LinkProxy } from './support/proxy.js'

/**
 * Real haltd processes, a real nats-server: a primary trading, a standby following it through a
 * proxy that can slow every answer NATS sends the standby. The primary is killed; once the lease
 * expired the standby takes it and, slowed, is still catching up with the stream when a signal
 * reaches it. Holding the lease, it is the engine's leader: the signal is the leader's shutdown,
 * recorded in its log, never a standby's quiet exit that leaves the engine leaderless.
 */

// long enough that a takeover slowed by SLOW_MS at each answer still renews the lease in time
const LEASE_MS = 4_000
// each answer to the standby held this long: its catch-up after the take lasts at least as long
const SLOW_MS = 600
const nats = natsForFile()
const client = natsClientForFile(nats)
let engineNo = 0
const proxies: LinkProxy[] = []
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close()
})

type Sighting = { at: number; operation: string; instance?: string; epoch?: number }

/** Every write of the engine's lease the bucket shows, as it shows it. */
async function watchLease(engine: string): Promise<{ seen: Sighting[]; stop(): void }> {
  const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
  const watcher = await kv.watch({ key: engine })
  const seen: Sighting[] = []
  void (async () => {
    for await (const e of watcher) {
      const parsed = e.operation === 'PUT' ? LeaseValue.safeParse(e.json()) : undefined
      seen.push({ at: Date.now(), operation: e.operation, ...(parsed?.success ? { instance: parsed.data.instance, epoch: parsed.data.epoch } : {}) })
    }
  })()
  return { seen, stop: () => watcher.stop() }
}

/** A primary trading on the file's NATS, a standby following it through a proxy. */
async function slowedPair() {
  const engine = `sig-${++engineNo}`
  const proxy = await linkProxy(nats.node.port)
  proxies.push(proxy)
  const dir = tempDir()
  const failover = { leaseMs: LEASE_MS, fenceMarginMs: 1_000 }
  const p = processConfigFile(dir, { url: nats.url, engine, instance: 'primary', failover })
  const s = processConfigFile(dir, { url: proxy.url, engine, instance: 'standby', failover })
  const primary = spawnHaltd(['run', '--config', p.file], { db: p.db })
  await whenUp(primary)
  const standby = spawnHaltd(['standby', '--config', s.file], { db: s.db })
  await waitFor('the standby follows', () => standby.stdout.some((l) => l.startsWith('haltd standby: instance standby follows')), standby)
  await waitFor('orders flowing', () => events(p.db, ['order.accepted']).length >= 5, primary)
  return { engine, proxy, primary, standby, p, s }
}

const lineOf = (d: Daemon, test: (l: string) => boolean) => d.stdout.findIndex(test)
const tookLease = (l: string) => l.includes('standby: took the lease; catching up with the stream before it leads')
const takingOver = (l: string) => l.includes('"msg":"standby: taking over the engine"')

/**
 * Given the primary killed and the standby's answers slowed, when the standby took the lease and
 * `signals` reach it while it still catches up, then: what it said of each, in the catch-up.
 */
async function signalInTheCatchUp(signals: NodeJS.Signals[]) {
  const pair = await slowedPair()
  const { engine, proxy, primary, standby } = pair
  const lease = await watchLease(engine)
  proxy.slow(SLOW_MS)
  primary.child.kill('SIGKILL')
  await primary.exit
  await waitFor('the standby took the lease', () => standby.stdout.some(tookLease), standby)
  const signalledAt = Date.now()
  const kept = () => standby.stdout.filter((l) => l.includes('this instance holds the lease and is taking over the engine'))
  // one at a time: the same signal sent twice before the process takes the first is delivered once
  for (const [i, signal] of signals.entries()) {
    standby.child.kill(signal)
    await waitFor(`${signal} kept`, () => kept().length > i, standby)
  }
  proxy.slow(0)
  const end = await standby.exit
  lease.stop()
  return { ...pair, end, lease: lease.seen, signalledAt, kept: kept() }
}

/** The standby's own lease, from its take to its shutdown's end: renewed within the lease each time, never dropped or taken. */
function heldThroughout(seen: Sighting[], until: number) {
  const taken = seen.findIndex((s) => s.instance === 'standby')
  expect(taken).toBeGreaterThan(-1)
  const since = seen.slice(taken).filter((s) => s.at <= until)
  expect(since.every((s) => s.operation === 'PUT' && s.instance === 'standby')).toBe(true)
  const gaps = since.slice(1).map((s, i) => s.at - since[i]!.at)
  expect(Math.max(0, ...gaps, until - since.at(-1)!.at)).toBeLessThan(LEASE_MS)
}

describe('a signal to a standby that holds the lease and still catches up with the stream', { timeout: 90_000 }, () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'given the primary killed and the standby holding the lease, slowed in its catch-up, when %s reaches it, then it is kept, the leader it becomes records and runs a graceful shutdown by signal, ends with its code, and the engine had its leader throughout',
    async (signal) => {
      const { standby, s, end, lease, signalledAt, kept } = await signalInTheCatchUp([signal])

      // the signal came in the catch-up: after the take, before the leading haltd was started
      expect(kept).toEqual([
        expect.stringMatching(new RegExp(`^haltd standby: ${signal}: this instance holds the lease and is taking over the engine: graceful shutdown`)),
      ])
      const keptAt = lineOf(standby, (l) => l === kept[0])
      expect(lineOf(standby, tookLease)).toBeLessThan(keptAt)
      expect(lineOf(standby, takingOver)).toBeGreaterThan(keptAt)
      expect(lease.find((l) => l.instance === 'standby')!.at).toBeLessThan(signalledAt)

      // the new leader's log: its leadership, then the shutdown the signal asked for, by signal
      const own = events(s.db, ['leadership.acquired', 'shutdown.requested', 'shutdown.completed'])
      expect(own.map((e) => e.type)).toEqual(['leadership.acquired', 'leadership.acquired', 'shutdown.requested', 'shutdown.completed'])
      expect(own[1]!.data).toMatchObject({ instance: 'standby', reason: 'failover', previous: 'primary' })
      expect(own[2]!.data).toMatchObject({ mode: 'graceful', origin: 'signal', reason: `${signal} received while this standby took over the engine` })
      const completed = own[3]!.data as { exitCode: number; outcome: string }
      expect(events(s.db, ['shutdown.escalated'])).toEqual([])
      expect(end).toEqual({ code: completed.exitCode, signal: null })
      // a graceful end, never a crash nor an emergency: clean, or residual where the standby's own
      // simulated venues do not hold what the dead primary's held (each process simulates its own)
      expect([0, 2]).toContain(completed.exitCode)
      expect(events(s.db, ['run.ended']).at(-1)?.data).toMatchObject({ exitCode: completed.exitCode })
      expect(standby.stdout.some((l) => l.includes('stop following'))).toBe(false)

      heldThroughout(lease, own[3]!.ts)
    },
  )

  it('given the same window, when SIGTERM reaches the standby twice, then the second escalates the kept graceful shutdown to an emergency, both recorded by signal in the order they came, before the leader’s startup', async () => {
    const { s, end, lease, kept } = await signalInTheCatchUp(['SIGTERM', 'SIGTERM'])

    expect(kept.map((l) => l.replace(/^.*taking over the engine: /, ''))).toEqual([
      'graceful shutdown, asked of the leader once it leads',
      'escalate to emergency, asked of the leader once it leads',
    ])
    const asked = events(s.db, ['shutdown.requested', 'shutdown.escalated'])
    expect(asked.map((e) => e.type)).toEqual(['shutdown.requested', 'shutdown.escalated'])
    expect(asked[0]!.data).toMatchObject({ mode: 'graceful', origin: 'signal', reason: 'SIGTERM received while this standby took over the engine' })
    expect(asked[1]!.data).toMatchObject({
      to: 'emergency',
      origin: 'signal',
      reason: expect.stringContaining('second SIGTERM while this standby took over the engine, during the graceful shutdown kept'),
    })
    // an emergency does not wait for the startup: asked as the leader's own handlers go in, before its venues are connected
    const led = events(s.db, ['leadership.acquired']).at(-1)!.seq
    const connected = events(s.db, ['venue.connected']).find((e) => e.seq > led)
    expect(asked[0]!.seq).toBeGreaterThan(led)
    expect(asked[1]!.seq).toBeLessThan(connected?.seq ?? Number.POSITIVE_INFINITY)
    const completed = events(s.db, ['shutdown.completed']).map((e) => e.data as { exitCode: number; mode?: string })
    expect(completed).toHaveLength(1)
    expect(end).toEqual({ code: completed[0]!.exitCode, signal: null })
    expect(end.code).toBe(3)
    heldThroughout(lease, events(s.db, ['shutdown.completed'])[0]!.ts)
  })
})
