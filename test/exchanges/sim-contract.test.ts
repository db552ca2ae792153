import { SimExchange } from '../../src/exchanges/index.js'
import { gatewayContract } from './contract.js'

const BTC = { symbol: 'BTC/USDT:USDT', mid: 64000, amountStep: 0.001, priceStep: 0.1 }

gatewayContract('SimExchange derivatives', async () => {
  const sim = new SimExchange({
    venue: 'binance-sim',
    seed: 42,
    mode: 'derivatives',
    symbols: [BTC, { symbol: 'ETH/USDT:USDT', mid: 3000, amountStep: 0.01, priceStep: 0.01 }],
  })
  return {
    gateway: sim,
    symbol: BTC.symbol,
    qtyStep: BTC.amountStep,
    priceAway: (side) => (side === 'buy' ? 32000 : 128000),
    placeForeign: async (o) => void sim.placeForeignOrder(o),
    loseConnection: () => sim.disconnect(),
    restoreConnection: () => sim.reconnect(),
    teardown: () => sim.close(),
  }
})

gatewayContract('SimExchange spot without mass cancel', async () => {
  const sim = new SimExchange({
    venue: 'coinbase-sim',
    seed: 7,
    mode: 'spot',
    symbols: [{ symbol: 'BTC/USDT', mid: 64000, amountStep: 0.0001, priceStep: 0.01 }],
    capabilities: { massCancel: 'none', batchCancel: 0 },
  })
  return {
    gateway: sim,
    symbol: 'BTC/USDT',
    qtyStep: 0.0001,
    priceAway: (side) => (side === 'buy' ? 30000 : 130000),
    placeForeign: async (o) => void sim.placeForeignOrder(o),
    loseConnection: () => sim.disconnect(),
    restoreConnection: () => sim.reconnect(),
    teardown: () => sim.close(),
  }
})
