import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { fakeBinanceSpot, fakeBinanceUsdm, faults, startFakeBinance } from '../support/fake-binance/index.js'
import { gatewayContract } from './contract.js'

// The contract suite, unchanged, against CcxtGateway driving the real ccxt classes at the fake venue,
// their request-weight limiter off: the contract is the gateway's, and by Binance's weights the
// limiter spaced its listings of every open order seconds apart.

gatewayContract('ccxt binanceusdm (REST polling)', async () => {
  const venue = await startFakeBinance()
  const exchange = await fakeBinanceUsdm(venue, { enableRateLimit: false })
  const gateway = new CcxtGateway({ venue: 'binanceusdm', exchange, symbols: ['BTC/USDT:USDT'], pollIntervalMs: 50 })
  return {
    gateway,
    symbol: 'BTC/USDT:USDT',
    qtyStep: 0.001,
    priceAway: (side) => (side === 'buy' ? 40_000 : 60_000),
    placeForeign: async ({ symbol, side, qty, price }) => {
      await exchange.createOrder(symbol, 'limit', side, qty, price)
    },
    // every open-orders read has its connection cut before the answer
    loseConnection: () => venue.faults.inject('* /fapi/v1/openOrders', faults.loseResponse()),
    restoreConnection: () => venue.faults.clear(),
    teardown: async () => {
      await gateway.close()
      await venue.close()
    },
  }
})

gatewayContract('ccxt binance spot (ccxt.pro user-data stream)', async () => {
  const venue = await startFakeBinance()
  const exchange = await fakeBinanceSpot(venue, { ws: true, enableRateLimit: false })
  const gateway = new CcxtGateway({ venue: 'binance', exchange, symbols: ['BTC/USDT'] })
  return {
    gateway,
    symbol: 'BTC/USDT',
    qtyStep: 0.001,
    priceAway: (side) => (side === 'buy' ? 40_000 : 60_000),
    placeForeign: async ({ symbol, side, qty, price }) => {
      await exchange.createOrder(symbol, 'limit', side, qty, price)
    },
    // the venue drops the user-data WebSocket; the gateway opens it again by itself
    loseConnection: () => venue.dropWebSockets(),
    restoreConnection: () => undefined,
    teardown: async () => {
      await gateway.close()
      await venue.close()
    },
  }
})
