import { afterEach, describe, expect, it } from 'vitest'
import type { Haltd } from '../../src/daemon/index.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { drillDaemon, runEmergencyDrill } from '../support/emergency-drill.js'
import { fakeBinanceUsdm, startFakeBinance, type FakeBinance } from '../support/fake-binance/index.js'

// The emergency path at Binance USD-M with 1,000 orders resting on the account: createHaltd with a
// CcxtGateway over the real ccxt.binanceusdm, the fake Binance behind it, the same drill as the
// OKX and Bybit ones. The orders are put on the book directly, as the account's other programs
// would, and the emergency cancels in account scope.

const PERP = 'BTC/USDT:USDT'
const ORDERS = 1_000
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function daemonAt(venue: FakeBinance): Promise<Haltd> {
  const gateway = new CcxtGateway({
    venue: 'binanceusdm',
    exchange: await fakeBinanceUsdm(venue),
    // the shutdown's own instance, so its calls never queue behind the engine's in ccxt's pacing
    shutdownExchange: await fakeBinanceUsdm(venue),
    symbols: [PERP],
  })
  return drillDaemon(gateway, cleanups)
}

describe('an emergency at Binance USD-M', { timeout: 60_000 }, () => {
  it(`cancels ${ORDERS} resting orders in account scope and leaves none at the venue`, async () => {
    const venue = await startFakeBinance()
    cleanups.push(() => venue.close())
    for (let i = 0; i < ORDERS; i++) {
      venue.engine.place('futures', {
        symbol: 'BTCUSDT',
        side: 'BUY',
        type: 'LIMIT',
        quantity: 0.001,
        price: 30_000 + i / 10,
        timeInForce: 'GTC',
        clientOrderId: `desk${i}`,
      })
    }
    const h = await daemonAt(venue)
    expect(h.startup.foreign).toHaveLength(ORDERS)

    const report = await runEmergencyDrill(h, `Binance USD-M with ${ORDERS} resting orders`, () => venue.engine.open('futures').length)

    expect(report.outcome).toBe('emergency')
    expect(venue.engine.open('futures')).toHaveLength(0)
    expect(report.cancelUnconfirmed).toEqual([])
    expect(venue.unrouted).toEqual([])
  })
})
