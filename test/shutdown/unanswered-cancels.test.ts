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
