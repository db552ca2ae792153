import { describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { auditFile } from '../../src/audit/audit.js'
import { chainHash, openEventLog, type StoredRow } from '../../src/core/log/event-log.js'
import { replayShutdownDecisions } from '../../src/audit/decision-replay.js'
import { GENESIS_HASH } from '../../src/events/index.js'
import { SYMBOL } from '../shutdown/rig.js'
import { escalatedLog, shutdownLog } from './sample-log.js'

/** Rewrite every hash from `fromSeq` on, as a forger with write access and the hash rule would. */
function rechain(db: Database.Database, fromSeq: number): void {
  const rows = db
    .prepare(
      'SELECT seq, id, type, v, ts, stream, causation_id AS causationId, correlation_id AS correlationId, data, prev_hash AS prevHash, hash FROM events WHERE seq >= ? ORDER BY seq',
    )
    .all(fromSeq - 1) as StoredRow[]
  let prev = rows[0]?.seq === fromSeq - 1 ? rows.shift()!.hash : GENESIS_HASH
  const set = db.prepare('UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?')
  db.transaction(() => {
    for (const row of rows) {
      const hash = chainHash(prev, row)
      set.run(prev, hash, row.seq)
      prev = hash
    }
  })()
}

describe('audit: decision replay re-derives every shutdown decision', () => {
  it('a graceful shutdown run by the real runner audits clean, every decision re-derived', async () => {
    const path = await shutdownLog('graceful')
    const report = auditFile(path)
    expect(report.findings).toEqual([])
    expect(report.verdict).toBe('clean')
    expect(report.coverage.decisionsReplayed).toBeGreaterThan(10)
    const [s] = report.shutdowns
    expect(s?.mode).toBe('graceful')
    expect(s?.steps.map((st) => st.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
    expect(s?.commandsIssued).toBeGreaterThan(5)
    // aggressive flatten left nothing open
    expect(report.positions.every((p) => Math.abs(p.qty) < 1e-9)).toBe(true)
  })

  it('an emergency shutdown audits clean and within its deadline', async () => {
    const path = await shutdownLog('emergency')
    const report = auditFile(path)
    expect(report.findings).toEqual([])
    expect(report.shutdowns[0]).toMatchObject({ mode: 'emergency', outcome: 'emergency', deadlineMs: 5_000 })
    expect(report.trading.killSwitch.latched).toBe(true)
  })

  it('a logged command altered by hand, with the chain rewritten to match, is a divergence at its seq', async () => {
    const path = await shutdownLog('graceful')
    const db = new Database(path)
    const target = db
      .prepare(`SELECT seq, data FROM events WHERE type = 'shutdown.command-issued' AND data LIKE '%"kind":"flatten"%' ORDER BY seq LIMIT 1`)
      .get() as { seq: number; data: string }
    expect(target).toBeDefined()
    const data = JSON.parse(target.data)
    data.command.qty = data.command.qty * 2
    db.prepare('UPDATE events SET data = ? WHERE seq = ?').run(JSON.stringify(data), target.seq)
    rechain(db, target.seq)
    db.close()

    const report = auditFile(path)
    expect(report.chain.intact).toBe(true)
    const decisions = report.findings.filter((f) => f.check === 'decision')
    expect(decisions[0]).toMatchObject({ kind: 'decision.divergence', seq: target.seq })
    expect(decisions[0]!.message).toContain('flatten')
    expect(report.verdict).toBe('findings')
  })

  it('a command-issued event appended by hand through the log itself (chain intact) is flagged as decided by nobody', async () => {
    const path = await shutdownLog('emergency')
    const log = openEventLog({ path })
    const shutdownId = String((log.read({ types: ['shutdown.requested'] }).next().value as { data: { shutdownId: string } }).data.shutdownId)
    const forged = log.append({
      type: 'shutdown.command-issued',
      data: {
        shutdownId,
        commandId: `${shutdownId}:emergency.3:99`,
        step: 3,
        command: { kind: 'flatten', venue: 'alpha', symbol: SYMBOL, side: 'buy', qty: 5, type: 'market', position: 0, round: 1 },
      },
    })
    log.close()
    const report = auditFile(path)
    expect(report.chain.intact).toBe(true)
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'decision', kind: 'decision.undecided-command', seq: forged.seq }))
  })

  describe('request decisions: escalation, ignored requests, resume', () => {
    /** Rewrite one stored event's data (by type, first match) and re-chain from it, as a forger with the hash rule would. */
    function forge(path: string, type: string, edit: (data: Record<string, unknown>) => void): number {
      const db = new Database(path)
      try {
        const row = db.prepare('SELECT seq, data FROM events WHERE type = ? ORDER BY seq LIMIT 1').get(type) as { seq: number; data: string }
        const data = JSON.parse(row.data) as Record<string, unknown>
        edit(data)
        db.prepare('UPDATE events SET data = ? WHERE seq = ?').run(JSON.stringify(data), row.seq)
        rechain(db, row.seq)
        return row.seq
      } finally {
        db.close()
      }
    }
    const seqOf = (path: string, type: string): number => {
      const db = new Database(path, { readonly: true })
      try {
        return (db.prepare('SELECT seq FROM events WHERE type = ? ORDER BY seq LIMIT 1').get(type) as { seq: number }).seq
      } finally {
        db.close()
      }
    }

    it('a graceful shutdown asked twice and escalated audits clean, the requests re-decided with the rest', async () => {
      const path = await escalatedLog()
      const report = auditFile(path)
      expect(report.findings).toEqual([])
      expect(report.shutdowns[0]).toMatchObject({ status: 'SHUT_DOWN', outcome: 'emergency' })
      expect(report.shutdowns[0]!.escalatedAt).not.toBeNull()
    })

    it('an ignored request as an older build recorded it (v1, one request, no count) audits clean and counts as one', async () => {
      const path = await escalatedLog()
      const db = new Database(path)
      const seq = (db.prepare(`SELECT seq FROM events WHERE type = 'shutdown.request-ignored'`).get() as { seq: number }).seq
      db.prepare('UPDATE events SET v = 1 WHERE seq = ?').run(seq)
      rechain(db, seq)
      db.close()

      const report = auditFile(path)

      expect(report.findings).toEqual([])
      expect(report.shutdowns[0]).toMatchObject({ ignoredRequests: 1, ignored: [expect.objectContaining({ mode: 'graceful', seq, count: 1 })] })
    })

    it('requests alike recorded together with their count are re-decided with that count and counted each', async () => {
      const path = await escalatedLog()
      const seq = forge(path, 'shutdown.request-ignored', (d) => {
        d.count = 7
      })

      const report = auditFile(path)

      expect(report.findings).toEqual([])
      expect(report.shutdowns[0]).toMatchObject({ ignoredRequests: 7, ignored: [expect.objectContaining({ seq, count: 7 })] })
    })

    it('an emergency request recorded as ignored during a graceful shutdown is a divergence: the decider escalates it', async () => {
      const path = await escalatedLog()
      const seq = forge(path, 'shutdown.request-ignored', (d) => {
        d.mode = 'emergency'
      })
      const report = auditFile(path)
      expect(report.chain.intact).toBe(true)
      const found = report.findings.filter((f) => f.check === 'decision')
      expect(found[0]).toMatchObject({ kind: 'decision.divergence', seq })
      expect(found[0]!.message).toContain('shutdown.step-failed')
    })

    it('an escalation whose recorded request does not match the step it ended is a divergence at the start of that decision', async () => {
      const path = await escalatedLog()
      const stepFailedSeq = seqOf(path, 'shutdown.escalated') - 1
      forge(path, 'shutdown.escalated', (d) => {
        d.reason = 'something else'
      })
      const report = auditFile(path)
      expect(report.chain.intact).toBe(true)
      expect(report.findings).toContainEqual(expect.objectContaining({ check: 'decision', kind: 'decision.divergence', seq: stepFailedSeq }))
    })

    it('a shutdown event whose stored data breaks its schema is a schema finding at its seq, and the replay goes on past it', async () => {
      const path = await escalatedLog()
      const seq = forge(path, 'shutdown.step-failed', (d) => {
        d.error = 42
      })
      const report = auditFile(path)
      expect(report.chain.intact).toBe(true)
      expect(report.findings).toContainEqual(expect.objectContaining({ check: 'schema', seq }))
      expect(report.verdict).toBe('findings')
      expect(report.shutdowns[0]).toMatchObject({ status: 'SHUT_DOWN' })
      // the engine's own replay, public API, reads the same log without tripping on the bad row
      const log = openEventLog({ path })
      try {
        expect(replayShutdownDecisions(log).decisions).toBeGreaterThan(3)
      } finally {
        log.close()
      }
    })

    it('a step-failed that claims an escalation no shutdown.escalated follows is a missing event', async () => {
      const path = await escalatedLog()
      const seq = seqOf(path, 'shutdown.escalated')
      // the escalation retyped into an ignored graceful request, the chain rewritten to match
      const db = new Database(path)
      db.prepare(
        `UPDATE events SET type = 'shutdown.request-ignored', data = json_object('shutdownId', json_extract(data, '$.shutdownId'), 'mode', 'graceful', 'reason', 'x', 'origin', 'signal') WHERE seq = ?`,
      ).run(seq)
      rechain(db, seq)
      db.close()
      const report = auditFile(path)
      expect(report.findings).toContainEqual(expect.objectContaining({ check: 'decision', kind: 'decision.missing-event', seq: seq - 1 }))
    })
  })
})
