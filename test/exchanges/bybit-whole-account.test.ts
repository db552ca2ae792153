import { afterEach, describe, expect, it, vi } from 'vitest'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { DEFAULT_SYMBOLS } from '../support/fake-binance/index.js'
import { bybitFaults, engineRests, fakeBybitClient, startFakeBybit, type FakeBybit } from '../support/fake-bybit/index.js'

// CcxtGateway following a whole Bybit unified account (guardian mode) over the real ccxt.bybit at
// the fake Bybit. Bybit lists one category per call, and ccxt's fetchOpenOrders() without a symbol
// asks linear USDT only: the gateway lists spot and linear (USDT and USDC) and cancels what it finds.

const BTC = 'BTC/USDT:USDT'

/** The fake's default books, and a USDC-settled linear perpetual (Bybit names them `BTCPERP`). */
const SYMBOLS = [...DEFAULT_SYMBOLS, { id: 'BTCPERP', base: 'BTC', quote: 'USDC', stepSize: 0.001, tickSize: 0.1, minQty: 0.001, mid: 50_000 }]

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A gateway told of the BTC perpetual only, asked to follow the whole account, its shutdown calls on a connection of their own. */
async function following(
  before: (venue: FakeBybit) => void = () => undefined,
  callTimeoutMs?: number,
): Promise<{ venue: FakeBybit; gateway: CcxtGateway; errors: string[] }> {
  const venue = await startFakeBybit({ symbols: SYMBOLS })
  before(venue)
  const errors: string[] = []
  const gateway = new CcxtGateway({
    venue: 'bybit',
    exchange: fakeBybitClient(venue, { enableRateLimit: false }),
    shutdownExchange: fakeBybitClient(venue, { enableRateLimit: false }),
    symbols: [BTC],
    wholeAccount: true,
    retry: { baseDelayMs: 10 },
    onError: (e) => errors.push(e.message),
    ...(callTimeoutMs === undefined ? {} : { callTimeoutMs }),
  })
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  await gateway.connect()
  return { venue, gateway, errors }
}

/** Bybit's answers for a book an account does not have: a classic account's USDC contracts, a key without spot permission. */
const NOT_UNIFIED = { retCode: 10020, retMsg: 'your account is not a unified margin account, please update your account' }
const NO_PERMISSION = { retCode: 10005, retMsg: 'Permission denied, please check your API key permissions.' }

/** The engine's orders, placed on the venue directly: linear USDT (BTC, and ETH haltd was not told of), linear USDC, and spot. */
function engineOrders(venue: FakeBybit): void {
  const rest = (category: 'spot' | 'linear', symbol: string, orderLinkId: string, price: number, qty: number) =>
    engineRests(venue, category, symbol, orderLinkId, price, qty)
  rest('linear', 'BTCUSDT', 'eng-lin-btc', 40_000, 0.001)
  rest('linear', 'ETHUSDT', 'eng-lin-eth', 2_000, 0.01)
  rest('linear', 'BTCPERP', 'eng-usdc-btc', 40_000, 0.001)
  rest('spot', 'BTCUSDT', 'eng-spot-btc', 40_000, 0.001)
  rest('spot', 'ETHUSDT', 'eng-spot-eth', 2_000, 0.01)
}

const openAtVenue = (venue: FakeBybit): string[] => [...venue.account.open('spot'), ...venue.account.open('linear')].map((o) => o.clientOrderId).sort()

