import { describe, expect, it } from 'vitest'
import { auditLog } from '../../src/audit/audit.js'
import { dashboardView, type StatusPart } from '../../src/admin/dashboard/view.js'
import { AuditReport } from '../../src/audit/audit-report.js'
import { replayShutdownDecisions } from '../../src/audit/decision-replay.js'
import { duration } from '../../src/audit/render/format.js'
import { shutdownLine } from '../../src/audit/render/sections.js'
import { formatShutdownReport } from '../../src/core/shutdown/report.js'
import { until } from '../support/until.js'
import { rig } from './rig.js'

const GRACEFUL_MS = 1_200
/** What the page shows of the daemon's status as is: nothing here reads it. */
const status: StatusPart = {
  state: 'STOPPED',
  mode: 'HALTED',
  gate: { halted: true },
  killSwitch: { latched: true },
  positions: [],
  pnl: { realized: 0, fees: 0, unrealized: 0, equity: 0, drawdown: 0 },
  strategies: [],
  drain: 'Active',
  paused: false,
  deploymentsLocked: true,
  reconciliation: { verdict: 'OK', venues: [] },
}
const EMERGENCY_DEADLINE_MS = 1_000

/**
 * A graceful shutdown that waits on a venue whose cancel-all hangs for longer than the emergency's
 * whole deadline, then a second signal escalates it, and the venue answers the emergency at once:
 * the run takes longer than the emergency's deadline, the emergency itself a fraction of it.
 */
async function escalatedAfterALongGraceful() {
  const r = rig({
    venues: ['alpha'],
    capabilities: { alpha: { massCancel: 'per-symbol', batchCancel: 10, deadMansSwitch: 'none' } },
    options: { graceful: { settleMs: 20 }, emergency: { deadlineMs: EMERGENCY_DEADLINE_MS } },
  })
  await r.rest(2)
  r.sim('alpha').faults.set({ hang: ['cancelAll'] })
  const first = r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM', origin: 'signal' })
  await until('the graceful cancel-all is out', () => r.types('venue.cancel-all-requested').length > 0)
  await new Promise((resolve) => setTimeout(resolve, GRACEFUL_MS))
  r.sim('alpha').faults.set({ hang: false })
  r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' })
  const report = await first.done
  return { r, report }
}

describe('the report of a graceful shutdown escalated to an emergency', () => {
  it('given a graceful part longer than the emergency deadline, when the escalated emergency ends within its own deadline, then the report and the audit judge the emergency from the escalation and give the graceful part apart', async () => {
    // given, when
    const { r, report } = await escalatedAfterALongGraceful()

    // then the run as a whole outlasted the emergency's deadline, the emergency did not
    const events = r.events()
    const requestedAt = events.find((e) => e.type === 'shutdown.requested')!.ts
    const escalatedAt = events.find((e) => e.type === 'shutdown.escalated')!.ts
    // (the end as the completion recorded it: its duration counts to the last event before it)
    const completedAt = requestedAt + (events.find((e) => e.type === 'shutdown.completed')!.data as { durationMs: number }).durationMs
    expect(completedAt - requestedAt).toBeGreaterThan(EMERGENCY_DEADLINE_MS)
    expect(completedAt - escalatedAt).toBeLessThan(EMERGENCY_DEADLINE_MS)

    // the shutdown's own report, as data and as text
    expect(report.durationMs).toBe(completedAt - requestedAt)
    expect(report.phases).toEqual({
      graceful: { durationMs: escalatedAt - requestedAt },
      emergency: { durationMs: completedAt - escalatedAt, deadlineMs: EMERGENCY_DEADLINE_MS, withinDeadline: true },
    })
    const text = formatShutdownReport(report)
    expect(text).toContain(
      `graceful ${escalatedAt - requestedAt} ms, then emergency ${completedAt - escalatedAt} ms from the escalation: within its ${EMERGENCY_DEADLINE_MS} ms deadline`,
    )

    // the audit: the summary line, its --json form, and no missed deadline
    const audit = AuditReport.parse(JSON.parse(JSON.stringify(auditLog(r.log))))
    const summary = audit.shutdowns[0]!
    expect(summary).toMatchObject({ durationMs: completedAt - requestedAt, deadlineMs: EMERGENCY_DEADLINE_MS })
    expect(summary.phases).toEqual(report.phases)
    const line = shutdownLine(summary)
    expect(line).toContain(
      `took ${duration(completedAt - requestedAt)} in all: graceful ${duration(escalatedAt - requestedAt)}, then emergency ${duration(completedAt - escalatedAt)}`,
    )
    expect(line).toContain(`emergency deadline ${duration(EMERGENCY_DEADLINE_MS)} from the escalation, met`)
    expect(audit.outcomes[0]!.concerns.map((c) => c.verdict)).not.toContain('DEADLINE_MISSED')

    // the dashboard's clock: the emergency's time against its deadline, the graceful part beside it
    const shown = dashboardView({ state: r.projections.state, status, venues: [], risk: [], now: Date.now(), since: 0 }).shutdown!
    expect(shown).toMatchObject({ escalated: true, startedAt: escalatedAt, gracefulMs: escalatedAt - requestedAt, deadlineMs: EMERGENCY_DEADLINE_MS })
    expect(shown.elapsedMs).toBe(events.find((e) => e.type === 'shutdown.completed')!.ts - escalatedAt)
    expect(shown.elapsedMs).toBeLessThan(EMERGENCY_DEADLINE_MS)
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })
})
