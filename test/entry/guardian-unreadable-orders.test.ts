import { describe, expect, it } from 'vitest'
import type { Haltd } from '../../src/daemon/index.js'
import { anomalies, order, position } from '../../src/projections/index.js'
import type { fakeBinanceSpot } from '../support/fake-binance/index.js'
import { guardedSpotAccount } from './guarded-account.js'

/**
 * Guardian mode, where the venue reports an order in a shape haltd cannot record (the fake Binance
 * answers it malformed in its open-order lists and lookups): a quantity of 0 or a side that is
 * neither buy nor sell, which the gateway cannot read, or a client order id of 250 characters,
 * which the log refuses. The order is recorded
 * once as `venue.order-unreadable`, saying what is wrong, and raised as an anomaly; the orders
 * listed with it are adopted as ever, its trades are recorded unresolved, and the guardian goes on
 * following the account.
 */

const BTC = 'BTC/USDT'
const guarded = () => guardedSpotAccount([BTC])

async function until<T>(what: string, check: () => T | undefined | false, ms = 8_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = check()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const polls = (n: number) => new Promise((r) => setTimeout(r, n * 100 + 50))
const data = (h: Haltd, type: string) => [...h.log.read({ types: [type] })].map((e) => e.data as Record<string, unknown>)
const adopted = (h: Haltd, id: string) => order(h.state(), 'binance', id)?.origin.kind === 'adopted'
/** A buy far below the market: it rests on the book. */
const resting = (engine: Awaited<ReturnType<typeof fakeBinanceSpot>>, id: string) =>
  engine.createOrder(BTC, 'limit', 'buy', 0.01, 20_000, { newClientOrderId: id })

/** Two ways a venue reports an order haltd cannot record, and what haltd says of each. */
const LONG_ID = 'x'.repeat(250)
const NO_QTY = { origQty: '0.00000000' }
const QTY_REASON = /^the venue's order could not be read: order \d+ has no amount$/
const NO_SIDE = { side: 'SIDEWAYS' }
const LOOKUP_SIDE_REASON = /^the venue's answer to its lookup could not be read: order \d+ has no side \(got "sideways"\)$/
const ID_REASON = `clientOrderId: Too big: expected string to have <=200 characters (the venue gave "${'x'.repeat(60)}…", 250 characters)`

describe('guardian mode, an order the venue reports in a shape haltd cannot record', { timeout: 30_000 }, () => {
  it('adopts the orders listed around it, records each bad one once, and adopts it once it reads well', async () => {
    // given a venue that reports two of four open orders malformed: one with a quantity of 0, one with a client id too long
    const { venue, h, engine } = await guarded()
    venue.malformOrder('eng-no-qty', NO_QTY)
    venue.malformOrder('eng-long-id', { clientOrderId: LONG_ID })
    // when the engine places the four on its own, the bad ones between the others
    await resting(engine, 'eng-first')
    await resting(engine, 'eng-no-qty')
    await resting(engine, 'eng-long-id')
    await resting(engine, 'eng-last')
    // then both readable orders are adopted
    await until('both readable orders adopted', () => adopted(h, 'eng-first') && adopted(h, 'eng-last'))
    expect(order(h.state(), 'binance', 'eng-last')).toMatchObject({ symbol: BTC, qty: 0.01, status: 'open' })
    // and each bad one is recorded as unreadable, saying what is wrong with it
    const recorded = await until('both bad orders recorded', () => data(h, 'venue.order-unreadable').length >= 2 && data(h, 'venue.order-unreadable'))
    expect(recorded).toEqual(
      expect.arrayContaining([
        {
          venue: 'binance',
          what: 'order',
          clientOrderId: 'eng-no-qty',
          venueOrderId: expect.any(String),
          symbol: BTC,
          reason: expect.stringMatching(QTY_REASON),
        },
        // the id the log refuses is left out; the venue's own id names the order
        { venue: 'binance', what: 'order', venueOrderId: expect.any(String), symbol: BTC, reason: ID_REASON },
      ]),
    )
    expect(order(h.state(), 'binance', 'eng-no-qty')).toBeUndefined()
    // once each, across several looks
    await polls(5)
    expect(data(h, 'venue.order-unreadable')).toHaveLength(2)
    // and raised as anomalies the status counts
    const raised = anomalies(h.state()).filter((a) => a.kind === 'order-unreadable')
    expect(raised).toHaveLength(2)
    expect(raised).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          venue: 'binance',
          clientOrderId: 'eng-no-qty',
          detail: expect.stringMatching(/^order eng-no-qty on BTC\/USDT could not be recorded: the venue's order could not be read: order \d+ has no amount$/),
        }),
      ]),
    )
    expect(h.status().anomalies).toBeGreaterThanOrEqual(2)

    // when the venue reports them readably again
    venue.malformOrder('eng-no-qty', undefined)
    venue.malformOrder('eng-long-id', undefined)
    // then they are adopted like any other, and the guardian still follows the account
    await until('the orders adopted once readable', () => adopted(h, 'eng-no-qty') && adopted(h, 'eng-long-id'))
    await resting(engine, 'eng-after')
    await until('a later order adopted', () => adopted(h, 'eng-after'))
    expect(data(h, 'venue.order-unreadable')).toHaveLength(2)
  })

  it.each([
    { what: 'no side', fields: NO_SIDE, reason: LOOKUP_SIDE_REASON },
    { what: 'a client id too long', fields: { clientOrderId: LONG_ID }, reason: ID_REASON },
  ])('records a trade whose looked-up order has $what as unresolved, once, and goes on following the account', async ({ fields, reason }) => {
    // given a venue that answers a lookup of one order malformed
    const { venue, h, engine } = await guarded()
    venue.malformOrder('eng-traded-bad', fields)
    // when the engine buys it at market on its own: placed and filled between two looks
    await engine.createOrder(BTC, 'market', 'buy', 0.02, undefined, { newClientOrderId: 'eng-traded-bad' })
    const [trade] = venue.engine.trades.filter((t) => t.segment === 'spot')
    expect(trade).toBeDefined()
    // then its trade is recorded unresolved, saying why, booked to no position
    const [u] = await until('the trade recorded unresolved', () => data(h, 'venue.trade-unresolved').length > 0 && data(h, 'venue.trade-unresolved'))
    expect(u).toMatchObject({
      venue: 'binance',
      tradeId: String(trade!.id),
      clientOrderId: 'eng-traded-bad',
      qty: 0.02,
      price: trade!.price,
      marketsAsked: [BTC],
    })
    expect(String(u!.reason).replace(/^its order could not be recorded: /, '')).toMatch(reason)
    expect(data(h, 'venue.order-unreadable')).toEqual([
      expect.objectContaining({ what: 'order', symbol: BTC, reason: typeof reason === 'string' ? reason : expect.stringMatching(reason) }),
    ])
    expect(data(h, 'order.filled')).toEqual([])
    expect(position(h.state(), 'binance', BTC)).toBeUndefined()
    expect(anomalies(h.state()).map((a) => a.kind)).toEqual(expect.arrayContaining(['trade-unresolved', 'order-unreadable']))
    // once, across several looks
    await polls(5)
    expect(data(h, 'venue.trade-unresolved')).toHaveLength(1)
    expect(data(h, 'venue.order-unreadable')).toHaveLength(1)
    // and an order placed afterwards is adopted and booked as ever
    await engine.createOrder(BTC, 'market', 'buy', 0.01, undefined, { newClientOrderId: 'eng-traded-after' })
    await until('the later order booked', () => order(h.state(), 'binance', 'eng-traded-after')?.filledQty === 0.01)
    expect(position(h.state(), 'binance', BTC)?.qty).toBeCloseTo(0.01, 9)
  })

  it('records a trade the log refuses as unreadable, with its order adopted and the account still followed', async () => {
    // given a venue whose stream reports one order's trade with a trade id of 250 characters
    const { venue, h, engine } = await guarded()
    venue.malformTradeReports('eng-long-trade', { t: LONG_ID })
    // when the engine buys at market on its own
    await engine.createOrder(BTC, 'market', 'buy', 0.02, undefined, { newClientOrderId: 'eng-long-trade' })
    // then its order is adopted, and the trade recorded as unreadable, saying why
    const [bad] = await until('the trade recorded unreadable', () => data(h, 'venue.order-unreadable').length > 0 && data(h, 'venue.order-unreadable'))
    // (its id cannot be recorded either: the order's ids say which trade it is)
    expect(bad).toEqual({
      venue: 'binance',
      what: 'trade',
      clientOrderId: 'eng-long-trade',
      venueOrderId: expect.any(String),
      symbol: BTC,
      reason: `tradeId: Too big: expected string to have <=200 characters (the venue gave "${'x'.repeat(60)}…", 250 characters)`,
    })
    expect(adopted(h, 'eng-long-trade')).toBe(true)
    expect(anomalies(h.state()).filter((a) => a.kind === 'order-unreadable')).toEqual([
      expect.objectContaining({
        detail: expect.stringMatching(/^a trade of eng-long-trade on BTC\/USDT could not be recorded: tradeId: Too big/),
      }),
    ])
    // once, across several looks, and the guardian goes on
    await polls(5)
    expect(data(h, 'venue.order-unreadable')).toHaveLength(1)
    await resting(engine, 'eng-after-trade')
    await until('a later order adopted', () => adopted(h, 'eng-after-trade'))
  })

  it('keeps an adopted order the venue turns unreadable live, says so once, and follows it on as ever', async () => {
    // given an order the guardian adopted
    const { venue, h, engine } = await guarded()
    const placed = await resting(engine, 'eng-turns-bad')
    await until('the order adopted', () => adopted(h, 'eng-turns-bad'))
    // when the venue lists it with no side, look after look
    venue.malformOrder('eng-turns-bad', NO_SIDE)
    await until('the order recorded unreadable', () => data(h, 'venue.order-unreadable').length > 0)
    await polls(5)
    // then it stays live in haltd (still listed, whatever its shape), said once
    expect(order(h.state(), 'binance', 'eng-turns-bad')?.status).toBe('open')
    expect(data(h, 'venue.order-unreadable')).toEqual([
      {
        venue: 'binance',
        what: 'order',
        clientOrderId: 'eng-turns-bad',
        venueOrderId: placed.id,
        symbol: BTC,
        reason: expect.stringMatching(/^the venue's order could not be read: order \d+ has no side/),
      },
    ])
    // and what the venue says of it later is recorded as ever: the engine cancels it
    await engine.cancelOrder(placed.id!, BTC)
    await until('the order canceled', () => order(h.state(), 'binance', 'eng-turns-bad')?.status === 'canceled')
    venue.malformOrder('eng-turns-bad', undefined)
    await polls(3)
    expect(data(h, 'venue.order-unreadable')).toHaveLength(1)
  })
})
