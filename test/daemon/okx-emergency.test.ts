import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { fakeOkx, startFakeOkx, type FakeOkx } from '../support/fake-okx/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

// The emergency path at OKX with 1,000 of haltd's own orders resting: createHaltd with a
// CcxtGateway over the real ccxt.okx, the fake OKX behind it.

const SWAP = 'BTC/USDT:USDT'
const ORDERS = 1_000
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function daemonAt(venue: FakeOkx): Promise<Haltd> {
  const quick = { type: 'swap', marketTypes: ['spot', 'swap'] } as const
  const gateway = new CcxtGateway({
    venue: 'okx',
    // the engine's instance places the orders unpaced; the shutdown's own keeps ccxt's OKX pacing
    exchange: fakeOkx(venue, { ...quick, enableRateLimit: false }),
    shutdownExchange: fakeOkx(venue, quick),
    symbols: [SWAP],
  })
  const h = await createHaltd(
    { db: { path: join(tempDir(), 'okx.db') }, admin: { enabled: false } },
    { gateways: [gateway], logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} },
  )
  cleanups.push(() => h.close().catch(() => undefined))
  return h
}

describe('an emergency at OKX', { timeout: 60_000 }, () => {
  // fails today at the first order: OKX refuses haltd's `hd-…-n` client order ids (51000), and the
  // gateway would then read only the first 100 open orders and leak maxRetriesOnFailure into bodies
  it.fails(`cancels ${ORDERS} resting orders of haltd's own and leaves none at the venue`, async () => {
    const venue = await startFakeOkx()
    cleanups.push(() => venue.close())
    const h = await daemonAt(venue)
    for (let i = 0; i < ORDERS; i += 50) {
      const outcomes = await Promise.all(
        Array.from({ length: Math.min(50, ORDERS - i) }, (_, j) =>
          h.orders.submit({
            venue: 'okx',
            symbol: SWAP,
            side: 'buy',
            type: 'limit',
            qty: 0.1,
            price: 30_000 + (i + j) / 10,
            origin: { kind: 'manual', id: 'engine' },
          }),
        ),
      )
      expect(outcomes.map((o) => o.status)).toEqual(outcomes.map(() => 'accepted'))
    }
    expect(venue.openCount()).toBe(ORDERS)

    const started = performance.now()
    const report = await h.shutdown({ mode: 'emergency', reason: 'drill' })
    const ms = Math.round(performance.now() - started)
    console.info(`emergency at OKX: ${ORDERS} resting orders canceled in ${ms} ms (report ${report.durationMs} ms)`)

    expect(report.outcome).toBe('emergency')
    expect(venue.openCount()).toBe(0)
    expect(report.cancelUnconfirmed).toEqual([])
    expect(venue.ignoredFields).toEqual([])
    expect(venue.deadMansSwitch()).toBeDefined()
  })
})
