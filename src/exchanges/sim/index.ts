export { SimExchange, type SimExchangeOptions } from './sim-exchange.js'
export { Faults } from './faults.js'
export { FaultConfig, Latency, SimConfig, SimMethod, SimSymbolConfig, InvalidSimConfig } from './config.js'
export type { Ticker } from './market.js'
