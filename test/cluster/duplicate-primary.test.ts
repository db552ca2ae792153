import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { natsForFile } from '../support/nats-for-file.js'
import { instanceConfig, quietPorts } from './support/instances.js'
import { limitBuy } from './support/sim-venue.js'

/**
 * A second start of a primary under the same instance name, on a log the engine's stream is ahead
 * of (another file, a fresh disk), is refused before it touches the lease: the instance leading
 * keeps leading, rather than being deposed by a start that then fails.
 */

const nats = natsForFile()
let engineNo = 0
const open: Haltd[] = []
afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => undefined)
})

describe('a second primary under the leader’s instance name', { timeout: 30_000 }, () => {
  it('given a primary leading, a start on a log the stream is ahead of is refused naming it, and the leader keeps its lease and trades on', async () => {
    const engine = `dup-${++engineNo}`
    const failover = { leaseMs: 2_000, fenceMarginMs: 300 }
    const leader = await createHaltd(instanceConfig(nats.url, engine, 'primary', failover), quietPorts())
    open.push(leader)
    expect((await leader.orders.submit(limitBuy(40_000))).status).toBe('accepted')

    // when the same instance starts again on an empty log
    await expect(createHaltd(instanceConfig(nats.url, engine, 'primary', failover), quietPorts())).rejects.toThrow(
      new RegExp(`the stream of engine '${engine}' holds \\d+ events and this log only 0`),
    )

    // then, a whole lease later, the leader still leads: one takeover in its log, its gate open
    await new Promise((r) => setTimeout(r, 2_500))
    expect([...leader.log.read({ types: ['leadership.acquired'] })]).toHaveLength(1)
    expect(leader.status().gate.halted).toBe(false)
    expect((await leader.orders.submit(limitBuy(40_001))).status).toBe('accepted')
  })
})
