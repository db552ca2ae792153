import ccxt from 'ccxt'
import { describe, expect, it, vi } from 'vitest'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { fakeBinanceUsdm, type FetchLike } from '../support/fake-binance/index.js'
import { fakeBinance, guardianOver } from './guarded-account.js'

/**
 * The emergency over a whole Binance futures account lists the account's open orders first, a
 * call of weight 40. ccxt's default limiter billed that weight to the next call, so the dead man's
 * switch and the cancels waited 2 s behind the list. The shutdown's own instance is paced over a
 * minute, as Binance counts.
 */

const PERP = 'BTC/USDT:USDT'
const ETH = 'ETH/USDT:USDT'

describe('the shutdown instance at a venue that counts weight per minute', { timeout: 30_000 }, () => {
  it('given a guardian over a whole Binance futures account, the emergency cancels right after listing the account, not once the list’s weight is paid off', async () => {
    const venue = await fakeBinance()
    const urgentCalls: { at: number; method: string; path: string }[] = []
    const seen: FetchLike = (url, init) => {
      urgentCalls.push({ at: performance.now(), method: init.method ?? 'GET', path: new URL(url).pathname })
      return venue.fetchImplementation(url, init)
    }
    const gateway = new CcxtGateway({
      venue: 'binanceusdm',
      exchange: await fakeBinanceUsdm(venue),
      // a slower pace than Binance's own 50 ms, so the list's bill under the old limiter (40 × 200 ms) dwarfs any machine's load
      shutdownExchange: await fakeBinanceUsdm(venue, { config: { fetchImplementation: seen, rateLimit: 200 } }),
      symbols: [PERP],
      wholeAccount: true,
    })
    const h = await guardianOver(gateway)
    const engine = await fakeBinanceUsdm(venue)
    await engine.createOrder(ETH, 'limit', 'buy', 0.01, 2_000, { newClientOrderId: 'eth-rest' })
    await engine.createOrder(PERP, 'limit', 'buy', 0.001, 30_000, { newClientOrderId: 'btc-rest' })
    await vi.waitFor(() => expect([...h.log.read({ types: ['order.submitted'] })]).toHaveLength(2), { timeout: 5_000, interval: 50 })

    const before = urgentCalls.length
    const report = await h.shutdown({ mode: 'emergency', reason: 'guardian drill' })
    expect(report.outcome).toBe('emergency')
    expect(venue.engine.open('futures')).toHaveLength(0)

    const calls = urgentCalls.slice(before)
    const list = calls.find((c) => c.method === 'GET' && c.path === '/fapi/v1/openOrders')
    const cancels = calls.filter((c) => c.method === 'DELETE' && c.path === '/fapi/v1/allOpenOrders')
    expect(list).toBeDefined()
    expect(cancels).toHaveLength(2)
    // billed to the next call, the list's weight held the dead man's switch 8,000 ms and the cancels 2,000 ms more
    for (const cancel of cancels) expect(cancel.at - list!.at).toBeLessThan(4_000)
  })

  it('is paced over a minute only where the venue counts so, and only when its limiter is ccxt’s default', () => {
    const usdm = new ccxt.binanceusdm({})
    const okx = new ccxt.okx({})
    const tuned = new ccxt.binanceusdm({ rateLimiterAlgorithm: 'rollingWindow', rollingWindowSize: 10_000 })
    const unlimited = new ccxt.binance({ enableRateLimit: false })
    for (const exchange of [usdm, okx, tuned, unlimited])
      new CcxtGateway({ venue: exchange.id, exchange: new ccxt.binanceusdm({}), shutdownExchange: exchange })
    const bucket = (ex: { tokenBucket: Record<string, unknown> }) => ({ algorithm: ex.tokenBucket.algorithm, windowSize: ex.tokenBucket.windowSize })
    expect(bucket(usdm)).toEqual({ algorithm: 'rollingWindow', windowSize: 60_000 })
    expect(bucket(okx).algorithm).toBe('leakyBucket')
    expect(bucket(tuned)).toEqual({ algorithm: 'rollingWindow', windowSize: 10_000 })
    expect(bucket(unlimited).algorithm).toBe('leakyBucket')
  })
})
