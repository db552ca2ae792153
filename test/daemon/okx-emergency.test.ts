import { afterEach, describe, expect, it } from 'vitest'
import type { Haltd } from '../../src/daemon/index.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { drillDaemon, runEmergencyDrill } from '../support/emergency-drill.js'
import { fakeOkx, startFakeOkx, type FakeOkx } from '../support/fake-okx/index.js'

// The emergency path at OKX with 1,000 orders resting on the account: createHaltd with a
// CcxtGateway over the real ccxt.okx (the perpetual), the fake OKX behind it. The orders are put
// on the book directly, as the account's other programs would, and the emergency cancels in
// account scope: the same listing, batching and switch as for haltd's own orders, without a
// thousand submits before the clock starts.

const SWAP = 'BTC/USDT:USDT'
const ORDERS = 1_000
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function daemonAt(venue: FakeOkx): Promise<Haltd> {
  const gateway = new CcxtGateway({
    venue: 'okx',
    exchange: fakeOkx(venue, { type: 'swap', marketTypes: ['spot', 'swap'] }),
    // the shutdown's own instance, so its calls never queue behind the engine's in ccxt's pacing
    shutdownExchange: fakeOkx(venue, { type: 'swap', marketTypes: ['spot', 'swap'] }),
    symbols: [SWAP],
  })
  return drillDaemon(gateway, cleanups)
}

describe('an emergency at OKX', { timeout: 60_000 }, () => {
  it(`cancels ${ORDERS} resting orders in account scope and leaves none at the venue`, async () => {
    const venue = await startFakeOkx()
    cleanups.push(() => venue.close())
    for (let i = 0; i < ORDERS; i++) venue.rest({ instId: 'BTC-USDT-SWAP', side: 'buy', sz: 0.1, px: 30_000 + i / 10, clOrdId: `desk${i}` })
    const h = await daemonAt(venue)
    expect(h.startup.foreign).toHaveLength(ORDERS)

    const report = await runEmergencyDrill(h, `OKX with ${ORDERS} resting orders`, () => venue.openCount())

    expect(report.outcome).toBe('emergency')
    expect(venue.openCount()).toBe(0)
    expect(report.cancelUnconfirmed).toEqual([])
    // the emergency's own switch, armed for 10 s, is left armed
    expect(venue.deadMansSwitch()).toBeDefined()
    expect(venue.unrouted).toEqual([])
  })
})
