import { afterEach, describe, expect, it } from 'vitest'
import { auditLog } from '../../src/audit/audit.js'
import { activityLine } from '../../src/audit/render/sections.js'
import type { ShutdownOptionsInput } from '../../src/core/shutdown/options.js'
import { formatShutdownReport } from '../../src/core/shutdown/report.js'
import { recordedShutdownOptions } from '../../src/events/shutdown.js'
import type { Envelope } from '../../src/index.js'
import { OKX, okxWithThreeRestingBuys, replaysClean } from './okx-rig.js'

const VENUE = OKX

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/**
 * haltd with one venue, the real `ccxt.okx` over CcxtGateway against the fake OKX (no mass cancel,
 * batch cancels of 20), three resting orders, and no update feed: the venue's word reaches haltd
 * only when it asks. `keep(n)` makes the venue answer the next `n` cancels of the first order
 * `sCode 0` while it keeps the order open (Infinity: every cancel).
 */
async function okx(options: ShutdownOptionsInput = {}) {
  const { venue, r, ids, venueIds: ordIds } = await okxWithThreeRestingBuys(options, (c) => cleanups.push(c))
  const kept = ids[0]!
  let lies = 0
  const real = venue.engine.cancel.bind(venue.engine)
  venue.engine.cancel = (segment, symbol, ref) => {
    const o = venue.engine.find(segment, ref, symbol)
    if (o && o.clientOrderId === kept && lies > 0) {
      lies--
      return o
    }
    return real(segment, symbol, ref)
  }
  return {
    r,
    venue,
    ids,
    kept,
    /** The cancels of the kept order the venue received, in a batch or on their own (ccxt names it by its ordId). */
    keptCancels: () =>
      venue.requests.filter((q) => q.path.startsWith('/api/v5/trade/cancel') && JSON.stringify(q.body).includes(`"ordId":"${ordIds[0]}"`)).length,
    keep: (n: number) => {
      lies = n
    },
  }
}

const dataOf = <T>(e: Envelope) => e.data as T
const issued = (events: Envelope[]) =>
  events.filter((e) => e.type === 'shutdown.command-issued').map((e) => dataOf<{ command: Record<string, unknown> }>(e).command)
const of = (events: Envelope[], type: string, id: string) => events.filter((e) => e.type === type && dataOf<{ clientOrderId: string }>(e).clientOrderId === id)
const closing = (events: Envelope[]) => issued(events).find((c) => c.kind === 'notify' && c.topic === 'shutdown.completed') as { message: string } | undefined

