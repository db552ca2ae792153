import { afterEach, describe, expect, it } from 'vitest'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { DEFAULT_SYMBOLS } from '../support/fake-binance/index.js'
import { bybitFaults, fakeBybitClient, startFakeBybit } from '../support/fake-bybit/index.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

// A gateway that follows a whole Bybit account lists its books once at connect, to learn which the
// account refuses. That list must not spend the time the order stream's subscription is given.

describe('CcxtGateway connecting to a whole Bybit account over a stream', () => {
  it('given an account list that hangs at connect, when the gateway connects, then the order stream is still subscribed and the gateway streams', async () => {
    const venue = await startFakeBybit({ symbols: DEFAULT_SYMBOLS })
    const exchange = fakeBybitClient(venue, { enableRateLimit: false })
    const x = exchange as unknown as Record<string, unknown>
    let subscribed = 0
    // a stand-in for ccxt.pro's private stream: subscribed by authenticate(), no updates
    x.authenticate = async () => {
      subscribed++
    }
    x.has = { ...(x.has as object), watchOrders: true, watchMyTrades: true }
    x.watchOrders = () => new Promise(() => undefined)
    x.watchMyTrades = () => new Promise(() => undefined)
    const errors: string[] = []
    const gateway = new CcxtGateway({
      venue: 'bybit',
      exchange,
      symbols: ['BTC/USDT:USDT'],
      wholeAccount: true,
      stream: true,
      callTimeoutMs: 600,
      retry: { baseDelayMs: 10 },
      onError: (e) => errors.push(e.message),
    })
    cleanups.push(async () => {
      await gateway.close()
      await venue.close()
    })
    venue.faults.inject('GET /v5/order/realtime', bybitFaults.hang(), 1_000)
    await gateway.connect()

    expect(subscribed).toBe(1)
    expect(errors.filter((e) => e.includes('stream'))).toEqual([])
    expect(gateway.capabilities.streamingUpdates).toBe(true)
  })
})
