import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { bybitFaults, fakeBybitClient, startFakeBybit } from '../support/fake-bybit/index.js'
import { gatewayContract } from './contract.js'

// The contract suite, unchanged, against CcxtGateway driving the real ccxt.bybit class at the fake Bybit.
// ccxt's own rate limiter is off here to keep the run short; the fake's limits are proven in bybit-fake.test.ts.

for (const category of ['linear', 'spot'] as const) {
  const symbol = category === 'linear' ? 'BTC/USDT:USDT' : 'BTC/USDT'
  gatewayContract(`ccxt bybit ${category} (REST polling)`, async () => {
    const venue = await startFakeBybit()
    const exchange = fakeBybitClient(venue, { category, enableRateLimit: false })
    const gateway = new CcxtGateway({ venue: 'bybit', exchange, symbols: [symbol], pollIntervalMs: 50 })
    return {
      gateway,
      symbol,
      qtyStep: 0.001,
      priceAway: (side) => (side === 'buy' ? 40_000 : 60_000),
      placeForeign: async ({ symbol, side, qty, price }) => {
        await exchange.createOrder(symbol, 'limit', side, qty, price)
      },
      // every open-orders read has its connection cut before the answer
      loseConnection: () => venue.faults.inject('* /v5/order/realtime', bybitFaults.loseResponse()),
      restoreConnection: () => venue.faults.clear(),
      teardown: async () => {
        await gateway.close()
        await venue.close()
      },
    }
  })
}