describe('OKX answers a cancel done and keeps the order open, in a graceful shutdown', () => {
  it('given a venue that keeps one order through every cancel, when the graceful shutdown runs, then it is cancelled again, ends cancel-unconfirmed, and the report, its exit code and the closing notification count it live', async () => {
    // given
    const { r, venue, ids, kept, keep, keptCancels } = await okx()
    keep(Number.POSITIVE_INFINITY)

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then the first round was one cancel-all (OKX's batch cancel, its list read after the answers)
    const events = r.events()
    const commands = issued(events)
    expect(commands.filter((c) => c.kind === 'cancel-all')).toEqual([{ kind: 'cancel-all', venue: VENUE, scope: 'own', orders: 3, round: 1 }])
    expect(commands.filter((c) => c.kind === 'cancel-order')).toEqual([])
    // the other two are canceled; the kept one was cancelled again (settle-orders) and never recorded canceled
    for (const id of ids.slice(1)) expect(of(events, 'order.canceled', id)).toHaveLength(1)
    expect(of(events, 'order.canceled', kept)).toEqual([])
    expect(keptCancels()).toBeGreaterThanOrEqual(2)
    const reasons = of(events, 'order.cancel-unconfirmed', kept).map((e) => dataOf<{ reason: string }>(e).reason)
    expect(reasons[0]).toBe('okx answered the order canceled and still lists it open')
    expect(reasons).toContain('okx answered the cancel canceled again and still lists it open')
    expect(venue.openCount()).toBe(1)

    // and the report agrees with its reconciliation: live, unconfirmed, residual exposure (exit 2)
    expect(report.outcome).toBe('residual-exposure')
    expect(report.openOrders.count).toBe(1)
    expect(report.cancelUnconfirmed.map((o) => o.clientOrderId)).toEqual([kept])
    expect(report.reconciliation.problems).toEqual([])
    expect(dataOf<{ exitCode: number }>(events.find((e) => e.type === 'shutdown.completed')!).exitCode).toBe(2)
    expect(closing(events)?.message).toContain('; 1 order(s) still live;')
    expect(formatShutdownReport(report)).toContain('open orders: 1 (1 cancel-unconfirmed)')
    // and the audit counts the order once, however many of its cancels went unconfirmed
    expect(reasons.length).toBeGreaterThanOrEqual(2)
    const outcome = auditLog(r.log).outcomes[0]!
    expect(outcome.activity).toMatchObject({ ordersCanceled: 2, cancelUnconfirmed: 1 })
    expect(activityLine(outcome)).toContain('2 order(s) canceled, 0 fill(s) booked, 1 order(s) with a cancel unconfirmed')
    replaysClean(r)
  })

  it('given a venue that keeps one order through the first cancel only, when the graceful shutdown runs, then the order is cancelled again and ends canceled on the venue’s word', async () => {
    // given
    const { r, venue, ids, kept, keep, keptCancels } = await okx()
    keep(1)

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then
    const events = r.events()
    expect(of(events, 'order.cancel-unconfirmed', kept).map((e) => dataOf<{ reason: string }>(e).reason)).toEqual([
      'okx answered the order canceled and still lists it open',
    ])
    expect(of(events, 'order.canceled', kept)).toHaveLength(1)
    expect(keptCancels()).toBe(2)
    expect(venue.openCount()).toBe(0)
    for (const id of ids) expect(of(events, 'order.canceled', id)).toHaveLength(1)
    expect(report.outcome).toBe('clean')
    expect(report.openOrders.count).toBe(0)
    replaysClean(r)
  })

  it('given a shutdown recorded before the first round went through the cancel-all (no cancelAllFirst, read as false), when it runs, then it cancels order by order as it did, replays without divergence, and the list read after each answer still catches the kept order', async () => {
    // a log without the field reads it as false
    expect(recordedShutdownOptions({ graceful: { settleByObservation: true } }).graceful.cancelAllFirst).toBe(false)
    // given
    const { r, ids, kept, keep } = await okx({ graceful: { settleMs: 20, waitTimeoutMs: 300, cancelAllFirst: false } })
    keep(Number.POSITIVE_INFINITY)

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then round 1 is one cancel-order per order, as such a shutdown decided
    const events = r.events()
    const requested = events.find((e) => e.type === 'shutdown.requested')!
    expect(dataOf<{ options: { graceful: { cancelAllFirst: boolean } } }>(requested).options.graceful.cancelAllFirst).toBe(false)
    const cancels = issued(events).filter((c) => c.kind === 'cancel-all' || c.kind === 'cancel-order')
    expect(cancels.filter((c) => c.round === 1).map((c) => c.kind)).toEqual(['cancel-order', 'cancel-order', 'cancel-order'])
    expect(of(events, 'order.cancel-unconfirmed', kept).map((e) => dataOf<{ reason: string }>(e).reason)[0]).toMatch(
      /^okx answered the cancel canceled and still lists it open \(observation at seq \d+\)$/,
    )
    for (const id of ids.slice(1)) expect(of(events, 'order.canceled', id)).toHaveLength(1)
    expect(report.openOrders.count).toBe(1)
    expect(report.outcome).toBe('residual-exposure')
    replaysClean(r)
  })
})

describe('OKX answers a cancel done and keeps the order open, in an emergency', () => {
  it('given a venue that keeps one order through every cancel, when the emergency runs, then the order ends cancel-unconfirmed, the venue is observed again after the last cancel, and the reconciliation rests on that: OK, not UNVERIFIED', async () => {
    // given
    const { r, venue, ids, kept, keep } = await okx({ emergency: { cancelScope: 'own' } })
    keep(Number.POSITIVE_INFINITY)

    // when
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2 received', origin: 'signal' }).done

    // then the other two are canceled and the kept one is live and unconfirmed, as the venue shows it
    const events = r.events()
    for (const id of ids.slice(1)) expect(of(events, 'order.canceled', id)).toHaveLength(1)
    expect(of(events, 'order.canceled', kept)).toEqual([])
    expect(venue.openCount()).toBe(1)
    expect(report.openOrders.count).toBe(1)
    expect(report.cancelUnconfirmed.map((o) => o.clientOrderId)).toEqual([kept])
    // after the settle cancelled it again, the venue was asked once more for its open orders and positions
    const kinds = issued(events).map((c) => c.kind)
    const settledAt = kinds.indexOf('settle-orders')
    expect(settledAt).toBeGreaterThan(kinds.indexOf('observe-venue'))
    expect(kinds.slice(settledAt)).toContain('observe-venue')
    expect(of(events, 'order.cancel-unconfirmed', kept).length).toBeGreaterThan(0)
    expect(report.reconciliation.unverified).toEqual([])
    expect(report.reconciliation.verdict).toBe('OK')
    expect(formatShutdownReport(report)).toContain('open orders: 1 (1 cancel-unconfirmed)')
    replaysClean(r)
  })

  it('given an emergency recorded before the second observation existed (no observeAfterSettles, read as false), when it runs, then it does not ask again, replays without divergence, and says honestly it could not verify', async () => {
    expect(recordedShutdownOptions({ emergency: { settleByObservation: true } }).emergency.observeAfterSettles).toBe(false)
    // given
    const { r, kept, keep } = await okx({ emergency: { cancelScope: 'own', observeAfterSettles: false } })
    keep(Number.POSITIVE_INFINITY)

    // when
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2 received', origin: 'signal' }).done

    // then nothing is observed after the settle, and the reconciliation is UNVERIFIED, as such a shutdown ran
    const kinds = issued(r.events()).map((c) => c.kind)
    expect(kinds.slice(kinds.indexOf('settle-orders'))).not.toContain('observe-venue')
    expect(report.cancelUnconfirmed.map((o) => o.clientOrderId)).toEqual([kept])
    expect(report.reconciliation.verdict).toBe('UNVERIFIED')
    replaysClean(r)
  })
})
