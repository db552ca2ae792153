import { afterEach, describe, expect, it } from 'vitest'
import { auditLog } from '../../src/audit/audit.js'
import { activityLine } from '../../src/audit/render/sections.js'
import { formatShutdownReport } from '../../src/core/shutdown/report.js'
import type { ExchangeGateway, OrderUpdate } from '../../src/exchanges/gateway.js'
import type { SimExchange } from '../../src/exchanges/sim/index.js'
import type { Envelope } from '../../src/index.js'
import { order } from '../../src/projections/index.js'
import { okxFaults } from '../support/fake-okx/index.js'
import { MID, rig, SYMBOL } from './rig.js'
import { OKX, okxWithThreeRestingBuys, replaysClean, SWAP } from './okx-rig.js'

const VENUE = OKX
const strategy = { kind: 'strategy' as const, id: 'mm' }
const ORDER_LOOKUP = 'GET /api/v5/trade/order'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

type Data = { clientOrderId: string; qty: number; source?: string; tradeId: string }
const dataOf = (e: Envelope) => e.data as Data
const fillsOf = (events: Envelope[], id: string) => events.filter((e) => e.type === 'order.filled' && dataOf(e).clientOrderId === id).map(dataOf)

/**
 * haltd with the real `ccxt.okx` over CcxtGateway against the fake OKX, no update feed (the
 * venue's word reaches haltd only when it asks), three resting buys of one contract each. The
 * first of them is half filled at the venue just before the cancels reach it: OKX answers each
 * cancel with ids only, no status and no filled quantity.
 */
async function okxWithARacingFill() {
  const { venue, r, ids } = await okxWithThreeRestingBuys({}, (c) => cleanups.push(c))
  const raced = ids[0]!
  venue.beforeNext('POST /api/v5/trade/cancel-batch-orders', () => {
    const o = venue.engine.open('futures').find((x) => x.clientOrderId === raced)!
    venue.engine.fillResting('futures', raced, o.qty / 2)
  })
  return { r, venue, ids, raced }
}

