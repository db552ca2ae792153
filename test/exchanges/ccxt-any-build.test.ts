import { createRequire } from 'node:module'
import { OrderNotFound, type Exchange } from 'ccxt'
import { afterEach, describe, expect, it } from 'vitest'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { VenueError } from '../../src/exchanges/errors.js'
import { faults, fakeBinanceSpot, fakeBinanceUsdm, startFakeBinance, type CcxtLibrary, type FakeBinance } from '../support/fake-binance/index.js'

/** ccxt's CommonJS build, as an engine that does `require('ccxt')` gets it: its own class hierarchy. */
const cjs = createRequire(import.meta.url)('ccxt') as CcxtLibrary & { OrderNotFound: new (m: string) => Error }

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const BTC = 'BTC/USDT:USDT'
const SPOT_BTC = 'BTC/USDT'

async function rig(kind: 'spot' | 'futures'): Promise<{ venue: FakeBinance; gateway: CcxtGateway }> {
  const venue = await startFakeBinance()
  const exchange = await (kind === 'spot' ? fakeBinanceSpot : fakeBinanceUsdm)(venue, { library: cjs })
  const gateway = new CcxtGateway({ venue: 'binance', exchange, symbols: [kind === 'spot' ? SPOT_BTC : BTC], retry: { attempts: 3, baseDelayMs: 10 } })
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  return { venue, gateway }
}

function refusal(make: () => unknown): VenueError {
  try {
    make()
  } catch (e) {
    expect(e).toBeInstanceOf(VenueError)
    return e as VenueError
  }
  throw new Error('expected the gateway to refuse the instance')
}

describe('a ccxt instance from the CommonJS build (require) maps its errors as haltd’s own copy does', () => {
  it('given the CommonJS build, its errors are not instances of haltd’s ccxt classes', () => {
    expect(new cjs.OrderNotFound('x')).not.toBeInstanceOf(OrderNotFound)
  })

  it('when a cancel meets an unknown order (-2011), it answers not-found', async () => {
    const { gateway, venue } = await rig('spot')
    await gateway.submit({ clientOrderId: 'hd-cjs-1', symbol: SPOT_BTC, side: 'buy', type: 'limit', qty: 0.01, price: 40_000 })
    venue.faults.inject('DELETE /api/v3/order', faults.unknownOrder(), 1)
    expect(await gateway.cancel({ clientOrderId: 'hd-cjs-1', symbol: SPOT_BTC })).toEqual({ clientOrderId: 'hd-cjs-1', outcome: 'not-found' })
  })

  it('when the venue refuses a stale timestamp (-1021), the gateway resyncs its clock once and the call succeeds', async () => {
    const { gateway, venue } = await rig('futures')
    venue.clockOffsetMs = 120_000
    expect((await gateway.fetchBalances()).map((b) => b.asset)).toEqual(['USDT'])
    expect(venue.faults.hits('GET /fapi/v1/time')).toBe(1)
  })

  it('a 429 is rate-limit and a 503 is unavailable', async () => {
    const { gateway, venue } = await rig('futures')
    venue.faults.inject('GET /fapi/v3/account', faults.unavailable())
    await expect(gateway.fetchBalances()).rejects.toMatchObject({ kind: 'unavailable' })
    venue.faults.inject('POST /fapi/v1/order', faults.rateLimited(), 1)
    await expect(gateway.submit({ clientOrderId: 'hd-cjs-2', symbol: BTC, side: 'buy', type: 'market', qty: 0.01 })).rejects.toMatchObject({
      kind: 'rate-limit',
    })
  })
})

describe('an instance the gateway cannot map is refused, saying why', () => {
  it('not a ccxt exchange: the module, or a plain object', () => {
    expect(refusal(() => new CcxtGateway({ venue: 'x', exchange: cjs as unknown as Exchange })).message).toMatch(/not a usable ccxt exchange.*no ccxt `id`/)
    expect(refusal(() => new CcxtGateway({ venue: 'x', exchange: {} as Exchange })).kind).toBe('unsupported')
  })

  it('a ccxt too old for the unified calls haltd uses', async () => {
    const venue = await startFakeBinance()
    cleanups.push(() => venue.close())
    const current = await fakeBinanceUsdm(venue, { library: cjs })
    const old = Object.create(current, { cancelAllOrdersAfter: { value: undefined } }) as Exchange
    expect(refusal(() => new CcxtGateway({ venue: 'x', exchange: old })).message).toMatch(/binanceusdm has no cancelAllOrdersAfter: this ccxt is too old/)
  })

  it('an instance whose error classes are not ccxt’s', async () => {
    const venue = await startFakeBinance()
    cleanups.push(() => venue.close())
    const current = await fakeBinanceUsdm(venue)
    const foreign = Object.create(current, { httpExceptions: { value: { '429': Error } } }) as Exchange
    expect(refusal(() => new CcxtGateway({ venue: 'x', exchange: current, shutdownExchange: foreign })).message).toMatch(
      /shutdownExchange is not a usable ccxt exchange.*do not descend from ccxt's BaseError/,
    )
  })
})
