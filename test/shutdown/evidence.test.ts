import { describe, expect, it } from 'vitest'
import { replayShutdownDecisions } from '../../src/audit/decision-replay.js'
import { formatShutdownReport, type ShutdownReport } from '../../src/core/shutdown/report.js'
import type { Notification } from '../../src/daemon/notify/notifier.js'
import type { ExchangeGateway } from '../../src/exchanges/gateway.js'
import type { SimExchange } from '../../src/exchanges/sim/index.js'
import { rig } from './rig.js'

/** A venue that answers every open-orders and positions request with a maintenance page; everything else works. */
function underMaintenance(sim: SimExchange): ExchangeGateway {
  return new Proxy(sim, {
    get(target, key) {
      if (key === 'fetchOpenOrders' || key === 'fetchPositions') {
        return async () => {
          throw new Error('HTTP 200 with a maintenance page, not a list')
        }
      }
      const value = Reflect.get(target, key, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

describe('a graceful shutdown claims only what it observed', () => {
  it('ends residual-exposure, exit 2, with reconciliation UNVERIFIED naming the venue whose open orders and positions could not be read', async () => {
    // given three venues with resting orders, one of which answers every observation with a maintenance page
    const told: Notification[] = []
    const notifier = {
      notify: async (n: Notification) => {
        told.push(n)
        return [{ sink: 'test', ok: true }]
      },
    }
    const r = rig({
      options: { graceful: { flatten: 'aggressive', settleMs: 20 } },
      gateways: { bravo: underMaintenance },
      ports: { notifier },
    })
    await r.rest(2)

    // when haltd shuts down gracefully
    const report: ShutdownReport = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

    // then step 7 could not reconcile with bravo, and nothing claims it did
    expect(r.events().find((e) => e.type === 'shutdown.step-failed' && (e.data as { name: string }).name === 'reconcile')?.data).toMatchObject({
      error: expect.stringContaining('bravo'),
    })
    expect(report).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
    expect(report.reconciliation).toMatchObject({ ok: false, verdict: 'UNVERIFIED' })
    expect(report.reconciliation.unverified.map((u) => u.venue)).toEqual(['bravo'])
    expect(report.reconciliation.unverified[0]!.why).toContain('maintenance page')
    expect(report.reconciliation.venues.map((v) => [v.venue, v.verdict])).toEqual([
      ['alpha', 'OK'],
      ['bravo', 'UNVERIFIED'],
      ['charlie', 'OK'],
    ])
    // each verified venue names the observation it rests on, taken after its last order event
    const alpha = report.reconciliation.venues[0]!
    expect(alpha.newerThanLastOrder).toBe(true)
    expect(alpha.observation!.seq).toBeGreaterThan(alpha.lastOrderSeq!)
    expect(formatShutdownReport(report)).toContain('reconciliation: UNVERIFIED (bravo: ')
    expect(r.events().find((e) => e.type === 'shutdown.completed')?.data).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })

    // the closing notification says UNVERIFIED, never "reconciliation OK"
    const closing = told.find((n) => n.topic === 'shutdown.completed')!
    expect(closing.text).not.toContain('reconciliation OK')
    expect(closing.text).toContain('reconciliation UNVERIFIED (bravo: ')
    expect(closing.text).toContain('(graceful, residual-exposure)')

    // and the audit re-derives the same decisions from the log
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })
})