describe('a partial fill that beat a cancel OKX answered without a filled quantity', () => {
  for (const mode of ['graceful', 'emergency'] as const) {
    it(`given half of an order filled as its cancel landed, when the ${mode} shutdown runs, then the order is looked up, the half is booked once as a fill, and the report, the venue and the audit agree`, async () => {
      // given
      const { r, venue, ids, raced } = await okxWithARacingFill()

      // when
      const report = await r.controller.requestShutdown({ mode, reason: 'SIGTERM received', origin: 'signal' }).done

      // then the fill the venue's later state shows is in the log, as the order's total
      const events = r.events()
      expect(fillsOf(events, raced)).toEqual([
        { venue: VENUE, clientOrderId: raced, tradeId: `total:0.5:${raced}`, qty: 0.5, price: 40_000, fee: 0, source: 'order-total' },
      ])
      for (const id of ids.slice(1)) expect(fillsOf(events, id)).toEqual([])
      expect(venue.requests.filter((q) => q.path === '/api/v5/trade/order').length).toBeGreaterThanOrEqual(3)
      // and what haltd says it holds is what the venue holds
      expect(report.positions.map((p) => [p.symbol, p.qty])).toEqual([[SWAP, 0.5]])
      expect(report.reconciliation.verdict).toBe('OK')
      expect(report.finalFillUnknownCount).toBe(0)
      expect(formatShutdownReport(report)).not.toContain('FINAL FILL UNKNOWN')
      const audit = auditLog(r.log)
      expect(activityLine(audit.outcomes[0]!)).toContain('3 order(s) canceled, 1 fill(s) booked,')
      expect(JSON.parse(JSON.stringify(audit.outcomes[0]!.activity))).toMatchObject({ ordersCanceled: 3, fills: 1 })
      replaysClean(r)
    })
  }

  it('given lookups that answer each order canceled without what it filled, when the graceful shutdown runs, then their final fill is named unknown, never taken for none', async () => {
    // given OKX's order details without the filled size and price (ccxt then knows nothing of what filled)
    const { r, venue, ids } = await okxWithARacingFill()
    for (const field of ['accFillSz', 'fillSz', 'fillPx', 'avgPx']) venue.lookupOmits.add(field)

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then the lookups were answered, nothing was booked from them, and every canceled order's final fill is unknown
    expect(venue.requests.filter((q) => q.path === '/api/v5/trade/order').length).toBeGreaterThanOrEqual(3)
    expect(r.events().filter((e) => e.type === 'order.filled')).toEqual([])
    expect(report).toMatchObject({ outcome: 'residual-exposure', exitCode: 2, finalFillUnknownCount: 3 })
    expect(report.finalFillUnknown).toEqual(ids.map((clientOrderId) => ({ venue: VENUE, clientOrderId })))
    replaysClean(r)
  })

  it('given an order the venue part-filled and canceled itself just before haltd’s cancel, and lookups that do not say what filled, when the graceful shutdown settles it, then it ends canceled with its final fill named unknown', async () => {
    // given
    const { venue, r, ids } = await okxWithThreeRestingBuys({}, (c) => cleanups.push(c))
    venue.beforeNext('POST /api/v5/trade/cancel-batch-orders', () => {
      const o = venue.engine.open('futures').find((x) => x.clientOrderId === ids[0])!
      venue.engine.fillResting('futures', ids[0]!, o.qty / 2)
      venue.engine.cancel('futures', o.symbol, { clientOrderId: ids[0]! })
    })
    for (const field of ['accFillSz', 'fillSz', 'fillPx', 'avgPx']) venue.lookupOmits.add(field)

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then a lookup settled it canceled (its cancel had no answer of its own), booking nothing it did not say
    const events = r.events()
    expect(events.filter((e) => e.type === 'order.canceled' && dataOf(e).clientOrderId === ids[0]).map((e) => e.data)).toEqual([
      expect.objectContaining({ clientOrderId: ids[0], confirmedBy: 'lookup' }),
    ])
    expect(fillsOf(events, ids[0]!)).toEqual([])
    expect(report.finalFillUnknown).toContainEqual({ venue: VENUE, clientOrderId: ids[0] })
  })

  it('given the lookups fail after the cancels, when the graceful shutdown runs, then the report says the canceled orders’ final fill is unknown, never that none filled', async () => {
    // given
    const { r, venue, ids } = await okxWithARacingFill()
    venue.faults.inject(ORDER_LOOKUP, okxFaults.maintenance())

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then nothing is booked that the venue did not say
    const events = r.events()
    expect(events.filter((e) => e.type === 'order.filled')).toEqual([])
    // and the shutdown is not clean: the position may differ from what the report says (exit 2)
    expect(report).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
    // and the report, in text and as data, names the orders whose final fill is unknown
    expect(report.finalFillUnknownCount).toBe(3)
    expect(report.finalFillUnknown).toEqual(ids.map((clientOrderId) => ({ venue: VENUE, clientOrderId })))
    const text = formatShutdownReport(report)
    expect(text).toContain(`FINAL FILL UNKNOWN for 3 canceled order(s): okx ${ids[0]}, okx ${ids[1]}, okx ${ids[2]}`)
    expect(JSON.parse(JSON.stringify(report))).toMatchObject({ finalFillUnknownCount: 3 })
    // and so does the closing notification, whose positions and P&L are short of what they filled
    const closing = events
      .filter((e) => e.type === 'shutdown.command-issued')
      .map((e) => (e.data as { command: { kind: string; message?: string } }).command)
      .filter((c) => c.kind === 'notify' && c.message?.startsWith('haltd shut down'))
    expect(closing).toEqual([
      expect.objectContaining({ message: expect.stringContaining('FINAL FILL UNKNOWN for 3 canceled order(s): positions and P&L may lack their fills') }),
    ])
    // and so does the audit
    const audit = auditLog(r.log)
    expect(audit.outcomes[0]!.fillUnknown).toEqual({ count: 3, orders: ids.map((clientOrderId) => ({ venue: VENUE, clientOrderId })) })
    expect(activityLine(audit.outcomes[0]!)).toContain('0 fill(s) booked (the final fill of 3 canceled order(s) unknown:')
    replaysClean(r)
  })
})

