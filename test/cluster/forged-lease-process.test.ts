import { Kvm } from '@nats-io/kv'
import { describe, expect, it } from 'vitest'
import { LEADERSHIP_BUCKET } from '../../src/cluster/leadership/lease.js'
import { events, waitFor } from '../daemon/processes.js'
import { natsForFile } from '../support/nats-for-file.js'
import { natsClientForFile } from './support/nats-client.js'
import { processPair } from './support/process-pair.js'

/**
 * Real haltd processes, a real nats-server, and another writer on the leadership bucket: what the
 * bucket says is taken only where the log backs it, so one write cannot make two leaders.
 */

const LEASE_MS = 1_500
const nats = natsForFile()
const client = natsClientForFile(nats)
let engineNo = 0
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const pair = () => processPair({ url: nats.url, engine: `forged-${++engineNo}`, failover: { leaseMs: LEASE_MS, fenceMarginMs: 400, onUnplanned: 'active' } })

describe('the lease written by someone other than the leader, as real processes', { timeout: 90_000 }, () => {
  it('given an offer of the lease to the standby that the primary never made, the standby declines it and the primary leads on, trading', async () => {
    // given a primary trading and a standby following it
    const { engine, primary, standby, p, s } = await pair()
    await waitFor('orders flowing', () => events(p.db, ['order.accepted']).length >= 5, primary)

    // when another writer puts an offer to the standby into the lease key, naming the log's last seq
    const kv = await new Kvm(client.nc).open(LEADERSHIP_BUCKET)
    const lastSeq = events(s.db).at(-1)!.seq
    await kv.put(
      engine,
      JSON.stringify({ instance: 'primary', epoch: 1, renewedAt: new Date().toISOString(), offeredTo: 'standby', handoverId: 'forged-1', lastSeq }),
    )

    // then the standby declines it, saying the log holds no such release
    const declined = await waitFor('the standby declines', () => standby.logs().find((l) => l.msg === 'standby: declined the offered lease'), standby)
    expect(declined.reason).toMatch(/the offer from 'primary' \(epoch 1, handover forged-1\) is not in its log/)
    // and the primary writes its lease back over what it did not write, and leads on
    await waitFor('the primary renews over it', () => primary.logs().find((l) => String(l.msg).startsWith('leadership: another writer rewrote')), primary)
    const before = events(p.db, ['order.accepted']).length
    await sleep(LEASE_MS * 2)
    expect(standby.stdout.some((l) => l.includes('leads engine'))).toBe(false)
    expect(events(s.db, ['leadership.acquired']).map((e) => (e.data as { instance: string }).instance)).toEqual(['primary'])
    expect(events(p.db, ['order.accepted']).length).toBeGreaterThan(before)
    expect(events(p.db, ['run.ended'])).toEqual([])
    expect(primary.logs().some((l) => String(l.msg).includes('no longer leads its engine'))).toBe(false)

    primary.child.kill('SIGTERM')
    expect((await primary.exit).code).toBe(0)
    standby.child.kill('SIGTERM')
    await standby.exit
  })

  it('given the lease key overwritten with what is no lease, the primary renews over it before it can expire: no failover, no run recorded crashed', async () => {
    const { engine, primary, standby, p, s } = await pair()
    await waitFor('orders flowing', () => events(p.db, ['order.accepted']).length >= 5, primary)
    const kv = await new Kvm(client.nc).open(LEADERSHIP_BUCKET)

    // when the key is overwritten with garbage, twice, a lease apart
    await kv.put(engine, 'not json at all')
    await sleep(LEASE_MS)
    await kv.put(engine, 'not json at all')
    await sleep(LEASE_MS * 2)

    // then the primary still leads and trades, and the standby neither leads nor records a crash
    expect(primary.logs().filter((l) => String(l.msg).startsWith('leadership: another writer rewrote')).length).toBeGreaterThanOrEqual(2)
    expect(standby.stdout.some((l) => l.includes('leads engine'))).toBe(false)
    expect(events(s.db, ['run.crashed', 'leadership.acquired']).map((e) => e.type)).toEqual(['leadership.acquired'])
    const before = events(p.db, ['order.accepted']).length
    await waitFor('more orders', () => events(p.db, ['order.accepted']).length > before, primary)

    primary.child.kill('SIGTERM')
    expect((await primary.exit).code).toBe(0)
    standby.child.kill('SIGTERM')
    await standby.exit
  })
})
