import { describe, expect, it } from 'vitest'
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
