import { describe, expect, it } from 'vitest'
import { replayShutdownDecisions } from '../../src/audit/decision-replay.js'
import type { CancelAllResult, ExchangeGateway } from '../../src/exchanges/gateway.js'
import type { SimExchange } from '../../src/exchanges/sim/index.js'
import { rig, silentBatchCancel } from './rig.js'

type Data = Record<string, unknown>
const dataOf = (e: { data: unknown }) => e.data as Data

describe('a batch cancel the venue did not answer order by order', () => {
  it('leaves every unanswered order cancel-unconfirmed, saying so, and never records it canceled', async () => {
    // bravo's batch answer has no item of its own for any order (OKX's code 1 for the whole batch, say)
    // (the round alone: the settling by observation after it is in settle.test.ts)
    const r = rig({
      venues: ['bravo'],
      capabilities: { bravo: { massCancel: 'none', batchCancel: 20 } },
      gateways: { bravo: silentBatchCancel },
      options: { emergency: { settleByObservation: false } },
    })
    await r.rest(2)
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    expect(r.types('order.canceled')).toHaveLength(0)
    const unconfirmed = r.events().filter((e) => e.type === 'order.cancel-unconfirmed')
    expect(unconfirmed.map((e) => dataOf(e).reason)).toEqual([
      'bravo gave no answer of its own for it in the batch cancel',
      'bravo gave no answer of its own for it in the batch cancel',
    ])
    expect(report.cancelUnconfirmed.map((o) => o.venue)).toEqual(['bravo', 'bravo'])
    const completed = r
      .events()
      .filter((e) => e.type === 'shutdown.command-completed')
      .map(dataOf)
      .find((d) => (d.detail as Data | undefined)?.method === 'batched')
    expect(completed).toMatchObject({ outcome: 'failed', detail: { scope: 'own', method: 'batched', canceled: 0, failed: 0, unanswered: 2, unconfirmed: 2 } })
  })
})

