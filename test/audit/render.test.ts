import { describe, expect, it } from 'vitest'
import { auditFile } from '../../src/audit/audit.js'
import { AuditReport } from '../../src/audit/audit-report.js'
import { renderMarkdown } from '../../src/audit/render/markdown.js'
import { renderText } from '../../src/audit/render/text.js'
import { renderHtml } from '../../src/audit/render/html.js'
import { num } from '../../src/audit/render/format.js'
import { formatShutdownReport, type ShutdownReport } from '../../src/core/shutdown/report.js'
import { money, quantity } from '../../src/projections/money.js'
import { tempDb } from '../support/tmp.js'
import { tamper, tradingDay, writeLog } from './fixtures.js'
import { shutdownLog } from './sample-log.js'

describe('audit: the report and its renderers', () => {
  it('the JSON report of a real shutdown matches the report schema, and every renderer shows its timeline and tables', async () => {
    const report = auditFile(await shutdownLog('emergency'))
    expect(AuditReport.safeParse(JSON.parse(JSON.stringify(report))).success).toBe(true)
    const md = renderMarkdown(report)
    expect(md).toContain('## Shutdown timeline')
    expect(md).toMatch(/\| 3 \| cancel all orders \| \d\d:\d\d:\d\d\.\d{3} \| \d\d:\d\d:\d\d\.\d{3} \| \d+ ms \| completed \|/)
    expect(md).toMatch(/\| kind \| symbol \| internal \| alpha \| bravo \| charlie \| status \|/)
    const text = renderText(report)
    // the emergency left its positions open: an intact log, never CLEAN over that outcome
    expect(text).toContain('LOG INTACT — LAST SHUTDOWN sd-1: RESIDUAL EXPOSURE')
    expect(text).not.toContain('CLEAN')
    expect(text).toContain('Final positions and P&L')
    expect(renderHtml(report)).toContain('<rect class="bar completed"')
  })

  it('given venue lists that left books of the account unseen, the reconciliation line names them beside its verdict', () => {
    const path = tempDb()
    const unseen = [
      { book: 'inverse', why: 'not listed: one call per coin' },
      { book: 'spot', why: 'PermissionDenied: bybit 10005', refused: true as const },
    ]
    writeLog(path, [
      { type: 'venue.open-orders-observed', data: { venue: 'bybit', orders: [], unseen } },
      { type: 'venue.positions-observed', data: { venue: 'bybit', positions: [], unseen } },
    ]).log.close()

    const report = auditFile(path)

    expect(report.reconciliation.evidence[0]?.unseen).toEqual(unseen)
    expect(AuditReport.safeParse(JSON.parse(JSON.stringify(report))).success).toBe(true)
    expect(renderText(report)).toContain(
      'UNVERIFIED (bybit: the venue refused to list spot (PermissionDenied: bybit 10005): orders and positions there are not seen, of the books listed; not seen: bybit: inverse, spot (refused))',
    )
  })

  it('given a log with no venue in it (marks only), says there is nothing to reconcile instead of OK, in text and HTML, and the JSON says so beside its verdict', () => {
    const path = tempDb()
    writeLog(path, [
      { type: 'market.mark', data: { venue: 'binance', symbol: 'BTC/USDT', price: 100 } },
      { type: 'market.mark', data: { venue: 'binance', symbol: 'BTC/USDT', price: 101 } },
    ]).log.close()

    const report = auditFile(path)

    // the JSON says so too, beside its verdict
    expect(report.reconciliation.nothingToReconcile).toBe(true)
    expect(AuditReport.safeParse(JSON.parse(JSON.stringify(report))).success).toBe(true)
    expect(renderText(report)).toContain(
      'reconciliation at the last event (seq 2): nothing to reconcile (no venue has orders, positions or observations in the log)',
    )
    expect(renderText(report)).not.toMatch(/reconciliation at the last event \(seq 2\): OK/)
    expect(renderHtml(report)).toContain('<b>reconciliation at the last event</b>nothing to reconcile')
  })

  it('prints amounts to the cent, a loss too small to show as 0.00 rather than -0.00', () => {
    expect([-0.001, -0, 0.004, -0.006, 1234.567, -2.5].map(money)).toEqual(['0.00', '0.00', '0.00', '-0.01', '1234.57', '-2.50'])
  })

  it('prints quantities and prices to 8 decimals without float noise, exponents or -0', () => {
    expect([-0.019999999999999997, 0.1 + 0.2, -1e-12, -0, 5, 1e-7, 64_000.5, -2.123456789].map((n) => quantity(n))).toEqual([
      '-0.02',
      '0.3',
      '0',
      '0',
      '5',
      '0.0000001',
      '64000.5',
      '-2.12345679',
    ])
    expect([num(-0.019999999999999997), num(null), num(50_123.456789, 4)]).toEqual(['-0.02', '—', '50123.4568'])
  })

  it("the shutdown report's text prints positions through the same formatter", () => {
    const report = {
      shutdownId: 's-1',
      mode: 'graceful',
      escalated: false,
      reason: 'test',
      origin: 'admin',
      outcome: 'residual-exposure',
      exitCode: 2,
      requestedAt: 0,
      durationMs: 10,
      steps: [],
      positions: [{ venue: 'okx-sim', symbol: 'ETH/USDT:USDT', qty: -0.019999999999999997 }],
      residualExposure: [],
      openOrders: { count: 0, byStatus: {}, orders: [] },
      cancelUnconfirmed: [],
      reconciliation: { ok: true, counts: {}, problems: [] },
      pnl: { realized: 0, fees: 0, unrealized: 0 },
      checkpoint: undefined,
      ignoredRequests: 0,
    } as unknown as ShutdownReport
    expect(formatShutdownReport(report)).toContain('position okx-sim ETH/USDT:USDT: -0.02\n')
  })

  it('findings are listed with their seq in every format, and text from the log is escaped in HTML and Markdown', () => {
    const path = tempDb()
    writeLog(path, tradingDay(3)).log.close()
    tamper(path, (db) => db.prepare(`UPDATE events SET type = '<b>x|y</b>' WHERE seq = 9`).run())
    const report = auditFile(path)
    expect(report.findings.map((f) => f.seq)).toContain(9)
    expect(renderText(report)).toMatch(/chain\s+9\s+chain\.payload-edited/)
    const md = renderMarkdown(report)
    expect(md).toContain('x\\|y')
    const html = renderHtml(report)
    expect(html).toContain('&lt;b&gt;x|y&lt;/b&gt;')
    expect(html).not.toContain('<b>x|y</b>')
  })

  it('given an open position on a market the log holds no price for, the positions table and the P&L line call it UNPRICED, never an unrealized 0', () => {
    // given: long 1 BTC/USDT marked at 110, long 2 ETH/USDT never priced
    const path = tempDb()
    const fill = (cid: string, symbol: string, qty: number, price: number) => [
      { type: 'order.submitted', data: { venue: 'bybit', clientOrderId: cid, symbol, side: 'buy', type: 'limit', qty, price, origin: { kind: 'manual' } } },
      { type: 'order.accepted', data: { venue: 'bybit', clientOrderId: cid, venueOrderId: `v-${cid}` } },
      { type: 'order.filled', data: { venue: 'bybit', clientOrderId: cid, tradeId: `t-${cid}`, qty, price, fee: 0 } },
    ]
    writeLog(path, [
      ...fill('c-btc', 'BTC/USDT', 1, 100),
      ...fill('c-eth', 'ETH/USDT', 2, 50),
      { type: 'market.mark', data: { venue: 'bybit', symbol: 'BTC/USDT', price: 110 } },
    ] as never).log.close()

    // when
    const report = auditFile(path)
    const text = renderText(report)

    // then
    expect(AuditReport.safeParse(JSON.parse(JSON.stringify(report))).success).toBe(true)
    expect(report.positions.find((p) => p.symbol === 'ETH/USDT')).toMatchObject({ qty: 2, unpriced: true })
    expect(report.positions.find((p) => p.symbol === 'BTC/USDT')).not.toHaveProperty('unpriced')
    expect(report.pnl.unpriced).toEqual(['bybit ETH/USDT'])
    expect(text).toMatch(/ETH\/USDT .*UNPRICED/)
    expect(text).toContain('(not counting 1 UNPRICED position(s), the log holding no price for them: bybit ETH/USDT)')
  })
})
