import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { auditFile } from '../../src/audit/audit.js'
import { createRunTracker } from '../../src/audit/run-rows.js'
import { openLeaseBucket, readLease } from '../../src/cluster/leadership/lease.js'
import type { Fact } from '../../src/projections/index.js'
import { events, spawnHaltd, waitFor, whenUp } from '../daemon/processes.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { haltdCli } from './support/cli.js'
import { natsClientForFile } from './support/nats-client.js'
import { processConfigFile } from './support/process-pair.js'

/**
 * A real haltd process, a real nats-server, a real signal: SIGUSR2 while the primary offers its
 * lease to an instance that never takes it. The emergency aborts the handover, which withdraws its
 * offer, and then runs as leader.
 */

const LEASE_MS = 4_000
const nats = natsForFile()
const client = natsClientForFile(nats)

/** A real haltd leading `engine`, its lease offered to an instance that is not there and never takes it. */
async function primaryOfferingTheLease(engine: string) {
  const { file, db } = processConfigFile(tempDir(), { url: nats.url, engine, instance: 'primary', failover: { leaseMs: LEASE_MS, fenceMarginMs: 400 } })
  const primary = spawnHaltd(['run', '--config', file], { db })
  await whenUp(primary)
  const kv = await openLeaseBucket(client.nc, { leaseMs: LEASE_MS, replicas: 1 })
  const handover = haltdCli(['handover', '--to', 'nobody', '--db', db])
  const offerSeenBy = Date.now() + 10_000
  while ((await readLease(kv, engine))?.value.offeredTo !== 'nobody') {
    expect(Date.now()).toBeLessThan(offerSeenBy)
    await new Promise((r) => setTimeout(r, 5))
  }
  return { db, primary, handover }
}

describe('SIGUSR2 during a planned handover', { timeout: 60_000 }, () => {
  it("given the lease offered to a standby that does not take it, when SIGUSR2 arrives, then the handover rolls back naming the emergency, and the emergency runs to its end as leader with exit code 3, which the log and the audit record as the run's end", async () => {
    // given: the lease offered to an instance that is not there
    const { db, primary, handover } = await primaryOfferingTheLease('sigusr2-handover')

    // when
    const signalledAt = performance.now()
    primary.child.kill('SIGUSR2')
    const { code } = await primary.exit
    const tookMs = performance.now() - signalledAt

    // then
    expect(code).toBe(3)
    expect(tookMs).toBeLessThan(15_000)
    const answered = await handover
    expect(answered.stdout).toMatch(/: rolled-back \(emergency shutdown .* asked for: SIGUSR2 received\)/)
    const completed = events(db, ['handover.completed']).map((e) => e.data)
    expect(completed).toEqual([expect.objectContaining({ outcome: 'rolled-back' })])
    const types = events(db).map((e) => e.type)
    expect(types.indexOf('handover.completed')).toBeLessThan(types.indexOf('shutdown.requested'))
    expect(events(db, ['shutdown.requested']).map((e) => (e.data as { mode: string }).mode)).toEqual(['emergency'])
    expect(events(db, ['shutdown.completed']).map((e) => (e.data as { outcome: string }).outcome)).toEqual(['emergency'])
    // the run's end is the real one: the offer's handed-over mark, then the exit code it ran to
    const [started] = events(db, ['run.started'])
    const ends = events(db, ['run.handed-over', 'run.ended', 'run.crashed'])
    expect(ends.map((e) => [e.type, e.data])).toEqual([
      ['run.handed-over', { runId: (started!.data as { runId: string }).runId, handoverId: (completed[0] as { handoverId: string }).handoverId, to: 'nobody' }],
      ['run.ended', { runId: (started!.data as { runId: string }).runId, exitCode: 3 }],
    ])
    // and the audit reports the run as it ended
    const audit = createRunTracker()
    for (const e of events(db)) audit.observe(e as Fact)
    expect(audit.rows().map((r) => r.end)).toEqual([{ exitCode: 3, at: ends[1]!.ts }])
  })
})

describe('haltd stop --emergency during a planned handover', { timeout: 60_000 }, () => {
  it('given the lease offered to a standby that does not take it, when `haltd stop --emergency` is run, then the handover rolls back and the stop prints and returns the exit code the run really ended with, 3', async () => {
    // given
    const { primary, db, handover } = await primaryOfferingTheLease('stop-handover')

    // when
    const stopped = await haltdCli(['stop', '--emergency', '--db', db])

    // then
    expect((await primary.exit).code).toBe(3)
    expect((await handover).stdout).toMatch(/: rolled-back/)
    expect(stopped.stdout).toMatch(/stopped with exit code 3\n?$/)
    expect(stopped.status).toBe(3)
  })
})

/** The state letter of a process in /proc (T: stopped). */
const stateOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
}

describe('signals that change nothing while a stop waits for a planned handover', { timeout: 60_000 }, () => {
  it('given the lease offered to a standby that does not take it, when SIGUSR2, SIGTERM and SIGINT arrive together, then the one that changed nothing is recorded in the shutdown stream as received and ignored once the handover rolled back, as many as haltd says it received', async () => {
    // given: the lease offered to an instance that is not there
    const { db, primary, handover } = await primaryOfferingTheLease('signals-during-handover')

    // when the three signals are pending at once (the process held stopped while they are sent):
    // whichever comes first starts the stop, which waits for the handover; the next escalates it or
    // changes nothing, and the last changes nothing
    process.kill(primary.pid, 'SIGSTOP')
    await waitFor('haltd stopped by SIGSTOP', () => stateOf(primary.pid) === 'T', primary)
    process.kill(primary.pid, 'SIGUSR2')
    process.kill(primary.pid, 'SIGTERM')
    process.kill(primary.pid, 'SIGINT')
    process.kill(primary.pid, 'SIGCONT')
    expect((await primary.exit).code).toBe(3)
    expect((await handover).stdout).toMatch(/: rolled-back/)

    // then every signal haltd said changed nothing is in the log, after the shutdown's request, saying it came during the wait
    const received = primary.logs().filter((l) => String(l.msg).includes('ignored: emergency already under way')).length
    expect(received).toBeGreaterThan(0)
    const types = events(db).map((e) => e.type)
    const ignored = events(db, ['shutdown.request-ignored'])
    expect(ignored.reduce((n, e) => n + ((e.data as { count?: number }).count ?? 1), 0)).toBe(received)
    expect(types.indexOf('shutdown.request-ignored')).toBeGreaterThan(types.indexOf('shutdown.requested'))
    expect((ignored[0]!.data as { reason: string }).reason).toMatch(/received during emergency shutdown \(while the stop waited for handover /)
    // and the audit counts them with the rest of the shutdown, re-deciding each without a divergence
    const audit = auditFile(db)
    expect(audit.findings.filter((f) => f.check === 'decision')).toEqual([])
    expect(audit.shutdowns[0]?.ignoredRequests).toBe(received)
  })
})
