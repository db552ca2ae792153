import { afterEach, describe, expect, it } from 'vitest'
import { openEventLog, type EventLog } from '../../src/index.js'
import { createProjectionRunner, type ProjectionRunner } from '../../src/core/log/projection-runner.js'
import { reconcileAtStartup } from '../../src/daemon/startup.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import type { ExchangeGateway } from '../../src/exchanges/gateway.js'
import { order } from '../../src/projections/index.js'
import type { EventInput } from '../../src/events/index.js'
import { tempDb } from '../support/tmp.js'

const SYMBOL = 'BTC/USDT:USDT'
const open: { log: EventLog; projections: ProjectionRunner; sim: SimExchange }[] = []
afterEach(async () => {
  for (const { log, projections, sim } of open.splice(0)) {
    await sim.close()
    projections.stop()
    log.close()
  }
})

/** A log that left `n` orders live at `venue` when its process died, and a venue that no longer has them. */
function crashedWithLiveOrders(n: number, latencyMs: number) {
  const log = openEventLog({ path: tempDb() })
  const projections = createProjectionRunner({ log, warn: () => {} })
  const sim = new SimExchange({
    venue: 'sim',
    seed: 3,
    mode: 'derivatives',
    symbols: [{ symbol: SYMBOL, mid: 100, amountStep: 0.001, priceStep: 0.01 }],
    faults: { latency: latencyMs },
  })
  open.push({ log, projections, sim })
  const facts: EventInput[] = []
  for (let i = 0; i < n; i++) {
    const key = { venue: 'sim', clientOrderId: `hdcrash${i.toString(36)}` }
    facts.push(
      { type: 'order.submitted', data: { ...key, symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: { kind: 'strategy', id: 'mm' } } },
      { type: 'order.accepted', data: { ...key, venueOrderId: `v${i}` } },
    )
  }
  log.appendBatch(facts)
  return { log, projections, venues: new Map<string, ExchangeGateway>([['sim', sim]]) }
}

describe('startup reconciliation settles what the venue no longer lists', () => {
  it('given 600 orders live in the log that the venue does not list, when haltd starts, then each is asked after and settled, all of them', async () => {
    const { log, projections, venues } = crashedWithLiveOrders(600, 20)

    const report = await reconcileAtStartup({ log, venues, state: () => projections.state, timeoutMs: 5_000, adoptTagged: true })

    expect(report.unreachable).toEqual([])
    expect(report.settled).toHaveLength(600)
    expect(new Set(report.settled.map((s) => s.became))).toEqual(new Set(['canceled (missing from the venue)']))
    for (let i = 0; i < 600; i += 97) expect(order(projections.state, 'sim', `hdcrash${i.toString(36)}`)?.status).toBe('canceled')
    expect(report.mismatches.filter((m) => m.kind === 'order')).toEqual([])
  })

  it('given a venue that does not answer, when haltd starts, then it is unreachable and nothing is settled on its silence', async () => {
    const { log, projections, venues } = crashedWithLiveOrders(50, 0)
    ;(venues.get('sim') as SimExchange).faults.set({ latency: 0, hang: true })
    const report = await reconcileAtStartup({ log, venues, state: () => projections.state, timeoutMs: 300, adoptTagged: true })

    expect(report.unreachable.map((u) => u.venue)).toEqual(['sim'])
    expect(report.settled).toEqual([])
    expect(order(projections.state, 'sim', 'hdcrash0')?.status).not.toBe('canceled')
  })
})
