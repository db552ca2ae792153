import { describe, expect, it, vi } from 'vitest'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { fakeBinanceUsdm } from '../support/fake-binance/index.js'
import { engineRests } from '../support/fake-bybit/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { bybitAccount, fakeBinance, guardianOver, usdmGateway } from './guarded-account.js'

/**
 * Guardian mode against the fake Binance USD-M through real ccxt: a separate client (the engine
 * with its own order entry) places orders directly; haltd, holding the same account, sees them,
 * records them as observed facts, and its emergency cancels them.
 */

const PERP = 'BTC/USDT:USDT'
const ETH = 'ETH/USDT:USDT'

describe('guardian mode', { timeout: 30_000 }, () => {
  it('adopts the orders another client places on the account, and its emergency cancels them all', async () => {
    const venue = await fakeBinance()
    const gateway = await usdmGateway(venue, [PERP])
    const h = await guardianOver(gateway)

    // the engine, on its own connection to the account
    const engine = await fakeBinanceUsdm(venue)
    for (let i = 0; i < 3; i++) await engine.createOrder(PERP, 'limit', 'buy', 0.001, 30_000 + i, { newClientOrderId: `freq${i}` })
    const adopted = () => [...h.log.read({ types: ['order.submitted'] })].map((e) => e.data as { clientOrderId: string; origin: { kind: string; id?: string } })
    for (let t = 0; t < 50 && adopted().length < 3; t++) await new Promise((r) => setTimeout(r, 100))
    expect(
      adopted()
        .map((d) => d.clientOrderId)
        .sort(),
    ).toEqual(['freq0', 'freq1', 'freq2'])
    expect(adopted().every((d) => d.origin.kind === 'adopted' && d.origin.id === 'guardian')).toBe(true)
    expect([...h.log.read({ types: ['venue.open-orders-observed'] })].length).toBeGreaterThan(0)

    // one the engine cancels itself is settled on the venue's word
    await engine.cancelOrder(undefined as unknown as string, PERP, { origClientOrderId: 'freq2' })
    for (let t = 0; t < 50 && ![...h.log.read({ types: ['order.canceled'] })].length; t++) await new Promise((r) => setTimeout(r, 100))
    expect([...h.log.read({ types: ['order.canceled'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId)).toEqual(['freq2'])

    const report = await h.shutdown({ mode: 'emergency', reason: 'guardian drill' })
    expect(report.outcome).toBe('emergency')
    expect(venue.engine.open('futures')).toHaveLength(0)
    const issued = [...h.log.read({ types: ['shutdown.command-issued'] })].map((e) => (e.data as { command: { kind: string; scope?: string } }).command)
    expect(issued.find((c) => c.kind === 'cancel-all')?.scope).toBe('account')
  })

  it('given symbols, follows the whole account where the venue lists it without one: an order and a position on another market are seen, and the emergency cancels that order too', async () => {
    const venue = await fakeBinance()
    const gateway = await usdmGateway(venue, [PERP], { wholeAccount: true })
    expect(gateway.wholeAccountRefusal).toBeUndefined()
    // the markets it knows are the account's, each with its own contract size, not only its symbols
    expect((await gateway.fetchMarkets()).map((m) => m.symbol)).toEqual(expect.arrayContaining([PERP, ETH]))
    const h = await guardianOver(gateway)

    // the engine trades a market haltd watches no prices of
    const engine = await fakeBinanceUsdm(venue)
    await engine.createOrder(ETH, 'limit', 'buy', 0.01, 2_000, { newClientOrderId: 'eth-rest' })
    await engine.createOrder(ETH, 'market', 'buy', 0.02, undefined, { newClientOrderId: 'eth-take' })
    const adopted = () => [...h.log.read({ types: ['order.submitted'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    const ethPosition = () =>
      [...h.log.read({ types: ['venue.positions-observed'] })]
        .flatMap((e) => (e.data as { positions: { symbol: string; qty: number }[] }).positions)
        .filter((p) => p.symbol === ETH)
        .at(-1)
    await vi.waitFor(() => expect(adopted()).toContain('eth-rest'), { timeout: 5_000, interval: 50 })
    await vi.waitFor(() => expect(ethPosition()?.qty).toBeCloseTo(0.02, 9), { timeout: 5_000, interval: 50 })

    await h.shutdown({ mode: 'emergency', reason: 'guardian drill, whole account' })
    expect(venue.engine.open('futures')).toHaveLength(0)
  })

  it("given a Bybit unified account with the engine's orders on spot and linear, adopts them all, its emergency cancels them all, and haltd warns at start of the inverse and option books it does not list", async () => {
    const { venue, gateway } = await bybitAccount([PERP])
    const logged = memoryDestination()
    const h = await guardianOver(gateway, {}, logged)

    // the engine, on its own connection to the account: a perpetual haltd was told of, one it was not, and two spot books
    engineRests(venue, 'linear', 'BTCUSDT', 'eng-lin-btc', 40_000, 0.001)
    engineRests(venue, 'linear', 'ETHUSDT', 'eng-lin-eth', 2_000, 0.01)
    engineRests(venue, 'spot', 'BTCUSDT', 'eng-spot-btc', 40_000, 0.001)
    engineRests(venue, 'spot', 'ETHUSDT', 'eng-spot-eth', 2_000, 0.01)
    const adopted = () => [...h.log.read({ types: ['order.submitted'] })].map((e) => e.data as { clientOrderId: string; symbol: string })
    await vi.waitFor(() => expect(adopted()).toHaveLength(4), { timeout: 5_000, interval: 50 })
    expect(adopted().find((d) => d.clientOrderId === 'eng-spot-eth')?.symbol).toBe('ETH/USDT')

    const report = await h.shutdown({ mode: 'emergency', reason: 'guardian drill, bybit spot and linear' })

    expect([...venue.account.open('spot'), ...venue.account.open('linear')]).toEqual([])
    const canceled = [...h.log.read({ types: ['order.canceled'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    expect(canceled.sort()).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc', 'eng-spot-eth'])
    expect(report.openOrders.count).toBe(0)
    const warning = logged.lines
      .map((l) => JSON.parse(l) as { msg: string })
      .find((l) => l.msg.startsWith('guardian: bybit is followed account-wide, but not all of it'))
    expect(warning?.msg).toContain("bybit's inverse and option orders are not listed")
  })

  it("given a Bybit account whose spot list fails for a passing reason during the emergency, the venue's cancel-all still stands: spot is cancelled by its own cancel-all, linear as listed, and the command says per book what is known", async () => {
    // given the engine's orders on spot and linear, adopted by haltd
    const { venue, gateway } = await bybitAccount([PERP], { retry: { baseDelayMs: 10, maxDelayMs: 50 } })
    const h = await guardianOver(gateway)
    engineRests(venue, 'linear', 'BTCUSDT', 'eng-lin-btc', 40_000, 0.001)
    engineRests(venue, 'spot', 'BTCUSDT', 'eng-spot-btc', 40_000, 0.001)
    engineRests(venue, 'spot', 'ETHUSDT', 'eng-spot-eth', 2_000, 0.01)
    const adopted = () => [...h.log.read({ types: ['order.submitted'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    await vi.waitFor(() => expect(adopted()).toHaveLength(3), { timeout: 5_000, interval: 50 })
    // and Bybit's spot order list answering "system error" from now on
    venue.failBook({ category: 'spot' }, { retCode: 10016, retMsg: 'Internal system error.' }, 1_000_000, 'GET /v5/order/realtime')

    // when
    await h.shutdown({ mode: 'emergency', reason: 'guardian drill, a failing spot list' })

    // then every order is gone at the venue, each recorded canceled on the venue's word
    expect([...venue.account.open('spot'), ...venue.account.open('linear')]).toEqual([])
    const canceled = [...h.log.read({ types: ['order.canceled'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    expect(canceled.sort()).toEqual(['eng-lin-btc', 'eng-spot-btc', 'eng-spot-eth'])
    // and the cancel-all says what it knows of each book, the failing list among it
    const completed = [...h.log.read({ types: ['shutdown.command-completed'] })].map((e) => e.data as { outcome: string; detail?: Record<string, unknown> })
    const cancelAll = completed.find((c) => Array.isArray(c.detail?.books))
    expect(cancelAll).toMatchObject({ outcome: 'ok', detail: { method: 'mass-cancel', canceled: 3, unconfirmed: 0 } })
    expect(cancelAll!.detail!.books).toEqual(
      expect.arrayContaining([
        { book: 'linear USDT', outcome: 'cancelled' },
        { book: 'spot', outcome: 'cancelled', detail: expect.stringMatching(/^its list failed \(.*10016.*\); its cancel-all/) },
      ]),
    )
  })

  it('given a Bybit book refused to haltd after its orders were adopted, the guardian does not take them for gone, and still settles an order of another book the engine cancelled', async () => {
    // given the engine's orders on spot and linear, adopted by haltd
    const { venue, gateway } = await bybitAccount([PERP])
    const h = await guardianOver(gateway)
    engineRests(venue, 'spot', 'BTCUSDT', 'eng-spot-btc', 40_000, 0.001)
    engineRests(venue, 'linear', 'BTCUSDT', 'eng-lin-btc', 40_000, 0.001)
    const adopted = () => [...h.log.read({ types: ['order.submitted'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    await vi.waitFor(() => expect(adopted()).toHaveLength(2), { timeout: 5_000, interval: 50 })

    // when the key loses its spot permission, and the engine cancels its linear order itself
    venue.refuse({ category: 'spot' }, { retCode: 10005, retMsg: 'Permission denied, please check your API key permissions.' })
    await vi.waitFor(
      () =>
        expect(
          gateway
            .unseenBooks()
            .filter((u) => u.refused)
            .map((u) => u.book),
        ).toEqual(['spot']),
      { timeout: 5_000, interval: 50 },
    )
    venue.account.cancel('linear', 'BTCUSDT', { orderLinkId: 'eng-lin-btc' })

    // then the linear order is settled canceled on the venue's word
    const canceled = () => [...h.log.read({ types: ['order.canceled'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    await vi.waitFor(() => expect(canceled()).toEqual(['eng-lin-btc']), { timeout: 5_000, interval: 50 })
    // and the spot order, which no list shows any more, is not taken for gone
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(canceled()).toEqual(['eng-lin-btc'])
    expect(venue.account.open('spot').map((o) => o.clientOrderId)).toEqual(['eng-spot-btc'])
  })

  it('given a venue that lists open orders only by symbol, a gateway asked to follow the whole account says why it follows its symbols only, and haltd warns of it at start', async () => {
    const venue = await fakeBinance()
    const refusing = await fakeBinanceUsdm(venue, { config: { options: { fetchOpenOrders: { warnWithoutSymbol: true } } } })
    const gateway = new CcxtGateway({ venue: 'binanceusdm', exchange: refusing, symbols: [PERP], wholeAccount: true })
    expect(gateway.wholeAccountRefusal).toMatch(/refuses to list open orders without a symbol unless options\.fetchOpenOrders\.warnWithoutSymbol is false/)

    const logged = memoryDestination()
    await guardianOver(gateway, {}, logged)
    const warning = logged.lines
      .map((l) => JSON.parse(l) as { msg: string })
      .find((l) => l.msg.startsWith('guardian: binanceusdm is followed on its symbols only'))
    expect(warning?.msg).toContain('orders and positions the engine has elsewhere there go unseen')
  })
})
