import { describe, expect, it } from 'vitest'
import { auditFile } from '../../src/audit/audit.js'
import { AuditReport } from '../../src/audit/audit-report.js'
import { renderMarkdown } from '../../src/audit/render/markdown.js'
import { renderText } from '../../src/audit/render/text.js'
import { renderHtml } from '../../src/audit/render/html.js'
import { money } from '../../src/projections/money.js'
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
    expect(text).toContain('CLEAN')
    expect(text).toContain('Final positions and P&L')
    expect(renderHtml(report)).toContain('<rect class="bar completed"')
  })

  it('prints amounts to the cent, a loss too small to show as 0.00 rather than -0.00', () => {
    expect([-0.001, -0, 0.004, -0.006, 1234.567, -2.5].map(money)).toEqual(['0.00', '0.00', '0.00', '-0.01', '1234.57', '-2.50'])
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
})
