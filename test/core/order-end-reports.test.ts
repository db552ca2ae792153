import { afterEach, describe, expect, it } from 'vitest'
import { OrderGate } from '../../src/core/execution/gate.js'
import { OrderRouter } from '../../src/core/execution/order-router.js'
import { recordUpdates } from '../../src/core/execution/venue-recorder.js'
import { createProjectionRunner } from '../../src/core/log/projection-runner.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import type { ExchangeGateway, OrderUpdate } from '../../src/exchanges/gateway.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { order as projectedOrder, position } from '../../src/projections/index.js'
import { tempDb } from '../support/tmp.js'

const SYMBOL = 'BTC/USDT:USDT'
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/**
 * haltd's log, projections, router and recorder over the simulated venue, and a way to report
 * order updates as a venue's stream or poll would (the sim's own updates go through as well).
 */
function onTheSim() {
  const log = openEventLog({ path: tempDb() })
  const projections = createProjectionRunner({ log, warn: () => {} })
  const sim = new SimExchange({ venue: 'sim', seed: 7, mode: 'derivatives', symbols: [{ symbol: SYMBOL, mid: 100, amountStep: 0.001, priceStep: 0.01 }] })
  const handlers: ((u: OrderUpdate) => void)[] = []
  const venue: ExchangeGateway = Object.assign(Object.create(sim) as SimExchange, {
    onUpdate: (h: (u: OrderUpdate) => void) => {
      handlers.push(h)
      const off = sim.onUpdate(h)
      return () => off()
    },
  })
  const router = new OrderRouter({
    log,
    gate: new OrderGate(() => ({ mode: 'ACTIVE', strategyBlock: undefined })),
    venues: new Map([['sim', venue]]),
    runTag: 'r1',
    positionOf: () => 0,
    orderOf: (v, id) => projectedOrder(projections.state, v, id),
  })
  const stop = recordUpdates(log, venue)
  cleanups.push(async () => {
    stop()
    router.close()
    projections.stop()
    await sim.close()
    log.close()
  })
  const report = (u: OrderUpdate) => {
    for (const h of handlers) h(u)
  }
  return { log, projections, router, report }
}

describe('an order whose end a venue reports twice', () => {
  it('given a second report of its end with more filled than the first, then the difference is booked once, and the order and the position hold the larger total', async () => {
    // given a resting order of 1
    const { log, projections, router, report } = onTheSim()
    const out = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: { kind: 'strategy', id: 'mm' } })
    if (out.status !== 'accepted' || out.clientOrderId === undefined) throw new Error(`not accepted: ${JSON.stringify(out)}`)
    const id = out.clientOrderId

    // when the venue reports it canceled with 0.3 filled, then again with 0.5 (its late correction), then the first again
    report({ kind: 'status', clientOrderId: id, status: 'canceled', filled: 0.3, price: 90 })
    report({ kind: 'status', clientOrderId: id, status: 'canceled', filled: 0.5, price: 90 })
    report({ kind: 'status', clientOrderId: id, status: 'canceled', filled: 0.3, price: 90 })
    await log.flush()

    // then each total is one order-total fill, and what they book together is the larger
    const fills = [...log.read()].filter((e) => e.type === 'order.filled').map((e) => e.data)
    expect(fills).toEqual([
      expect.objectContaining({ clientOrderId: id, qty: 0.3, source: 'order-total', tradeId: `total:0.3:${id}` }),
      expect.objectContaining({ clientOrderId: id, qty: 0.5, source: 'order-total', tradeId: `total:0.5:${id}` }),
    ])
    expect(projectedOrder(projections.state, 'sim', id)).toMatchObject({ status: 'canceled', filledQty: 0.5 })
    expect(position(projections.state, 'sim', SYMBOL)?.qty).toBeCloseTo(0.5, 12)
    expect([...log.read()].filter((e) => e.type === 'order.canceled')).toHaveLength(1)
  })
})
