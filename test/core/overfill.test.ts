import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { recordFills, recordOrderTotal } from '../../src/core/execution/venue-recorder.js'
import { createProjectionRunner } from '../../src/core/log/projection-runner.js'
import { order as projectedOrder, position } from '../../src/projections/index.js'
import { tempDb } from '../support/tmp.js'

/**
 * A venue that reports more filled than an order was for: the report is recorded as the venue's
 * unreadable word about the order, and nothing of it is booked.
 */
describe('a fill of more than its order', () => {
  const submitted = (log: ReturnType<typeof openEventLog>) => {
    log.append({
      type: 'order.submitted',
      data: { venue: 'v', clientOrderId: 'hd-1', symbol: 'BTC/USDT', side: 'buy', type: 'limit', qty: 0.01, price: 40_000, origin: { kind: 'manual' } },
    })
    log.append({ type: 'order.accepted', data: { venue: 'v', clientOrderId: 'hd-1', venueOrderId: '77' } })
  }

  it('given a trade of 1000 on an order of 0.01, it is recorded once as unreadable, the order stays open and no position is booked; a trade that fits is booked', () => {
    const log = openEventLog({ path: tempDb() })
    const projections = createProjectionRunner({ log })
    submitted(log)
    const bogus = { clientOrderId: 'hd-1', tradeId: 't-big', qty: 1000, price: 40_000, fee: 0 }
    recordFills(log, 'v', [bogus], log)
    recordFills(log, 'v', [bogus], log)
    const refused = [...log.read({ types: ['venue.order-unreadable'] })]
    expect(refused.map((e) => e.data)).toEqual([
      {
        venue: 'v',
        what: 'trade',
        clientOrderId: 'hd-1',
        tradeId: 't-big',
        reason: 'the venue reported 1000 filled on an order of 0.01: more than the order, not booked',
      },
    ])
    expect([...log.read({ types: ['order.filled'] })]).toEqual([])
    expect(projectedOrder(projections.state, 'v', 'hd-1')).toMatchObject({ status: 'open', filledQty: 0 })
    recordFills(log, 'v', [{ clientOrderId: 'hd-1', tradeId: 't-ok', qty: 0.004, price: 40_000, fee: 0 }], log)
    expect(projectedOrder(projections.state, 'v', 'hd-1')).toMatchObject({ status: 'partially-filled', filledQty: 0.004 })
    expect(position(projections.state, 'v', 'BTC/USDT')?.qty).toBe(0.004)
    projections.stop()
    log.close()
  })

  it('given an order total of more than the order, nothing is booked and the report is recorded as unreadable', () => {
    const log = openEventLog({ path: tempDb() })
    submitted(log)
    expect(recordOrderTotal(log, 'v', { clientOrderId: 'hd-1', filled: 3, average: 40_000 })).toBe(false)
    expect([...log.read({ types: ['order.filled'] })]).toEqual([])
    expect([...log.read({ types: ['venue.order-unreadable'] })].map((e) => (e.data as { reason: string }).reason)).toEqual([
      'the venue reported 3 filled on an order of 0.01: more than the order, not booked',
    ])
    log.close()
  })
})
