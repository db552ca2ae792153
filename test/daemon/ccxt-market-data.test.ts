import type { Exchange } from 'ccxt'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ccxtTickerSource, quoteOf } from '../../src/exchanges/ccxt/ticker-source.js'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import type { TickerSource } from '../../src/exchanges/ticker-source.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { ccxtMarkets, faults, fakeBinanceSpot, fakeBinanceUsdm, startFakeBinance, type ClientOptions, type FakeBinance } from '../support/fake-binance/index.js'
import { tempDir } from '../support/tmp.js'

type Quote = Parameters<Parameters<TickerSource['onTicker']>[0]>[0]

const cleanups: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const BTC = 'BTC/USDT:USDT'
const ETH = 'ETH/USDT:USDT'
const BOOK_TICKER = 'GET /fapi/v1/ticker/bookTicker'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function fakeVenue(): Promise<FakeBinance> {
  const venue = await startFakeBinance()
  cleanups.push(() => venue.close())
  return venue
}

type Rig = { venue: FakeBinance; exchange: Exchange; source: TickerSource; quotes: Quote[]; errors: unknown[] }

async function rig(
  setup: { segment?: 'futures' | 'spot'; symbols?: string[]; pollMs?: number; client?: ClientOptions; prepare?: (ex: Exchange) => void } = {},
): Promise<Rig> {
  const venue = await fakeVenue()
  // ccxt's own pacing is not under test here; the fake answers as fast as asked
  const client = { enableRateLimit: false, ...setup.client }
  const exchange = setup.segment === 'spot' ? await fakeBinanceSpot(venue, client) : await fakeBinanceUsdm(venue, client)
  setup.prepare?.(exchange)
  const quotes: Quote[] = []
  const errors: unknown[] = []
  const source = ccxtTickerSource({
    venue: 'bn',
    exchange,
    symbols: setup.symbols ?? (setup.segment === 'spot' ? ['BTC/USDT', 'ETH/USDT'] : [BTC, ETH]),
    pollMs: setup.pollMs ?? 20,
    onError: (e) => errors.push(e),
  })
  source.onTicker((q) => quotes.push(q))
  cleanups.push(() => source.stop())
  return { venue, exchange, source, quotes, errors }
}

const latest = (quotes: Quote[], symbol: string) => quotes.findLast((q) => q.symbol === symbol)

describe('quoteOf: one price from a ccxt ticker', () => {
  it('takes the mid of bid and ask, the last trade where either side is missing or the book is crossed, and nothing without a price', () => {
    expect(quoteOf({ bid: 99, ask: 101, last: 50 })).toEqual({ bid: 99, ask: 101, mid: 100 })
    expect(quoteOf({ bid: undefined, ask: 101, last: 100.5 })).toEqual({ bid: 100.5, ask: 100.5, mid: 100.5 })
    expect(quoteOf({ bid: 102, ask: 101, last: 100 })).toEqual({ bid: 100, ask: 100, mid: 100 })
    expect(quoteOf({ bid: 0, ask: 0, last: undefined })).toBeUndefined()
    expect(quoteOf({ bid: undefined, ask: undefined, last: Number.NaN })).toBeUndefined()
  })
})

