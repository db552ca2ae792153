import ccxt, { type Market } from 'ccxt'
import { describe, expect, it } from 'vitest'
import { toMarketInfo } from '../../src/exchanges/ccxt/mapping.js'

const market = (over: Partial<Market>): Market =>
  ({
    symbol: 'BTC/USDT:USDT',
    contract: true,
    linear: true,
    inverse: false,
    contractSize: 0.01,
    precision: { amount: 1, price: 0.1 },
    limits: { amount: { min: 1 } },
    ...over,
  }) as unknown as Market

describe('a market as haltd records it', () => {
  it('gives a linear contract market its contract size, which scales its notional and P&L', () => {
    expect(toMarketInfo(market({}), ccxt.TICK_SIZE)).toMatchObject({ symbol: 'BTC/USDT:USDT', amountStep: 1, contractSize: 0.01 })
  })

  it('records no size for an inverse contract (its size is in the quote currency, its P&L in the base), nor for a spot market or a size of 1', () => {
    expect(toMarketInfo(market({ symbol: 'BTC/USD:BTC', linear: false, inverse: true, contractSize: 100 }), ccxt.TICK_SIZE)?.contractSize).toBeUndefined()
    expect(
      toMarketInfo(market({ symbol: 'BTC/USDT', contract: false, linear: undefined, contractSize: undefined }), ccxt.TICK_SIZE)?.contractSize,
    ).toBeUndefined()
    expect(toMarketInfo(market({ contractSize: 1 }), ccxt.TICK_SIZE)?.contractSize).toBeUndefined()
  })
})
