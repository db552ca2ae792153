import { describe, expect, it } from 'vitest'
import { openLeaseBucket } from '../../src/cluster/leadership/lease.js'
import { until } from '../support/until.js'
import { proxiedStandbysForFile } from './support/proxied-standby.js'
import { watchLeaseWrites } from './support/lease-writes.js'

/**
 * A lease a standby took but no leading haltd of it came to renew goes back to the bucket at once,
 * so the engine does not wait out a lease nobody renews: a standby stopped while its take of an
 * expired lease is on its way (the take may land after the stop was asked; a standby asked to stop
 * before it knew it held the lease stops), and one that took it but could not catch up with the
 * stream (it follows again, and takes the lease anew once it can). A stop asked once it knows it
 * holds the lease is the leader's shutdown instead: takeover-signal-process.test.ts.
 */

const LEASE_MS = 3_000
// each answer to the standby held this long: the take is written well before the standby hears of it,
// and still within the quarter lease a request on the lease waits for its answer
const SLOW_MS = 600
const failover = { leaseMs: LEASE_MS, fenceMarginMs: 500 }
const { client, pairs, standbyBehindAProxy } = proxiedStandbysForFile(failover)

describe('a lease a standby took before it leads', { timeout: 30_000 }, () => {
  it('given the leader gone and the standby’s take written but not yet answered, when the standby is closed, then it does not lead, and gives the lease back at once, saying so', async () => {
    const engine = `taking-${Date.now()}`
    const { proxy, a, b, said, logged } = await standbyBehindAProxy(engine)
    const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
    let closing: Promise<void> | undefined
    // when the take is in the bucket, before its answer reaches the standby: the standby is closed
    const seen = await watchLeaseWrites(client.nc, engine, LEASE_MS, (w) => {
      if (w.instance === 'b' && !closing) closing = b.close()
    })

    proxy.slow(SLOW_MS)
    await a.close()
    await until('the standby’s take in the bucket', () => closing !== undefined, LEASE_MS * 4)
    await closing
    await until('the lease given back', () => seen.some((s) => s.operation !== 'PUT'))

    const took = seen.find((s) => s.instance === 'b')!
    const back = seen.find((s) => s.seenAt >= took.seenAt && s.operation !== 'PUT')!
    // given back at once: within a few answers of the slowed link, long before the lease would expire
    expect(back.seenAt - took.seenAt).toBeLessThan(LEASE_MS)
    expect(await kv.get(engine).then((e) => e?.operation)).not.toBe('PUT')
    expect(b.status().role).toBe('stopped')
    const led = await Promise.race([b.promoted.then(() => 'led'), new Promise((r) => setTimeout(() => r('not led'), SLOW_MS * 3))])
    expect(led).toBe('not led')
    expect(said().map((l) => l.msg)).toContain('standby: gave the lease back: another instance may take over at once')
    expect(logged()).toContain('the standby was stopped while its take of the lease was on its way')
  })

  it('given the standby took the lease, when its link drops before it caught up with the stream, then it gives the lease back if it can, follows again, and once back takes the lease anew and leads', async () => {
    const engine = `taking-${Date.now()}`
    const { proxy, a, b, said } = await standbyBehindAProxy(engine)

    proxy.slow(SLOW_MS)
    await a.close()
    // it took the lease; the answer to its catch-up is held by the proxy when the link drops
    await until(
      'the standby took the lease',
      () => said().some((l) => l.msg === 'standby: took the lease; catching up with the stream before it leads'),
      LEASE_MS * 4,
    )
    proxy.cut()
    const refused = await until('the standby refused to lead', () => said().find((l) => l.msg === 'standby: not taking over'), 30_000, 50)
    expect(refused.reason).toMatch(/^it took the lease but could not catch up with the stream: /)
    expect(b.status()).toMatchObject({ role: 'standby', refused: refused.reason })

    proxy.slow(0)
    await proxy.restore()
    const leader = pairs.closeAfter(await b.promoted)
    const acquired = [...leader.log.read({ types: ['leadership.acquired'] })].map((e) => e.data as { instance: string; reason: string })
    expect(acquired.map((d) => `${d.instance}:${d.reason}`)).toEqual(['a:startup', 'b:failover'])
  }, 60_000)
})
