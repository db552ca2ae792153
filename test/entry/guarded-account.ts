import { join } from 'node:path'
import type { HaltdConfigInput } from '../../src/daemon/config.js'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { CcxtGateway, type CcxtGatewayOptions } from '../../src/exchanges/ccxt/gateway.js'
import type { ExchangeGateway } from '../../src/exchanges/gateway.js'
import { afterEachTest } from '../support/after-each-test.js'
import { fakeBinanceSpot, fakeBinanceUsdm, startFakeBinance, type FakeBinance } from '../support/fake-binance/index.js'
import { fakeBybitClient, startFakeBybit } from '../support/fake-bybit/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

/**
 * Guardian mode over an account at the fake Binance, for the guardian tests: the venue, a haltd
 * following the account through `gateway`, and the engine placing orders on it on its own. What
 * they start is put away after the test, haltd before the venue.
 */

/** The fake Binance, closed after the test. */
export async function fakeBinance(): Promise<FakeBinance> {
  const venue = await startFakeBinance()
  afterEachTest(() => venue.close())
  return venue
}

/**
 * A gateway to the fake venue's USD-M futures account told of the market `symbols`, its shutdown calls on a connection of their own
 * (limiters off: ccxt would space its account-wide lists seconds apart by Binance's weights); `extra` adds to its options.
 */
export async function usdmGateway(venue: FakeBinance, symbols: string[], extra: Partial<CcxtGatewayOptions> = {}): Promise<CcxtGateway> {
  return new CcxtGateway({
    venue: 'binanceusdm',
    exchange: await fakeBinanceUsdm(venue, { enableRateLimit: false }),
    shutdownExchange: await fakeBinanceUsdm(venue, { enableRateLimit: false }),
    symbols,
    ...extra,
  })
}

/** The fake Bybit, closed after the test, and a gateway following its whole account (limiters off) told of `symbols`; `extra` adds to its options. */
export async function bybitAccount(symbols: string[], extra: Partial<CcxtGatewayOptions> = {}) {
  const venue = await startFakeBybit()
  afterEachTest(() => venue.close())
  const gateway = new CcxtGateway({
    venue: 'bybit',
    exchange: fakeBybitClient(venue, { enableRateLimit: false }),
    shutdownExchange: fakeBybitClient(venue, { enableRateLimit: false }),
    symbols,
    wholeAccount: true,
    ...extra,
  })
  return { venue, gateway }
}

/** A haltd in guardian mode (looking every 100 ms) over `gateway`, closed after the test; `extra` adds to its config, its warnings go to `logged`. */
export async function guardianOver(
  gateway: ExchangeGateway,
  extra: Partial<HaltdConfigInput> = {},
  logged: ReturnType<typeof memoryDestination> = memoryDestination(),
): Promise<Haltd> {
  const h = await createHaltd(
    { db: { path: join(tempDir(), 'guardian.db') }, admin: { enabled: false }, guardian: { pollMs: 100 }, ...extra },
    { gateways: [gateway], logger: createLogger({ destination: logged, level: 'warn' }), env: {} },
  )
  afterEachTest(() => h.close().catch(() => undefined))
  return h
}

/**
 * A guardian over the fake venue's spot account, told of the markets `symbols` (ccxt's limiter off, as
 * for `usdmGateway`), and the engine on its own order entry over REST; `prepare` sets the venue up before haltd connects to it.
 */
export async function guardedSpotAccount(symbols: string[], prepare: (venue: FakeBinance) => void = () => undefined) {
  const venue = await fakeBinance()
  prepare(venue)
  const exchange = await fakeBinanceSpot(venue, { ws: true, enableRateLimit: false })
  const gateway = new CcxtGateway({ venue: 'binance', exchange, symbols, pollIntervalMs: 100 })
  const h = await guardianOver(gateway)
  // the engine, on its own order entry, over REST
  const engine = await fakeBinanceSpot(venue)
  return { venue, h, engine }
}
