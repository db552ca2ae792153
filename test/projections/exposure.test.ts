import { describe, expect, it } from 'vitest'
import type { EventInput } from '../../src/events/index.js'
import { exposureOf, exposures, order, position } from '../../src/projections/index.js'
import { ev, given, when } from './given.js'

const V = 'sim-a'
const SYMBOL = 'BTC/USDT'
const reported = (positions: { symbol: string; qty: number; entryPrice?: number }[]): EventInput => ({
  type: 'venue.positions-observed',
  data: { venue: V, positions },
})
const total = (cid: string, qty: number, price = 100): EventInput => ({
  type: 'order.filled',
  data: { venue: V, clientOrderId: cid, tradeId: `total:${qty}:${cid}`, qty, price, source: 'order-total' },
})

describe("an order's filled total as the venue reports it", () => {
  it('counts once whichever comes first: the total, then its trades; or the trades, then the total', () => {
    // given an order whose total the venue reported before its trades arrived
    const first = given(ev.submitted('a', { qty: 3 }), total('a', 3))
    // when its trades arrive later
    when(first, ev.filled('a', 't1', 1), ev.filled('a', 't2', 2))
    // then it is filled 3, not 6, and the position is 3
    expect(order(first, V, 'a')).toMatchObject({ status: 'filled', filledQty: 3, tradeIds: ['total:3:a', 't1', 't2'] })
    expect(position(first, V, SYMBOL)?.qty).toBe(3)

    // given the other order: one trade, then the total, then the last trade
    const mixed = given(ev.submitted('a', { qty: 3 }), ev.filled('a', 't1', 1), total('a', 3), ev.filled('a', 't2', 2))
    expect(order(mixed, V, 'a')).toMatchObject({ status: 'filled', filledQty: 3 })
    expect(position(mixed, V, SYMBOL)?.qty).toBe(3)
    expect(mixed.anomalies.map((a) => a.kind)).toEqual([])
  })

  it('a total the trades already reached adds nothing and changes no status', () => {
    const s = given(ev.submitted('a', { qty: 2 }), ev.filled('a', 't1', 2), ev.cancelRequested('a'), total('a', 2))
    expect(order(s, V, 'a')).toMatchObject({ status: 'filled', filledQty: 2 })
    expect(position(s, V, SYMBOL)?.qty).toBe(2)
    expect(s.anomalies).toEqual([])
  })
})

describe("positions by the venue's word", () => {
  it("rest on the venue's report where it has one, and show what the fills say beside it", () => {
    // given fills for 1 BTC, and a venue that reports 0.4 BTC and 2 ETH
    const s = given(
      ev.submitted('a'),
      ev.filled('a', 't1', 1),
      reported([
        { symbol: SYMBOL, qty: 0.4 },
        { symbol: 'ETH/USDT', qty: 2, entryPrice: 3_000 },
      ]),
    )
    // then the venue's figures are the sizes, each with the fills' figure beside it
    expect(exposures(s).map((e) => [e.symbol, e.qty, e.fromFills, e.basis])).toEqual([
      [SYMBOL, 0.4, 1, 'venue'],
      ['ETH/USDT', 2, 0, 'venue'],
    ])
    expect(exposures(s)[1]).toMatchObject({ avgEntry: 3_000, observedSeq: 3, observedQty: 2 })
    expect(exposureOf(s, V, SYMBOL)).toBe(0.4)
  })

  it('add what traded after the report: orders sent after it, and trades of orders that rested across it', () => {
    // given a resting buy and a venue report of 1 BTC
    const s = given(ev.submitted('rest', { qty: 2 }), ev.accepted('rest'), reported([{ symbol: SYMBOL, qty: 1 }]))
    // when a sell goes out and fills, and the resting buy trades
    when(s, ev.submitted('sell', { side: 'sell', qty: 0.3 }), ev.filled('sell', 't1', 0.3), ev.filled('rest', 't2', 0.5))
    // then the size is the report plus both
    expect(exposureOf(s, V, SYMBOL)).toBeCloseTo(1.2, 12)
    // and a new report starts again from what the venue says
    when(s, reported([{ symbol: SYMBOL, qty: 1.25 }]))
    expect(exposureOf(s, V, SYMBOL)).toBe(1.25)
  })

  it("do not count again what the venue's report already holds: an order total, or a late trade of an order haltd had finished", () => {
    // given an order the venue filled whose trades never came, and one haltd saw filled, then the venue's report of both
    const s = given(
      ev.submitted('lost', { qty: 1 }),
      ev.accepted('lost'),
      ev.submitted('done', { qty: 0.5 }),
      ev.filled('done', 't1', 0.25),
      ev.filled('done', 't2', 0.25),
      reported([{ symbol: SYMBOL, qty: 1.5 }]),
    )
    // when the venue's total for the first arrives after the report, and a late duplicate-looking trade of the second
    when(s, total('lost', 1), ev.filled('lost', 't3', 1))
    // then the size stays what the venue said
    expect(exposureOf(s, V, SYMBOL)).toBe(1.5)
    expect(position(s, V, SYMBOL)?.qty).toBe(1.5)
  })

  it('are the fills alone at a venue that never reported positions', () => {
    const s = given(ev.submitted('a'), ev.filled('a', 't1', 1))
    expect(exposures(s)).toMatchObject([{ symbol: SYMBOL, qty: 1, fromFills: 1, basis: 'fills' }])
    expect(exposureOf(s, V, SYMBOL)).toBe(1)
  })
})
