import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { streamNameOf } from '../../src/cluster/replication/log-stream.js'
import { demoConfig } from '../../src/daemon/demo.js'
import { events, spawnHaltd, waitFor, waitForAsync, whenUp, type Daemon } from '../daemon/processes.js'
import { startFakeOkx, type FakeOkx } from '../support/fake-okx/index.js'
import { startNatsCluster, type NatsCluster } from '../support/nats-server.js'
import { tempDir } from '../support/tmp.js'
import { haltdCli } from './support/cli.js'
import { failoverFindings, logRows, readStream } from './support/failover-invariants.js'

/**
 * Real haltd processes on a real three-node NATS cluster, the log stream and the lease bucket
 * replicated three ways: the primary runs the demo's strategies and a market maker at the fake
 * OKX (through the real ccxt class), the standby runs `haltd run` with the standby role. Each test
 * ends on the three numbers: 0 acknowledged events lost, 0 forks, 0 orders sent by a non-leader.
 */

const SWAP = 'BTC/USDT:USDT'
let cluster: NatsCluster
let nc: NatsConnection
let venue: FakeOkx
let drift: NodeJS.Timeout
let engineNo = 0

beforeAll(async () => {
  ;[cluster, venue] = await Promise.all([startNatsCluster(3), startFakeOkx()])
  nc = await connect({ servers: cluster.urls })
  // the market moves, so the market maker at the venue keeps requoting: a steady order flow
  let step = 0
  drift = setInterval(() => venue.engine.setMid('BTCUSDT', 50_000 + 40 * Math.sin(step++ / 3)), 100)
})
afterAll(async () => {
  clearInterval(drift)
  await nc.close()
  await Promise.all([cluster.close(), venue.close()])
})

function configFile(dir: string, engine: string, instance: string, role: 'primary' | 'standby'): { file: string; db: string } {
  const db = join(dir, `${instance}.db`)
  const demo = demoConfig({ db, port: 0, seed: 1, orders: 0 })
  const config = {
    ...demo,
    log: { format: 'json', level: 'info' },
    venues: [
      ...(demo.venues ?? []),
      {
        kind: 'ccxt',
        name: 'okx',
        exchange: 'okx',
        apiKey: venue.apiKey,
        secret: venue.secret,
        password: venue.passphrase,
        symbols: [SWAP],
        tickerPollMs: 100,
        // ccxt's limiter off: the orders these tests wait for reach the venue unspaced by OKX's call costs
        options: { enableRateLimit: false, urls: { api: { rest: venue.origin } }, options: { defaultType: 'swap' } },
      },
    ],
    strategies: [
      ...(demo.strategies ?? []),
      {
        kind: 'market-maker',
        id: 'mm-venue-okx',
        markets: [{ venue: 'okx', symbol: SWAP }],
        qty: 0.1,
        halfSpreadBps: 20,
        requoteBps: 2,
        maxInventory: 1,
        limits: { maxPosition: 2, maxOpenOrders: 4, maxOrdersPerSecond: 20 },
      },
    ],
    nats: { servers: cluster.urls, engine, instance, connectTimeoutMs: 2_000 },
    // an order waits out a stream leader's election (some seconds on NATS 2.9) rather than halting the desk
    replication: { mode: 'sync', replicas: 3, ackTimeoutMs: 20_000 },
    failover: { role, replicas: 3, leaseMs: 15_000, fenceMarginMs: 3_000, handoverBudgetMs: 3_000 },
  }
  const file = join(dir, `${instance}.json`)
  writeFileSync(file, JSON.stringify(config))
  return { file, db }
}

async function pair(): Promise<{ engine: string; primary: Daemon; standby: Daemon }> {
  const dir = tempDir()
  const engine = `cl-${++engineNo}`
  const p = configFile(dir, engine, 'primary', 'primary')
  const s = configFile(dir, engine, 'standby', 'standby')
  const primary = spawnHaltd(['run', '--config', p.file], { db: p.db })
  await whenUp(primary)
  // `haltd run` with the standby role
  const standby = spawnHaltd(['run', '--config', s.file], { db: s.db })
  await waitFor('the standby follows', () => standby.stdout.some((l) => l.startsWith('haltd standby: instance standby follows')), standby)
  return { engine, primary, standby }
}

