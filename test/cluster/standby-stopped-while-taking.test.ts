import { afterEach, describe, expect, it } from 'vitest'
import { LeaseValue, openLeaseBucket } from '../../src/cluster/leadership/lease.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { natsForFile } from '../support/nats-for-file.js'
import { until } from '../support/until.js'
import { instanceConfig, pairsForFile, quietPorts } from './support/instances.js'
import { natsClientForFile } from './support/nats-client.js'
import { linkProxy, type LinkProxy } from './support/proxy.js'

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
const nats = natsForFile()
const client = natsClientForFile(nats)
const failover = { leaseMs: LEASE_MS, fenceMarginMs: 500 }
const pairs = pairsForFile(nats, failover)
const proxies: LinkProxy[] = []
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close()
})

describe('a lease a standby took before it leads', { timeout: 30_000 }, () => {
  it('given the leader gone and the standby’s take written but not yet answered, when the standby is closed, then it does not lead, and gives the lease back at once, saying so', async () => {
    const engine = `taking-${Date.now()}`
    const proxy = await linkProxy(nats.node.port)
    proxies.push(proxy)
    const a = await pairs.primary(pairs.config(engine, 'a'))
    const said = memoryDestination()
    const b = await pairs.standby(instanceConfig(proxy.url, engine, 'b', failover), {
      ...quietPorts(),
      logger: createLogger({ destination: said, level: 'warn' }),
    })
    await until('the standby holds the leader’s log', () => b.status().follower.seq === a.log.committedSeq)
    const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
    const watcher = await kv.watch({ key: engine })
    const seen: { at: number; operation: string; instance?: string }[] = []
    let closing: Promise<void> | undefined
    void (async () => {
      for await (const e of watcher) {
        const parsed = e.operation === 'PUT' ? LeaseValue.safeParse(e.json()) : undefined
        const instance = parsed?.success ? parsed.data.instance : undefined
        seen.push({ at: Date.now(), operation: e.operation, ...(instance ? { instance } : {}) })
        // when the take is in the bucket, before its answer reaches the standby: the standby is closed
        if (instance === 'b' && !closing) closing = b.close()
      }
    })()

    proxy.slow(SLOW_MS)
    await a.close()
    await until('the standby’s take in the bucket', () => closing !== undefined, LEASE_MS * 4)
    await closing
    await until('the lease given back', () => seen.some((s) => s.operation !== 'PUT'))
    watcher.stop()

    const took = seen.find((s) => s.instance === 'b')!
    const back = seen.find((s) => s.at >= took.at && s.operation !== 'PUT')!
    // given back at once: within a few answers of the slowed link, long before the lease would expire
    expect(back.at - took.at).toBeLessThan(LEASE_MS)
    expect(await kv.get(engine).then((e) => e?.operation)).not.toBe('PUT')
    expect(b.status().role).toBe('stopped')
    const led = await Promise.race([b.promoted.then(() => 'led'), new Promise((r) => setTimeout(() => r('not led'), SLOW_MS * 3))])
    expect(led).toBe('not led')
    expect(said.lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('standby: gave the lease back: another instance may take over at once')
    expect(said.lines.join('\n')).toContain('the standby was stopped while its take of the lease was on its way')
  })

  it('given the standby took the lease, when its link drops before it caught up with the stream, then it gives the lease back if it can, follows again, and once back takes the lease anew and leads', async () => {
    const engine = `taking-${Date.now()}`
    const proxy = await linkProxy(nats.node.port)
    proxies.push(proxy)
    const a = await pairs.primary(pairs.config(engine, 'a'))
    const said = memoryDestination()
    const b = await pairs.standby(instanceConfig(proxy.url, engine, 'b', failover), {
      ...quietPorts(),
      logger: createLogger({ destination: said, level: 'warn' }),
    })
    await until('the standby holds the leader’s log', () => b.status().follower.seq === a.log.committedSeq)
    const msgs = () => said.lines.map((l) => JSON.parse(l) as { msg: string; reason?: string })

    proxy.slow(SLOW_MS)
    await a.close()
    // it took the lease; the answer to its catch-up is held by the proxy when the link drops
    await until(
      'the standby took the lease',
      () => msgs().some((l) => l.msg === 'standby: took the lease; catching up with the stream before it leads'),
      LEASE_MS * 4,
    )
    proxy.cut()
    const refused = await until('the standby refused to lead', () => msgs().find((l) => l.msg === 'standby: not taking over'), 30_000, 50)
    expect(refused.reason).toMatch(/^it took the lease but could not catch up with the stream: /)
    expect(b.status()).toMatchObject({ role: 'standby', refused: refused.reason })

    proxy.slow(0)
    await proxy.restore()
    const leader = pairs.closeAfter(await b.promoted)
    const acquired = [...leader.log.read({ types: ['leadership.acquired'] })].map((e) => e.data as { instance: string; reason: string })
    expect(acquired.map((d) => `${d.instance}:${d.reason}`)).toEqual(['a:startup', 'b:failover'])
  }, 60_000)
})
