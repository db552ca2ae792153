import { afterEach, describe, expect, it } from 'vitest'
import { OrderRouter } from '../../src/core/execution/order-router.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { fakeBybitClient, startFakeBybit } from '../support/fake-bybit/index.js'
import { rig } from './rig.js'
import { replaysClean } from './okx-rig.js'

// haltd's own orders on two books of a Bybit unified account (spot, linear USDT), through the real
// ccxt.bybit over CcxtGateway following the whole account, against the fake Bybit.

const VENUE = 'bybit'
const SPOT = 'BTC/USDT'
const PERP = 'BTC/USDT:USDT'
const NO_PERMISSION = { retCode: 10005, retMsg: 'Permission denied, please check your API key permissions.' }

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A buy resting on spot and one on the linear perpetual, placed through haltd's router. */
async function restingOnTwoBooks() {
  const venue = await startFakeBybit()
  const gateway = new CcxtGateway({
    venue: VENUE,
    exchange: fakeBybitClient(venue, { enableRateLimit: false }),
    shutdownExchange: fakeBybitClient(venue, { enableRateLimit: false }),
    symbols: [PERP],
    wholeAccount: true,
    stream: false,
    pollIntervalMs: 3_600_000,
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
  })
  await gateway.connect()
  cleanups.push(async () => {
    await gateway.close()
    await venue.close()
  })
  const r = rig({ venues: [VENUE], gateways: { [VENUE]: () => gateway }, options: { graceful: { settleMs: 20, waitTimeoutMs: 300 } } })
  const engine = new OrderRouter({ log: r.log, gate: r.gate, venues: r.venues, runTag: 'e', submitTimeoutMs: 10_000, positionOf: () => 0 })
  cleanups.push(async () => engine.close())
  const ids: Record<'spot' | 'perp', string> = { spot: '', perp: '' }
  for (const [book, symbol] of [
    ['spot', SPOT],
    ['perp', PERP],
  ] as const) {
    const out = await engine.submit({ venue: VENUE, symbol, side: 'buy', type: 'limit', qty: 0.001, price: 40_000, origin: { kind: 'strategy', id: 'mm' } })
    if (out.status !== 'accepted') throw new Error(`resting order not accepted: ${JSON.stringify(out)}`)
    ids[book] = out.clientOrderId
  }
  return { venue, r, ids }
}

describe('settling orders by their absence from a Bybit account listed book by book', () => {
  it('given the spot book refused to haltd once its orders rest there, when the graceful shutdown settles them, then a spot order is not taken for canceled because the linear list lacks it', async () => {
    // given
    const { venue, r, ids } = await restingOnTwoBooks()
    venue.refuse({ category: 'spot' }, NO_PERMISSION)

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then the linear order is canceled on the venue's word
    const canceled = r
      .events()
      .filter((e) => e.type === 'order.canceled')
      .map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    expect(canceled).toEqual([ids.perp])
    // and the spot order, still resting at the venue, is not said canceled: the report leaves it live
    expect(venue.account.open('spot').map((o) => o.clientOrderId)).toEqual([ids.spot])
    expect(report.openOrders.count).toBe(1)
    const settled = r
      .events()
      .filter((e) => e.type === 'shutdown.command-completed')
      .map((e) => e.data as { detail?: { reasons?: { clientOrderId: string; reason: string }[] } })
      .flatMap((d) => d.detail?.reasons ?? [])
    expect(settled).toContainEqual({
      clientOrderId: ids.spot,
      reason: expect.stringMatching(/did not show its book \(spot: .*Permission denied.*\): its absence is no proof/),
    })
    expect(report).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
    replaysClean(r)
  })
})
