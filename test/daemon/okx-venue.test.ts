import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createHaltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { startFakeOkx, type FakeOkx } from '../support/fake-okx/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

// An OKX venue from the config alone (exchange id, key, secret, passphrase, and ccxt's own
// `urls` and `options`), the fake OKX standing in for the venue.

const SWAP = 'BTC/USDT:USDT'
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const okxVenue = (venue: FakeOkx) => ({
  kind: 'ccxt' as const,
  name: 'okx',
  exchange: 'okx',
  apiKey: venue.apiKey,
  secret: venue.secret,
  password: venue.passphrase,
  symbols: [SWAP],
  tickerPollMs: 50,
  // ccxt's constructor settings: OKX's REST root moved to the fake, the perpetuals traded
  options: { urls: { api: { rest: venue.origin } }, options: { defaultType: 'swap' } },
})

describe('an OKX venue from the config', { timeout: 30_000 }, () => {
  it("marks at the venue's prices, places haltd's orders with OKX client order ids, and cancels them in an emergency", async () => {
    const venue = await startFakeOkx()
    cleanups.push(() => venue.close())
    const h = await createHaltd(
      { db: { path: join(tempDir(), 'okx.db') }, admin: { enabled: false }, venues: [okxVenue(venue)] },
      { logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} },
    )
    cleanups.push(() => h.close().catch(() => undefined))
    // the switch haltd keeps while running, in OKX's seconds
    expect(venue.deadMansSwitch()).toBeGreaterThan(Date.now())

    await vi.waitFor(() => expect([...h.log.read()].some((e) => e.type === 'market.mark' && (e.data as { price: number }).price === 50_000)).toBe(true), {
      timeout: 10_000,
    })
    const sent = await h.orders.submit({
      venue: 'okx',
      symbol: SWAP,
      side: 'sell',
      type: 'limit',
      qty: 0.1,
      price: 60_000,
      origin: { kind: 'manual', id: 'desk' },
    })
    expect(sent.status).toBe('accepted')
    const [resting] = venue.engine.open('futures')
    expect(resting?.clientOrderId).toBe(sent.clientOrderId)
    expect(sent.clientOrderId).toMatch(/^[A-Za-z0-9]{1,32}$/)

    const report = await h.shutdown({ mode: 'emergency', reason: 'drill' })
    expect(report.outcome).toBe('emergency')
    expect(venue.openCount()).toBe(0)
    expect(venue.ignoredFields).toEqual([])
    expect(venue.unrouted).toEqual([])
  })
})
