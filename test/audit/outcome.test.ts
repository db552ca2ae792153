import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { copyFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { auditFile } from '../../src/audit/audit.js'
import { AUDIT_EXIT, AuditReport, exitCodeOf } from '../../src/audit/audit-report.js'
import { renderMarkdown } from '../../src/audit/render/markdown.js'
import { renderText } from '../../src/audit/render/text.js'
import { openEventLog, type Envelope } from '../../src/index.js'
import type { ExchangeGateway } from '../../src/exchanges/gateway.js'
import type { SimExchange } from '../../src/exchanges/sim/index.js'
import { dist } from '../support/paths.js'
import { rig } from '../shutdown/rig.js'
import { shutdownLog } from './sample-log.js'

const cli = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
/** The JSON report as `--format json` prints it (the CLI's own run is checked once per test, through its text or HTML). */
const json = (db: string) => ({ report: AuditReport.parse(JSON.parse(JSON.stringify(auditFile(db)))) })
const events = (db: string): Envelope[] => {
  const log = openEventLog({ path: db, readonly: true })
  try {
    return [...log.read()]
  } finally {
    log.close()
  }
}

/** A venue that takes orders and cancels but never answers a request for its open orders or positions. */
function silentToObservation(sim: SimExchange): ExchangeGateway {
  return new Proxy(sim, {
    get(target, key) {
      if (key === 'fetchOpenOrders' || key === 'fetchPositions') return () => new Promise(() => {})
      const value = Reflect.get(target, key, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

describe('audit: two verdicts, the log and the shutdown', () => {
  it('given an emergency that left positions open, when haltd audit reads its intact log, then the headline is not CLEAN, the HTML callout names the positions, and the exit code is 3', async () => {
    // given: positions on alpha (3) and bravo (-2), then an emergency, which cancels and never flattens
    const db = await shutdownLog('emergency')

    // when
    const text = cli('audit', '--db', db)
    const page = join(db, '..', 'report.html')
    const html = cli('audit', '--db', db, '--format', 'html', '--out', page)
    const { report } = json(db)

    // then every format carries both verdicts, and none says CLEAN
    expect(text.status, text.stderr).toBe(AUDIT_EXIT.unsafeOutcome)
    expect(text.stdout).toContain('LOG INTACT — LAST SHUTDOWN sd-1: RESIDUAL EXPOSURE')
    expect(text.stdout).toContain('RESIDUAL EXPOSURE: 2 position(s) open: alpha BTC/USDT:USDT 3 (the venue says the same); bravo BTC/USDT:USDT -2')
    expect(text.stdout).not.toContain('CLEAN')
    expect(html.status).toBe(3)
    expect(html.stdout).toContain('LOG INTACT — LAST SHUTDOWN sd-1: RESIDUAL EXPOSURE')
    expect(report.verdict).toBe('clean')
    expect(report.outcome).toEqual({ shutdownId: 'sd-1', verdict: 'RESIDUAL_EXPOSURE', safe: false })
    expect(report.outcomes[0]!.exposure).toEqual([
      { venue: 'alpha', symbol: 'BTC/USDT:USDT', internal: 3, observed: 3, observedSeq: expect.any(Number) },
      { venue: 'bravo', symbol: 'BTC/USDT:USDT', internal: -2, observed: -2, observedSeq: expect.any(Number) },
    ])
    expect(renderMarkdown(report)).toContain('> **shutdown outcome: sd-1 (emergency): RESIDUAL EXPOSURE')

    // the page opens with the outcome: a callout before the integrity badge, naming each position
    const doc = readFileSync(page, 'utf8')
    const callout = doc.slice(doc.indexOf('<section class="callout unsafe" id="outcome">'), doc.indexOf('</section>'))
    expect(doc.indexOf('id="outcome"')).toBeLessThan(doc.indexOf('<span class="verdict'))
    expect(callout).toContain('Shutdown outcome: RESIDUAL EXPOSURE')
    expect(callout).toContain('<td>alpha</td><td>BTC/USDT:USDT</td><td>3</td><td>3</td>')
    expect(callout).toContain('<td>bravo</td><td>BTC/USDT:USDT</td><td>-2</td><td>-2</td>')
    expect(doc).not.toContain('CLEAN')
    expect(doc).not.toContain('class="verdict clean"')
  }, 60_000)

  it('given a graceful shutdown that flattened everything, when audited, then CLEAN and FLAT AND VERIFIED, exit 0, each venue resting on the observation nearest the end, with its age', async () => {
    // given
    const db = await shutdownLog('graceful', { flatten: 'aggressive' })

    // when
    const text = cli('audit', '--db', db)
    const { report } = json(db)

    // then
    expect(text.status, text.stdout).toBe(AUDIT_EXIT.clean)
    expect(text.stdout).toContain('CLEAN — LOG INTACT — LAST SHUTDOWN sd-1: FLAT AND VERIFIED')
    expect(exitCodeOf(report)).toBe(0)
    const outcome = report.outcomes[0]!
    expect(outcome).toMatchObject({
      verdict: 'FLAT_VERIFIED',
      safe: true,
      concerns: [],
      exposure: [],
      ordersLeftTotal: 0,
      recorded: { outcome: 'clean', exitCode: 0 },
    })
    expect(outcome.activity.ordersCanceled).toBe(6)
    expect(outcome.activity.fills).toBeGreaterThanOrEqual(2)

    // each venue's verdict rests on its newest open-orders and positions reports before the completion, aged to the completion
    const log = events(db)
    const completed = log.find((e) => e.type === 'shutdown.completed')!
    expect([outcome.atSeq, outcome.at]).toEqual([completed.seq, completed.ts])
    for (const venue of ['alpha', 'bravo', 'charlie']) {
      const newest = (type: string) => log.filter((e) => e.type === type && e.seq < completed.seq && (e.data as { venue: string }).venue === venue).at(-1)!
      const rests = [newest('venue.open-orders-observed'), newest('venue.positions-observed')].sort((a, b) => a.seq - b.seq)[0]!
      expect(outcome.reconciliation.evidence.find((e) => e.venue === venue)).toMatchObject({
        verdict: 'OK',
        observedSeq: rests.seq,
        ageMs: completed.ts - rests.ts,
        newerThanLastOrder: true,
      })
    }
  }, 60_000)

  it('given an emergency where one venue never answered its cancels or observations, then each concern is named: the position left, the unconfirmed cancels, the venues without evidence', async () => {
    // given a position on alpha, resting orders everywhere, and bravo silent to cancels and observations
    const r = rig({ faults: { bravo: { hang: ['cancelAll', 'cancel', 'fetchOpenOrders', 'fetchPositions'] } }, options: { emergency: { deadlineMs: 1_500 } } })
    await r.rest(2)
    await r.take('alpha', 1)
    await r.controller.requestShutdown({ mode: 'emergency', reason: 'risk limit', origin: 'admin' }).done
    await r.close()

    // when
    const report = auditFile(r.log.path)

    // then
    const outcome = report.outcomes[0]!
    expect(outcome.concerns.map((c) => c.verdict)).toEqual(['RESIDUAL_EXPOSURE', 'CANCEL_UNCONFIRMED', 'UNVERIFIED'])
    expect(outcome.concerns[0]!.what).toContain('alpha BTC/USDT:USDT 1')
    expect(outcome.concerns[1]!.what).toMatch(/^2 order\(s\) no venue confirmed canceled: bravo /)
    expect(outcome.concerns[2]!.what).toContain('bravo (')
    expect(outcome.activity.cancelUnconfirmed).toBe(2)
    expect(exitCodeOf(report)).toBe(AUDIT_EXIT.unsafeOutcome)
    expect(renderText(report)).toContain('LOG INTACT — LAST SHUTDOWN sd-1: RESIDUAL EXPOSURE, CANCELS UNCONFIRMED, UNVERIFIED')
  }, 60_000)

  it('given a graceful shutdown told to keep its positions, when audited, then POSITIONS KEPT AS TOLD, safe (exit 0), and still never CLEAN beside open positions', async () => {
    // given positions on alpha (3) and bravo (-2), and flatten: none
    const db = await shutdownLog('graceful', { flatten: 'none' })

    // when
    const report = auditFile(db)

    // then
    expect(report.outcome).toEqual({ shutdownId: 'sd-1', verdict: 'POSITIONS_KEPT', safe: true })
    expect(report.outcomes[0]!.exposure.map((e) => [e.venue, e.internal, e.observed])).toEqual([
      ['alpha', 3, 3],
      ['bravo', -2, -2],
    ])
    expect(exitCodeOf(report)).toBe(AUDIT_EXIT.clean)
    const text = renderText(report)
    expect(text).toContain('LOG INTACT — LAST SHUTDOWN sd-1: VERIFIED, POSITIONS KEPT AS TOLD')
    expect(text).toContain('  kept: alpha BTC/USDT:USDT 3 (the venue says the same)')
    expect(text).not.toContain('CLEAN')
  }, 60_000)

  it('given a venue that never answered for its open orders and positions, when audited, then the outcome is UNVERIFIED naming it, never flat, and the exit code is 3', async () => {
    // given resting orders on three venues, bravo silent to every observation
    const r = rig({ options: { graceful: { settleMs: 20, budgets: { reconcile: 300 } } }, gateways: { bravo: silentToObservation } })
    await r.rest(2)
    await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done
    await r.close()
    const db = join(r.dir, 'silent-copy.db')
    copyFileSync(r.log.path, db)

    // when
    const text = cli('audit', '--db', db)
    const { report } = json(db)

    // then
    expect(text.status, text.stdout).toBe(AUDIT_EXIT.unsafeOutcome)
    expect(text.stdout).toContain('LOG INTACT — LAST SHUTDOWN sd-1: UNVERIFIED')
    expect(report.verdict).toBe('clean')
    const outcome = report.outcomes[0]!
    expect(outcome.verdict).toBe('UNVERIFIED')
    expect(outcome.concerns).toEqual([{ verdict: 'UNVERIFIED', what: expect.stringMatching(/^no observation shows what these venues hold: bravo \(/) }])
    expect(outcome.reconciliation.evidence.map((e) => [e.venue, e.verdict])).toEqual([
      ['alpha', 'OK'],
      ['bravo', 'UNVERIFIED'],
      ['charlie', 'OK'],
    ])
  }, 60_000)
})
