import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Side } from '../../src/events/primitives.js'
import { makeClientOrderId } from '../../src/exchanges/client-order-id.js'
import { isOwnOrderId, type ConnectionChange, type ExchangeGateway, type VenueOrder } from '../../src/exchanges/gateway.js'
import { VenueError } from '../../src/exchanges/errors.js'

/**
 * What a gateway implementation hands the contract suite. One fresh harness per test.
 *
 * - `gateway`: the gateway under test, on an account with enough funds to trade `symbol`.
 *   `connect()` is called by the suite, so it must be harmless when already connected.
 * - `symbol`: a unified symbol the venue lists (e.g. `BTC/USDT:USDT` or `BTC/USDT`).
 * - `qtyStep`: the symbol's amount step; orders use small multiples of it.
 * - `priceAway(side)`: a limit price on `side` far enough from the market that it rests.
 * - `placeForeign`: places a resting limit order on the same account WITHOUT haltd's tag (as a
 *   person or another program would); enables the own-versus-account scope test.
 * - `loseConnection` / `restoreConnection`: cut the venue off from the gateway and let it back
 *   (network down, a dropped WebSocket, a venue answering 503), for the connectivity test.
 * - `teardown`: closes the gateway and whatever backs it.
 */
export type ContractHarness = {
  gateway: ExchangeGateway
  symbol: string
  qtyStep: number
  priceAway(side: Side): number
  placeForeign?(order: { symbol: string; side: Side; qty: number; price: number }): Promise<void>
  loseConnection?(): void
  restoreConnection?(): void
  teardown(): Promise<void>
}

let counter = 0
/** haltd's own format (letters and digits, at most 32: every venue family takes it), unique across runs against a live server. */
const ownId = (): string => makeClientOrderId(Date.now().toString(36), ++counter)

const eventually = <T>(fn: () => Promise<T>): Promise<T> => vi.waitFor(fn, { timeout: 5_000, interval: 20 })

async function rejectionOf(p: Promise<unknown>): Promise<VenueError> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(VenueError)
    return e as VenueError
  }
  throw new Error('expected the call to reject with a VenueError, but it resolved')
}

/**
 * The behaviour every `ExchangeGateway` owes haltd, run unchanged against each implementation:
 * `gatewayContract('sim', async () => ({ gateway: new SimExchange(…), … }))`.
 */
