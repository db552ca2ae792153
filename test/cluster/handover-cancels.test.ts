import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createHaltd, createStandby, type Haltd, type Standby } from '../../src/daemon/index.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { failoverFindings, logRows, readStream } from './support/failover-invariants.js'
import { instanceConfig, quietPorts } from './support/instances.js'
import { natsClientForFile } from './support/nats-client.js'
import { SYMBOL, simVenue } from './support/sim-venue.js'

/**
 * A strategy's cancels (or the engine's) keep coming while the leader hands over. Cancels are
 * allowed while trading is halted, so a closed gate alone does not stop them: the handover refuses
 * them from the moment it closes the gate, naming itself, so the old leader appends nothing the
 * stream does not hold and sends nothing to a venue once it released the lease.
 */

const nats = natsForFile()
const client = natsClientForFile(nats)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('cancels through a planned handover', { timeout: 30_000 }, () => {
  it('given cancels fired continuously at the leader, when it hands over, then every cancel it sent is in the stream, the ones it refused name the handover, and its log is a prefix of the stream that it follows again as a standby', async () => {
    const dir = tempDir()
    const config = (instance: string) => instanceConfig(nats.url, 'cxl', instance, { leaseMs: 4_000 }, { db: join(dir, `${instance}.db`) })
    // what reached the old leader's venue: each cancel by client order id
    const cancelsAtVenue: string[] = []
    const venueOf = (record: boolean) => {
      const sim = simVenue(5)
      if (record) {
        const cancel = sim.cancel.bind(sim)
        sim.cancel = (ref) => {
          cancelsAtVenue.push(ref.clientOrderId)
          return cancel(ref)
        }
      }
      return sim
    }
    const ports = (record = false) => quietPorts(venueOf(record))

    const a: Haltd = await createHaltd(config('a'), ports(true))
    const b: Standby = await createStandby(config('b'), ports())
    let leader: Haltd | undefined
    let rejoined: Standby | undefined
    try {
      // given: resting orders to cancel, far below the market
      const resting: string[] = []
      for (let i = 0; i < 80; i++) {
        const out = await a.orders.submit({
          venue: 'sim-a',
          symbol: SYMBOL,
          side: 'buy',
          type: 'limit',
          qty: 0.01,
          price: 30_000 + i,
          origin: { kind: 'manual', id: 'desk' },
        })
        if (out.status === 'accepted') resting.push(out.clientOrderId)
      }
      expect(resting).toHaveLength(80)

      // when: two engines cancel one order after another while the leader hands over
      const refusals: string[] = []
      const answered: string[] = []
      let firing = true
      // each engine goes round its orders until the handover ends: a cancel of one already canceled still goes to the venue
      const fire = async (ids: string[]) => {
        for (let i = 0; firing; i++) {
          const id = ids[i % ids.length]!
          await a.orders.cancel({ venue: 'sim-a', clientOrderId: id, symbol: SYMBOL }, { reason: 'strategy requote', origin: 'strategy' }).then(
            (outcome) => answered.push(`${id}:${outcome}`),
            (e: unknown) => refusals.push(e instanceof Error ? e.message : String(e)),
          )
          await sleep(1)
        }
      }
      const flows = [fire(resting.filter((_, i) => i % 2 === 0)), fire(resting.filter((_, i) => i % 2 === 1))]
      while (answered.length < 6) await sleep(1)
      const outcome = await a.handover({ to: 'b', reason: 'rolling restart' })
      expect(outcome.outcome).toBe('handed-over')
      // the engines go on asking the old leader until it is gone
      await a.exited
      firing = false
      await Promise.all(flows)
      leader = await b.promoted

      // then: the handover refused the cancels it met, by name (while under way, and once done); none failed otherwise
      expect(refusals.filter((r) => r.includes('is under way')).length).toBeGreaterThan(0)
      for (const r of refusals)
        expect(r).toMatch(
          new RegExp(
            `^cancel of \\w+ on sim-a refused, nothing sent or recorded: handover ${outcome.handoverId} (to 'b' is under way|handed the engine to 'b')`,
          ),
        )

      // every cancel that reached the venue from the old leader was requested in the stream, before its release
      const stream = await readStream(client.nc, 'cxl')
      const released = stream.findIndex((e) => e.row.type === 'leadership.released')
      expect(released).toBeGreaterThan(0)
      const requested = new Set(
        stream
          .slice(0, released)
          .flatMap((e) => (e.row.type === 'order.cancel-requested' ? [(JSON.parse(e.row.data) as { clientOrderId: string }).clientOrderId] : [])),
      )
      expect(cancelsAtVenue.filter((id) => !requested.has(id))).toEqual([])

      // the old leader's log is a prefix of the stream, nothing forked
      const oldLog = logRows(join(dir, 'a.db'))
      expect(failoverFindings({ stream, logs: { a: oldLog, b: [...leader.log.readRaw()] }, venueOrders: [] })).toEqual({
        lost: [],
        forks: [],
        nonLeaderOrders: [],
        tails: {},
      })

      // and it follows the new leader as a standby, catching up from the stream
      rejoined = await createStandby(config('a'), ports())
      await leader.orders.submit({
        venue: 'sim-a',
        symbol: SYMBOL,
        side: 'buy',
        type: 'limit',
        qty: 0.01,
        price: 31_000,
        origin: { kind: 'manual', id: 'desk' },
      })
      const until = Date.now() + 5_000
      while (rejoined.log.lastSeq < leader.log.committedSeq && Date.now() < until) await sleep(10)
      expect(rejoined.status().follower.state).toBe('following')
      expect(rejoined.log.lastSeq).toBe(leader.log.committedSeq)
    } finally {
      await rejoined?.close()
      await leader?.close()
      await b.close()
      await a.close()
    }
  })
})