describe('ccxtTickerSource over the real ccxt binance classes and a fake venue', { timeout: 30_000 }, () => {
  it("delivers, for every configured symbol, a quote with bid < mid < ask at the venue's own prices (USD-M: its book ticker)", async () => {
    const { venue, source, quotes, errors } = await rig()
    expect(source.venue).toBe('bn')
    expect(source.symbols).toEqual([BTC, ETH])
    source.start()
    await vi.waitFor(() => expect(new Set(quotes.map((q) => q.symbol))).toEqual(new Set([BTC, ETH])), { timeout: 5_000 })
    for (const [symbol, mid] of [
      [BTC, 50_000],
      [ETH, 3_000],
    ] as const) {
      const q = latest(quotes, symbol)!
      expect(q.bid).toBeLessThan(q.mid)
      expect(q.mid).toBeLessThan(q.ask)
      expect(q.mid).toBeCloseTo(mid, 6)
      expect(q.ts).toBeGreaterThan(0)
    }
    expect(errors).toEqual([])
    expect(venue.unrouted).toEqual([])
  })

  it("follows the venue's price as it moves", async () => {
    const { venue, source, quotes } = await rig({ symbols: [BTC] })
    source.start()
    await vi.waitFor(() => expect(quotes.length).toBeGreaterThan(0), { timeout: 5_000 })
    venue.engine.setMid('BTCUSDT', 48_000)
    await vi.waitFor(() => expect(latest(quotes, BTC)!.mid).toBeCloseTo(48_000, 6), { timeout: 5_000 })
  })

  it('reads spot symbols too', async () => {
    const { source, quotes, errors } = await rig({ segment: 'spot' })
    source.start()
    await vi.waitFor(() => expect(new Set(quotes.map((q) => q.symbol))).toEqual(new Set(['BTC/USDT', 'ETH/USDT'])), { timeout: 5_000 })
    const q = latest(quotes, 'BTC/USDT')!
    expect(q.bid < q.mid && q.mid < q.ask).toBe(true)
    expect(errors).toEqual([])
  })

  it('without a book-ticker call it reads the 24h tickers, and takes their last price where the venue gives no bid or ask there', async () => {
    const { venue, source, quotes, errors } = await rig({
      prepare: (ex) => {
        ex.has.fetchBidsAsks = false
      },
    })
    source.start()
    await vi.waitFor(() => expect(new Set(quotes.map((q) => q.symbol))).toEqual(new Set([BTC, ETH])), { timeout: 5_000 })
    expect(latest(quotes, BTC)).toMatchObject({ bid: 50_000, ask: 50_000, mid: 50_000 })
    expect(venue.faults.hits('GET /fapi/v1/ticker/24hr')).toBeGreaterThan(0)
    expect(venue.faults.hits(BOOK_TICKER)).toBe(0)
    expect(errors).toEqual([])
  })

  it("with neither a book-ticker nor a multi-symbol call, reads each symbol's ticker on its own", async () => {
    const { venue, source, quotes } = await rig({
      segment: 'spot',
      prepare: (ex) => {
        ex.has.fetchBidsAsks = false
        ex.has.fetchTickers = false
      },
    })
    source.start()
    await vi.waitFor(() => expect(new Set(quotes.map((q) => q.symbol))).toEqual(new Set(['BTC/USDT', 'ETH/USDT'])), { timeout: 5_000 })
    const q = latest(quotes, 'ETH/USDT')!
    expect(q.bid < q.mid && q.mid < q.ask).toBe(true)
    expect(venue.faults.hits('GET /api/v3/ticker/24hr')).toBeGreaterThanOrEqual(2)
    expect(venue.faults.hits('GET /api/v3/ticker/bookTicker')).toBe(0)
  })

  it('reports a failed poll to onError, keeps polling, and delivers again once the venue answers', async () => {
    const { venue, source, quotes, errors } = await rig()
    venue.faults.inject(BOOK_TICKER, faults.internalError(), 3)
    source.start()
    await vi.waitFor(() => expect(quotes.length).toBeGreaterThan(0), { timeout: 5_000 })
    expect(errors).toHaveLength(3)
    expect(errors.every((e) => e instanceof Error && e.message.includes('-1000'))).toBe(true)
    expect(venue.faults.hits(BOOK_TICKER)).toBeGreaterThanOrEqual(4)
  })

  it('turns an HTTP 200 that is not JSON into a reported failure, never into a price', async () => {
    const { venue, source, quotes, errors } = await rig()
    venue.faults.inject(BOOK_TICKER, faults.maintenancePage(), 2)
    source.start()
    await vi.waitFor(() => expect(quotes.length).toBeGreaterThan(0), { timeout: 5_000 })
    expect(errors).toHaveLength(2)
    expect(quotes.every((q) => q.mid === 50_000 || q.mid === 3_000)).toBe(true)
  })

  it('keeps polling when the error sink itself throws', async () => {
    const venue = await fakeVenue()
    const exchange = await fakeBinanceUsdm(venue, { enableRateLimit: false })
    venue.faults.inject(BOOK_TICKER, faults.internalError(), 2)
    const quotes: Quote[] = []
    const source = ccxtTickerSource({
      venue: 'bn',
      exchange,
      symbols: [BTC],
      pollMs: 20,
      onError: () => {
        throw new Error('sink down')
      },
    })
    cleanups.push(() => source.stop())
    source.onTicker((q) => quotes.push(q))
    source.start()
    await vi.waitFor(() => expect(quotes.length).toBeGreaterThan(0), { timeout: 5_000 })
  })

  it('never starts a poll while the previous one is still waiting for its answer', async () => {
    const { venue, source, quotes, errors } = await rig({ symbols: [BTC], pollMs: 10, client: { timeout: 600 } })
    venue.faults.inject(BOOK_TICKER, faults.hang(), 1)
    source.start()
    await vi.waitFor(() => expect(venue.faults.hits(BOOK_TICKER)).toBe(1), { timeout: 5_000 })
    await sleep(300)
    // many poll intervals passed, but the one request is still open
    expect(venue.faults.hits(BOOK_TICKER)).toBe(1)
    await vi.waitFor(() => expect(quotes.length).toBeGreaterThan(0), { timeout: 5_000 })
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(Error)
    expect((errors[0] as Error).constructor.name).toBe('RequestTimeout')
  })

  it('calls no handler and polls no more after stop()', async () => {
    const { venue, source, quotes, errors } = await rig()
    source.start()
    await vi.waitFor(() => expect(quotes.length).toBeGreaterThan(0), { timeout: 5_000 })
    source.stop()
    const seen = quotes.length
    const hits = venue.faults.hits(BOOK_TICKER)
    await sleep(200)
    expect(quotes.length).toBe(seen)
    // at most the poll that was already on the wire
    expect(venue.faults.hits(BOOK_TICKER)).toBeLessThanOrEqual(hits + 1)
    expect(errors).toEqual([])
  })

  it("stops mid-poll: the rest of that poll's quotes and its failure are dropped", async () => {
    const { venue, source, quotes, errors } = await rig({ symbols: [BTC], pollMs: 10, client: { timeout: 300 } })
    // a stop from inside a handler: the other symbol of the same answer is not delivered
    const two = await rig()
    two.source.onTicker(() => two.source.stop())
    two.source.start()
    await vi.waitFor(() => expect(two.quotes.length).toBeGreaterThan(0), { timeout: 5_000 })
    await sleep(100)
    expect(two.quotes).toHaveLength(1)

    // a stop while a request hangs: its timeout is never reported
    venue.faults.inject(BOOK_TICKER, faults.hang(), 1)
    source.start()
    await vi.waitFor(() => expect(venue.faults.hits(BOOK_TICKER)).toBe(1), { timeout: 5_000 })
    source.stop()
    await sleep(600)
    expect(quotes).toEqual([])
    expect(errors).toEqual([])
    expect(venue.faults.hits(BOOK_TICKER)).toBe(1)
  })

  it('starts again after a stop, without a second loop', async () => {
    const { venue, source, quotes } = await rig({ symbols: [BTC], pollMs: 10, client: { timeout: 600 } })
    source.start()
    source.stop()
    source.start()
    source.start()
    await vi.waitFor(() => expect(quotes.length).toBeGreaterThan(0), { timeout: 5_000 })
    // one loop waits on a hung request; a second loop would go on asking
    venue.faults.inject(BOOK_TICKER, faults.hang(), 1)
    const before = venue.faults.hits(BOOK_TICKER)
    // the first request after the injection is the one that hangs
    await vi.waitFor(() => expect(venue.faults.hits(BOOK_TICKER)).toBeGreaterThan(before), { timeout: 5_000 })
    await sleep(300)
    expect(venue.faults.hits(BOOK_TICKER)).toBe(before + 1)
  })

  it('says once that the venue does not list a configured symbol, and keeps quoting the others', async () => {
    const { source, quotes, errors } = await rig({ symbols: [BTC, 'DOGE/USDT:USDT'], pollMs: 10 })
    source.start()
    await vi.waitFor(() => expect(quotes.filter((q) => q.symbol === BTC).length).toBeGreaterThanOrEqual(5), { timeout: 5_000 })
    expect(errors).toHaveLength(1)
    expect(String(errors[0])).toMatch(/DOGE\/USDT:USDT/)
    expect(quotes.some((q) => q.symbol === 'DOGE/USDT:USDT')).toBe(false)
  })
})

