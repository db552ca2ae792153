import { describe, expect, it } from 'vitest'
import type { EventInput } from '../../src/events/index.js'
import { reconciliation } from '../../src/projections/index.js'
import { ev, given } from './given.js'

const positionsAt = (venue: string, positions: { symbol: string; qty: number }[]): EventInput => ({
  type: 'venue.positions-observed',
  data: { venue, positions },
})
const ordersAt = (
  venue: string,
  orders: { symbol: string; venueOrderId: string; clientOrderId?: string; side: 'buy' | 'sell'; qty: number; filled?: number }[],
): EventInput => ({
  type: 'venue.open-orders-observed',
  data: { venue, orders },
})
const markets = (venue: string, symbol: string, amountStep: number): EventInput => ({
  type: 'venue.markets-observed',
  data: { venue, markets: [{ symbol, amountStep }] },
})

const long = (qty: number, cid = 'p'): EventInput[] => [ev.submitted(cid, { qty }), ev.filled(cid, `t-${cid}`, qty)]

describe('reconciliation', () => {
  it('says OK when the venue holds the same position within half an amount step', () => {
    const r = reconciliation(given(markets('sim-a', 'BTC/USDT', 0.001), ...long(1.5), positionsAt('sim-a', [{ symbol: 'BTC/USDT', qty: 1.5004 }])))
    expect(r.rows).toMatchObject([{ kind: 'position', venue: 'sim-a', symbol: 'BTC/USDT', internal: 1.5, observed: 1.5004, tolerance: 0.0005, status: 'OK' }])
    expect(r.ok).toBe(true)
  })

  it('says MISMATCH when both hold a position of different size', () => {
    const r = reconciliation(given(markets('sim-a', 'BTC/USDT', 0.001), ...long(1.5), positionsAt('sim-a', [{ symbol: 'BTC/USDT', qty: 1.502 }])))
    expect(r.rows[0]).toMatchObject({ status: 'MISMATCH', internal: 1.5, observed: 1.502 })
    expect(r.ok).toBe(false)
  })

  it('uses a tolerance of 1e-9 when the venue never reported the market', () => {
    const r = reconciliation(given(...long(1), positionsAt('sim-a', [{ symbol: 'BTC/USDT', qty: 1 + 1e-6 }])))
    expect(r.rows[0]).toMatchObject({ status: 'MISMATCH', tolerance: 1e-9 })
  })

  it('says MISSING_AT_VENUE for a position haltd holds that the venue does not report', () => {
    const r = reconciliation(given(...long(2), positionsAt('sim-a', [])))
    expect(r.rows).toMatchObject([{ kind: 'position', status: 'MISSING_AT_VENUE', internal: 2, observed: 0 }])
  })

  it('says UNKNOWN_TO_US for a position at the venue that haltd never traded', () => {
    const r = reconciliation(given(positionsAt('sim-b', [{ symbol: 'ETH/USDT', qty: -3 }])))
    expect(r.rows).toMatchObject([{ kind: 'position', venue: 'sim-b', symbol: 'ETH/USDT', status: 'UNKNOWN_TO_US', internal: 0, observed: -3 }])
  })

  it('says MISSING_AT_VENUE, with a note, for a position on a venue that has not reported yet', () => {
    const r = reconciliation(given(...long(1)))
    expect(r.rows).toMatchObject([{ status: 'MISSING_AT_VENUE', observed: null, note: 'the venue has not reported positions yet' }])
  })

  it('matches open orders by client id or venue id and compares the remaining quantity', () => {
    const s = given(
      ev.submitted('a', { qty: 2 }),
      ev.accepted('a', 'VA'),
      ev.filled('a', 'ta', 0.5),
      ev.submitted('b', { qty: 1 }),
      ev.accepted('b', 'VB'),
      ev.submitted('c', { qty: 1 }),
      ev.accepted('c', 'VC'),
      ordersAt('sim-a', [
        { symbol: 'BTC/USDT', venueOrderId: 'VA', clientOrderId: 'a', side: 'buy', qty: 2, filled: 0.5 },
        { symbol: 'BTC/USDT', venueOrderId: 'VB', side: 'buy', qty: 1, filled: 0.25 },
        { symbol: 'BTC/USDT', venueOrderId: 'VX', side: 'sell', qty: 4 },
      ]),
    )
    const rows = reconciliation(s).rows.filter((r) => r.kind === 'order')
    expect(rows.map((r) => [r.clientOrderId ?? r.venueOrderId, r.internal, r.observed, r.status])).toEqual([
      ['VX', 0, 4, 'UNKNOWN_TO_US'],
      ['a', 1.5, 1.5, 'OK'],
      ['b', 1, 0.75, 'MISMATCH'],
      ['c', 1, 0, 'MISSING_AT_VENUE'],
    ])
  })

  it('says MISMATCH for an order haltd holds finished that the venue still lists open', () => {
    const s = given(
      ev.submitted('a'),
      ev.accepted('a', 'VA'),
      ev.canceled('a'),
      ordersAt('sim-a', [{ symbol: 'BTC/USDT', venueOrderId: 'VA', clientOrderId: 'a', side: 'buy', qty: 1 }]),
    )
    expect(reconciliation(s).rows).toMatchObject([{ kind: 'order', status: 'MISMATCH', internal: 0, observed: 1, note: 'haltd has it canceled' }])
  })

  it('does not expect an order submitted after the venue listed its open orders', () => {
    const s = given(ordersAt('sim-a', []), ev.submitted('late'))
    expect(reconciliation(s).rows).toEqual([])
  })

  it('prints one column per venue, the row’s own venue holding the venue’s figure', () => {
    const r = reconciliation(given(...long(1), positionsAt('sim-a', [{ symbol: 'BTC/USDT', qty: 1 }]), positionsAt('sim-b', [])))
    expect(r.venues).toEqual(['sim-a', 'sim-b'])
    expect(r.rows[0]!.columns).toEqual({ 'sim-a': 1, 'sim-b': null })
    expect(r.counts).toEqual({ OK: 1, MISMATCH: 0, MISSING_AT_VENUE: 0, UNKNOWN_TO_US: 0 })
  })
})
