import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { fakeOkx, okxFaults, startFakeOkx } from '../support/fake-okx/index.js'
import { gatewayContract } from './contract.js'

// The contract suite, unchanged, against CcxtGateway driving the real ccxt.okx at the fake OKX
// (one test file per instrument type, to keep each short).

/** OKX takes 1 to 32 letters and digits as `clOrdId` and refuses haltd's `hd-…-n` ids with 51000. */
const CL_ORD_ID = "client order ids in OKX's clOrdId format (1-32 letters and digits)"
const placesOrders = [
  'acknowledges a submitted order with a venue order id and echoes our client order id',
  'shows a resting limit order in fetchOpenOrders with our client order id',
  'finds an order by client order id alone, and answers undefined for one it never saw',
  'cancels a resting order, then answers not-found to a second cancel',
  'cancelAll with own scope cancels our tagged orders and reports the scope and method',
  'cancelAll own leaves a foreign order open; account scope then cancels it too',
  'pushes a canceled status update for a canceled order, and nothing after unsubscribe',
  'tells of a connection lost and regained while running, once each',
]
const flattens = [
  'a reduce-only market flatten closes a position without ever increasing it',
  'rejects a reduce-only order that would increase the position, with kind rejected',
]
/** Own orders are recognised by the `hd-` prefix today, which an OKX clOrdId cannot carry. */
const OWN = `${CL_ORD_ID}, and recognising haltd's own orders without a separator`
const known = (titles: string[]): Record<string, string> =>
  Object.fromEntries(titles.map((t) => [t, t.startsWith('cancelAll own') || t.startsWith('cancelAll with own') ? OWN : CL_ORD_ID]))

export function okxContract(type: 'spot' | 'swap'): void {
  const symbol = type === 'swap' ? 'BTC/USDT:USDT' : 'BTC/USDT'
  gatewayContract(
    `ccxt okx ${type} (REST polling)`,
    async () => {
      const venue = await startFakeOkx()
      const exchange = fakeOkx(venue, { type, marketTypes: ['spot', 'swap'] })
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
    },
    { knownFailures: known(type === 'swap' ? [...placesOrders, ...flattens] : placesOrders) },
  )
}
