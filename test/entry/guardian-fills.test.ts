import { describe, expect, it } from 'vitest'
import { auditLog } from '../../src/audit/audit.js'
import type { Haltd } from '../../src/daemon/index.js'
import { order, position } from '../../src/projections/index.js'
import { fakeBinanceUsdm } from '../support/fake-binance/index.js'
import { until } from '../support/until.js'
import { fakeBinance, guardianOver, usdmGateway } from './guarded-account.js'

/**
 * Guardian mode follows the account trade by trade where the venue reports trades (Binance's
 * `userTrades`, through ccxt's `fetchMyTrades`): every trade the engine makes on its own order
 * entry is an `order.filled` with the venue's trade id, booked to the position haltd keeps, so the
 * risk triggers see it, an order placed and filled between two looks included.
 */

const PERP = 'BTC/USDT:USDT'

async function guarded(risk: Record<string, unknown> = {}) {
  const venue = await fakeBinance()
  const gateway = await usdmGateway(venue, [PERP], { pollIntervalMs: 100 })
  const h = await guardianOver(gateway, { risk })
  const engine = await fakeBinanceUsdm(venue)
  return { venue, h, engine }
}

type Filled = { clientOrderId: string; tradeId: string; qty: number; price: number; source?: string }
const fills = (h: Haltd) => [...h.log.read({ types: ['order.filled'] })].map((e) => e.data as Filled)

describe('guardian mode, trade by trade', { timeout: 30_000 }, () => {
  it('records each trade the venue reports with its own id and books it, an order placed and filled between two looks included', async () => {
    const { venue, h, engine } = await guarded()
    // a resting order, adopted, then filled in two trades; and a market order that never rests
    await engine.createOrder(PERP, 'limit', 'buy', 0.003, 49_000, { newClientOrderId: 'eng-1' })
    await until('the resting order adopted', () => h.state().orders.size === 1)
    venue.engine.fillResting('futures', 'eng-1', 0.001)
    venue.engine.fillResting('futures', 'eng-1', 0.002)
    await engine.createOrder(PERP, 'market', 'buy', 0.002, undefined, { newClientOrderId: 'eng-2' })

    const trades = venue.engine.trades.filter((t) => t.segment === 'futures')
    expect(trades).toHaveLength(3)
    await until('every trade recorded', () => trades.every((t) => fills(h).some((f) => f.tradeId === String(t.id))))
    for (const t of trades) {
      const f = fills(h).find((x) => x.tradeId === String(t.id))!
      expect(f).toMatchObject({ clientOrderId: t.clientOrderId, qty: t.qty, price: t.price })
      expect(f.source).not.toBe('order-total')
    }
    // booked once each: the position haltd keeps is the venue's, at the trades' prices
    await until('booked', () => Math.abs((position(h.state(), 'binanceusdm', PERP)?.qty ?? 0) - 0.005) < 1e-9)
    const p = position(h.state(), 'binanceusdm', PERP)!
    expect(p.qty).toBeCloseTo(venue.engine.position('BTCUSDT').amt, 9)
    expect(p.avgEntry).toBeCloseTo((0.003 * 49_000 + 0.002 * 50_000) / 0.005, 6)
    expect(order(h.state(), 'binanceusdm', 'eng-2')).toMatchObject({
      status: 'filled',
      origin: { kind: 'adopted', id: 'guardian' },
      filledQty: 0.002,
    })
    // the guardian's own log of adopted orders and their trades holds nothing the audit calls impossible
    expect(auditLog(h.log).findings.filter((f) => f.check === 'invariant')).toEqual([])
  })

  it('a risk trigger trips on what the engine traded on its own: gross notional over its limit latches the kill switch', async () => {
    const { h, engine } = await guarded({ grossNotional: { max: 200, action: 'HALTED' } })
    await engine.createOrder(PERP, 'market', 'buy', 0.005, undefined, { newClientOrderId: 'eng-big' })
    const tripped = await until('the kill switch', () => [...h.log.read({ types: ['killswitch.activated'] })][0])
    expect(tripped.data).toMatchObject({ trigger: 'grossNotional', action: 'HALTED', reading: 250, threshold: 200 })
    expect(h.gate.halted).toBe(true)
  })
})
