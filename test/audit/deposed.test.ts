import { describe, expect, it } from 'vitest'
import { auditFile } from '../../src/audit/audit.js'
import { AUDIT_EXIT, exitCodeOf } from '../../src/audit/audit-report.js'
import { renderHtml } from '../../src/audit/render/html.js'
import { renderMarkdown } from '../../src/audit/render/markdown.js'
import { renderText } from '../../src/audit/render/text.js'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import type { EventInput } from '../../src/events/index.js'
import { rig } from '../shutdown/rig.js'

/**
 * A leader that lost its lease (paused, cut off from NATS) and then ran a graceful shutdown: its
 * own log holds positions the new leader's log goes on from, and its gate refused every cancel.
 */

const acquired: EventInput = { type: 'leadership.acquired', data: { engine: 'mm-1', instance: 'primary', epoch: 1, fromSeq: 2, reason: 'startup' } }
const reason = "the leadership of engine 'mm-1' is lost: instance 'standby' holds it now (epoch 2)"
const lost: EventInput = { type: 'leadership.lost', data: { engine: 'mm-1', instance: 'primary', epoch: 1, reason, leader: 'standby', leaderEpoch: 2 } }
/**
 * A log written by the real shutdown engine over simulated venues: resting orders, positions on
 * alpha (3) and bravo (-2), then (`lose`) the lease lost as the daemon records it, the gate closed
 * and, where `fenced`, every cancel refused as a deposed leader's are; then a graceful shutdown.
 */
async function deposedLog(o: { lose: boolean; fenced: boolean; lostWith?: EventInput }): Promise<{ db: string; lostAt: number }> {
  const r = rig({ options: { graceful: { flatten: 'aggressive', settleMs: 50, waitTimeoutMs: 500, budgets: { reconcile: 500 } } } })
  await r.rest(2)
  await r.take('alpha', 3)
  await r.take('bravo', -2)
  r.log.append(acquired)
  let lostAt = 0
  if (o.lose) {
    lostAt = r.log.append(o.lostWith ?? lost).seq
    const why = `not the leader: ${reason}`
    r.gate.halt(why)
    r.gate.fence(() => why)
    if (o.fenced) r.gate.fenceCancels(() => why)
  }
  await r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM received', origin: 'signal' }).done
  await r.close()
  const db = join(r.dir, 'deposed-copy.db')
  copyFileSync(r.log.path, db)
  return { db, lostAt }
}

describe('audit: a shutdown on an instance that no longer led its engine', () => {
  it('given the same shutdown on a leader that did not lose its lease, then its outcome is read as the engine’s, as before: no NOT_LEADER', async () => {
    const { db } = await deposedLog({ lose: false, fenced: false })
    const report = auditFile(db)
    expect(report.outcome?.verdict).not.toBe('NOT_LEADER')
    expect(report.outcomes[0]!.notLeader).toBeUndefined()
  }, 60_000)

  it('given a leader that recorded it lost the lease, its gate refusing every order and cancel, then shut down, when audited, then the outcome is NOT_LEADER, not residual exposure, in every format, and the exit code is 3', async () => {
    // given
    const { db, lostAt } = await deposedLog({ lose: true, fenced: true })

    // when
    const report = auditFile(db)
    const text = renderText(report)

    // then
    expect(report.verdict).toBe('clean')
    expect(report.outcome).toEqual({ shutdownId: 'sd-1', verdict: 'NOT_LEADER', safe: false })
    expect(exitCodeOf(report)).toBe(AUDIT_EXIT.unsafeOutcome)
    const outcome = report.outcomes[0]!
    expect(outcome.concerns.map((c) => c.verdict)).toEqual(['NOT_LEADER'])
    expect(outcome.notLeader).toEqual({
      lostAtSeq: lostAt,
      instance: 'primary',
      epoch: 1,
      reason,
      leader: 'standby',
      leaderEpoch: 2,
      sentAfter: { cancels: 0, cancelAlls: 0, ordersAccepted: 0 },
    })
    const what =
      `this instance ('primary', epoch 1) no longer led the engine (lost at seq ${lostAt}: ${reason}); ` +
      `its shutdown sent nothing to the venues (no cancel, cancel-all or accepted order recorded after seq ${lostAt}); ` +
      "the engine's stop is its leader's ('standby', epoch 2): audit the leader's log."
    expect(text).toContain('LOG INTACT — LAST SHUTDOWN sd-1: NOT THE LEADER (THE ENGINE’S STOP IS ITS LEADER’S)')
    expect(text).toContain(what)
    expect(text).not.toMatch(/RESIDUAL EXPOSURE|Residual exposure/)
    expect(text).toContain('Positions as this log last knew them (not the engine’s: it no longer led it)')
    expect(renderMarkdown(report)).toContain(`> **shutdown outcome: sd-1 (graceful): NOT THE LEADER`)
    const html = renderHtml(report)
    const callout = html.slice(html.indexOf('id="outcome"'), html.indexOf('</section>'))
    expect(callout).toContain('Shutdown outcome: NOT THE LEADER')
    expect(callout).not.toContain('id="residual-exposure"')
  }, 60_000)

  it('given a lease that expired with no other leader named, when audited, then NOT_LEADER leads, and the exposure and its concerns stand: no other log may hold the engine’s stop', async () => {
    // given a leader cut off from NATS whose lease expired, nobody having taken it
    const expired = "the lease of engine 'mm-1' expired in the bucket before it was renewed"
    const { db } = await deposedLog({
      lose: true,
      fenced: true,
      lostWith: { type: 'leadership.lost', data: { engine: 'mm-1', instance: 'primary', epoch: 1, reason: expired } },
    })

    // when
    const report = auditFile(db)
    const outcome = report.outcomes[0]!

    // then
    expect(outcome.verdict).toBe('NOT_LEADER')
    expect(outcome.concerns.length).toBeGreaterThan(1)
    expect(outcome.concerns.map((c) => c.verdict)).toContain('RESIDUAL_EXPOSURE')
    expect(outcome.concerns[0]!.what).toContain('its lease expired with no other leader named')
    expect(outcome.concerns[0]!.what).not.toContain("audit the leader's log")
    expect(renderText(report)).not.toContain('not the engine’s: it no longer led it')
    const html = renderHtml(report)
    expect(html.slice(html.indexOf('id="outcome"'), html.indexOf('</section>'))).toContain('id="residual-exposure"')
  }, 60_000)

  it('given a shutdown whose cancels still went out after the lease was lost, then the outcome says what its log records after the loss', async () => {
    const { db, lostAt } = await deposedLog({ lose: true, fenced: false })

    const outcome = auditFile(db).outcomes[0]!

    expect(outcome.verdict).toBe('NOT_LEADER')
    const sent = outcome.notLeader!.sentAfter
    expect(sent.cancels + sent.cancelAlls).toBeGreaterThan(0)
    expect(outcome.concerns[0]!.what).toMatch(
      new RegExp(`after seq ${lostAt} its log records \\d+ cancel request\\(s\\), \\d+ cancel-all request\\(s\\) and \\d+ order\\(s\\) a venue accepted`),
    )
  }, 60_000)
})
