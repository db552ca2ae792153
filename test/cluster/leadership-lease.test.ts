import type { KV } from '@nats-io/kv'
import { beforeAll, describe, expect, it } from 'vitest'
import { keepLeadership } from '../../src/cluster/leadership/keeper.js'
import {
  acquireLease,
  declineOffer,
  LeaseBucketMismatch,
  LeaseHeld,
  LeaseLost,
  offerLease,
  openLeaseBucket,
  readLease,
  renewLease,
  watchForTake,
  withdrawOffer,
} from '../../src/cluster/leadership/lease.js'
import { natsForFile } from '../support/nats-for-file.js'
import { natsClientForFile } from './support/nats-client.js'

const LEASE_MS = 1_000
const client = natsClientForFile(natsForFile())
let kv: KV
let engineNo = 0
const engine = () => `lead-${++engineNo}`

beforeAll(async () => {
  kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('the leadership lease', () => {
  it('given two instances racing for a free lease, exactly one holds it and the other is told who does', async () => {
    const e = engine()
    const results = await Promise.allSettled([
      acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 }),
      acquireLease(kv, { engine: e, instance: 'b', minEpoch: 0 }),
    ])
    const won = results.filter((r) => r.status === 'fulfilled')
    const refused = results.filter((r) => r.status === 'rejected')
    expect(won).toHaveLength(1)
    expect(refused).toHaveLength(1)
    expect((refused[0] as PromiseRejectedResult).reason).toBeInstanceOf(LeaseHeld)
    const holder = (await readLease(kv, e))!.value
    expect(holder.instance).toBe((won[0] as PromiseFulfilledResult<{ instance: string }>).value.instance)
    expect(holder.epoch).toBe(1)
  })

  it('the epoch is one more than the newest known, from the bucket or from the log', async () => {
    const e = engine()
    const first = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 6 })
    expect(first.epoch).toBe(7)
    const again = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    expect(again.epoch).toBe(8)
  })

  it('given a leader that stops renewing, the lease expires after its TTL, another takes it with the next epoch, and the old one learns it lost it', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    await expect(acquireLease(kv, { engine: e, instance: 'b', minEpoch: 0 })).rejects.toBeInstanceOf(LeaseHeld)
    await sleep(LEASE_MS + 400)
    const b = await acquireLease(kv, { engine: e, instance: 'b', minEpoch: a.epoch })
    expect(b.epoch).toBe(a.epoch + 1)
    await expect(renewLease(kv, a)).rejects.toBeInstanceOf(LeaseLost)
    await expect(renewLease(kv, a)).rejects.toThrow(/instance 'b' holds it now \(epoch 2\)/)
  })

  it('a renewing leader keeps the lease well past its TTL', async () => {
    const e = engine()
    const lost: string[] = []
    const keeper = keepLeadership({
      kv,
      lease: await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 }),
      leaseMs: LEASE_MS,
      marginMs: 250,
      onLost: (r) => lost.push(r),
    })
    try {
      await sleep(LEASE_MS * 2.5)
      expect(keeper.fence()).toBeUndefined()
      expect(lost).toEqual([])
      await expect(acquireLease(kv, { engine: e, instance: 'b', minEpoch: 0 })).rejects.toBeInstanceOf(LeaseHeld)
    } finally {
      keeper.stop()
    }
  })

  it('given a renewal on its way, when the leader stops renewing, then stop resolves after it lands and an offer at the lease it names succeeds', async () => {
    const e = engine()
    // the real bucket, its writes held 40 ms on the way, and told when one sets off
    let updateStarted: () => void = () => {}
    const started = new Promise<void>((r) => {
      updateStarted = r
    })
    const slow = new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop !== 'update') return Reflect.get(target, prop, receiver)
        return async (...args: Parameters<KV['update']>) => {
          updateStarted()
          await sleep(40)
          return target.update(...args)
        }
      },
    })
    const keeper = keepLeadership({
      kv: slow,
      lease: await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 }),
      leaseMs: 200,
      marginMs: 50,
      onLost: () => {},
    })
    await started
    await keeper.stop()
    // the offer travels the same slow way, behind the renewal
    await expect(offerLease(slow, keeper.lease(), 'b')).resolves.toBeGreaterThan(keeper.lease().revision)
    expect((await readLease(kv, e))!.value.offeredTo).toBe('b')
  })

  it('the fence closes from the leader’s own monotonic clock alone, before the lease can expire elsewhere', async () => {
    const e = engine()
    let clock = 0
    const lease = { ...(await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })), confirmedAt: 0 }
    const keeper = keepLeadership({ kv, lease, leaseMs: LEASE_MS, marginMs: 250, onLost: () => {}, now: () => clock })
    clock = 749
    expect(keeper.fence()).toBeUndefined()
    clock = 750
    expect(keeper.fence()).toBe('not the leader: the lease was last renewed 750 ms ago (it must be within 750 ms)')
    keeper.stop()
    expect(keeper.fence()).toMatch(/stopped renewing its lease/)
  })

  it('given a leader past its fence, it names what it knows (its lease not renewed in time) until it renews, loses or gives up the lease', async () => {
    const e = engine()
    let clock = 0
    const lease = { ...(await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })), confirmedAt: 0 }
    const keeper = keepLeadership({ kv, lease, leaseMs: LEASE_MS, marginMs: 250, onLost: () => {}, now: () => clock })
    clock = 749
    expect(keeper.unrenewed()).toBeUndefined()
    clock = 900
    expect(keeper.unrenewed()).toBe('the lease was last renewed 900 ms ago (it must be within 750 ms)')
    // a leader that stopped renewing (a handover's offer, a close) fences for itself: nothing unknown to report
    await keeper.stop()
    expect(keeper.unrenewed()).toBeUndefined()
  })

  it('given another writer rewrote the key in the leader’s name offering the lease, the renewal writes over it at that revision and says so; the standby can no longer take it', async () => {
    // given a leader, and an offer to 'b' it never made, written straight into the bucket
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    const forged = await kv.put(e, JSON.stringify({ instance: 'a', epoch: 1, renewedAt: new Date().toISOString(), offeredTo: 'b', handoverId: 'forged-1' }))
    // when the leader renews
    const renewed = await renewLease(kv, a)
    // then it still leads, over the forged revision, and says what it wrote over
    expect(renewed.overwrote).toBe(`revision ${forged}, written by another writer in this leader's name offering the lease to 'b'`)
    expect((await readLease(kv, e))!.value).toEqual({ instance: 'a', epoch: 1, renewedAt: expect.any(String) })
    const offer = { value: { instance: 'a', epoch: 1, renewedAt: '', offeredTo: 'b' }, revision: forged }
    await expect(acquireLease(kv, { engine: e, instance: 'b', minEpoch: 0, seen: offer })).rejects.toThrow()
    // and the next renewal is a plain one again
    expect((await renewLease(kv, renewed)).overwrote).toBeUndefined()
  })

  it('given a key rewritten with what is no lease, readers are told which bucket and key and why, and the leader renews over it', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    const garbage = await kv.put(e, 'not json at all')
    await expect(readLease(kv, e)).rejects.toThrow(
      `the lease of engine '${e}' in the bucket haltd-leadership (key '${e}', revision ${garbage}) cannot be read: it is not JSON`,
    )
    const renewed = await renewLease(kv, a)
    expect(renewed.overwrote).toBe(`revision ${garbage}, which is no lease: it is not JSON`)
    expect((await readLease(kv, e))!.value.instance).toBe('a')
    await kv.put(e, JSON.stringify({ holder: 'x' }))
    await expect(readLease(kv, e)).rejects.toThrow(/cannot be read: it is not a haltd lease \(instance: /)
  })

  it('given a renewal that landed and whose answer was lost, the next look finds its own write: no other writer is reported', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    // a bucket whose first update is stored and its answer lost on the way back
    let lose = true
    const lossy = new Proxy(kv, {
      get: (target, key) =>
        key === 'update'
          ? async (...args: Parameters<KV['update']>) => {
              const revision = await target.update(...args)
              if (!lose) return revision
              lose = false
              throw new Error('TIMEOUT')
            }
          : Reflect.get(target, key, target),
    })
    const renewed = await renewLease(lossy, a)
    expect(renewed.overwrote).toBeUndefined()
    expect(renewed.revision).toBe((await readLease(kv, e))!.revision)
  })

  it('given an earlier renewal that landed after it was given up on, the next renewal finds this leader’s own write: no other writer is reported', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    // given the bucket holding a plain renewal of 'a' from an attempt whose answer never came back
    await kv.update(e, JSON.stringify({ instance: 'a', epoch: 1, renewedAt: new Date(Date.now() - 1_000).toISOString() }), a.revision)
    // when the leader renews at the revision it last knew
    const renewed = await renewLease(kv, a)
    // then it leads on, renewed over its own write, and reports no other writer
    expect(renewed.overwrote).toBeUndefined()
    expect(renewed.revision).toBe((await readLease(kv, e))!.revision)
  })

  it('says the lease may be another’s only once a whole lease passed without a renewal', () => {
    let clock = 0
    const keeper = keepLeadership({
      kv,
      lease: { engine: 'x', instance: 'a', epoch: 1, revision: 1, confirmedAt: 0, previous: undefined },
      leaseMs: LEASE_MS,
      marginMs: 250,
      onLost: () => {},
      now: () => clock,
    })
    clock = LEASE_MS - 1
    expect(keeper.lapsed()).toBeUndefined()
    clock = LEASE_MS
    expect(keeper.lapsed()).toMatch(/a whole lease \(1000 ms\): another instance may hold it/)
    void keeper.stop()
  })

  it('given a lease another instance took, the renewal is lost, never written over', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    await kv.put(e, JSON.stringify({ instance: 'b', epoch: 2, renewedAt: new Date().toISOString() }))
    await expect(renewLease(kv, a)).rejects.toThrow("instance 'b' holds it now (epoch 2)")
    expect((await readLease(kv, e))!.value.instance).toBe('b')
  })

  it('given an offer to a named standby, that standby takes the lease with the next epoch and no other instance can', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    await offerLease(kv, a, 'b')
    await expect(acquireLease(kv, { engine: e, instance: 'c', minEpoch: 0 })).rejects.toThrow(/offered to 'b'/)
    const b = await acquireLease(kv, { engine: e, instance: 'b', minEpoch: 0 })
    expect(b).toMatchObject({ instance: 'b', epoch: 2, previous: 'a' })
    await expect(renewLease(kv, a)).rejects.toBeInstanceOf(LeaseLost)
  })

  it('given an offer the standby declines, the key goes back to the leader with the reason, the standby cannot take it, and the leader takes it back at the decline', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    const offered = await offerLease(kv, a, 'b', 'h-1', 7)
    const offer = (await readLease(kv, e))!
    expect(offer.revision).toBe(offered)
    await declineOffer(kv, e, offer, 'b', 'it is behind the offer')
    const now = (await readLease(kv, e))!
    expect(now.value).toMatchObject({ instance: 'a', epoch: 1, handoverId: 'h-1', declinedBy: 'b', declined: 'it is behind the offer' })
    expect(now.value.offeredTo).toBeUndefined()
    // the offer it declined is gone: neither a take at the offer's revision nor a second decline succeeds
    await expect(acquireLease(kv, { engine: e, instance: 'b', minEpoch: 0, seen: offer })).rejects.toThrow()
    await expect(declineOffer(kv, e, offer, 'b', 'again')).rejects.toThrow()
    // and withdrawing at the offer's own revision fails too: the leader takes it back at the decline's
    await expect(withdrawOffer(kv, a, offered)).rejects.toThrow()
    const back = await withdrawOffer(kv, a, now.revision)
    expect((await renewLease(kv, back)).instance).toBe('a')
  })

  it('given an offer, watchForTake resolves as the standby takes the lease, well before its timeout', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    await offerLease(kv, a, 'b', 'h-2', 0)
    const started = performance.now()
    const answer = watchForTake(kv, e, { to: 'b', handoverId: 'h-2' }, 5_000)
    await sleep(50)

    await acquireLease(kv, { engine: e, instance: 'b', minEpoch: 0 })

    await expect(answer).resolves.toEqual({ taken: true })
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('given the standby took the lease before the watch started, watchForTake sees the take at once', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    await offerLease(kv, a, 'b', 'h-3', 0)
    await acquireLease(kv, { engine: e, instance: 'b', minEpoch: 0 })
    const started = performance.now()

    await expect(watchForTake(kv, e, { to: 'b', handoverId: 'h-3' }, 5_000)).resolves.toEqual({ taken: true })
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('given an offer the standby declines while watched, watchForTake says so with the reason and the revision of the decline', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    await offerLease(kv, a, 'b', 'h-4', 0)
    const answer = watchForTake(kv, e, { to: 'b', handoverId: 'h-4' }, 5_000)
    await sleep(20)

    const declined = await declineOffer(kv, e, (await readLease(kv, e))!, 'b', 'it is behind the offer')

    await expect(answer).resolves.toEqual({ taken: false, declined: { reason: 'it is behind the offer', revision: declined } })
  })

  it('given an offer nobody answers, watchForTake gives up after its timeout with neither a take nor a decline', async () => {
    const e = engine()
    const a = await acquireLease(kv, { engine: e, instance: 'a', minEpoch: 0 })
    await offerLease(kv, a, 'b', 'h-5', 0)
    const started = performance.now()

    await expect(watchForTake(kv, e, { to: 'b', handoverId: 'h-5' }, 150)).resolves.toEqual({ taken: false })
    expect(performance.now() - started).toBeGreaterThanOrEqual(140)
  })

  it('given a bucket made with another TTL, an instance with a different lease is refused, naming both', async () => {
    await expect(openLeaseBucket(client.nc, { leaseMs: LEASE_MS * 2, replicas: 1 })).rejects.toBeInstanceOf(LeaseBucketMismatch)
  })
})
