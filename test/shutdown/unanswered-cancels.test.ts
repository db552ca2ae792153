import { describe, expect, it } from 'vitest'
import type { CancelAllResult, ExchangeGateway } from '../../src/exchanges/gateway.js'
import type { SimExchange } from '../../src/exchanges/sim/index.js'
import { rig } from './rig.js'

type Data = Record<string, unknown>
const dataOf = (e: { data: unknown }) => e.data as Data

describe('a batch cancel the venue did not answer order by order', () => {
  it('leaves every unanswered order cancel-unconfirmed, saying so, and never records it canceled', async () => {
    // bravo's batch answer has no item of its own for any order (OKX's code 1 for the whole batch, say)
    const silent = (sim: SimExchange): ExchangeGateway =>
      new Proxy(sim, {
        get: (target, key) => {
          if (key === 'cancelAll')
            return async (): Promise<CancelAllResult> => {
              const open = await sim.fetchOpenOrders()
              return { scope: 'own', method: 'batched', canceled: [], failed: [], unanswered: open.map((o) => o.clientOrderId ?? o.venueOrderId) }
            }
          const v = Reflect.get(target, key, target) as unknown
          return typeof v === 'function' ? v.bind(target) : v
        },
      })
    const r = rig({ venues: ['bravo'], capabilities: { bravo: { massCancel: 'none', batchCancel: 20 } }, gateways: { bravo: silent } })
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