const venueOrders = () => [...venue.engine.orders.futures.values()].map((o) => o.clientOrderId)
const okxAccepted = (db: string) => events(db, ['order.accepted']).filter((e) => (e.data as { venue: string }).venue === 'okx').length
const streamLast = async (engine: string) => (await (await jetstreamManager(nc)).streams.info(streamNameOf(engine))).state.last_seq

describe('failover on a three-node NATS cluster, real processes', { timeout: 90_000 }, () => {
  it('given one NATS node killed mid-stream (the one leading the log stream), replication goes on through the other two: nothing acknowledged lost, no fork, no order from the standby', async () => {
    const before = venueOrders().length
    const { engine, primary, standby } = await pair()
    await waitFor('orders at the venue', () => okxAccepted(primary.db) >= 3, primary)
    const info = await (await jetstreamManager(nc)).streams.info(streamNameOf(engine))
    expect(info.config.num_replicas).toBe(3)
    const leader = cluster.nodes.find((n) => n.name === info.cluster?.leader)
    expect(leader).toBeDefined()
    const atKill = await streamLast(engine)
    const acceptedAtKill = okxAccepted(primary.db)
    await leader!.kill()

    // the stream elects another leader among the two left; the primary's publishes and the standby's follow go on
    await waitForAsync(async () => ((await streamLast(engine).catch(() => 0)) > atKill + 200 ? true : undefined), 40_000)
    await waitFor('more orders at the venue after the kill', () => okxAccepted(primary.db) >= acceptedAtKill + 3, primary, 40_000)
    const streamNow = await streamLast(engine)
    await waitFor('the standby follows past the kill', () => events(standby.db).length >= streamNow, standby, 40_000)
    expect(primary.logs().filter((l) => /HALTED/.test(String(l.msg)))).toEqual([])

    standby.child.kill('SIGTERM')
    expect((await standby.exit).code).toBe(0)
    primary.child.kill('SIGKILL')
    await primary.exit
    await leader!.start()

    const findings = failoverFindings({
      stream: await readStream(nc, engine),
      logs: { primary: logRows(primary.db), standby: logRows(standby.db) },
      venueOrders: venueOrders().slice(before),
      // killed at the end: its tail past the stream, if any, was never acknowledged
      deposed: ['primary'],
    })
    expect({ ...findings, tails: Object.keys(findings.tails) }).toEqual({
      lost: [],
      forks: [],
      nonLeaderOrders: [],
      tails: Object.keys(findings.tails).filter((k) => k === 'primary'),
    })
    expect(venueOrders().length - before).toBeGreaterThanOrEqual(6)
  })

  it('given a handover to a standby that cannot confirm (frozen by SIGSTOP, then killed), it rolls back: the primary reopens its gate and trades on, every step logged', async () => {
    const before = venueOrders().length
    const { engine, primary, standby } = await pair()
    await waitFor('orders at the venue', () => okxAccepted(primary.db) >= 2, primary)
    standby.child.kill('SIGSTOP')
    const handover = await haltdCli(['handover', '--to', 'standby', '--db', primary.db, '--reason', 'rolling restart'])
    standby.child.kill('SIGKILL')
    await standby.exit
    expect(handover.status).toBe(1)
    expect(handover.stderr).toBe('')
    expect(handover.stdout).toMatch(/rolled-back \('standby' did not take the lease within \d+ ms\)/)

    const [requested] = events(primary.db, ['handover.requested'])
    const steps = events(primary.db)
      .filter((e) => e.stream === requested!.stream)
      .map((e) => (e.type === 'handover.step' ? `${(e.data as { step: string }).step}:${(e.data as { phase: string }).phase}` : e.type))
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
      'roll-back:started',
      'roll-back:completed',
      'handover.completed',
    ])
    const afterRollBack = okxAccepted(primary.db)
    await waitFor('the primary trades on', () => okxAccepted(primary.db) >= afterRollBack + 2, primary, 30_000)

    primary.child.kill('SIGKILL')
    await primary.exit
    const findings = failoverFindings({
      stream: await readStream(nc, engine),
      logs: { primary: logRows(primary.db), standby: logRows(join(primary.db, '..', 'standby.db')) },
      venueOrders: venueOrders().slice(before),
      // killed at the end: its tail past the stream, if any, was never acknowledged
      deposed: ['primary'],
    })
    expect({ ...findings, tails: Object.keys(findings.tails) }).toEqual({
      lost: [],
      forks: [],
      nonLeaderOrders: [],
      tails: Object.keys(findings.tails).filter((k) => k === 'primary'),
    })
  })
})