export function gatewayContract(name: string, setup: () => Promise<ContractHarness>): void {
  describe(`gateway contract: ${name}`, () => {
    let h: ContractHarness
    let gw: ExchangeGateway

    beforeEach(async () => {
      h = await setup()
      gw = h.gateway
      await gw.connect()
    })
    afterEach(async () => {
      await h.teardown()
    })

    const restingLimit = (side: Side = 'buy', clientOrderId = ownId()) =>
      gw.submit({ clientOrderId, symbol: h.symbol, side, type: 'limit', qty: h.qtyStep * 10, price: h.priceAway(side), timeInForce: 'GTC' })

    const positionQty = async (): Promise<number> => (await gw.fetchPositions()).filter((p) => p.symbol === h.symbol).reduce((sum, p) => sum + p.qty, 0)

    it('names its venue and declares its capabilities', () => {
      expect(gw.venue).toMatch(/\S/)
      expect(['account', 'per-symbol', 'none']).toContain(gw.capabilities.massCancel)
      expect(gw.capabilities.batchCancel).toBeGreaterThanOrEqual(0)
      expect(['countdown', 'cancel-on-disconnect', 'none']).toContain(gw.capabilities.deadMansSwitch)
    })

    it('lists the harness symbol among its markets with a positive amount step', async () => {
      const markets = await gw.fetchMarkets()
      const market = markets.find((m) => m.symbol === h.symbol)
      expect(market).toBeDefined()
      expect(market!.amountStep).toBeGreaterThan(0)
    })

    it('acknowledges a submitted order with a venue order id and echoes our client order id', async () => {
      const clientOrderId = ownId()
      const ack = await restingLimit('buy', clientOrderId)
      expect(ack.clientOrderId).toBe(clientOrderId)
      expect(ack.venueOrderId).toMatch(/\S/)
      expect(ack.status).toBe('open')
      expect(ack.filled).toBe(0)
    })

    it('shows a resting limit order in fetchOpenOrders with our client order id', async () => {
      const clientOrderId = ownId()
      const ack = await restingLimit('sell', clientOrderId)
      const open = await gw.fetchOpenOrders()
      const mine = open.find((o) => o.clientOrderId === clientOrderId)
      expect(mine).toMatchObject({ venueOrderId: ack.venueOrderId, symbol: h.symbol, side: 'sell', status: 'open', filled: 0 })
      expect(mine!.qty).toBeCloseTo(h.qtyStep * 10, 10)
      expect(mine!.price).toBeCloseTo(h.priceAway('sell'), 6)
      const filtered = await gw.fetchOpenOrders([h.symbol])
      expect(filtered.map((o) => o.clientOrderId)).toContain(clientOrderId)
    })

    it('finds an order by client order id alone, and answers undefined for one it never saw', async () => {
      const clientOrderId = ownId()
      const ack = await restingLimit('buy', clientOrderId)
      const found = await gw.fetchOrder({ clientOrderId, symbol: h.symbol })
      expect(found).toMatchObject({ clientOrderId, venueOrderId: ack.venueOrderId, status: 'open' })
      expect(await gw.fetchOrder({ clientOrderId: ownId(), symbol: h.symbol })).toBeUndefined()
    })

    it('cancels a resting order, then answers not-found to a second cancel', async () => {
      const clientOrderId = ownId()
      await restingLimit('buy', clientOrderId)
      expect(await gw.cancel({ clientOrderId, symbol: h.symbol })).toEqual({ clientOrderId, outcome: 'canceled' })
      expect((await gw.fetchOpenOrders()).map((o) => o.clientOrderId)).not.toContain(clientOrderId)
      expect((await gw.fetchOrder({ clientOrderId, symbol: h.symbol }))?.status).toBe('canceled')
      expect(await gw.cancel({ clientOrderId, symbol: h.symbol })).toEqual({ clientOrderId, outcome: 'not-found' })
    })

    it('answers not-found when asked to cancel an order it does not know', async () => {
      const clientOrderId = ownId()
      expect(await gw.cancel({ clientOrderId, symbol: h.symbol })).toEqual({ clientOrderId, outcome: 'not-found' })
    })

    it('cancelAll with own scope cancels our tagged orders and reports the scope and method', async () => {
      const ids = [ownId(), ownId(), ownId()]
      for (const [i, id] of ids.entries()) await restingLimit(i % 2 ? 'sell' : 'buy', id)
      const result = await gw.cancelAll({ scope: 'own' })
      expect(result.scope).toBe('own')
      expect(['mass-cancel', 'batched', 'per-order']).toContain(result.method)
      if (gw.capabilities.massCancel === 'none') expect(result.method).not.toBe('mass-cancel')
      expect([...result.canceled].sort()).toEqual([...ids].sort())
      expect(result.failed).toEqual([])
      expect((await gw.fetchOpenOrders()).filter((o) => ids.includes(o.clientOrderId ?? ''))).toEqual([])
    })

    it('cancelAll own leaves a foreign order open; account scope then cancels it too', async ({ skip }) => {
      if (!h.placeForeign) return skip()
      const ours = ownId()
      await restingLimit('buy', ours)
      await h.placeForeign({ symbol: h.symbol, side: 'sell', qty: h.qtyStep * 10, price: h.priceAway('sell') })
      const foreign = (): Promise<VenueOrder[]> =>
        gw.fetchOpenOrders().then((open) => open.filter((o) => o.symbol === h.symbol && !isOwnOrderId(o.clientOrderId)))
      const [placed] = await foreign()
      expect(placed).toBeDefined()
      const foreignId = placed!.clientOrderId ?? placed!.venueOrderId

      const own = await gw.cancelAll({ scope: 'own', symbols: [h.symbol] })
      expect(own.canceled).toEqual([ours])
      expect(await foreign()).toHaveLength(1)

      const account = await gw.cancelAll({ scope: 'account', symbols: [h.symbol] })
      expect(account.scope).toBe('account')
      expect(account.canceled).toEqual([foreignId])
      expect(await foreign()).toEqual([])
      expect(await gw.fetchOpenOrders([h.symbol])).toEqual([])
    })

    it('reports balances and positions in the port shapes', async () => {
      const balances = await gw.fetchBalances()
      expect(balances.length).toBeGreaterThan(0)
      for (const b of balances) {
        expect(b.asset).toMatch(/\S/)
        for (const n of [b.free, b.used, b.total]) expect(Number.isFinite(n)).toBe(true)
        expect(b.total).toBeCloseTo(b.free + b.used, 6)
      }
      const positions = await gw.fetchPositions()
      expect(Array.isArray(positions)).toBe(true)
      if (!gw.capabilities.positions) expect(positions).toEqual([])
      for (const p of positions) {
        expect(p.symbol).toMatch(/\S/)
        expect(Number.isFinite(p.qty)).toBe(true)
      }
    })

    it('a reduce-only market flatten closes a position without ever increasing it', async ({ skip }) => {
      if (!gw.capabilities.positions || !gw.capabilities.reduceOnly) return skip()
      const start = await positionQty()
      const qty = h.qtyStep * 10
      await gw.submit({ clientOrderId: ownId(), symbol: h.symbol, side: 'buy', type: 'market', qty })
      const opened = await eventually(async () => {
        const q = await positionQty()
        expect(q).toBeCloseTo(start + qty, 8)
        return q
      })
      expect(opened).toBeGreaterThan(0)

      await gw.submit({ clientOrderId: ownId(), symbol: h.symbol, side: 'sell', type: 'market', qty: opened, reduceOnly: true })
      const closed = await eventually(async () => {
        const q = await positionQty()
        expect(Math.abs(q)).toBeLessThan(Math.abs(opened))
        return q
      })
      expect(closed).toBeCloseTo(0, 8)
    })

    it('rejects a reduce-only order that would increase the position, with kind rejected', async ({ skip }) => {
      if (!gw.capabilities.positions || !gw.capabilities.reduceOnly) return skip()
      const qty = h.qtyStep * 10
      await gw.submit({ clientOrderId: ownId(), symbol: h.symbol, side: 'buy', type: 'market', qty })
      const long = await eventually(async () => {
        const q = await positionQty()
        expect(q).toBeGreaterThan(0)
        return q
      })
      const err = await rejectionOf(gw.submit({ clientOrderId: ownId(), symbol: h.symbol, side: 'buy', type: 'market', qty, reduceOnly: true }))
      expect(err.kind).toBe('rejected')
      expect(err.venue).toBe(gw.venue)
      expect(await positionQty()).toBeCloseTo(long, 8)
    })

    it('fails with a VenueError of kind rejected for a symbol the venue does not list', async () => {
      const err = await rejectionOf(gw.submit({ clientOrderId: ownId(), symbol: 'NOPE/NOTHING', side: 'buy', type: 'limit', qty: 1, price: 1 }))
      expect(err.kind).toBe('rejected')
    })

    it('pushes a canceled status update for a canceled order, and nothing after unsubscribe', async () => {
      const clientOrderId = ownId()
      const seen: string[] = []
      let delivered = 0
      const unsubscribe = gw.onUpdate((u) => {
        delivered++
        if (u.kind === 'status' && u.clientOrderId === clientOrderId) seen.push(u.status)
      })
      await restingLimit('buy', clientOrderId)
      await gw.cancel({ clientOrderId, symbol: h.symbol })
      await eventually(async () => expect(seen).toContain('canceled'))
      unsubscribe()
      const before = delivered
      const other = ownId()
      await restingLimit('buy', other)
      await gw.cancel({ clientOrderId: other, symbol: h.symbol })
      expect(delivered).toBe(before)
    })

    it('tells of a connection lost and regained while running, once each', async ({ skip }) => {
      if (!gw.onConnectionChange || !h.loseConnection || !h.restoreConnection) return skip()
      const changes: ConnectionChange[] = []
      const off = gw.onConnectionChange((c) => changes.push(c))
      // polling gateways follow the venue through the polls they run for update listeners
      const offUpdates = gw.onUpdate(() => undefined)
      h.loseConnection()
      await eventually(async () => expect(changes[0]).toEqual({ connected: false, reason: expect.stringMatching(/\S/) }))
      h.restoreConnection()
      await eventually(async () => expect(changes).toEqual([{ connected: false, reason: expect.any(String) }, { connected: true }]))
      await restingLimit('buy')
      expect(await gw.fetchOpenOrders()).not.toEqual([])
      expect(changes).toHaveLength(2)
      off()
      offUpdates()
    })

    it('arms and disarms a dead man switch where the venue has one', async () => {
      const armed = await gw.armDeadMansSwitch(60_000)
      if (gw.capabilities.deadMansSwitch === 'none') {
        expect(armed.armed).toBe(false)
      } else {
        expect(armed.armed).toBe(true)
        expect(armed.method).toMatch(/\S/)
      }
      await gw.disarmDeadMansSwitch()
    })
  })
}
