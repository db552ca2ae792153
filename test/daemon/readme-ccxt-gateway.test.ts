import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import ccxt from 'ccxt'
import { afterEach, describe, expect, it } from 'vitest'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import type { HaltdConfigInput } from '../../src/daemon/config.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { ccxtMarkets, startFakeBinance } from '../support/fake-binance/index.js'
import { repoRoot } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'

const cleanups: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** The README's first code block under `heading`. */
function snippetUnder(heading: string): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const at = readme.indexOf(`\n${heading}\n`)
  expect(at, `README has no '${heading}'`).toBeGreaterThan(0)
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
  return block![1]!
}

type Embedded = { haltd: Haltd; gateway: CcxtGateway }
const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...args: unknown[]) => Promise<Embedded>

describe('the README’s CcxtGateway snippet', () => {
  it('runs as written against a Binance USD-M venue, the engine’s settings and the database path aside', async () => {
    const snippet = snippetUnder('### A ccxt venue of your own')
    const lines = snippet.split('\n')
    // what the snippet takes from outside: its imports, the engine's settings, and where the log goes
    expect(lines.filter((l) => l.startsWith('import '))).toEqual(["import ccxt from 'ccxt'", "import { CcxtGateway, createHaltd } from 'haltd'"])
    expect(lines.filter((l) => l.startsWith('const settings = '))).toHaveLength(1)
    expect(snippet).toContain("'data/engine.db'")
    const body = lines
      .filter((l) => !l.startsWith('import ') && !l.startsWith('const settings = '))
      .join('\n')
      .replace("'data/engine.db'", 'dbPath')
    const run = new AsyncFunction('ccxt', 'CcxtGateway', 'createHaltd', 'settings', 'dbPath', `${body}\nreturn { haltd, gateway }`)

    const venue = await startFakeBinance()
    cleanups.push(() => venue.close())
    const settings = {
      apiKey: venue.apiKey,
      secret: venue.secret,
      enableRateLimit: true,
      // offline: the fake venue's transport and markets
      fetchImplementation: venue.fetchImplementation,
      markets: ccxtMarkets('futures', [...venue.engine.symbols.values()]),
      options: { fetchCurrencies: false, fetchMargins: false },
    }
    // the test's own surroundings: no admin port, a quiet log, no environment
    const quietHaltd = (config: HaltdConfigInput, ports: object) =>
      createHaltd({ ...config, admin: { enabled: false } }, { ...ports, logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} })
    const { haltd, gateway } = await run(ccxt, CcxtGateway, quietHaltd, settings, join(tempDir(), 'engine.db'))
    cleanups.push(() => haltd.close().catch(() => undefined))

    expect(gateway.venue).toBe('binance-usdm')
    const outcome = await haltd.orders.submit({
      venue: 'binance-usdm',
      symbol: 'BTC/USDT:USDT',
      side: 'buy',
      type: 'limit',
      qty: 0.01,
      price: 40_000,
      origin: { kind: 'manual' },
    })
    expect(outcome).toMatchObject({ status: 'accepted' })
    expect(venue.engine.open('futures').map((o) => o.symbol)).toEqual(['BTCUSDT'])
  })
})
