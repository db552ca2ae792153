import { describe, expect, it } from 'vitest'
import { readFleet, type FleetMember } from '../../src/cluster/fleet/registry.js'
import { natsForFile } from '../support/nats-for-file.js'
import { operatorView, until } from './support/fleet.js'
import { pairsForFile } from './support/instances.js'
import { SYMBOL } from './support/sim-venue.js'

const nats = natsForFile()
const pairs = pairsForFile(nats, { leaseMs: 1_000, fenceMarginMs: 250 })

const configFor = (engine: string, instance: string) => ({ ...pairs.config(engine, instance), fleet: { refreshMs: 200, ttlMs: 1_000 } })
const order = { venue: 'sim-a', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 40_000, origin: { kind: 'manual' } } as const
const rowOf = (fleet: FleetMember[], instance: string) => fleet.find((m) => m.row?.instance === instance)?.row

describe('a hot standby in the fleet', { timeout: 30_000 }, () => {
  it('given a leader and its standby, the registry holds a row for each (standby: role standby, counting nothing, following the seq); after a handover the standby’s row says leader and RUNNING, and the old leader’s row leads and holds nothing', async () => {
    const a = await pairs.primary(configFor('sb-fleet', 'a'))
    const b = await pairs.standby(configFor('sb-fleet', 'b'))
    expect((await a.orders.submit(order)).status).toBe('accepted')
    const op = await operatorView(nats.url)
    try {
      const read = () => readFleet({ ...op.buckets, now: Date.now() })
      const both = await until('a row for the leader and one for the standby, the standby caught up', async () => {
        const f = await read()
        const [la, sb] = [rowOf(f, 'a'), rowOf(f, 'b')]
        return la && sb && sb.seq === a.log.lastSeq ? f : undefined
      })
      expect(rowOf(both, 'a')).toMatchObject({ engine: 'sb-fleet', role: 'leader', state: 'RUNNING', openOrders: 1 })
      expect(rowOf(both, 'b')).toMatchObject({ engine: 'sb-fleet', role: 'standby', state: 'STANDBY', openOrders: 0, grossExposure: 0, fleetSeen: true })
      expect(both.filter((m) => m.engine === 'sb-fleet').every((m) => m.reachable)).toBe(true)

      // when the leader hands the engine to the standby
      expect(await a.handover({ to: 'b', reason: 'rolling restart' })).toMatchObject({ outcome: 'handed-over' })
      const leader = await b.promoted
      pairs.closeAfter(leader)

      // then the same instance's row says leader, and the old leader's says it stopped, leading no more and holding nothing
      const after = await until('the standby’s row says leader, running', async () => {
        const f = await read()
        const row = rowOf(f, 'b')
        return row?.role === 'leader' && row.state === 'RUNNING' ? f : undefined
      })
      expect(rowOf(after, 'b')).toMatchObject({ role: 'leader', state: 'RUNNING', fleetSeen: true })
      expect(rowOf(after, 'b')!.seq).toBeGreaterThan(rowOf(both, 'a')!.seq)
      expect(rowOf(after, 'a')).toMatchObject({ role: 'standby', state: 'STOPPED', exit: { code: 0 }, openOrders: 0, grossExposure: 0 })
      expect(after.filter((m) => m.engine === 'sb-fleet' && m.row?.role === 'leader').map((m) => m.row?.instance)).toEqual(['b'])
      expect(b.status().role).toBe('leader')
    } finally {
      await op.nc.close()
    }
  })
})