describe('a graceful shutdown that could not learn a canceled order’s final fill is not clean', () => {
  it('given the venue’s positions agree with the log but no lookup told what the canceled orders filled, when the graceful shutdown runs, then it ends residual-exposure (exit 2) and says what is unknown', async () => {
    // given three resting buys OKX will cancel with answers that say nothing of fills, and lookups that fail
    const { venue, r, ids } = await okxWithThreeRestingBuys({}, (c) => cleanups.push(c))
    venue.faults.inject(ORDER_LOOKUP, okxFaults.maintenance())

    // when
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then the positions the venue shows agree with the log
    expect(report.reconciliation.verdict).toBe('OK')
    expect(report.finalFillUnknownCount).toBe(3)
    // and yet what the orders filled is unknown: not clean, exit 2, as any unverified outcome
    expect(report).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
    expect(formatShutdownReport(report)).toContain(`FINAL FILL UNKNOWN for 3 canceled order(s): okx ${ids[0]}, okx ${ids[1]}, okx ${ids[2]}`)
    const closing = r
      .events()
      .filter((e) => e.type === 'shutdown.command-issued')
      .map((e) => (e.data as { command: { kind: string; severity?: string; message?: string } }).command)
      .filter((c) => c.kind === 'notify' && c.message?.startsWith('haltd shut down'))
    expect(closing).toEqual([
      expect.objectContaining({
        severity: 'critical',
        message: expect.stringContaining('(graceful, residual-exposure)'),
      }),
    ])
    expect(closing[0]!.message).toContain('FINAL FILL UNKNOWN for 3 canceled order(s): positions and P&L may lack their fills')
    replaysClean(r)
  })

  it('a shutdown recorded before that rule (no fillUnknownIsExposure in its options) ends clean as it did, and replays so', async () => {
    const { venue, r } = await okxWithThreeRestingBuys({ graceful: { settleMs: 20, waitTimeoutMs: 300, fillUnknownIsExposure: false } }, (c) =>
      cleanups.push(c),
    )
    venue.faults.inject(ORDER_LOOKUP, okxFaults.maintenance())
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done
    expect(report.finalFillUnknownCount).toBe(3)
    expect(report).toMatchObject({ outcome: 'clean', exitCode: 0 })
    replaysClean(r)
  })
})

/**
 * The simulator standing for a venue whose cancel answers say nothing of fills, followed without an
 * update feed: what it would push (fills, statuses) is held back until `release`, and its submit
 * answers say nothing of fills either.
 */
function withheldFills(sim: SimExchange): ExchangeGateway & { release(): void } {
  const held: OrderUpdate[] = []
  const handlers = new Set<(u: OrderUpdate) => void>()
  sim.onUpdate((u) => held.push(u))
  return new Proxy(sim, {
    get: (target, key) => {
      if (key === 'capabilities') return { ...sim.capabilities, cancelAnswersOmitFills: true }
      if (key === 'onUpdate')
        return (h: (u: OrderUpdate) => void) => {
          handlers.add(h)
          return () => handlers.delete(h)
        }
      if (key === 'submit')
        return async (...args: Parameters<SimExchange['submit']>) => {
          const ack = await sim.submit(...args)
          return { ...ack, status: 'open', filled: 0, fills: undefined }
        }
      if (key === 'release')
        return () => {
          for (const u of held.splice(0)) for (const h of handlers) h(u)
        }
      const v = Reflect.get(target, key, target) as unknown
      return typeof v === 'function' ? v.bind(target) : v
    },
  }) as unknown as ExchangeGateway & { release(): void }
}

describe('on the simulator: a fill haltd never heard of before the cancel', () => {
  it('given an order part filled at the venue unheard, when the emergency cancels it with an answer that omits fills, then the lookup books the fill once, and the trades arriving afterwards add nothing', async () => {
    // given a buy at the mid part fills on arrival; haltd hears neither the fill nor its total
    let gateway: ReturnType<typeof withheldFills> | undefined
    const r = rig({
      venues: ['alpha'],
      capabilities: { alpha: { massCancel: 'per-symbol', batchCancel: 10, deadMansSwitch: 'none' } },
      gateways: { alpha: (sim) => (gateway = withheldFills(sim)) },
    })
    const out = await r.router.submit({ venue: 'alpha', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: MID, origin: strategy })
    if (out.status !== 'accepted') throw new Error(JSON.stringify(out))
    const atVenue = (await r.sim('alpha').fetchOrder({ clientOrderId: out.clientOrderId, symbol: SYMBOL }))!
    expect(atVenue.filled).toBeGreaterThan(0)
    expect(atVenue.filled).toBeLessThan(1)
    expect(r.world().orders[0]!.filledQty).toBe(0)

    // when
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    // then the venue's total is booked, once
    const filled = () => order(r.projections.state, 'alpha', out.clientOrderId)?.filledQty
    expect(fillsOf(r.events(), out.clientOrderId).map((f) => [f.qty, f.source])).toEqual([[atVenue.filled, 'order-total']])
    expect(report.positions.map((p) => p.qty)).toEqual([atVenue.filled])
    expect(filled()).toBeCloseTo(atVenue.filled, 12)
    // and the trades the venue's feed delivers late count against that total, not again
    gateway!.release()
    await new Promise((resolve) => setImmediate(resolve))
    await r.log.flush()
    expect(fillsOf(r.events(), out.clientOrderId).length).toBeGreaterThan(1)
    expect(filled()).toBeCloseTo(atVenue.filled, 12)
    replaysClean(r)
  })
})

