import { describe, expect, it } from 'vitest'
import { auditFile } from '../../src/audit/audit.js'
import { runsTable } from '../../src/audit/render/sections.js'
import type { EventInput } from '../../src/events/index.js'
import { tempDb } from '../support/tmp.js'
import { T0, writeLog } from './fixtures.js'

const started = (runId: string, pid: number): EventInput => ({
  type: 'run.started',
  data: { runId, version: '0.1.0', configHash: 'c0ffee', host: 'box-1', pid },
})

describe('audit: the runs of the process', () => {
  it('lists every run in the order it started: ended with its exit code, crashed, or still open', () => {
    const path = tempDb()
    writeLog(path, [
      started('r1', 11),
      { type: 'run.ended', data: { runId: 'r1', exitCode: 2 } },
      started('r2', 12),
      { type: 'run.crashed', data: { runId: 'r2', pid: 12, lastSeq: 3 } },
      started('r3', 13),
    ]).log.close()
    expect(auditFile(path).runs).toEqual([
      { runId: 'r1', startedAt: T0, startedSeq: 1, pid: 11, version: '0.1.0', end: { exitCode: 2, at: T0 + 10 } },
      { runId: 'r2', startedAt: T0 + 20, startedSeq: 3, pid: 12, version: '0.1.0', end: 'crashed' },
      { runId: 'r3', startedAt: T0 + 40, startedSeq: 5, pid: 13, version: '0.1.0', end: 'open' },
    ])
  })

  it('names the instance a run handed the engine over to, and reports the real exit code of a run whose handover rolled back', () => {
    // given: r1 handed over to 'b'; r2 offered the lease to 'c', which did not take it, and then exited 3
    const path = tempDb()
    writeLog(path, [
      started('r1', 11),
      { type: 'run.handed-over', data: { runId: 'r1', handoverId: 'ho-1', to: 'b' } },
      { type: 'handover.completed', data: { handoverId: 'ho-1', outcome: 'handed-over' } },
      started('r2', 12),
      { type: 'run.handed-over', data: { runId: 'r2', handoverId: 'ho-2', to: 'c' } },
      { type: 'handover.completed', data: { handoverId: 'ho-2', outcome: 'rolled-back', reason: "'c' did not take the lease within 1000 ms" } },
      { type: 'run.ended', data: { runId: 'r2', exitCode: 3 } },
    ]).log.close()

    // when
    const report = auditFile(path)

    // then
    expect(report.runs.map((r) => [r.runId, r.end])).toEqual([
      ['r1', { handedOverTo: 'b', at: T0 + 10 }],
      ['r2', { exitCode: 3, at: T0 + 60 }],
    ])
    expect(runsTable(report).rows.map((row) => row.at(-1))).toEqual([
      `handed over to 'b' at ${new Date(T0 + 10).toISOString()}`,
      `exit 3 at ${new Date(T0 + 60).toISOString()}`,
    ])
  })

  it('given a failover, then the run whose lease expired reads as taken over by the new leader at its epoch, not crashed; an older crash still reads crashed', () => {
    // given: r1 crashed (an old log's failover, or a kill -9 on one node); r2 led by 'primary', whose lease expired and 'standby' took over
    const path = tempDb()
    writeLog(path, [
      started('r1', 11),
      { type: 'run.crashed', data: { runId: 'r1', pid: 11, lastSeq: 1 } },
      started('r2', 12),
      { type: 'run.lease-expired', data: { runId: 'r2', pid: 12, lastSeq: 3, leader: 'primary', by: 'standby', epoch: 2 } },
      started('r3', 13),
    ]).log.close()

    // when
    const report = auditFile(path)

    // then
    expect(report.runs.map((r) => [r.runId, r.end])).toEqual([
      ['r1', 'crashed'],
      ['r2', { leaseExpired: { leader: 'primary', takenOverBy: 'standby', epoch: 2 }, at: T0 + 30 }],
      ['r3', 'open'],
    ])
    expect(runsTable(report).rows.map((row) => row.at(-1))).toEqual([
      'crashed',
      `led by 'primary': lease expired; taken over by 'standby' (epoch 2) at ${new Date(T0 + 30).toISOString()}; its own end is not in this log`,
      'no end recorded',
    ])
  })

  it('given a run that recorded it lost the lead and then exited, then its row names its exit and where and why it lost the lead', () => {
    const path = tempDb()
    writeLog(path, [
      started('r1', 11),
      { type: 'leadership.acquired', data: { engine: 'mm-1', instance: 'primary', epoch: 1, fromSeq: 2, reason: 'startup' } },
      { type: 'leadership.lost', data: { engine: 'mm-1', instance: 'primary', epoch: 1, reason: 'lease gone', leader: 'standby', leaderEpoch: 2 } },
      { type: 'run.ended', data: { runId: 'r1', exitCode: 2 } },
    ]).log.close()

    const report = auditFile(path)

    expect(report.runs[0]).toMatchObject({ end: { exitCode: 2 }, lostLead: { seq: 3, epoch: 1, reason: 'lease gone', leader: 'standby' } })
    expect(runsTable(report).rows[0]!.at(-1)).toBe(
      `exit 2 at ${new Date(T0 + 30).toISOString()}; no longer led the engine from seq 3 (epoch 1, 'standby' leads): lease gone`,
    )
  })
})