describe('a ccxt venue from the config, through createHaltd', { timeout: 60_000 }, () => {
  const quiet = () => createLogger({ destination: memoryDestination(), level: 'warn' })
  /** What the ccxt constructor needs to reach the fake venue offline: its transport and its markets. */
  const ccxtOptions = (venue: FakeBinance) => ({
    enableRateLimit: false,
    fetchImplementation: venue.fetchImplementation,
    markets: ccxtMarkets('futures', [...venue.engine.symbols.values()]),
    options: { fetchCurrencies: false, fetchMargins: false, fetchOpenOrders: { warnWithoutSymbol: false } },
  })

  async function start(
    venue: FakeBinance,
    venueConfig: Record<string, unknown> = {},
    risk: Record<string, unknown> = { feedLoss: { maxSilenceMs: 1_000 }, checkIntervalMs: 20 },
  ): Promise<Haltd> {
    const h = await createHaltd(
      {
        db: { path: join(tempDir(), 'h.db') },
        admin: { enabled: false },
        venues: [
          {
            kind: 'ccxt',
            name: 'bn-usdm',
            exchange: 'binanceusdm',
            apiKey: venue.apiKey,
            secret: venue.secret,
            symbols: [BTC, ETH],
            tickerPollMs: 20,
            options: ccxtOptions(venue),
            ...venueConfig,
          },
        ],
        risk,
      },
      { logger: quiet(), env: {} },
    )
    cleanups.push(() => h.close().catch(() => undefined))
    return h
  }
  const events = (h: Haltd) => [...h.log.read()]

  it("subscribes the venue's symbols, records marks at the venue's prices, and keeps the feed-loss trigger quiet while the venue answers", async () => {
    const venue = await fakeVenue()
    const h = await start(venue)
    const marks = () =>
      events(h)
        .filter((e) => e.type === 'market.mark')
        .map((e) => e.data as { venue: string; symbol: string; price: number })
    await vi.waitFor(() => expect(new Set(marks().map((m) => m.symbol))).toEqual(new Set([BTC, ETH])), { timeout: 10_000 })
    expect(events(h).find((e) => e.type === 'marketdata.subscribed')?.data).toEqual({ venue: 'bn-usdm', symbols: [BTC, ETH] })
    expect(marks().find((m) => m.symbol === BTC)).toEqual({ venue: 'bn-usdm', symbol: BTC, price: 50_000 })

    // the monitor watches this venue's feed and hears from it
    await sleep(1_500)
    const feed = h.risk.status().readings.find((r) => r.trigger === 'feedLoss')
    expect(feed?.detail).toContain('bn-usdm')
    expect(feed!.reading).toBeLessThan(1_000)
    expect(h.risk.status().latched).toBe(false)
    expect(events(h).some((e) => e.type === 'killswitch.activated')).toBe(false)
    expect(venue.unrouted).toEqual([])
  })

  it("trips the feed-loss trigger when the venue's tickers stay down", async () => {
    const venue = await fakeVenue()
    const h = await start(venue)
    await vi.waitFor(() => expect(events(h).some((e) => e.type === 'market.mark')).toBe(true), { timeout: 10_000 })
    venue.faults.inject(BOOK_TICKER, faults.unavailable())
    await vi.waitFor(() => expect(events(h).find((e) => e.type === 'killswitch.activated')?.data).toMatchObject({ trigger: 'feedLoss', action: 'HALTED' }), {
      timeout: 10_000,
    })
  })

  it('counts the answers a reachable venue gives its background polling (rate limits) toward the error-burst trigger, which trips', async () => {
    const venue = await fakeVenue()
    const h = await start(venue, { symbols: [BTC], tickerPollMs: 50 }, { errorBurst: { max: 3, windowMs: 60_000 }, checkIntervalMs: 20 })
    const background: unknown[] = []
    h.on('error', (e) => background.push(e))
    expect(h.risk.status().latched).toBe(false)
    // no order is rejected and no event tells of it: only the venue's own polling is refused
    // (with the Retry-After Binance sends, which the gateway waits out before each retry)
    venue.faults.inject('GET /fapi/v1/openOrders', faults.rateLimited({ retryAfterS: 1 }))
    await vi.waitFor(() => expect(events(h).find((e) => e.type === 'killswitch.activated')?.data).toMatchObject({ trigger: 'errorBurst', action: 'HALTED' }), {
      timeout: 40_000,
    })
    // the log alone held fewer errors than the trigger needs: the failed polls themselves were counted
    const logged = events(h).filter((e) =>
      ['order.rejected', 'order.status-unknown', 'order.cancel-rejected', 'order.cancel-unconfirmed', 'venue.disconnected'].includes(e.type),
    )
    expect(logged.length).toBeLessThan(3)
    expect(background.length).toBeGreaterThanOrEqual(3 - logged.length)
  })

  it('counts a venue it cannot reach once, as its disconnect, however many retries fail while the outage lasts', async () => {
    const venue = await fakeVenue()
    const h = await start(venue, { symbols: [BTC], tickerPollMs: 50 }, { errorBurst: { max: 3, windowMs: 60_000 }, checkIntervalMs: 20 })
    const background: unknown[] = []
    h.on('error', (e) => background.push(e))
    venue.faults.inject('GET /fapi/v1/openOrders', faults.unavailable())
    await vi.waitFor(() => expect(background.length).toBeGreaterThanOrEqual(4), { timeout: 20_000 })
    await sleep(100)
    expect(events(h).filter((e) => e.type === 'venue.disconnected')).toHaveLength(1)
    expect(h.risk.status().latched).toBe(false)
    expect(h.risk.status().readings.find((r) => r.trigger === 'errorBurst')?.reading).toBe(1)
  })

  it("leaves a venue to the embedder's own ticker source where one is given", async () => {
    const venue = await fakeVenue()
    const own: TickerSource = { venue: 'bn-usdm', symbols: [BTC], onTicker: () => () => undefined, start: () => undefined, stop: () => undefined }
    const h = await createHaltd(
      {
        db: { path: join(tempDir(), 'h.db') },
        admin: { enabled: false },
        venues: [
          {
            kind: 'ccxt',
            name: 'bn-usdm',
            exchange: 'binanceusdm',
            apiKey: venue.apiKey,
            secret: venue.secret,
            symbols: [BTC],
            tickerPollMs: 20,
            options: ccxtOptions(venue),
          },
        ],
      },
      { logger: quiet(), env: {}, tickerSources: [own] },
    )
    cleanups.push(() => h.close().catch(() => undefined))
    await sleep(200)
    expect(
      events(h)
        .filter((e) => e.type === 'marketdata.subscribed')
        .map((e) => e.data),
    ).toEqual([{ venue: 'bn-usdm', symbols: [BTC] }])
    expect(venue.faults.hits(BOOK_TICKER)).toBe(0)
  })

  it('refuses to start with an exchange ccxt does not have', async () => {
    await expect(
      createHaltd(
        {
          db: { path: join(tempDir(), 'h.db') },
          admin: { enabled: false },
          venues: [{ kind: 'ccxt', name: 'nowhere', exchange: 'no-such-exchange', symbols: [BTC] }],
        },
        { logger: quiet(), env: {} },
      ),
    ).rejects.toThrow(/venue 'nowhere': ccxt has no exchange 'no-such-exchange'/)
  })

  it('has no feed for a venue configured without symbols', async () => {
    const venue = await fakeVenue()
    const h = await start(venue, { symbols: [] })
    await sleep(200)
    expect(events(h).some((e) => e.type === 'marketdata.subscribed' || e.type === 'market.mark')).toBe(false)
    expect(venue.faults.hits(BOOK_TICKER)).toBe(0)
  })
})