describe('an emergency does not wait long on the lookups', () => {
  it('given a venue whose lookups answer slower than the emergency waits for its word after the cancels, when the emergency cancels, then the cancel step goes on after that wait and the report names the orders whose final fill it did not learn', async () => {
    // given
    const r = rig({
      venues: ['alpha'],
      capabilities: { alpha: { massCancel: 'per-symbol', batchCancel: 10, deadMansSwitch: 'none' } },
      gateways: { alpha: withheldFills },
      faults: { alpha: { latencyByMethod: { fetchOrder: 5_000 } } },
      options: { emergency: { observeTimeoutMs: 300 } },
    })
    await r.rest(3)

    // when
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    // then the cancel-all ended about the observation's wait after its answer, not the lookups' 5 s
    const events = r.events()
    const issued = events.find((e) => e.type === 'shutdown.command-issued' && (e.data as { command: { kind: string } }).command.kind === 'cancel-all')!
    const done = events.find(
      (e) => e.type === 'shutdown.command-completed' && (e.data as { commandId: string }).commandId === (issued.data as { commandId: string }).commandId,
    )!
    expect(done.ts - issued.ts).toBeLessThan(2_000)
    expect(done.data).toMatchObject({ outcome: 'ok', detail: { canceled: 3, lookedUp: 3, fillsLearned: 0, fillUnknownCount: 3 } })
    expect(report.finalFillUnknownCount).toBe(3)
    expect(formatShutdownReport(report)).toContain('FINAL FILL UNKNOWN for 3 canceled order(s)')
    // and the emergency's critical notification says it too
    const critical = events
      .filter((e) => e.type === 'shutdown.command-issued')
      .map((e) => (e.data as { command: { kind: string; topic?: string; message?: string } }).command)
      .filter((c) => c.kind === 'notify' && c.topic === 'shutdown.emergency')
    expect(critical).toEqual([expect.objectContaining({ message: expect.stringContaining('FINAL FILL UNKNOWN for 3 canceled order(s)') })])
  })
})

describe('the audit counts what its line names', () => {
  it('given an order total learned by a lookup and the trade it covers arriving later in the same shutdown, when audited, then one fill is counted booked, not two', async () => {
    // given an order part filled unheard, whose trade the venue's feed delivers only once the lookup booked the total
    // (a venue that answers in a few ms, so that the feed is heard while the shutdown runs)
    let gateway: ReturnType<typeof withheldFills> | undefined
    const r = rig({
      venues: ['alpha'],
      capabilities: { alpha: { massCancel: 'per-symbol', batchCancel: 10, deadMansSwitch: 'none' } },
      faults: { alpha: { latency: 5 } },
      gateways: { alpha: (sim) => (gateway = withheldFills(sim)) },
      options: { graceful: { settleMs: 20, waitTimeoutMs: 300 } },
    })
    const out = await r.router.submit({ venue: 'alpha', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: MID, origin: strategy })
    if (out.status !== 'accepted') throw new Error(JSON.stringify(out))
    r.log.on('event', (e) => {
      if (e.type === 'order.filled' && dataOf(e).source === 'order-total') setImmediate(() => gateway!.release())
    })

    // when
    await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done

    // then the log holds the total and the trade, inside the shutdown
    const events = r.events()
    const completedAt = events.find((e) => e.type === 'shutdown.completed')!.seq
    const fills = events.filter((e) => e.type === 'order.filled')
    expect(fills.map((e) => dataOf(e).source ?? 'trade')).toEqual(['order-total', 'trade'])
    expect(fills.every((e) => e.seq < completedAt)).toBe(true)
    // and the audit counts one fill booked: the trade added nothing the total had not
    const outcome = auditLog(r.log).outcomes[0]!
    expect(outcome.activity.fills).toBe(1)
    expect(activityLine(outcome)).toContain('1 order(s) canceled, 1 fill(s) booked, 0 order(s) with a cancel unconfirmed, 0 order(s) submitted')
    replaysClean(r)
  })
})
