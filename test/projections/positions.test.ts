import { describe, expect, it } from 'vitest'
import { pnl, position, positions } from '../../src/projections/index.js'
import { grossNotional } from '../../src/core/risk/readings.js'
import { ev, given, when } from './given.js'

const pos = (s: ReturnType<typeof given>, symbol = 'BTC/USDT', venue = 'sim-a') => position(s, venue, symbol)!

describe('positions from fills', () => {
  it('averages the entry over partial fills that add to a long', () => {
    const s = given(ev.submitted('a', { qty: 3 }), ev.filled('a', 't1', 1, 100), ev.filled('a', 't2', 2, 106))
    expect(pos(s).qty).toBe(3)
    expect(pos(s).avgEntry).toBeCloseTo(104, 12)
    expect(pos(s).realized).toBe(0)
  })

  it('realizes (exit − entry) × closed quantity when a long is reduced, keeping the entry', () => {
    const s = given(ev.submitted('a', { qty: 2 }), ev.filled('a', 't1', 2, 100), ev.submitted('b', { side: 'sell', qty: 0.5 }), ev.filled('b', 't2', 0.5, 110))
    expect(pos(s).qty).toBe(1.5)
    expect(pos(s).avgEntry).toBe(100)
    expect(pos(s).realized).toBeCloseTo(5, 12)
  })

  it('flips long to short: closes the long at a profit and opens the rest short at the fill price', () => {
    const s = given(ev.submitted('a', { qty: 1 }), ev.filled('a', 't1', 1, 100), ev.submitted('b', { side: 'sell', qty: 3 }), ev.filled('b', 't2', 3, 120))
    expect(pos(s).qty).toBe(-2)
    expect(pos(s).avgEntry).toBe(120)
    expect(pos(s).realized).toBeCloseTo(20, 12)
    // and back: buying 2 at 90 closes the short for +60
    when(s, ev.submitted('c', { qty: 2 }), ev.filled('c', 't3', 2, 90))
    expect(pos(s).qty).toBe(0)
    expect(pos(s).avgEntry).toBe(0)
    expect(pos(s).realized).toBeCloseTo(80, 12)
  })

  it('flips through partial fills of one order', () => {
    const s = given(
      ev.submitted('a', { qty: 1 }),
      ev.filled('a', 't1', 1, 100),
      ev.submitted('b', { side: 'sell', qty: 2 }),
      ev.filled('b', 't2', 0.6, 90),
      ev.filled('b', 't3', 1.4, 95),
    )
    expect(pos(s).qty).toBeCloseTo(-1, 12)
    expect(pos(s).avgEntry).toBe(95)
    // 0.6 closed at 90 (−6), 0.4 closed at 95 (−2)
    expect(pos(s).realized).toBeCloseTo(-8, 12)
  })

  it('snaps a position closed by decimal fills to exactly flat', () => {
    const s = given(ev.submitted('a', { qty: 0.3 }), ev.filled('a', 't1', 0.3, 100))
    for (let i = 0; i < 3; i++) when(s, ev.submitted(`s${i}`, { side: 'sell', qty: 0.1 }), ev.filled(`s${i}`, `x${i}`, 0.1, 100))
    expect(pos(s).qty).toBe(0)
  })

  it('keeps spot and derivative symbols and venues apart', () => {
    const s = given(
      ev.submitted('a', { symbol: 'ETH/USDT' }),
      ev.filled('a', 't1', 1, 2000),
      ev.submitted('b', { symbol: 'BTC/USDT:USDT', side: 'sell' }),
      ev.filled('b', 't2', 1, 50_000),
      ev.submitted('c', { venue: 'sim-b' }),
      ev.filled('c', 't3', 1, 100, 0, 'sim-b'),
    )
    expect(positions(s).map((p) => [p.venue, p.symbol, p.qty])).toEqual([
      ['sim-a', 'BTC/USDT:USDT', -1],
      ['sim-a', 'ETH/USDT', 1],
      ['sim-b', 'BTC/USDT', 1],
    ])
  })
})

