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
 * A standby stopped while its take of an expired lease is on its way to the bucket: the take may
 * land after the stop was asked. A standby asked to stop before it knew it held the lease stops,
 * and what its take wrote goes back to the bucket at once, so the engine does not wait out a lease
 * nobody renews. (A stop asked once it knows it holds the lease is the leader's shutdown instead:
 * takeover-signal-process.test.ts.)
 */

const LEASE_MS = 2_000
// each answer to the standby held this long: the take is written well before the standby hears of it
const SLOW_MS = 600
const nats = natsForFile()
const client = natsClientForFile(nats)
const failover = { leaseMs: LEASE_MS, fenceMarginMs: 500 }
const pairs = pairsForFile(nats, failover)
const proxies: LinkProxy[] = []
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close()
})

describe('a standby stopped while its take of the lease is on its way', { timeout: 30_000 }, () => {
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
})
