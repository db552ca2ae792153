import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHaltd, createStandby, type Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { startNats } from '../support/nats-server.js'
import { tempDir } from '../support/tmp.js'

const HANDOVERS = 6
let server: Awaited<ReturnType<typeof startNats>>
beforeAll(async () => {
  server = await startNats()
})
afterAll(async () => {
  await server.close()
})

const SYMBOL = 'BTC/USDT:USDT'
const sim = () =>
  new SimExchange({ venue: 'sim-a', seed: 3, mode: 'derivatives', symbols: [{ symbol: SYMBOL, mid: 50_000, amountStep: 0.001, priceStep: 0.5 }] })
const ports = () => ({ gateways: [sim()], logger: createLogger({ destination: memoryDestination(), level: 'fatal' }), env: {} })
const order = (price: number) => ({
  venue: 'sim-a',
  symbol: SYMBOL,
  side: 'buy' as const,
  type: 'limit' as const,
  qty: 0.01,
  price,
  origin: { kind: 'manual' as const, id: 'engine' },
})

describe('repeated planned handovers', { timeout: 40_000 }, () => {
  it(`hands the engine back and forth ${HANDOVERS} times, the old leader rejoining as standby each time; every handover is handed over and the chain stays whole`, async () => {
    const dir = tempDir()
    const config = (instance: string) => ({
      db: { path: join(dir, `${instance}.db`) },
      admin: { enabled: false },
      nats: { servers: [server.url], engine: 'hop', instance, connectTimeoutMs: 1_000 },
      replication: { mode: 'sync' as const },
      failover: { leaseMs: 2_000 },
    })
    let leader: Haltd = await createHaltd(config('a'), ports())
    let names = ['a', 'b']
    const interruptions: number[] = []
    try {
      for (let i = 0; i < HANDOVERS; i++) {
        const standby = await createStandby(config(names[1]!), ports())
        expect((await leader.orders.submit(order(40_000 + i))).status).toBe('accepted')
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
      expect((await leader.orders.submit(order(41_000))).status).toBe('accepted')
      expect(leader.log.verify()).toMatchObject({ ok: true })
      const sorted = [...interruptions].sort((x, y) => x - y)
      process.stdout.write(
        `handover interruption (gate closed → new leader's gate open), ms: ${JSON.stringify(interruptions)} median ${sorted[Math.floor(sorted.length / 2)]}\n`,
      )
    } finally {
      await leader.close()
    }
  })
})