describe('CcxtGateway following a whole Bybit account', () => {
  it('given orders on spot and on linear USDT and USDC, lists each of them in its own market', async () => {
    const { venue, gateway } = await following()
    engineOrders(venue)

    const listed = await gateway.fetchOpenOrders()

    expect(listed.map((o) => [o.clientOrderId, o.symbol]).sort()).toEqual([
      ['eng-lin-btc', 'BTC/USDT:USDT'],
      ['eng-lin-eth', 'ETH/USDT:USDT'],
      ['eng-spot-btc', 'BTC/USDT'],
      ['eng-spot-eth', 'ETH/USDT'],
      ['eng-usdc-btc', 'BTC/USDC:USDC'],
    ])
  })

  it('given orders on spot and on linear USDT and USDC, cancels them all in account scope, each confirmed by the venue', async () => {
    const { venue, gateway } = await following()
    engineOrders(venue)

    const result = await gateway.cancelAll({ scope: 'account' })

    expect(result).toMatchObject({ scope: 'account', method: 'mass-cancel', failed: [] })
    expect(result.unanswered ?? []).toEqual([])
    expect([...result.canceled].sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc', 'eng-spot-eth', 'eng-usdc-btc'])
    expect(openAtVenue(venue)).toEqual([])
  })

  it('given a position on a USDC-settled contract, lists it beside the USDT ones', async () => {
    const { venue, gateway } = await following()
    venue.account.place('linear', { symbol: 'ETHUSDT', side: 'Sell', orderType: 'Market', qty: 0.1 })
    venue.account.place('linear', { symbol: 'BTCPERP', side: 'Buy', orderType: 'Market', qty: 0.002 })

    const positions = await gateway.fetchPositions()

    expect(positions).toEqual(
      expect.arrayContaining([
        { symbol: 'ETH/USDT:USDT', qty: -0.1, entryPrice: 3_000 },
        { symbol: 'BTC/USDC:USDC', qty: 0.002, entryPrice: 50_000 },
      ]),
    )
  })

  it('knows the markets of every book it lists, spot included, and says which part of the account it does not list', async () => {
    const { gateway } = await following()

    const markets = (await gateway.fetchMarkets()).map((m) => m.symbol)

    expect(markets).toEqual(expect.arrayContaining(['BTC/USDT:USDT', 'ETH/USDT:USDT', 'BTC/USDC:USDC', 'BTC/USDT', 'ETH/USDT']))
    expect(gateway.followsAccount).toBe(true)
    expect(gateway.wholeAccountRefusal).toMatch(/inverse and option orders are not listed/)
  })

  it('not asked to follow the account, lists its symbols only, and has nothing to say about the account', async () => {
    const venue = await startFakeBybit({ symbols: SYMBOLS })
    const gateway = new CcxtGateway({ venue: 'bybit', exchange: fakeBybitClient(venue, { enableRateLimit: false }), symbols: [BTC] })
    cleanups.push(async () => {
      await gateway.close()
      await venue.close()
    })
    await gateway.connect()
    engineOrders(venue)

    expect((await gateway.fetchOpenOrders()).map((o) => o.clientOrderId)).toEqual(['eng-lin-btc'])
    expect(gateway.wholeAccountRefusal).toBeUndefined()
  })
})

/** Bybit's "system error, try again", on one book: a passing failure, not a refusal. */
const SYSTEM_ERROR = { retCode: 10016, retMsg: 'Internal system error.' }
const USDC: { category: 'linear'; settleCoin: string } = { category: 'linear', settleCoin: 'USDC' }

describe('CcxtGateway cancelling a whole Bybit account book by book', () => {
  it('given one book whose list fails for a passing reason, when cancelling the account, then the other books are cancelled, that book by its own cancel-all, and the result says so per book', async () => {
    // given
    const { venue, gateway } = await following()
    engineOrders(venue)
    venue.failBook(USDC, SYSTEM_ERROR, 1_000, 'GET /v5/order/realtime')

    // when
    const result = await gateway.cancelAll({ scope: 'account' })

    // then
    expect(openAtVenue(venue)).toEqual([])
    expect([...result.canceled].sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc', 'eng-spot-eth', 'eng-usdc-btc'])
    expect(result.failed).toEqual([])
    expect(result.books).toEqual(
      expect.arrayContaining([
        { book: 'spot', outcome: 'cancelled' },
        { book: 'linear USDT', outcome: 'cancelled' },
        {
          book: 'linear USDC',
          outcome: 'cancelled',
          detail: expect.stringMatching(/its list failed \(.*10016.*\); its cancel-all named 1 order\(s\) canceled/),
        },
        { book: 'inverse', outcome: 'not-listed', detail: expect.any(String) },
      ]),
    )
  })

  it('given one book whose list and cancel-all fail a few times in a row, when cancelling the account, then that book is asked again within the deadline and its orders cancelled too', async () => {
    // given more failures in a row than one call retries (three attempts), for its list and then its cancel-all
    const { venue, gateway } = await following()
    engineOrders(venue)
    venue.failBook(USDC, SYSTEM_ERROR, 6)

    // when
    const result = await gateway.cancelAll({ scope: 'account' })

    // then
    expect(openAtVenue(venue)).toEqual([])
    expect([...result.canceled].sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc', 'eng-spot-eth', 'eng-usdc-btc'])
    expect(result.books).toContainEqual({
      book: 'linear USDC',
      outcome: 'cancelled',
      detail: expect.stringMatching(/its cancel-all failed .*listed again on attempt/),
    })
  })

  it('given one book that fails for the whole deadline, when cancelling the account, then the other books are cancelled and that book is named failed with the venue’s last answer, its orders left unknown', async () => {
    // given
    const { venue, gateway } = await following()
    engineOrders(venue)
    venue.failBook(USDC, SYSTEM_ERROR, 1_000_000)

    // when
    const result = await gateway.cancelAll({ scope: 'account' }, { timeoutMs: 1_500 })

    // then the other books' orders are gone, each confirmed
    expect([...result.canceled].sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc', 'eng-spot-eth'])
    expect(openAtVenue(venue)).toEqual(['eng-usdc-btc'])
    // and that book is failed, not read as empty
    expect(result.books).toContainEqual({
      book: 'linear USDC',
      outcome: 'failed',
      detail: expect.stringMatching(/its list failed .*; its cancel-all failed .*; asked again until the deadline, its last answer: .*10016/),
    })
  })
})

describe('CcxtGateway following a whole Bybit account that refuses a book', () => {
  it('given a classic account that refuses USDC contracts, learns it at connect, lists spot and linear USDT, and names linear USDC as refused', async () => {
    const { venue, gateway, errors } = await following((v) => v.refuse({ category: 'linear', settleCoin: 'USDC' }, NOT_UNIFIED))
    venue.account.place('linear', { symbol: 'ETHUSDT', side: 'Sell', orderType: 'Market', qty: 0.1 })
    engineOrders(venue)

    const listed = await gateway.fetchOpenOrders()
    const positions = await gateway.fetchPositions()

    expect(listed.map((o) => o.clientOrderId).sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc', 'eng-spot-eth'])
    expect(positions).toEqual([{ symbol: 'ETH/USDT:USDT', qty: -0.1, entryPrice: 3_000 }])
    expect(gateway.unseenBooks()).toEqual([
      expect.objectContaining({ book: 'inverse' }),
      expect.objectContaining({ book: 'option' }),
      { book: 'linear USDC', why: expect.stringContaining('not a unified margin account'), refused: true },
    ])
    expect(gateway.wholeAccountRefusal).toMatch(/the venue refused to list its linear USDC book \(PermissionDenied: .*10020/)
    expect(errors).toEqual([
      expect.stringContaining("the venue refused to list the account's linear USDC book"),
      expect.stringContaining("the venue refused to list the account's linear USDC positions"),
    ])
    // learned once by each list (the orders' at connect): neither asks the refused book again
    expect(venue.refusedRequests).toEqual(['GET /v5/order/realtime linear USDC', 'GET /v5/position/list linear USDC'])
    await gateway.fetchOpenOrders()
    await gateway.fetchPositions()
    expect(venue.refusedRequests).toHaveLength(2)
  })

  it('given a key without spot permission, cancels the linear orders in account scope, each confirmed by the venue, and leaves spot named as refused', async () => {
    const { venue, gateway } = await following((v) => v.refuse({ category: 'spot' }, NO_PERMISSION))
    engineOrders(venue)

    const result = await gateway.cancelAll({ scope: 'account' })

    expect(result.failed).toEqual([])
    expect([...result.canceled].sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-usdc-btc'])
    expect(venue.account.open('linear')).toEqual([])
    expect(
      venue.account
        .open('spot')
        .map((o) => o.clientOrderId)
        .sort(),
    ).toEqual(['eng-spot-btc', 'eng-spot-eth'])
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([{ book: 'spot', why: expect.stringContaining('Permission denied'), refused: true }])
  })

  it('given a book refused at connect and granted since, when the account is cancelled, then that book is asked again, its orders cancelled, and it is no longer named refused', async () => {
    // given
    const { venue, gateway } = await following((v) => v.refuse({ category: 'spot' }, NO_PERMISSION))
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([{ book: 'spot', why: expect.stringContaining('Permission denied'), refused: true }])
    engineOrders(venue)
    venue.grant({ category: 'spot' })
    // the polling lists keep to what they learned
    expect((await gateway.fetchOpenOrders()).map((o) => o.clientOrderId).sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-usdc-btc'])

    // when
    const result = await gateway.cancelAll({ scope: 'account' })

    // then
    expect([...result.canceled].sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc', 'eng-spot-eth', 'eng-usdc-btc'])
    expect(openAtVenue(venue)).toEqual([])
    expect(result.books).toContainEqual({ book: 'spot', outcome: 'cancelled' })
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([])
  })

  it('given a book still refused, when the account is cancelled, then it is asked once more and named refused with the venue’s answer', async () => {
    const { venue, gateway } = await following((v) => v.refuse({ category: 'spot' }, NO_PERMISSION))
    engineOrders(venue)
    const before = venue.refusedRequests.length

    const result = await gateway.cancelAll({ scope: 'account' })

    expect(venue.refusedRequests.slice(before)).toEqual(['GET /v5/order/realtime spot'])
    expect(result.books).toContainEqual({ book: 'spot', outcome: 'refused', detail: expect.stringContaining('Permission denied') })
    expect([...result.canceled].sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-usdc-btc'])
  })

  it('given a key refused the positions of one linear book only, still lists and cancels its orders, and names the book as refused', async () => {
    const { venue, gateway } = await following()
    engineOrders(venue)
    // the first of the two position lists (linear USDT and USDC, asked at once) is refused
    venue.faults.inject('GET /v5/position/list', bybitFaults.error(10005, NO_PERMISSION.retMsg), 1)

    await gateway.fetchPositions()
    venue.faults.clear()

    const refused = gateway.unseenBooks().filter((u) => u.refused)
    expect(refused).toEqual([{ book: expect.stringMatching(/^linear USD[TC]$/), why: expect.stringContaining('Permission denied'), refused: true }])
    expect(gateway.wholeAccountRefusal).toContain(`the venue refused to list its ${refused[0]!.book} positions`)
    expect((await gateway.fetchOpenOrders()).map((o) => o.clientOrderId).sort()).toEqual(openAtVenue(venue))
    const result = await gateway.cancelAll({ scope: 'account' })
    expect([...result.canceled].sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc', 'eng-spot-eth', 'eng-usdc-btc'])
    expect(openAtVenue(venue)).toEqual([])
  })

  it('given a key refused a linear book’s positions and granted them since, when the account is cancelled, then the next position list asks that book again, lists its position, and no longer names it refused', async () => {
    // given
    const { venue, gateway, errors } = await following((v) => v.refuse({ category: 'linear', settleCoin: 'USDC' }, NO_PERMISSION, 'GET /v5/position/list'))
    venue.account.place('linear', { symbol: 'BTCPERP', side: 'Buy', orderType: 'Market', qty: 0.002 })
    expect(await gateway.fetchPositions()).toEqual([])
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([{ book: 'linear USDC', why: expect.stringContaining('Permission denied'), refused: true }])
    venue.grant({ category: 'linear', settleCoin: 'USDC' })
    // the polling lists keep to what they learned
    expect(await gateway.fetchPositions()).toEqual([])

    // when
    await gateway.cancelAll({ scope: 'account' })
    const positions = await gateway.fetchPositions()

    // then
    expect(positions).toEqual([{ symbol: 'BTC/USDC:USDC', qty: 0.002, entryPrice: 50_000 }])
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([])
    expect(gateway.wholeAccountRefusal).not.toContain('positions')
    expect(errors.filter((e) => e.includes('positions'))).toHaveLength(1)
  })

  it('given a linear book’s positions still refused, when the account is cancelled, then the next position list asks it once more, the other books’ positions stand, and it stays named refused without a second warning', async () => {
    // given
    const { venue, gateway, errors } = await following((v) => v.refuse({ category: 'linear', settleCoin: 'USDC' }, NO_PERMISSION, 'GET /v5/position/list'))
    venue.account.place('linear', { symbol: 'ETHUSDT', side: 'Sell', orderType: 'Market', qty: 0.1 })
    await gateway.fetchPositions()
    const before = venue.refusedRequests.length

    // when
    await gateway.cancelAll({ scope: 'account' })
    const positions = await gateway.fetchPositions()
    const after = await gateway.fetchPositions()

    // then
    expect(venue.refusedRequests.slice(before)).toEqual(['GET /v5/position/list linear USDC'])
    expect(positions).toEqual([{ symbol: 'ETH/USDT:USDT', qty: -0.1, entryPrice: 3_000 }])
    expect(after).toEqual(positions)
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([{ book: 'linear USDC', why: expect.stringContaining('Permission denied'), refused: true }])
    expect(errors.filter((e) => e.includes('positions'))).toHaveLength(1)
  })

  it('given a refused book’s positions asked again after a cancel-all answering a passing failure, the position list still stands on the other books and the book stays named refused', async () => {
    const { venue, gateway } = await following((v) => v.refuse({ category: 'linear', settleCoin: 'USDC' }, NO_PERMISSION, 'GET /v5/position/list'))
    venue.account.place('linear', { symbol: 'ETHUSDT', side: 'Sell', orderType: 'Market', qty: 0.1 })
    await gateway.fetchPositions()
    venue.grant({ category: 'linear', settleCoin: 'USDC' })
    venue.failBook({ category: 'linear', settleCoin: 'USDC' }, SYSTEM_ERROR, 1_000, 'GET /v5/position/list')

    await gateway.cancelAll({ scope: 'account' })
    const positions = await gateway.fetchPositions()

    expect(positions).toEqual([{ symbol: 'ETH/USDT:USDT', qty: -0.1, entryPrice: 3_000 }])
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([{ book: 'linear USDC', why: expect.stringContaining('Permission denied'), refused: true }])
  })

  it('given a request IP the key is not bound to (Bybit 10010, a permission refusal of every book), once the IP is bound again the account is listed and cancelled again', async () => {
    const { venue, gateway } = await following()
    engineOrders(venue)
    venue.faults.inject('GET /v5/order/realtime', bybitFaults.error(10010, "Unmatched IP, please check your API key's bound IP addresses."), 100)

    await expect(gateway.fetchOpenOrders()).rejects.toThrow()
    venue.faults.clear()

    expect((await gateway.fetchOpenOrders()).map((o) => o.clientOrderId).sort()).toEqual(openAtVenue(venue))
    const result = await gateway.cancelAll({ scope: 'account' })
    expect(result.canceled).toHaveLength(5)
    expect(openAtVenue(venue)).toEqual([])
  })

  it('given a book whose list fails for a passing reason, the account list fails naming it, nothing is learned, and the next list shows that book again', async () => {
    const { venue, gateway } = await following()
    engineOrders(venue)
    // more times in a row than one call retries
    venue.failBook(USDC, SYSTEM_ERROR, 3, 'GET /v5/order/realtime')

    await expect(gateway.fetchOpenOrders()).rejects.toThrow(/the account's linear USDC list failed \(.*10016.*\): the list is unknown this round/)
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([])

    expect((await gateway.fetchOpenOrders()).map((o) => o.clientOrderId).sort()).toEqual([
      'eng-lin-btc',
      'eng-lin-eth',
      'eng-spot-btc',
      'eng-spot-eth',
      'eng-usdc-btc',
    ])
  })

  it('given a rate limit on a book that outlasts the call, the account list fails rather than read that book as empty, and the book is not dropped', async () => {
    const { venue, gateway } = await following(undefined, 1_000)
    venue.account.place('linear', { symbol: 'BTCPERP', side: 'Buy', orderType: 'Market', qty: 0.002 })
    venue.faults.inject('GET /v5/position/list', bybitFaults.ipRateLimited(), 1_000)

    await expect(gateway.fetchPositions()).rejects.toThrow(/list failed .*: the list is unknown this round/)
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([])

    venue.faults.clear()
    // once the venue's limit has passed
    await vi.waitFor(async () => expect(await gateway.fetchPositions()).toEqual([{ symbol: 'BTC/USDC:USDC', qty: 0.002, entryPrice: 50_000 }]), {
      timeout: 10_000,
      interval: 500,
    })
  })

  it('given one parameter error (BadRequest, Bybit 10001) on a book’s list, the round’s list fails naming it, the book is not learned refused, and the next list shows it again', async () => {
    const { venue, gateway } = await following()
    engineOrders(venue)
    venue.failBook({ category: 'spot' }, { retCode: 10001, retMsg: 'params error: invalid cursor' }, 1, 'GET /v5/order/realtime')

    await expect(gateway.fetchOpenOrders()).rejects.toThrow(/the account's spot list failed \(.*10001.*\): the list is unknown this round/)
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([])

    expect((await gateway.fetchOpenOrders()).map((o) => o.clientOrderId).sort()).toEqual(openAtVenue(venue))
  })

  it('given the same BadRequest on a book’s list three rounds in a row, the book is learned refused, and the others are still listed', async () => {
    const { venue, gateway } = await following()
    engineOrders(venue)
    venue.failBook({ category: 'spot' }, { retCode: 10001, retMsg: 'params error: category spot is not supported' }, 3, 'GET /v5/order/realtime')

    await expect(gateway.fetchOpenOrders()).rejects.toThrow(/spot list failed/)
    await expect(gateway.fetchOpenOrders()).rejects.toThrow(/spot list failed/)
    const third = await gateway.fetchOpenOrders()

    expect(third.map((o) => o.clientOrderId).sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-usdc-btc'])
    expect(gateway.unseenBooks().filter((u) => u.refused)).toEqual([{ book: 'spot', why: expect.stringContaining('10001'), refused: true }])
  })

  it('given an account that refuses every book, its lists fail: no answer is not an empty account', async () => {
    const { gateway } = await following((v) => {
      v.refuse({ category: 'spot' }, NO_PERMISSION)
      v.refuse({ category: 'linear' }, NO_PERMISSION)
    })

    await expect(gateway.fetchOpenOrders()).rejects.toThrow(/the venue refused every book of the account/)
    await expect(gateway.fetchPositions()).rejects.toThrow(/the venue refused every book of the account/)
  })
})
