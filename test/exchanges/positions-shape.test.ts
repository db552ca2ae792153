import type { Position } from 'ccxt'
import { describe, expect, it } from 'vitest'
import { toPositions } from '../../src/exchanges/ccxt/mapping.js'

const leg = (symbol: string, side: 'long' | 'short', contracts: number, entryPrice = 50_000) =>
  ({ symbol, side, contracts, entryPrice, info: {} }) as unknown as Position

describe('positions as a venue reports them', () => {
  it('gives one signed position per market, long positive and short negative, and drops empty ones', () => {
    expect(toPositions([leg('BTC/USDT:USDT', 'short', 0.02), leg('ETH/USDT:USDT', 'long', 0.5, 3_000), leg('SOL/USDT:USDT', 'long', 0)])).toEqual([
      { symbol: 'BTC/USDT:USDT', qty: -0.02, entryPrice: 50_000 },
      { symbol: 'ETH/USDT:USDT', qty: 0.5, entryPrice: 3_000 },
    ])
  })

  it('given an account in hedge mode holding a long and a short leg of one market, the report is refused, naming the market and the mode', () => {
    expect(() => toPositions([leg('BTC/USDT:USDT', 'long', 10), leg('BTC/USDT:USDT', 'short', 4)])).toThrow(
      'the account holds BTC/USDT:USDT twice (10 and -4): it is in hedge (two-way) position mode, which haltd does not manage; set it to one-way mode',
    )
  })
})
