import { hostname } from 'node:os'
import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { startRun } from '../../src/daemon/run-record.js'
import { tempDb } from '../support/tmp.js'

/** A log whose last run, started on `host` and led by instance 'host-111', recorded no end. */
function unendedRun(host: string) {
  const log = openEventLog({ path: tempDb() })
  log.append({ type: 'run.started', data: { runId: 'r-1', version: '0.1.0', configHash: 'c', host, pid: 111 } })
  log.append({ type: 'leadership.acquired', data: { engine: 'mm-1', instance: 'host-111', epoch: 1, fromSeq: 1, reason: 'startup' } })
  return log
}

const quiet = { warn: () => {} }
const endOf = (log: ReturnType<typeof unendedRun>) => [...log.read({ types: ['run.crashed', 'run.lease-expired'] })].map((e) => e.type)

describe('how a new run writes off the run before it that recorded no end', () => {
  it('given that run on this host, when haltd starts again here under a new instance id, then it crashed: this log’s free lock says its process is gone', () => {
    const log = unendedRun(hostname().slice(0, 255))
    startRun(
      log,
      { runId: 'r-2', version: '0.1.0', configHash: 'c', lease: { instance: 'host-222', epoch: 2, reason: 'startup', previous: 'host-111' } },
      quiet,
    )
    expect(endOf(log)).toEqual(['run.crashed'])
    log.close()
  })

  it('given that run on another machine, when haltd starts here after its lease expired, then its lease expired: that process may still be alive', () => {
    const log = unendedRun('another-machine')
    startRun(
      log,
      { runId: 'r-2', version: '0.1.0', configHash: 'c', lease: { instance: 'host-222', epoch: 2, reason: 'startup', previous: 'host-111' } },
      quiet,
    )
    expect(endOf(log)).toEqual(['run.lease-expired'])
    log.close()
  })

  it('given a standby taking over after the lease expired, then its lease expired, wherever that run was', () => {
    const log = unendedRun(hostname().slice(0, 255))
    startRun(log, { runId: 'r-2', version: '0.1.0', configHash: 'c', lease: { instance: 'standby', epoch: 2, reason: 'failover' } }, quiet)
    expect(endOf(log)).toEqual(['run.lease-expired'])
    log.close()
  })
})
