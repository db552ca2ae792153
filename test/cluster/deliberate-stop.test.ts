import { describe, expect, it } from 'vitest'
import type { EventInput } from '../../src/events/index.js'
import { evolveRuns, initialRuns, type RunsState } from '../../src/projections/index.js'
import { deliberateStopOf } from '../../src/daemon/stopped-engine.js'
import { facts } from '../projections/given.js'

/**
 * Whether the newest run ended on purpose, which a standby reads from its caught-up log before it
 * takes an expired lease. Seqs count from 1 in the order the events are given.
 */

type Given = EventInput | { shutdown: 'requested' | 'completed'; id: string }
const started = (runId: string): EventInput => ({ type: 'run.started', data: { runId, version: '0.1.0', configHash: 'c0ffee', host: 'box-1', pid: 100 } })
const ended = (runId: string, exitCode = 0): EventInput => ({ type: 'run.ended', data: { runId, exitCode } })
const crashed = (runId: string): EventInput => ({ type: 'run.crashed', data: { runId, pid: 100, lastSeq: 1 } })
const handedOver = (runId: string, handoverId = 'ho-1'): EventInput => ({ type: 'run.handed-over', data: { runId, handoverId, to: 'b' } })
const rolledBack = (handoverId = 'ho-1'): EventInput => ({ type: 'handover.completed', data: { handoverId, outcome: 'rolled-back' } })
const requested = (id: string): Given => ({ shutdown: 'requested', id })
const completed = (id: string): Given => ({ shutdown: 'completed', id })

function stopOf(...given: Given[]) {
  const runEvents: EventInput[] = []
  const seqs: number[] = []
  const shutdowns: { type: 'shutdown.requested' | 'shutdown.completed'; seq: number; shutdownId: string }[] = []
  given.forEach((g, i) => {
    if ('shutdown' in g) shutdowns.push({ type: `shutdown.${g.shutdown}`, seq: i + 1, shutdownId: g.id })
    else {
      runEvents.push(g)
      seqs.push(i + 1)
    }
  })
  const runs: RunsState = facts(runEvents)
    .map((f, i) => ({ ...f, seq: seqs[i]! }))
    .reduce(evolveRuns, initialRuns())
  return deliberateStopOf(runs, shutdowns)
}

describe('a deliberate stop: the newest run ended after its shutdown completed', () => {
  it('given a run whose shutdown completed and which recorded its end, then it is a stop, with the run, the shutdown and the exit code', () => {
    expect(stopOf(started('r1'), requested('s1'), completed('s1'), ended('r1', 3))).toEqual({ runId: 'r1', exitCode: 3, shutdownId: 's1' })
  })

  it('given a shutdown a crashed run left unfinished, resumed and completed by the next run, which then ended, then it is a stop of the later run', () => {
    expect(stopOf(started('r1'), requested('s1'), crashed('r1'), started('r2'), completed('s1'), ended('r2', 0))).toEqual({
      runId: 'r2',
      exitCode: 0,
      shutdownId: 's1',
    })
  })

  it('given a handover rolled back and a shutdown after it, then the run’s real end makes it a stop', () => {
    expect(stopOf(started('r1'), handedOver('r1'), rolledBack(), requested('s1'), completed('s1'), ended('r1', 0))).toMatchObject({ runId: 'r1' })
  })
})

describe('not a stop: the standby takes an expired lease as before', () => {
  it('given a run still open (killed, crashed, hung), then it is no stop', () => {
    expect(stopOf(started('r1'))).toBeUndefined()
  })

  it('given a run killed mid-shutdown (requested, never completed, no end), then it is no stop: the new leader resumes the shutdown', () => {
    expect(stopOf(started('r1'), requested('s1'))).toBeUndefined()
  })

  it('given a run that recorded its end while its shutdown had not completed (the watchdog), then it is no stop', () => {
    expect(stopOf(started('r1'), requested('s1'), ended('r1', 3))).toBeUndefined()
  })

  it('given a run that ended without any shutdown in it (closed by its embedder, a failed startup), then it is no stop', () => {
    expect(stopOf(started('r1'), requested('s1'), completed('s1'), ended('r1'), started('r2'), ended('r2', 0))).toBeUndefined()
    expect(stopOf(started('r1'), ended('r1', 0))).toBeUndefined()
  })

  it('given a run that handed the engine over, then it is no stop', () => {
    expect(stopOf(started('r1'), handedOver('r1'))).toBeUndefined()
  })

  it('given a stopped run and a newer one that is still open, then it is no stop', () => {
    expect(stopOf(started('r1'), requested('s1'), completed('s1'), ended('r1'), started('r2'))).toBeUndefined()
  })
})
