import { describe, expect, it } from 'vitest'
import { acquireLease, offerLease, openLeaseBucket, readLease, renewLease } from '../../src/cluster/leadership/lease.js'
import { createStandby } from '../../src/daemon/index.js'
import { natsForFile } from '../support/nats-for-file.js'
import { instanceConfig, quietLogger } from './support/instances.js'
import { natsClientForFile } from './support/nats-client.js'
import { until } from '../support/until.js'

/**
 * A standby offered the lease while its log cannot hold the offered seq in time declines the offer
 * in the lease's key, saying how far behind it is, instead of letting the leader wait it out. The
 * leader here is the test itself, writing the bucket as a leader does.
 */

const nats = natsForFile()
const client = natsClientForFile(nats)

const LEASE_MS = 4_000

describe('a standby behind an offer', { timeout: 20_000 }, () => {
  it('given an offer naming a seq its stream never delivers, the standby declines within the leader’s wait, naming both seqs, and records nothing', async () => {
    const engine = 'behind'
    const b = await createStandby(instanceConfig(nats.url, engine, 'b', { leaseMs: LEASE_MS }), { logger: quietLogger(), env: {} })
    try {
      const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
      const lease = await acquireLease(kv, { engine, instance: 'a', minEpoch: 0 })
      // the leader's wait for the take: the release step's share of the default 5 s budget, at most half the lease
      const leaderWaitsMs = Math.min(2_000, LEASE_MS / 2)
      const offeredAt = performance.now()
      const offered = await offerLease(kv, lease, 'b', 'h-behind', 100)

      let now = await readLease(kv, engine)
      while (now?.value.declinedBy === undefined && performance.now() - offeredAt < leaderWaitsMs * 2) {
        await new Promise((r) => setTimeout(r, 10))
        now = await readLease(kv, engine)
      }
      const tookMs = performance.now() - offeredAt
      expect(now?.revision).toBeGreaterThan(offered)
      expect(now?.value).toMatchObject({
        instance: 'a',
        epoch: lease.epoch,
        handoverId: 'h-behind',
        declinedBy: 'b',
        declined: expect.stringMatching(/^it is behind the offer: the standby holds seq 0, not 100, after \d+ ms$/),
      })
      expect(now?.value.offeredTo).toBeUndefined()
      expect(tookMs).toBeLessThan(leaderWaitsMs)
      expect(b.status()).toMatchObject({ role: 'standby', refused: now?.value.declined })
      expect(b.log.lastSeq).toBe(0)
      // once the leader renews its lease plainly again, the refusal is history: the status no longer shows it
      await renewLease(kv, { ...lease, revision: now!.revision })
      await until('the refusal cleared', () => b.status().refused === undefined, 5_000)
      expect(b.status()).toMatchObject({ role: 'standby', leader: { instance: 'a', epoch: lease.epoch } })
    } finally {
      await b.close()
    }
  })
})
