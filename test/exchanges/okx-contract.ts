import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { fakeOkx, okxFaults, startFakeOkx } from '../support/fake-okx/index.js'
import { gatewayContract } from './contract.js'

// The contract suite, unchanged, against CcxtGateway driving the real ccxt.okx at the fake OKX
// (one test file per instrument type, to keep each short).

export function okxContract(type: 'spot' | 'swap'): void {
  const symbol = type === 'swap' ? 'BTC/USDT:USDT' : 'BTC/USDT'
  gatewayContract(`ccxt okx ${type} (REST polling)`, async () => {
    const venue = await startFakeOkx()
    // ccxt's limiter off: the contract is the gateway's, and by the costs ccxt gives OKX's calls the limiter spaced its lists out for seconds
    const exchange = fakeOkx(venue, { type, marketTypes: ['spot', 'swap'], enableRateLimit: false })
    const gateway = new CcxtGateway({ venue: `okx-${type}`, exchange, symbols: [symbol], pollIntervalMs: 50 })
    return {
      gateway,
      symbol,
      // a tenth of a contract on the perpetual, 0.001 BTC on the spot pair
      qtyStep: type === 'swap' ? 0.1 : 0.001,
      priceAway: (side) => (side === 'buy' ? 40_000 : 60_000),
      placeForeign: async ({ side, qty, price }) => {
        venue.rest({ instId: String(exchange.market(symbol).id), side, sz: qty, px: price })
      },
      // every open-orders read is answered 503 while the venue is under maintenance
      loseConnection: () => venue.faults.inject('* /api/v5/trade/orders-pending', okxFaults.maintenance()),
      restoreConnection: () => venue.faults.clear(),
      teardown: async () => {
        await gateway.close()
        await venue.close()
      },
    }
  })
}
