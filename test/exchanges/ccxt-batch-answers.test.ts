import ccxt, { type Order } from 'ccxt'
import { describe, expect, it } from 'vitest'
import { matchBatchAnswers } from '../../src/exchanges/ccxt/batch-answers.js'
import { bybitCancelBatch } from '../../src/exchanges/ccxt/call-shapes.js'
import type { VenueOrder } from '../../src/exchanges/gateway.js'

const order = (n: number, clientOrderId = `hd${n}`): VenueOrder => ({
  venueOrderId: `v${n}`,
  ...(clientOrderId ? { clientOrderId } : {}),
  symbol: 'BTC/USDT:USDT',
  side: 'buy',
  qty: 1,
  filled: 0,
  status: 'open',
})
/** An answer item as ccxt parses it: only what the venue sent is set. */
const answer = (a: { id?: string; clientOrderId?: string; status?: string; info?: Record<string, unknown> }): Order => ({ info: {}, ...a }) as unknown as Order

describe('matching a batch cancel’s answers to its orders', () => {
  it('by venue id or client id, in whatever order they come back', () => {
    const orders = [order(1), order(2), order(3)]
    const answers = [answer({ id: 'v3', status: 'canceled' }), answer({ clientOrderId: 'hd1', status: 'canceled' }), answer({ id: 'v2', status: 'canceled' })]
    expect(matchBatchAnswers(orders, answers)).toEqual({ canceled: ['hd1', 'hd2', 'hd3'], failed: [], unanswered: [] })
  })

  it('an item the venue (or ccxt, as okx.cancelOrders does for sCode ≠ 0) dropped leaves its order unanswered, never lent the next answer', () => {
    const orders = [order(1), order(2), order(3)]
    // OKX: item 2 failed (just filled) and was dropped; the others came back with sCode 0
    const answers = [answer({ id: 'v1', info: { ordId: 'v1', sCode: '0' } }), answer({ id: 'v3', info: { ordId: 'v3', sCode: '0' } })]
    expect(matchBatchAnswers(orders, answers)).toEqual({ canceled: ['hd1', 'hd3'], failed: [], unanswered: ['hd2'] })
  })

  it('a Binance error item carries no id: its order is unanswered, not the error of whichever order sat at that position', () => {
    const orders = [order(1), order(2)]
    const answers = [answer({ id: 'v1', status: 'canceled' }), answer({ info: { code: -2011, msg: 'Unknown order sent.' } })]
    expect(matchBatchAnswers(orders, answers)).toEqual({ canceled: ['hd1'], failed: [], unanswered: ['hd2'] })
  })

  it('a Bybit item with ids and no status says nothing of the cancel: unanswered, not canceled', () => {
    const orders = [order(1)]
    const answers = [answer({ id: 'v1', clientOrderId: 'hd1', info: { orderId: 'v1', orderLinkId: 'hd1' } })]
    expect(matchBatchAnswers(orders, answers)).toEqual({ canceled: [], failed: [], unanswered: ['hd1'] })
  })

  it('an item with a status other than canceled, or an error code of its own, is a refusal with the venue’s words', () => {
    const orders = [order(1), order(2)]
    const answers = [
      answer({ id: 'v1', status: 'closed' }),
      answer({ id: 'v2', status: 'rejected', info: { ordId: 'v2', sCode: '50011', sMsg: 'Rate limit reached' } }),
    ]
    expect(matchBatchAnswers(orders, answers)).toEqual({
      canceled: [],
      failed: [
        { id: 'hd1', reason: "the venue answered with order status 'closed'" },
        { id: 'hd2', reason: '50011 Rate limit reached' },
      ],
      unanswered: [],
    })
  })

  it('an item saying the venue does not hold the order open (Bybit 110001, OKX 51400, Binance -2011) is unanswered: a lookup tells whether it filled', () => {
    const orders = [order(1), order(2), order(3)]
    const answers = [
      answer({ id: 'v1', clientOrderId: 'hd1', info: { orderId: 'v1', retCode: 110001, retMsg: 'order not exists or too late to cancel' } }),
      answer({
        id: 'v2',
        status: 'rejected',
        info: { ordId: 'v2', sCode: '51400', sMsg: 'Order cancellation failed as the order has been filled, canceled or does not exist' },
      }),
      answer({ id: 'v3', info: { orderId: 'v3', code: -2011, msg: 'Unknown order sent.' } }),
    ]
    expect(matchBatchAnswers(orders, answers)).toEqual({ canceled: [], failed: [], unanswered: ['hd1', 'hd2', 'hd3'] })
  })

  it('an order without a client id is reported by its venue id', () => {
    expect(matchBatchAnswers([order(7, '')], [answer({ id: 'v7', status: 'canceled' })])).toEqual({ canceled: ['v7'], failed: [], unanswered: [] })
  })
})

