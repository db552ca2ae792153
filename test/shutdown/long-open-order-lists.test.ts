import { describe, expect, it } from 'vitest'
import { observeVenue, OPEN_ORDERS_PER_EVENT, openOrdersObserved } from '../../src/core/execution/venue-recorder.js'
import { auditLog } from '../../src/audit/audit.js'
import { replayShutdownDecisions } from '../../src/audit/decision-replay.js'
import { reconciliation } from '../../src/projections/reconciliation.js'
import { formatShutdownReport } from '../../src/core/shutdown/report.js'
import { rig, silentBatchCancel } from './rig.js'

const MiB = 1024 * 1024

describe('a venue listing more open orders than one event holds', () => {
  it('given 7,500 open orders at a venue, when haltd observes them, then the list is recorded in parts appended together and every order is verified', async () => {
    // given a venue holding 7,500 of haltd's orders: as one event the list would pass the log's 1 MiB cap
    const r = rig({ venues: ['alpha'] })
    await r.rest(7_500)
    const listed = await r.sim('alpha').fetchOpenOrders()
    expect(JSON.stringify(listed).length).toBeGreaterThan(MiB)

    // when haltd asks the venue for its open orders
    await observeVenue(r.log, r.sim('alpha'), { openOrders: true, positions: true })

    // then the list is 8 parts, one after the other in the log, each well inside the cap
    const parts = r.events().filter((e) => e.type === 'venue.open-orders-observed')
    expect(parts.map((e) => (e.data as { part?: { index: number; of: number } }).part)).toEqual(Array.from({ length: 8 }, (_, i) => ({ index: i + 1, of: 8 })))
    expect(parts.map((e) => e.seq)).toEqual(parts.map((_, i) => parts[0]!.seq + i))
    for (const e of parts) expect(JSON.stringify(e.data).length).toBeLessThan(MiB / 2)
    // and the venue's list is the whole of it, observed at its last part
    const view = r.projections.state.venues.get('alpha')!
    expect(view.openOrders?.orders).toHaveLength(7_500)
    expect(view.openOrders?.seq).toBe(parts.at(-1)!.seq)
    const rec = reconciliation(r.projections.state)
    expect(rec.perVenue[0]).toMatchObject({ venue: 'alpha', verdict: 'OK' })
    expect(rec.rows.filter((row) => row.kind === 'order' && row.status !== 'OK')).toEqual([])
  })

  it('given a list whose last part never came, then the venue is not taken to list only the parts read', async () => {
    // given a venue with 2,500 open orders, whose whole list was observed once
    const r = rig({ venues: ['alpha'] })
    await r.rest(2_500)
    const open = await r.sim('alpha').fetchOpenOrders()
    const whole = openOrdersObserved('alpha', open)
    expect(whole).toHaveLength(Math.ceil(2_500 / OPEN_ORDERS_PER_EVENT))
    r.log.appendBatch(whole)
    const observedAt = r.projections.state.venues.get('alpha')!.openOrders!.seq

    // when a later list's first two parts of three are stored, then a second part again, then a last part following it
    r.log.appendBatch(whole.slice(0, 2))
    r.log.appendBatch([whole[1]!, whole[2]!])
    // then the venue's list is still the whole one observed before
    const view = r.projections.state.venues.get('alpha')!
    expect(view.openOrders?.seq).toBe(observedAt)
    expect(view.openOrders?.orders).toHaveLength(2_500)

    // and when a short list follows, it is the venue's list, whole
    r.log.append(openOrdersObserved('alpha', open.slice(0, 10))[0]!)
    expect(r.projections.state.venues.get('alpha')!.openOrders?.orders).toHaveLength(10)
    expect(r.projections.state.venues.get('alpha')!.openOrdersSoFar).toBeUndefined()
  })

  it('given an emergency whose batch cancel confirms none of 2,500 orders, then the settlement reads the list in parts and cancels every order again, and the audit replays it', async () => {
    // given a venue whose batch cancel answers no order by its own item
    const r = rig({ venues: ['bravo'], capabilities: { bravo: { massCancel: 'none', batchCancel: 20 } }, gateways: { bravo: silentBatchCancel } })
    await r.rest(2_500)

    // when haltd shuts down in an emergency
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    // then the list taken to settle them was recorded in parts, and no order is left open
    expect(r.types('order.cancel-unconfirmed')).toHaveLength(2_500)
    const parts = r.events().filter((e) => e.type === 'venue.open-orders-observed' && (e.data as { part?: unknown }).part !== undefined)
    expect(parts.length).toBeGreaterThanOrEqual(3)
    expect(r.types('order.canceled')).toHaveLength(2_500)
    expect(report.openOrders.count).toBe(0)
    // and the audit re-derives every decision from the log, finding nothing
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
    const audit = auditLog(r.log)
    expect(audit.findings.filter((f) => f.check === 'decision' || f.check === 'invariant' || f.check === 'schema')).toEqual([])
  })
})

describe('a report over more orders than it lists', () => {
  it('given 300 orders a hung venue never confirms canceled, the report lists 200 of them and counts all 300', async () => {
    const r = rig({ venues: ['alpha'], options: { emergency: { deadlineMs: 2_000 } } })
    await r.rest(300)
    r.sim('alpha').faults.set({ hang: true })
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    expect(report.cancelUnconfirmed).toHaveLength(200)
    expect(report.cancelUnconfirmedCount).toBe(300)
    expect(formatShutdownReport(report)).toContain('open orders: 300 (300 cancel-unconfirmed)')
  })
})
