import { describe, expect, it } from 'vitest'
import type { Haltd } from '../../src/daemon/index.js'
import { anomalies, order, position } from '../../src/projections/index.js'
import { until } from '../support/until.js'
import { guardedSpotAccount } from './guarded-account.js'

/**
 * Guardian mode, where the venue's user stream reports a trade without its market (the fake
 * Binance spot stream leaves `s` out of its trade reports, so ccxt's trade has no symbol): haltd
 * asks for the trade's order on each market the account trades and books the trade where the order
 * is; where no market it asks has it, the trade is recorded as `venue.trade-unresolved` and raised
 * as an anomaly, booked to no position.
 */

const BTC = 'BTC/USDT'

/** A guardian over the fake venue's spot account, its stream reporting trades without their symbol; `symbols`: the markets haltd is told of. */
const guarded = (symbols: string[]) =>
  guardedSpotAccount(symbols, (venue) => {
    venue.tradeReportsWithoutSymbol = true
  })

type Filled = { clientOrderId: string; tradeId: string; qty: number; price: number; source?: string }
const fills = (h: Haltd) => [...h.log.read({ types: ['order.filled'] })].map((e) => e.data as Filled)
const unresolved = (h: Haltd) => [...h.log.read({ types: ['venue.trade-unresolved'] })].map((e) => e.data as Record<string, unknown>)

describe('guardian mode, a trade reported without its market', { timeout: 30_000 }, () => {
  it('finds the order on the markets the account trades and books the trade with its own id', async () => {
    // given a guardian told of two markets, on a venue whose stream names no market in its trades
    const { venue, h, engine } = await guarded(['ETH/USDT', BTC])
    // when the engine buys at market on its own: placed and filled between two looks
    await engine.createOrder(BTC, 'market', 'buy', 0.01, undefined, { newClientOrderId: 'eng-unnamed-1' })
    const [trade] = venue.engine.trades.filter((t) => t.segment === 'spot')
    expect(trade).toBeDefined()
    // then the trade is booked to the order haltd found on BTC/USDT, as a trade, not as the order's total
    const fill = await until('the trade booked', () => fills(h).find((f) => f.tradeId === String(trade!.id)))
    expect(fill).toMatchObject({ clientOrderId: 'eng-unnamed-1', qty: 0.01, price: trade!.price })
    expect(fill.source).not.toBe('order-total')
    expect(order(h.state(), 'binance', 'eng-unnamed-1')).toMatchObject({
      symbol: BTC,
      status: 'filled',
      filledQty: 0.01,
      origin: { kind: 'adopted', id: 'guardian' },
    })
    expect(position(h.state(), 'binance', BTC)?.qty).toBeCloseTo(0.01, 9)
    expect(unresolved(h)).toEqual([])
    expect(anomalies(h.state()).filter((a) => a.kind === 'trade-unresolved' || a.kind === 'fill-for-unknown-order')).toEqual([])
  })

  it('records a trade whose order is on no market it asked as unresolved, raises it as an anomaly and books it nowhere', async () => {
    // given a guardian told only of ETH/USDT
    const { venue, h, engine } = await guarded(['ETH/USDT'])
    // when the engine buys BTC/USDT at market on its own
    await engine.createOrder(BTC, 'market', 'buy', 0.02, undefined, { newClientOrderId: 'eng-unnamed-2' })
    const [trade] = venue.engine.trades.filter((t) => t.segment === 'spot')
    // then the trade is recorded as the venue reported it, with the markets asked and why it is unplaced
    const [u] = await until('the trade recorded unresolved', () => unresolved(h).length > 0 && unresolved(h))
    expect(u).toMatchObject({
      venue: 'binance',
      tradeId: String(trade!.id),
      clientOrderId: 'eng-unnamed-2',
      qty: 0.02,
      price: trade!.price,
      marketsAsked: ['ETH/USDT'],
      reason: 'its order is on none of the 1 market(s) asked',
    })
    // and the state and status say so, with no position and no fill booked
    const raised = anomalies(h.state()).filter((a) => a.kind === 'trade-unresolved')
    expect(raised).toEqual([
      expect.objectContaining({
        venue: 'binance',
        clientOrderId: 'eng-unnamed-2',
        detail: `trade ${trade!.id} of 0.02 @ ${trade!.price} for eng-unnamed-2, booked to no position: its order is on none of the 1 market(s) asked`,
      }),
    ])
    expect(h.status().anomalies).toBeGreaterThanOrEqual(1)
    expect(fills(h)).toEqual([])
    expect(position(h.state(), 'binance', BTC)).toBeUndefined()
    // a later look does not record it twice
    await new Promise((r) => setTimeout(r, 300))
    expect(unresolved(h)).toHaveLength(1)
  })
})
