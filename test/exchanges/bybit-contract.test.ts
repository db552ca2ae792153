import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { bybitFaults, fakeBybitClient, startFakeBybit } from '../support/fake-bybit/index.js'
import { gatewayContract } from './contract.js'

// The contract suite, unchanged, against CcxtGateway driving the real ccxt.bybit class at the fake Bybit.
// ccxt's own rate limiter is off here to keep the run short; the fake's limits are proven in bybit-fake.test.ts.

/** What the gateway does not yet do on Bybit; each entry flips to a plain test once it does. */
const KNOWN_FAILURES = {
  // the poll looks a vanished order up by venue id through fetchOrder, which reads /v5/order/realtime
  // with openOnly=0: open orders only, so a cancelled one reads as unknown
  'pushes a canceled status update for a canceled order, and nothing after unsubscribe': 'an order closed at Bybit looked up by venue id',
  // DCP takes a window of 3–300 s; disarming sends cancelAllOrdersAfter(0), a window of 0, which Bybit refuses
  'arms and disarms a dead man switch where the venue has one': "disarming Bybit's DCP without a window of 0",
}

for (const category of ['linear', 'spot'] as const) {
  const symbol = category === 'linear' ? 'BTC/USDT:USDT' : 'BTC/USDT'
  gatewayContract(
    `ccxt bybit ${category} (REST polling)`,
    async () => {
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
    },
    { knownFailures: KNOWN_FAILURES },
  )
}
