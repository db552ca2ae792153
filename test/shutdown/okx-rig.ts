import { expect } from 'vitest'
import { auditLog } from '../../src/audit/audit.js'
import { replayShutdownDecisions } from '../../src/audit/decision-replay.js'
import { OrderRouter } from '../../src/core/execution/order-router.js'
import type { ShutdownOptionsInput } from '../../src/core/shutdown/options.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { fakeOkx, startFakeOkx } from '../support/fake-okx/index.js'
import { rig } from './rig.js'

export const OKX = 'okx'
export const SWAP = 'BTC/USDT:USDT'

/**
 * haltd with one venue, the real `ccxt.okx` over CcxtGateway against the fake OKX (no mass cancel,
 * batch cancels of 20), and no update feed: the venue's word reaches haltd only when it asks. An
 * engine's router has rested three buys of one contract there. `onClose` takes what closes it all.
 */
export async function okxWithThreeRestingBuys(options: ShutdownOptionsInput, onClose: (close: () => Promise<void>) => void) {
  const venue = await startFakeOkx()
  const gateway = new CcxtGateway({
    venue: OKX,
    // ccxt's limiter off: by the costs it gives OKX's calls it would space the shutdown's lists and lookups out for seconds
    exchange: fakeOkx(venue, { type: 'swap', enableRateLimit: false }),
    symbols: [SWAP],
    stream: false,
    pollIntervalMs: 3_600_000,
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
  })
  await gateway.connect()
  onClose(async () => {
    await gateway.close()
    await venue.close()
  })
  const r = rig({ venues: [OKX], gateways: { [OKX]: () => gateway }, options: { graceful: { settleMs: 20, waitTimeoutMs: 300 }, ...options } })
  const engine = new OrderRouter({ log: r.log, gate: r.gate, venues: r.venues, runTag: 'e', submitTimeoutMs: 10_000, positionOf: () => 0 })
  onClose(async () => engine.close())
  const ids: string[] = []
  const venueIds: string[] = []
  for (let i = 0; i < 3; i++) {
    const out = await engine.submit({ venue: OKX, symbol: SWAP, side: 'buy', type: 'limit', qty: 1, price: 40_000 + i, origin: { kind: 'strategy', id: 'mm' } })
    if (out.status !== 'accepted' || out.venueOrderId === undefined) throw new Error(`resting order not accepted: ${JSON.stringify(out)}`)
    ids.push(out.clientOrderId)
    venueIds.push(out.venueOrderId)
  }
  return { venue, r, ids, venueIds }
}

/** The log's shutdown decisions re-derive without divergence, and the audit finds nothing wrong with its rows or decisions. */
export function replaysClean(r: ReturnType<typeof rig>): void {
  expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  const report = auditLog(r.log)
  expect(report.findings.filter((f) => f.check === 'decision' || f.check === 'invariant' || f.check === 'schema')).toEqual([])
}
