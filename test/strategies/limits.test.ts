import { describe, expect, it } from 'vitest'
import { InvalidStrategyConfig, limitRefusal, parseLimits, reducedLimits, SendRate, type OwnOrder, type PlaceIntent } from '../../src/strategies/index.js'

const limits = { maxPosition: 3, maxOpenOrders: 4, maxOrdersPerSecond: 5 }
const buy = (qty: number): PlaceIntent => ({ kind: 'place', venue: 'v', symbol: 'S', side: 'buy', type: 'market', qty })
const sell = (qty: number): PlaceIntent => ({ kind: 'place', venue: 'v', symbol: 'S', side: 'sell', type: 'market', qty })
const resting = (side: 'buy' | 'sell', qty: number, filledQty = 0, venue = 'v'): OwnOrder => ({
  venue,
  clientOrderId: `${side}-${qty}-${venue}`,
  symbol: 'S',
  side,
  qty,
  filledQty,
  price: 1,
  reduceOnly: false,
})
const view = (position: number, openOrders: OwnOrder[] = [], sentLastSecond = 0) => ({ position, openOrders, sentLastSecond })

describe('per-strategy limits', () => {
  it('lets an order through that lands exactly on the position limit, and refuses one past it', () => {
    expect(limitRefusal(buy(3), view(0), limits)).toBeUndefined()
    expect(limitRefusal(buy(3.001), view(0), limits)?.limit).toBe('maxPosition')
    expect(limitRefusal(sell(1), view(-2), limits)).toBeUndefined()
    expect(limitRefusal(sell(1.5), view(-2), limits)?.limit).toBe('maxPosition')
  })

  it('counts resting orders on the same side as if they had filled (worst case)', () => {
    expect(limitRefusal(buy(1), view(1, [resting('buy', 1)]), limits)).toBeUndefined()
    expect(limitRefusal(buy(1), view(1, [resting('buy', 1.5)]), limits)?.limit).toBe('maxPosition')
    // only the unfilled rest of a partly filled order can still add to the position
    expect(limitRefusal(buy(1), view(1.5, [resting('buy', 1, 0.5)]), limits)).toBeUndefined()
    // orders on the other side or another venue do not add to this side
    expect(limitRefusal(buy(2), view(1, [resting('sell', 2), resting('buy', 2, 0, 'w')]), limits)).toBeUndefined()
  })

  it('always allows moving toward flat, even when a limit cut left the position beyond the limit', () => {
    const cut = reducedLimits(limits, 50)
    expect(limitRefusal(sell(1), view(3), cut)).toBeUndefined()
    expect(limitRefusal(buy(0.1), view(3), cut)?.limit).toBe('maxPosition')
    // …but not through flat to the other side beyond it
    expect(limitRefusal(sell(5), view(3), cut)?.limit).toBe('maxPosition')
    expect(limitRefusal(sell(4.5), view(3), cut)).toBeUndefined()
  })

  it('refuses a new order once the open-order limit is reached', () => {
    const four = [resting('buy', 0.1), resting('sell', 0.1), resting('buy', 0.2), resting('sell', 0.2)]
    expect(limitRefusal(buy(0.1), view(0, four.slice(0, 3)), limits)).toBeUndefined()
    expect(limitRefusal(buy(0.1), view(0, four), limits)?.limit).toBe('maxOpenOrders')
  })

  it('refuses an order once the orders sent in the last second reach the rate limit', () => {
    expect(limitRefusal(buy(0.1), view(0, [], 4), limits)).toBeUndefined()
    expect(limitRefusal(buy(0.1), view(0, [], 5), limits)?.limit).toBe('maxOrdersPerSecond')
  })

  it('cuts limits by a percentage, rounding the open-order count down', () => {
    expect(reducedLimits({ maxPosition: 10, maxOpenOrders: 5, maxOrdersPerSecond: 20 }, 30)).toEqual({
      maxPosition: 7,
      maxOpenOrders: 3,
      maxOrdersPerSecond: 14,
    })
    expect(reducedLimits(limits, 100)).toEqual({ maxPosition: 0, maxOpenOrders: 0, maxOrdersPerSecond: 0 })
    expect(() => reducedLimits(limits, 120)).toThrow(InvalidStrategyConfig)
    expect(() => reducedLimits(limits, Number.NaN)).toThrow(/percentage/)
  })

  it('names the field of limits that are not usable', () => {
    expect(() => parseLimits({ maxPosition: 1, maxOpenOrders: 1.5, maxOrdersPerSecond: 1 })).toThrow(/limits\.maxOpenOrders/)
    expect(() => parseLimits({ maxPosition: -1, maxOpenOrders: 1, maxOrdersPerSecond: 1 })).toThrow(/limits\.maxPosition/)
  })

  it('counts sends in a sliding one-second window on the injected clock', () => {
    const rate = new SendRate()
    rate.record(1_000)
    rate.record(1_500)
    expect(rate.countAt(1_999)).toBe(2)
    expect(rate.countAt(2_000)).toBe(1)
    expect(rate.countAt(2_500)).toBe(0)
  })
})
