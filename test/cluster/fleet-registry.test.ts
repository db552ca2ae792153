import { afterEach, describe, expect, it } from 'vitest'
import { connect } from '@nats-io/transport-node'
import { openFleetBuckets, rowKey } from '../../src/cluster/fleet/buckets.js'
import { readFleet } from '../../src/cluster/fleet/registry.js'
import { InvalidConfig, parseConfig } from '../../src/daemon/config.js'
import type { Haltd } from '../../src/daemon/index.js'
import { natsForFile } from '../support/nats-for-file.js'
import { startNats } from '../support/nats-server.js'
import { fleetEngine, operatorView, until } from './support/fleet.js'

const nats = natsForFile()
const engines: Haltd[] = []
afterEach(async () => {
  for (const h of engines.splice(0)) await h.close().catch(() => undefined)
})

const base = { db: { path: '/tmp/haltd-fleet-config.db' } }

describe('the fleet section', () => {
  it('given a fleet without nats, the config is refused naming the fleet', () => {
    expect(() => parseConfig({ ...base, fleet: {} })).toThrow(InvalidConfig)
    try {
      parseConfig({ ...base, fleet: {} })
    } catch (e) {
      expect((e as InvalidConfig).problems.map((p) => p.path)).toEqual(['fleet'])
    }
  })

  it('given nats and a fleet, it is taken with its defaults; a TTL shorter than two refreshes is refused', () => {
    const nats = { servers: ['nats://127.0.0.1:4222'], engine: 'mm-1' }
    expect(parseConfig({ ...base, nats, fleet: {} }).fleet).toEqual({ enabled: true, onDisconnect: 'keep', refreshMs: 2_000, ttlMs: 10_000, replicas: 1 })
    expect(() => parseConfig({ ...base, nats, fleet: { refreshMs: 1_000, ttlMs: 1_500 } })).toThrow(/ttlMs/)
    expect(() => parseConfig({ ...base, nats, fleet: { onDisconnect: 'panic' } })).toThrow(/onDisconnect/)
  })
})

describe('the fleet registry', { timeout: 30_000 }, () => {
  it('given two engines in a fleet, each has a fresh row with its identity, state and holdings, refreshed every few hundred ms', async () => {
    engines.push(await fleetEngine(nats.url, 'alpha'), await fleetEngine(nats.url, 'beta'))
    const [alpha] = engines
    await alpha!.orders.submit({
      venue: 'alpha-sim',
      symbol: 'BTC/USDT:USDT',
      side: 'buy',
      type: 'limit',
      qty: 0.01,
      price: 40_000,
      origin: { kind: 'manual' },
    })
    const op = await operatorView(nats.url)
    try {
      const fleet = await until('both rows, alpha with its order', async () => {
        const f = await readFleet({ ...op.buckets, now: Date.now() })
        return f.length === 2 && f[0]?.row?.openOrders === 1 ? f : undefined
      })
      expect(fleet.map((m) => [m.engine, m.reachable])).toEqual([
        ['alpha', true],
        ['beta', true],
      ])
      expect(fleet[0]!.row).toMatchObject({
        engine: 'alpha',
        instance: 'alpha-i1',
        pid: process.pid,
        role: 'leader',
        state: 'RUNNING',
        openOrders: 1,
        grossExposure: 0,
        killSwitch: { latched: false },
        fleetSeen: true,
        refreshMs: 200,
      })
      expect(Date.parse(fleet[0]!.row!.lastEventAt!)).toBeGreaterThan(Date.now() - 10_000)
      const firstAt = fleet[1]!.row!.at
      await until('a refresh of beta', async () => (await readFleet({ ...op.buckets, now: Date.now() }))[1]?.row?.at !== firstAt)
      expect(alpha!.status().fleet).toMatchObject({ engine: 'alpha', instance: 'alpha-i1', seen: true })
    } finally {
      await op.nc.close()
    }
  })

  it('given an engine that stopped, its last row says STOPPED with the exit code; once the row expires it is reported gone', async () => {
    const gamma = await fleetEngine(nats.url, 'gamma')
    const op = await operatorView(nats.url)
    try {
      await until(
        'gamma running',
        async () => (await readFleet({ ...op.buckets, now: Date.now() })).find((m) => m.engine === 'gamma')?.row?.state === 'RUNNING',
      )
      await gamma.close(0)
      const stopped = (await readFleet({ ...op.buckets, now: Date.now() })).find((m) => m.engine === 'gamma')
      expect(stopped?.row).toMatchObject({ state: 'STOPPED', exit: { code: 0 } })
      const gone = await until('gamma gone', async () => {
        const m = (await readFleet({ ...op.buckets, now: Date.now() })).find((x) => x.engine === 'gamma')
        return m && !m.row ? m : undefined
      })
      expect(gone).toEqual({ engine: 'gamma', reachable: false, why: 'gone' })
    } finally {
      await op.nc.close()
    }
  })
})

describe('reading the fleet while rows expire', { timeout: 60_000 }, () => {
  it('given rows expiring while the registry is listed, every read answers at once: none waits on a row that expired meanwhile', async () => {
    // a server of its own: the registry's age limit is the bucket's, set by whoever creates it first
    const server = await startNats()
    const nc = await connect({ servers: [server.url] })
    try {
      const buckets = await openFleetBuckets(nc, { ttlMs: 300, replicas: 1 })
      let slowest = 0
      let mostKeys = 0
      for (let round = 0; round < 15; round++) {
        for (let i = 0; i < 5; i++) await buckets.registry.put(rowKey(`e${i}`, 'i1'), JSON.stringify({ round }))
        // read over and over across the moment the rows expire
        const until = Date.now() + 500
        while (Date.now() < until) {
          const started = Date.now()
          const fleet = await readFleet({ ...buckets, now: Date.now() })
          slowest = Math.max(slowest, Date.now() - started)
          mostKeys = Math.max(mostKeys, fleet.length, (await buckets.keys('haltd-fleet')).length)
        }
      }
      // listing by a consumer waited out its 30 s heartbeat here, within the first few rounds
      expect(slowest).toBeLessThan(3_000)
      expect(mostKeys).toBe(5)
      expect(await buckets.keys('haltd-fleet')).toEqual([])
    } finally {
      await nc.close()
      await server.close()
    }
  })
})
