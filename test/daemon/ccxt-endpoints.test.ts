import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd } from '../../src/daemon/index.js'
import { InvalidConfig, parseConfig } from '../../src/daemon/config.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { ccxtMarkets, startFakeBinance, type FakeBinance } from '../support/fake-binance/index.js'
import { tempDir } from '../support/tmp.js'

const cleanups: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const BTC = 'BTC/USDT:USDT'
const quiet = () => createLogger({ destination: memoryDestination(), level: 'warn' })

/** Binance USD-M's REST endpoints, all at the local venue: what a desk's own gateway or a recording proxy looks like to haltd. */
const fapiAt = (origin: string) => ({
  api: Object.fromEntries(
    [
      ['fapiPublic', 'v1'],
      ['fapiPublicV2', 'v2'],
      ['fapiPublicV3', 'v3'],
      ['fapiPrivate', 'v1'],
      ['fapiPrivateV2', 'v2'],
      ['fapiPrivateV3', 'v3'],
    ].map(([key, version]) => [key, `${origin}/fapi/${version}`]),
  ),
})

/** A ccxt venue in the config, reaching the fake venue over HTTP through `urls` alone (no transport seam). */
function venueConfig(venue: FakeBinance, extra: Record<string, unknown> = {}) {
  return {
    kind: 'ccxt' as const,
    name: 'bn-usdm',
    exchange: 'binanceusdm',
    apiKey: venue.apiKey,
    secret: venue.secret,
    symbols: [BTC],
    options: {
      enableRateLimit: false,
      markets: ccxtMarkets('futures', [...venue.engine.symbols.values()]),
      options: { fetchCurrencies: false, fetchMargins: false },
    },
    ...extra,
  }
}

function problemsOf(f: () => unknown): { path: string; message: string }[] {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidConfig)
    return (e as InvalidConfig).problems
  }
  throw new Error('expected InvalidConfig')
}

describe('a config venue pointed at another endpoint', { timeout: 30_000 }, () => {
  it('given `sandbox` and `urls`, the urls win over the testnet, and haltd trades at the endpoint they name', async () => {
    const venue = await startFakeBinance()
    cleanups.push(() => venue.close())
    const h = await createHaltd(
      { db: { path: join(tempDir(), 'h.db') }, admin: { enabled: false }, venues: [venueConfig(venue, { sandbox: true, urls: fapiAt(venue.origin) })] },
      { logger: quiet(), env: {} },
    )
    cleanups.push(() => h.close().catch(() => undefined))
    expect([...h.log.read()].find((e) => e.type === 'venue.connected')?.data).toMatchObject({ venue: 'bn-usdm' })
    const outcome = await h.orders.submit({ venue: 'bn-usdm', symbol: BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000, origin: { kind: 'manual' } })
    expect(outcome).toMatchObject({ status: 'accepted' })
    expect(venue.engine.open('futures')).toHaveLength(1)
  })

  it('a `urls` entry that is not a URL is a config error naming the field', () => {
    const problems = problemsOf(() =>
      parseConfig(
        { db: { path: 'x.db' }, venues: [{ kind: 'ccxt', name: 'bn', exchange: 'binanceusdm', urls: { api: { fapiPrivate: 'fapi.example.com' } } }] },
        {},
      ),
    )
    expect(problems.map((p) => p.path)).toEqual(['venues[0].urls.api.fapiPrivate'])
    expect(problems[0]!.message).toMatch(/http\(s\) or ws\(s\) URL/)
  })

  it('a `urls` path the exchange does not have refuses the venue at startup, naming the keys it has there', async () => {
    const venue = await startFakeBinance()
    cleanups.push(() => venue.close())
    await expect(
      createHaltd(
        {
          db: { path: join(tempDir(), 'h.db') },
          admin: { enabled: false },
          venues: [venueConfig(venue, { urls: { api: { fapiprivate: `${venue.origin}/fapi/v1` } } })],
        },
        { logger: quiet(), env: {} },
      ),
    ).rejects.toThrow(/venue 'bn-usdm': urls: ccxt binanceusdm has no urls\.api\.fapiprivate \(it has .*fapiPrivate,/)
  })

  it('a derivatives venue without `symbols` where ccxt cannot list open orders without one says so at startup', async () => {
    const venue = await startFakeBinance()
    cleanups.push(() => venue.close())
    const usdm = {
      kind: 'ccxt' as const,
      name: 'bn-usdm',
      exchange: 'binanceusdm',
      apiKey: venue.apiKey,
      secret: venue.secret,
      options: { enableRateLimit: false },
    }
    await expect(
      createHaltd({ db: { path: join(tempDir(), 'h.db') }, admin: { enabled: false }, venues: [usdm] }, { logger: quiet(), env: {} }),
    ).rejects.toThrow(/venue 'bn-usdm': ccxt binanceusdm refuses to list open orders without a symbol .*: list the symbols haltd watches there in "symbols"/)
  })
})

describe('a config venue in guardian mode', { timeout: 30_000 }, () => {
  it('given guardian and a venue that lists the account without a symbol, follows the whole account: an order on a market outside its symbols is adopted', async () => {
    const venue = await startFakeBinance()
    cleanups.push(() => venue.close())
    const config = venueConfig(venue, { urls: fapiAt(venue.origin) })
    const h = await createHaltd(
      {
        db: { path: join(tempDir(), 'h.db') },
        admin: { enabled: false },
        guardian: { pollMs: 100 },
        venues: [{ ...config, options: { ...config.options, options: { ...config.options.options, fetchOpenOrders: { warnWithoutSymbol: false } } } }],
      },
      { logger: quiet(), env: {} },
    )
    cleanups.push(() => h.close())
    // the engine, on its own order entry, rests an order on a market haltd was not told of
    venue.engine.place('futures', { symbol: 'ETHUSDT', side: 'BUY', type: 'LIMIT', quantity: 0.01, price: 2_000, timeInForce: 'GTC', clientOrderId: 'eth-1' })
    const deadline = Date.now() + 5_000
    const adopted = () => [...h.log.read({ types: ['order.submitted'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    while (!adopted().includes('eth-1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(adopted()).toContain('eth-1')
  })
})