describe('Bybit’s batch cancel, through the real ccxt.bybit', () => {
  const BTC = 'BTC/USDT:USDT'
  function bybit(answer: object) {
    const sent: { url: string; body: unknown }[] = []
    const exchange = new ccxt.bybit({
      apiKey: 'key',
      secret: 'secret',
      fetchImplementation: async (url: string, init: { body?: string }) => {
        sent.push({ url, body: init.body ? JSON.parse(init.body) : undefined })
        return new Response(JSON.stringify({ retCode: 0, retMsg: 'OK', time: Date.now(), ...answer }), { headers: { 'content-type': 'application/json' } })
      },
    })
    exchange.setMarkets([
      {
        id: 'BTCUSDT',
        symbol: BTC,
        base: 'BTC',
        quote: 'USDT',
        settle: 'USDT',
        baseId: 'BTC',
        quoteId: 'USDT',
        settleId: 'USDT',
        type: 'swap',
        spot: false,
        margin: false,
        swap: true,
        future: false,
        option: false,
        contract: true,
        linear: true,
        inverse: false,
        active: true,
        contractSize: 1,
        precision: { amount: 0.001, price: 0.1 },
        limits: { amount: { min: 0.001 } },
        info: {},
      } as never,
    ])
    return { exchange, sent }
  }

  it('joins each item to its own code in the venue’s answer: 0 is canceled, 110001 is unanswered', async () => {
    const { exchange, sent } = bybit({
      result: {
        list: [
          { category: 'linear', symbol: 'BTCUSDT', orderId: 'v1', orderLinkId: 'hd1' },
          { category: 'linear', symbol: 'BTCUSDT', orderId: 'v2', orderLinkId: 'hd2' },
        ],
      },
      retExtInfo: {
        list: [
          { code: 0, msg: 'OK' },
          { code: 110001, msg: 'order not exists or too late to cancel' },
        ],
      },
    })
    const answers = await bybitCancelBatch(exchange, ['v1', 'v2'], BTC)
    expect(sent).toEqual([
      {
        url: expect.stringContaining('/v5/order/cancel-batch'),
        body: {
          category: 'linear',
          request: [
            { symbol: 'BTCUSDT', orderId: 'v1' },
            { symbol: 'BTCUSDT', orderId: 'v2' },
          ],
        },
      },
    ])
    expect(matchBatchAnswers([order(1), order(2)], answers)).toEqual({ canceled: ['hd1'], failed: [], unanswered: ['hd2'] })
  })

  it('an answer without the item codes confirms nothing', async () => {
    const { exchange } = bybit({ result: { list: [{ category: 'linear', symbol: 'BTCUSDT', orderId: 'v1', orderLinkId: 'hd1' }] }, retExtInfo: {} })
    expect(matchBatchAnswers([order(1)], await bybitCancelBatch(exchange, ['v1'], BTC))).toEqual({ canceled: [], failed: [], unanswered: ['hd1'] })
  })
})