describe('P&L', () => {
  it('marks open positions to the latest price and tracks peak equity and drawdown from it', () => {
    const s = given(ev.submitted('a', { qty: 2 }), ev.filled('a', 't1', 2, 100, 1))
    expect(pnl(s)).toMatchObject({ realized: 0, fees: 1, unrealized: 0, equity: -1 })
    when(s, ev.mark(110))
    expect(pnl(s)).toMatchObject({ unrealized: 20, equity: 19, peakEquity: 19, drawdown: 0 })
    when(s, ev.mark(104))
    expect(pnl(s)).toMatchObject({ unrealized: 8, equity: 7, peakEquity: 19, drawdown: 12, maxDrawdown: 12 })
    when(s, ev.submitted('b', { side: 'sell', qty: 2 }), ev.filled('b', 't2', 2, 105, 1))
    const p = pnl(s)
    expect(p.realized).toBeCloseTo(10, 12)
    expect(p.unrealized).toBeCloseTo(0, 12)
    expect(p.equity).toBeCloseTo(8, 12)
    expect(p.drawdown).toBeCloseTo(11, 12)
  })

  it('splits P&L per venue, symbol and strategy', () => {
    const s = given(
      ev.submitted('a', { origin: { kind: 'strategy', id: 'mm' } }),
      ev.filled('a', 't1', 1, 100),
      ev.submitted('b', { origin: { kind: 'strategy', id: 'trend' }, side: 'sell' }),
      ev.filled('b', 't2', 1, 110),
      ev.submitted('c', { origin: { kind: 'shutdown', id: 'sd1' }, venue: 'sim-b', side: 'sell' }),
      ev.filled('c', 't3', 1, 100, 0, 'sim-b'),
      ev.mark(120),
    )
    const p = pnl(s)
    // net on sim-a: bought at 100, sold at 110 → +10 realized, flat
    expect(p.byVenue['sim-a']).toMatchObject({ realized: 10, unrealized: 0 })
    expect(p.byVenue['sim-b']).toMatchObject({ realized: 0, unrealized: 0 })
    // each strategy's own book, marked at 120: mm long 1 from 100, trend short 1 from 110
    expect(p.byStrategy.map((b) => [b.venue, b.strategy, b.qty, b.unrealized])).toEqual([
      ['sim-a', 'mm', 1, 20],
      ['sim-a', 'trend', -1, -10],
      ['sim-b', 'shutdown:sd1', -1, 0],
    ])
  })
})

describe('a contract market: amounts in contracts of a size the venue lists', () => {
  const markets = (contractSize?: number) => ({
    type: 'venue.markets-observed',
    data: { venue: 'sim-a', markets: [{ symbol: 'BTC/USDT', amountStep: 1, ...(contractSize ? { contractSize } : {}) }] },
  })

  it('given contracts of 0.01, when 10 are bought at 50,000 and sold at 51,000, then the P&L is 10 × 0.01 × 1,000 = 100, not 10,000', () => {
    const s = given(markets(0.01), ev.submitted('b', { qty: 10, price: 50_000 }), ev.filled('b', 't1', 10, 50_000), ev.mark(50_500))
    // the quantity stays in contracts; what it is worth scales by their size
    expect(position(s, 'sim-a', 'BTC/USDT')).toMatchObject({ qty: 10, avgEntry: 50_000, unrealized: 50 })
    when(s, ev.submitted('s', { side: 'sell', qty: 10, price: 51_000 }), ev.filled('s', 't2', 10, 51_000))
    expect(position(s, 'sim-a', 'BTC/USDT')).toMatchObject({ qty: 0, realized: 100 })
    expect(pnl(s)).toMatchObject({ realized: 100, unrealized: 0 })
  })

  it('given a position opened before its market’s size was known (a log from before sizes were recorded), it keeps counting one unit as one until flat: the equity never jumps', () => {
    const s = given(ev.submitted('b', { qty: 10, price: 100 }), ev.filled('b', 't1', 10, 100), ev.mark(101))
    const before = pnl(s).equity
    when(s, markets(0.01), ev.mark(101))
    expect(pnl(s).equity).toBe(before)
    when(s, ev.submitted('s', { side: 'sell', qty: 10, price: 102 }), ev.filled('s', 't2', 10, 102))
    expect(position(s, 'sim-a', 'BTC/USDT')).toMatchObject({ qty: 0, realized: 20 })
    // the next position opens at the size known now
    when(
      s,
      ev.submitted('b2', { qty: 10, price: 100 }),
      ev.filled('b2', 't3', 10, 100),
      ev.submitted('s2', { side: 'sell', qty: 10, price: 110 }),
      ev.filled('s2', 't4', 10, 110),
    )
    expect(position(s, 'sim-a', 'BTC/USDT')).toMatchObject({ qty: 0, realized: 21 })
  })

  it('counts the gross notional the risk trigger reads at contracts × size × mark', () => {
    const s = given(markets(0.01), ev.submitted('b', { qty: 10, price: 50_000 }), ev.filled('b', 't1', 10, 50_000), ev.mark(60_000))
    expect(grossNotional(s)).toBe(6_000)
  })
})
