import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { copyFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { auditFile } from '../../src/audit/audit.js'
import { AUDIT_EXIT, AuditReport } from '../../src/audit/audit-report.js'
import type { ExchangeGateway } from '../../src/exchanges/gateway.js'
import type { SimExchange } from '../../src/exchanges/sim/index.js'
import type { EventLog } from '../../src/core/log/event-log.js'
import { createNotifier, type Notifier } from '../../src/daemon/notify/notifier.js'
import { dist } from '../support/paths.js'
import { rig } from '../shutdown/rig.js'
import { tamper } from './fixtures.js'
import { shutdownLog } from './sample-log.js'

const cli = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
/** The JSON report as `--format json` prints it (the CLI's own run is checked once per test, through its text or HTML). */
const json = (db: string) => ({ report: AuditReport.parse(JSON.parse(JSON.stringify(auditFile(db)))) })
/** A venue whose connection outlives a shutdown's close, so one process can run a second shutdown against it. */
function keptOpen(sim: SimExchange): ExchangeGateway {
  return new Proxy(sim, {
    get(target, key) {
      if (key === 'close') return async () => {}
      const value = Reflect.get(target, key, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

describe('audit: the report laid out for its reader', () => {
  it('given one edited row, when audited, then it is one finding with the replay findings after it listed under it, exit 1', async () => {
    // given the first fill's quantity edited in the file
    const db = await shutdownLog('graceful', { flatten: 'aggressive' })
    let edited = 0
    tamper(db, (sql) => {
      const row = sql.prepare(`SELECT seq, data FROM events WHERE type = 'order.filled' ORDER BY seq LIMIT 1`).get() as { seq: number; data: string }
      edited = row.seq
      sql.prepare('UPDATE events SET data = ? WHERE seq = ?').run(row.data.replace(/"qty":\d+/, '"qty":7'), row.seq)
    })

    // when
    const report = auditFile(db)
    const text = cli('audit', '--db', db)

    // then the edit roots one group, and what the replay found after it goes under it
    expect(report.findingsTotal).toBeGreaterThan(5)
    expect(report.findingGroups).toHaveLength(1)
    const [group] = report.findingGroups
    expect(group!.root).toMatchObject({ check: 'chain', kind: 'chain.payload-edited', seq: edited })
    expect(group!.consequences.length).toBe(report.findingsTotal - 1)
    for (const f of group!.consequences) expect(f.seq!).toBeGreaterThanOrEqual(edited)
    expect(text.status).toBe(AUDIT_EXIT.findings)
    expect(text.stdout).toMatch(/^\d+ FINDINGS FROM 1 ROOT CAUSE — LAST SHUTDOWN sd-1: /m)
    const findings = text.stdout.slice(text.stdout.indexOf('Findings ('), text.stdout.indexOf('\nShutdown sd-1'))
    const rows = findings.split('\n').slice(3).filter(Boolean)
    expect(rows.filter((l) => !l.startsWith('  ↳'))).toEqual([expect.stringMatching(new RegExp(`^chain\\s+${edited}\\s+chain\\.payload-edited`))])
  }, 60_000)

  it('given two shutdowns, an emergency that left positions and a graceful one that flattened them, then the HTML shows the newest first, each with its notifications, P&L in its currency and times in UTC; the last outcome decides the exit', async () => {
    // given
    // a pager that delivers and a chat webhook that answers 500, each outcome recorded in the log
    let log: EventLog | undefined
    const notifier: Notifier = {
      notify: (n) =>
        createNotifier({
          sinks: [
            { name: 'pager', send: async () => {} },
            {
              name: 'chat',
              send: async () => {
                throw new Error('HTTP 500')
              },
            },
          ],
          budgetMs: 1_000,
          ...(log ? { log } : {}),
        }).notify(n),
    }
    const r = rig({
      options: { graceful: { flatten: 'aggressive', settleMs: 20 }, emergency: { deadlineMs: 5_000 } },
      gateways: { alpha: keptOpen, bravo: keptOpen, charlie: keptOpen },
      ports: { notifier },
    })
    log = r.log
    await r.rest(1)
    await r.take('alpha', 2)
    await r.controller.requestShutdown({ mode: 'emergency', reason: 'risk limit', origin: 'admin' }).done
    await r.controller.requestShutdown({ mode: 'graceful', reason: 'flatten what the emergency left', origin: 'admin' }).done
    await r.close()
    const db = join(r.dir, 'two-copy.db')
    copyFileSync(r.log.path, db)

    // when
    const page = join(r.dir, 'two.html')
    const run = cli('audit', '--db', db, '--format', 'html', '--out', page)
    const { report } = json(db)

    // then
    expect(report.outcomes.map((o) => [o.shutdownId, o.verdict])).toEqual([
      ['sd-2', 'FLAT_VERIFIED'],
      ['sd-1', 'RESIDUAL_EXPOSURE'],
    ])
    expect(run.status, run.stdout).toBe(AUDIT_EXIT.clean)
    const doc = readFileSync(page, 'utf8')
    expect(doc.indexOf('id="shutdown-sd-2"')).toBeGreaterThan(0)
    expect(doc.indexOf('id="shutdown-sd-2"')).toBeLessThan(doc.indexOf('id="shutdown-sd-1"'))
    expect(doc).toContain('Earlier shutdowns not safe: sd-1 RESIDUAL EXPOSURE')
    expect(report.pnl.currency).toBe('USDT')
    expect(doc).toMatch(/net P&amp;L<\/b>-?\d+\.\d\d USDT/)
    expect(doc).toMatch(/P&amp;L at its end realized -?\d+\.\d\d USDT/)
    expect(doc).toContain('all times UTC (ISO 8601)')
    expect(doc).toContain('<th>start (UTC)</th>')
    expect(doc).toMatch(/requested \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/)

    // each shutdown lists its notifications and what became of them
    const emergency = report.outcomes[1]!
    expect(emergency.notifications.map((n) => [n.topic, n.sink, n.ok, n.error ?? null])).toEqual([
      ['shutdown.emergency', 'pager', true, null],
      ['shutdown.emergency', 'chat', false, 'HTTP 500'],
    ])
    expect(report.outcomes[0]!.notifications.filter((n) => n.topic === 'shutdown.completed').map((n) => n.ok)).toEqual([true, false])
    expect(doc).toContain('<td>shutdown.emergency</td><td>chat</td><td>FAILED: HTTP 500</td>')
    expect(doc).toContain('notifications: 1 delivered, 1 failed')
  }, 60_000)
})
