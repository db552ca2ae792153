import { describe, expect, it } from 'vitest'
import { observeVenue } from '../../src/core/execution/venue-recorder.js'
import { formatShutdownReport } from '../../src/core/shutdown/report.js'
import type { Notification } from '../../src/daemon/notify/notifier.js'
import type { ExchangeGateway } from '../../src/exchanges/gateway.js'
import type { SimExchange } from '../../src/exchanges/sim/index.js'
import { rig, SYMBOL } from './rig.js'

/** A venue that reports a position haltd never took; everything else works. */
function holdingUnknownPosition(sim: SimExchange): ExchangeGateway {
  return new Proxy(sim, {
    get(target, key) {
      if (key === 'fetchPositions') return async () => [...(await target.fetchPositions()), { symbol: 'ETH/USDT:USDT', qty: 0.5 }]
      const value = Reflect.get(target, key, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** A venue whose account-wide lists leave books out: `inverse` never asked for, and what `refused` names refused by the venue. */
function leavingBooksUnseen(refused: string[]) {
  return (sim: SimExchange): ExchangeGateway =>
    new Proxy(sim, {
      get(target, key) {
        if (key === 'unseenBooks')
          return () => [
            { book: 'inverse', why: 'not listed: one call per coin' },
            ...refused.map((book) => ({ book, why: 'PermissionDenied: no permission', refused: true as const })),
          ]
        const value = Reflect.get(target, key, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
}

const telling = () => {
  const told: Notification[] = []
  const notify = async (n: Notification) => {
    told.push(n)
    return [{ sink: 'test', ok: true }]
  }
  return { told, notifier: { notify } }
}

describe('what a shutdown claims', () => {
  it('given a venue holding a position the log does not know, when haltd shuts down gracefully, then it ends residual-exposure with exit 2 and a critical notification saying MISMATCH', async () => {
    // given a venue that reports a position haltd never took, and no flattening asked
    const { told, notifier } = telling()
    const r = rig({ options: { graceful: { flatten: 'none', settleMs: 20 } }, gateways: { bravo: holdingUnknownPosition }, ports: { notifier } })
    await r.rest(1)

    // when haltd shuts down gracefully
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'end of session', origin: 'signal' }).done

    // then the reconciliation is a MISMATCH, which is never a clean stop
    expect(report.reconciliation.verdict).toBe('MISMATCH')
    expect(report.reconciliation.venues.find((v) => v.venue === 'bravo')?.verdict).toBe('MISMATCH')
    expect(report).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
    expect(r.events().find((e) => e.type === 'shutdown.completed')?.data).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
    // and the closing notification is the critical one, naming the mismatch
    const closing = told.find((n) => n.topic === 'shutdown.completed')!
    expect(closing.severity).toBe('critical')
    expect(closing.text).toContain('(graceful, residual-exposure)')
    expect(closing.text).toContain('reconciliation MISMATCH (')
  })

  it('given positions whose float sum is noisy, when an emergency leaves them open, then the report and the notification print them at the market step', async () => {
    // given a market with an amount step of 0.001, recorded from the venue, and a position of 0.03 - 0.01
    const { told, notifier } = telling()
    const r = rig({ ports: { notifier } })
    await observeVenue(r.log, r.sim('alpha'), { markets: true })
    await r.take('alpha', 0.03)
    await r.take('alpha', -0.01)
    expect(r.world().positions.find((p) => p.venue === 'alpha')?.qty).not.toBe(0.02)

    // when an emergency leaves it open
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'risk', origin: 'risk' }).done

    // then the report's text and the emergency notification say 0.02, not 0.019999999999999997
    expect(report.residualExposure.map((p) => [p.venue, p.symbol, p.amountStep])).toEqual([['alpha', SYMBOL, 0.001]])
    const text = formatShutdownReport(report)
    // (the simulators publish no prices here: the position is unpriced, and says so)
    expect(text).toContain(`position alpha ${SYMBOL}: 0.02 (UNPRICED: haltd has no price for it)\n`)
    expect(text).not.toContain('0.0199')
    // a figure finer than the step prints at the step; without a known step, at 8 decimals
    const fine = { venue: 'alpha', symbol: SYMBOL, qty: 0.0123456789 }
    expect(formatShutdownReport({ ...report, positions: [{ ...fine, amountStep: 0.001 }] })).toContain(`position alpha ${SYMBOL}: 0.012\n`)
    expect(formatShutdownReport({ ...report, positions: [fine] })).toContain(`position alpha ${SYMBOL}: 0.01234568\n`)
    const emergency = told.find((n) => n.topic === 'shutdown.emergency')!
    expect(emergency.severity).toBe('critical')
    expect(emergency.text).toContain(`1 position(s) open (alpha ${SYMBOL} 0.02)`)
    expect(emergency.text).not.toContain('0.0199')
  })

  it('given a venue whose lists never ask for a book, when haltd shuts down gracefully, then the report claims none open and flat of the books listed only, naming the book not seen', async () => {
    const { told, notifier } = telling()
    const r = rig({ options: { graceful: { flatten: 'none', settleMs: 20 } }, gateways: { bravo: leavingBooksUnseen([]) }, ports: { notifier } })
    await r.rest(1)

    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'end of session', origin: 'signal' }).done

    const text = formatShutdownReport(report)
    expect(text).toContain('open orders: 0 on the books listed (not seen: bravo: inverse)\n')
    expect(text).toContain('positions: flat on the books listed\n')
    expect(text).toContain('reconciliation: OK (of the books listed; not seen: bravo: inverse)\n')
    expect(text).toMatch(/ {2}bravo: OK \(.*\); books not seen: inverse\n/)
    // a book haltd never asks for is its own known limit, told at start: the verdict is of the books it lists
    expect(report).toMatchObject({ outcome: 'clean', exitCode: 0 })
    expect(told.find((n) => n.topic === 'shutdown.completed')?.text).toContain('0 order(s) still live on the books listed (not seen: bravo: inverse)')
  })

  it('given a venue that refused to list a book, when haltd shuts down gracefully, then the reconciliation is UNVERIFIED naming the book, and it ends residual-exposure with exit 2', async () => {
    const r = rig({ options: { graceful: { flatten: 'none', settleMs: 20 } }, gateways: { bravo: leavingBooksUnseen(['spot']) } })
    await r.rest(1)

    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'end of session', origin: 'signal' }).done

    expect(report.reconciliation.unverified).toEqual([
      { venue: 'bravo', why: 'the venue refused to list spot (PermissionDenied: no permission): orders and positions there are not seen' },
    ])
    expect(formatShutdownReport(report)).toContain('open orders: 0 on the books listed (not seen: bravo: inverse, spot (refused))\n')
    expect(report).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
  })
})
