import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createHaltd, createStandby, type Haltd } from '../../src/daemon/index.js'
import { logRows, failoverFindings, readStream } from './support/failover-invariants.js'
import { instanceConfig, quietPorts } from './support/instances.js'
import { natsClientForFile } from './support/nats-client.js'
import { limitBuy } from './support/sim-venue.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'

// `npm test` hands over a few times; `npm run soak` (HALTD_SOAK=1) the 100
const HANDOVERS = process.env.HALTD_SOAK === '1' ? 100 : 10
const nats = natsForFile()
const client = natsClientForFile(nats)

describe('repeated planned handovers', { timeout: HANDOVERS * 5_000 }, () => {
  it(`hands the engine back and forth ${HANDOVERS} times under a steady order flow, the old leader rejoining as standby each time; every handover is handed over, nothing is lost, nothing forks, and only the leader's orders reach a venue`, async () => {
    const dir = tempDir()
    const config = (instance: string) => instanceConfig(nats.url, 'hop', instance, { leaseMs: 2_000 }, { db: join(dir, `${instance}.db`) })
    let leader: Haltd = await createHaltd(config('a'), quietPorts())
    let names = ['a', 'b']
    const interruptions: number[] = []
    // the engine keeps sending to whoever leads now, one order every few milliseconds; what each venue accepted is what reached it
    const accepted: string[] = []
    const refused: string[] = []
    let flowing = true
    let price = 30_000
    const flow = (async () => {
      while (flowing) {
        const out = await leader.orders.submit(limitBuy(price++)).catch((e: unknown) => ({ status: 'error', reason: String(e) }) as const)
        if (out.status === 'accepted' && out.clientOrderId) accepted.push(out.clientOrderId)
        else refused.push(out.status === 'refused' || out.status === 'error' ? out.reason : out.status)
        await new Promise((r) => setTimeout(r, 5))
      }
    })()
    try {
      for (let i = 0; i < HANDOVERS; i++) {
        const standby = await createStandby(config(names[1]!), quietPorts())
        const before = accepted.length
        while (accepted.length < before + 2) await new Promise((r) => setTimeout(r, 5))
        const outcome = await leader.handover({ to: names[1]!, reason: `hop ${i}` })
        expect(outcome.outcome).toBe('handed-over')
        await leader.exited
        leader = await standby.promoted
        const steps = [...leader.log.read({ stream: `handover:${outcome.handoverId}`, types: ['handover.step'] })]
        const closed = steps.find((e) => (e.data as { step: string }).step === 'close-gate')!.ts
        const opened = steps.find((e) => (e.data as { step: string }).step === 'open-gate')!.ts
        interruptions.push(opened - closed)
        names = [names[1]!, names[0]!]
      }
      flowing = false
      await flow
      expect(leader.log.verify()).toMatchObject({ ok: true })
      // the refusals are the gate's while a handover runs, never an error
      expect(refused.filter((r) => !/handing the engine over|standby took over|no longer leads|not the leader|lease/.test(r))).toEqual([])
      await leader.orders.submit(limitBuy(price)).then((o) => o.status === 'accepted' && o.clientOrderId && accepted.push(o.clientOrderId))
      const found = failoverFindings({
        stream: await readStream(client.nc, 'hop'),
        logs: { a: logRows(join(dir, 'a.db')), b: logRows(join(dir, 'b.db')), leader: [...leader.log.readRaw()] },
        venueOrders: accepted,
      })
      expect(found).toEqual({ lost: [], forks: [], nonLeaderOrders: [], tails: {} })
      const sorted = [...interruptions].sort((x, y) => x - y)
      process.stdout.write(
        `handover interruption (gate closed → new leader's gate open), ms: ${JSON.stringify(interruptions)} median ${sorted[Math.floor(sorted.length / 2)]}\n`,
      )
    } finally {
      flowing = false
      await flow
      await leader.close()
    }
  })
})
