import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import type { SymbolSpec } from '../support/fake-binance/index.js'
import { fakeBybitClient, startFakeBybit, type FakeBybit } from '../support/fake-bybit/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

// The emergency path on Bybit: a daemon built with createHaltd around CcxtGateway and the real
// ccxt.bybit class (its own rate limiter on), haltd's orders resting at the fake Bybit, 25 on each
// linear symbol, so that every symbol's open orders span two of Bybit's default pages of 20.
// `npm test` rests 250 of them on 10 symbols; `npm run soak` (HALTD_SOAK=1) 1,000 on 40.

const SYMBOLS = process.env.HALTD_SOAK === '1' ? 40 : 10
const PER_SYMBOL = 25

const specs: SymbolSpec[] = Array.from({ length: SYMBOLS }, (_, i) => {
  const base = `C${String(i).padStart(2, '0')}`
  return { id: `${base}USDT`, base, quote: 'USDT', stepSize: 0.01, tickSize: 0.01, minQty: 0.01, mid: 100 }
})

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function daemonWithRestingOrders(): Promise<{ venue: FakeBybit; h: Haltd }> {
  const venue = await startFakeBybit({ symbols: specs })
  cleanups.push(() => venue.close())
  for (const s of specs) {
    for (let i = 0; i < PER_SYMBOL; i++) {
      venue.account.place('linear', { symbol: s.id, side: 'Buy', orderType: 'Limit', qty: 0.01, price: 90 - i * 0.01, orderLinkId: `hd-prev-${s.base}-${i}` })
    }
  }
  // The account kind given up front, as an engine that knows its account configures ccxt: left
  // unknown, every parallel call asks for it first (see bybit-gateway.test.ts).
  const client = () => fakeBybitClient(venue, { options: { enableUnifiedAccount: true, enableUnifiedMargin: false } })
  // its own instance for the shutdown's calls, so they do not queue behind the polls in ccxt's limiter
  const gateway = new CcxtGateway({
    venue: 'bybit',
    exchange: client(),
    shutdownExchange: client(),
    symbols: specs.map((s) => `${s.base}/USDT:USDT`),
    pollIntervalMs: 1_000,
  })
  const h = await createHaltd(
    { db: { path: join(tempDir(), 'bybit.db') }, admin: { enabled: false } },
    { gateways: [gateway], logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} },
  )
  cleanups.push(() => h.close().catch(() => undefined))
  return { venue, h }
}

describe(`emergency shutdown on Bybit with ${SYMBOLS * PER_SYMBOL} resting orders`, { timeout: 120_000 }, () => {
  it('cancels every one of its orders, reading each symbol past the first page', async () => {
    const { venue, h } = await daemonWithRestingOrders()
    expect(venue.account.open('linear')).toHaveLength(SYMBOLS * PER_SYMBOL)

    const startedAt = Date.now()
    const before = { reads: venue.faults.hits('GET /v5/order/realtime'), batches: venue.faults.hits('POST /v5/order/cancel-batch') }
    const started = performance.now()
    const report = await h.shutdown({ mode: 'emergency', reason: 'drill' })
    const tookMs = Math.round(performance.now() - started)
    const left = venue.account.open('linear').length
    const cancelStep = report.steps.find((st) => st.name === 'cancel all orders')
    // when the venue cancelled the last of them, by its own clock
    const lastCancelMs = Math.max(...venue.account.closed('linear').map((o) => o.updateTime)) - startedAt
    console.info(
      `bybit emergency: ${SYMBOLS * PER_SYMBOL} resting orders, ${tookMs} ms (last cancelled at the venue after ${lastCancelMs} ms; cancel step ${cancelStep?.durationMs} ms, ${JSON.stringify(cancelStep?.detail?.venues)}), ${left} left resting, outcome ${report.outcome}; ${venue.faults.hits('GET /v5/order/realtime') - before.reads} open-order reads, ${venue.faults.hits('POST /v5/order/cancel-batch') - before.batches} batch cancels`,
    )

    expect(left).toBe(0)
    expect(h.startup.unreachable).toEqual([])
  })
})