describe('a cancel-all the venue never answers', () => {
  it('given a venue whose cancel-all hangs and whose single cancels work, when the emergency runs, then the orders haltd knows there are cancelled one by one within the step', async () => {
    const r = rig({
      venues: ['alpha'],
      // no dead man's switch: nothing else would cancel them
      capabilities: { alpha: { massCancel: 'per-symbol', batchCancel: 20, deadMansSwitch: 'none' } },
      options: { emergency: { settleByObservation: false, deadlineMs: 6_000 } },
    })
    await r.rest(3)
    r.sim('alpha').faults.set({ hang: ['cancelAll'] })
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    // every order is canceled as the venue confirmed each cancel, none left unconfirmed
    expect(r.types('order.canceled')).toHaveLength(3)
    expect(report.cancelUnconfirmed).toEqual([])
    expect(r.world().orders).toEqual([])
    const completed = r
      .events()
      .filter((e) => e.type === 'shutdown.command-completed')
      .map(dataOf)
      .find((d) => (d.detail as Data | undefined)?.method === 'per-order after cancel-all failed')
    // the cancel-all round says it failed, and how the orders were cancelled instead
    expect(completed).toMatchObject({
      outcome: 'failed',
      detail: {
        canceled: 3,
        error: expect.stringMatching(/^cancel-all failed: alpha's cancel-all had no answer within \d+ ms; cancelled one by one instead$/),
      },
    })
  })
})

describe('a venue whose cancels say canceled and cancel nothing', () => {
  /** A venue that fails its cancel-all honestly, then answers each single cancel "canceled" and keeps the order. */
  const lyingCancels = (sim: SimExchange): ExchangeGateway =>
    new Proxy(sim, {
      get: (target, key) => {
        if (key === 'cancelAll')
          return async (): Promise<CancelAllResult> => {
            const open = await sim.fetchOpenOrders()
            return { scope: 'own', method: 'batched', canceled: [], failed: open.map((o) => ({ id: o.clientOrderId ?? o.venueOrderId, reason: 'busy' })) }
          }
        if (key === 'cancel') return async (ref: { clientOrderId: string }) => ({ clientOrderId: ref.clientOrderId, outcome: 'canceled' as const })
        const v = Reflect.get(target, key, target) as unknown
        return typeof v === 'function' ? v.bind(target) : v
      },
    })

  it('given orders it still lists after the cancel-all, when its cancel again answers canceled, then its list decides: they are cancel-unconfirmed, not canceled', async () => {
    const r = rig({
      venues: ['alpha'],
      capabilities: { alpha: { massCancel: 'none', batchCancel: 20, deadMansSwitch: 'none' } },
      gateways: { alpha: lyingCancels },
    })
    await r.rest(3)
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    expect(r.sim('alpha').openOrderCount).toBe(3)
    expect(r.types('order.canceled')).toEqual([])
    expect(report.openOrders.count).toBe(3)
    expect(report.cancelUnconfirmed.map((o) => o.venue)).toEqual(['alpha', 'alpha', 'alpha'])
    const reasons = r
      .events()
      .filter((e) => e.type === 'order.cancel-unconfirmed')
      .map((e) => dataOf(e).reason)
    expect(reasons).toContain('alpha answered the cancel canceled again and still lists it open')
  })

  it('given a venue whose second cancel works, the orders are canceled on its own report (its stream, or its list), not on the answer', async () => {
    const r = rig({
      venues: ['alpha'],
      capabilities: { alpha: { massCancel: 'none', batchCancel: 20, deadMansSwitch: 'none' } },
      // the cancel-all fails honestly; the single cancels are the simulator's own, which do cancel
      gateways: { alpha: (sim) => new Proxy(lyingCancels(sim), { get: (t, k) => (k === 'cancel' ? sim.cancel.bind(sim) : Reflect.get(t, k)) }) },
    })
    await r.rest(2)
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    expect(r.sim('alpha').openOrderCount).toBe(0)
    expect(report.openOrders.count).toBe(0)
    const confirmedBy = r
      .events()
      .filter((e) => e.type === 'order.canceled')
      .map((e) => dataOf(e).confirmedBy)
    expect(confirmedBy).toHaveLength(2)
    for (const by of confirmedBy) expect(['stream', 'open-orders']).toContain(by)
  })
})

describe('a venue without batch or mass cancel that answers a single cancel canceled and keeps the order', () => {
  /** Each single cancel of `kept` answered canceled, the order left open; the others cancelled as the simulator does. */
  const keeping =
    (kept: () => string | undefined) =>
    (sim: SimExchange): ExchangeGateway =>
      new Proxy(sim, {
        get: (target, key) => {
          if (key === 'cancel')
            return async (ref: { clientOrderId: string }) =>
              ref.clientOrderId === kept() ? { clientOrderId: ref.clientOrderId, outcome: 'canceled' as const } : sim.cancel(ref as never)
          const v = Reflect.get(target, key, target) as unknown
          return typeof v === 'function' ? v.bind(target) : v
        },
      })

  async function keepsOne(mode: 'graceful' | 'emergency') {
    let kept: string | undefined
    const r = rig({
      venues: ['alpha'],
      capabilities: { alpha: { massCancel: 'none', batchCancel: 0, deadMansSwitch: 'none' } },
      gateways: { alpha: keeping(() => kept) },
      options: { graceful: { settleMs: 20, waitTimeoutMs: 200 } },
    })
    await r.rest(3)
    kept = r.world().orders[0]!.clientOrderId
    const report = await r.controller.requestShutdown({ mode, reason: mode === 'graceful' ? 'SIGTERM' : 'SIGUSR2', origin: 'signal' }).done
    const reasons = r
      .events()
      .filter((e) => e.type === 'order.cancel-unconfirmed' && dataOf(e).clientOrderId === kept)
      .map((e) => dataOf(e).reason)
    const canceled = r
      .events()
      .filter((e) => e.type === 'order.canceled')
      .map((e) => dataOf(e).clientOrderId)
    return { r, report, kept: kept!, reasons, canceled }
  }

  it('given such a venue, when the graceful shutdown runs, then its first round is one cancel-all whose answers its list checks, the kept order is cancelled again, and it ends live and unconfirmed', async () => {
    const { r, report, kept, reasons, canceled } = await keepsOne('graceful')

    const commands = r
      .events()
      .filter((e) => e.type === 'shutdown.command-issued')
      .map((e) => dataOf(e).command as Data)
    expect(commands.filter((c) => c.kind === 'cancel-all')).toEqual([{ kind: 'cancel-all', venue: 'alpha', scope: 'own', orders: 3, round: 1 }])
    expect(r.sim('alpha').openOrderCount).toBe(1)
    expect(canceled).toHaveLength(2)
    expect(canceled).not.toContain(kept)
    expect(reasons[0]).toMatch(/^alpha answered the cancel canceled and still lists it open \(observation at seq \d+\)$/)
    expect(reasons).toContain('alpha answered the cancel canceled again and still lists it open')
    expect(report.outcome).toBe('residual-exposure')
    expect(report.openOrders.count).toBe(1)
    expect(report.cancelUnconfirmed.map((o) => o.clientOrderId)).toEqual([kept])
    expect(report.reconciliation.verdict).toBe('OK')
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('given such a venue, when the emergency runs, then the kept order is not recorded canceled on the answer: it ends live and unconfirmed', async () => {
    const { r, report, kept, reasons, canceled } = await keepsOne('emergency')

    expect(r.sim('alpha').openOrderCount).toBe(1)
    expect(canceled).toHaveLength(2)
    expect(canceled).not.toContain(kept)
    expect(reasons[0]).toMatch(/^alpha answered the cancel canceled and still lists it open \(observation at seq \d+\)$/)
    expect(report.openOrders.count).toBe(1)
    expect(report.cancelUnconfirmed.map((o) => o.clientOrderId)).toEqual([kept])
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })
})

describe('single cancels checked at once, one answered later than the other', () => {
  it('given a venue that takes longer over one cancel, when another order’s list is read meanwhile, then that list is not taken against the slow one: both end canceled', async () => {
    // given a venue with neither batch nor mass cancel, no status on its stream, and one cancel 80 ms slower
    let slow: string | undefined
    const slowCancel = (sim: SimExchange): ExchangeGateway =>
      new Proxy(sim, {
        get: (target, key) => {
          if (key === 'cancel')
            return async (ref: Parameters<SimExchange['cancel']>[0]) => {
              if (ref.clientOrderId === slow) await new Promise((r) => setTimeout(r, 80))
              return target.cancel(ref)
            }
          if (key === 'onUpdate')
            return (handler: Parameters<SimExchange['onUpdate']>[0]) => target.onUpdate((u) => (u.kind === 'status' ? undefined : handler(u)))
          const value = Reflect.get(target, key, target)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
    const r = rig({
      venues: ['alpha'],
      capabilities: { alpha: { massCancel: 'none', batchCancel: 0, deadMansSwitch: 'none' } },
      gateways: { alpha: slowCancel },
      options: { graceful: { settleMs: 20, waitTimeoutMs: 2_000, cancelAllFirst: false } },
    })
    await r.rest(2)
    slow = r.world().orders[0]!.clientOrderId

    // when the graceful shutdown cancels them one command each
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

    // then the venue holds nothing, nothing is unconfirmed, and the shutdown is clean
    expect(r.sim('alpha').openOrderCount).toBe(0)
    expect(r.events().filter((e) => e.type === 'order.cancel-unconfirmed')).toEqual([])
    expect(report.outcome).toBe('clean')
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })
})
