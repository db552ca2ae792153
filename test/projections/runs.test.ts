import { describe, expect, it } from 'vitest'
import type { EventInput } from '../../src/events/index.js'
import { evolveRuns, initialRuns, openRun, runs, type Fact, type RunsState } from '../../src/projections/index.js'
import { facts } from './given.js'

const started = (runId: string, pid = 100): EventInput => ({ type: 'run.started', data: { runId, version: '0.1.0', configHash: 'c0ffee', host: 'box-1', pid } })
const ended = (runId: string, exitCode = 0): EventInput => ({ type: 'run.ended', data: { runId, exitCode } })
const crashed = (runId: string, pid = 100, lastSeq = 1): EventInput => ({ type: 'run.crashed', data: { runId, pid, lastSeq } })
const handedOver = (runId: string, to = 'b', handoverId = 'ho-1'): EventInput => ({ type: 'run.handed-over', data: { runId, handoverId, to } })
const handoverEnded = (outcome: 'handed-over' | 'rolled-back', handoverId = 'ho-1'): EventInput => ({
  type: 'handover.completed',
  data: { handoverId, outcome },
})

/** Given these events (seq from 1, ts from 1 000 000, 1 s apart), the runs. */
const given = (...inputs: EventInput[]): RunsState => facts(inputs).reduce(evolveRuns, initialRuns())

describe('runs: the run stream folded', () => {
  it('a run that started and ended has its exit code and the time it ended, and leaves no run open', () => {
    const s = given(started('r1', 4242), ended('r1', 2))
    expect(runs(s)).toEqual([
      {
        runId: 'r1',
        pid: 4242,
        version: '0.1.0',
        configHash: 'c0ffee',
        host: 'box-1',
        startedSeq: 1,
        startedAt: 1_000_000,
        end: { kind: 'ended', exitCode: 2, seq: 2, ts: 1_001_000 },
      },
    ])
    expect(openRun(s)).toBeUndefined()
  })

  it('a run that started and recorded no end is the open one', () => {
    const s = given(started('r1'), ended('r1'), started('r2', 7))
    expect(openRun(s)).toMatchObject({ runId: 'r2', pid: 7, startedSeq: 3 })
    expect(openRun(s)!.end).toBeUndefined()
  })

  it('the next start records the open run as crashed, and only the new run is open', () => {
    const s = given(started('r1', 11), crashed('r1', 11, 1), started('r2', 12))
    expect(runs(s).map((r) => [r.runId, r.end?.kind ?? 'open'])).toEqual([
      ['r1', 'crashed'],
      ['r2', 'open'],
    ])
    expect(runs(s)[0]!.end).toEqual({ kind: 'crashed', pid: 11, lastSeq: 1, seq: 2, ts: 1_001_000 })
    expect(openRun(s)?.runId).toBe('r2')
  })

  it('given a run whose lease expired and another instance took over, then its end says so, naming the leader, the new leader and its epoch, and only the new run is open', () => {
    const s = given(
      started('r1', 11),
      { type: 'run.lease-expired', data: { runId: 'r1', pid: 11, lastSeq: 1, leader: 'primary', by: 'standby', epoch: 2 } },
      started('r2', 12),
    )
    expect(runs(s)[0]!.end).toEqual({ kind: 'lease-expired', pid: 11, lastSeq: 1, leader: 'primary', by: 'standby', epoch: 2, seq: 2, ts: 1_001_000 })
    expect(openRun(s)?.runId).toBe('r2')
  })

  it('given a leading run that recorded it lost the lease and then ended, then the run keeps where it lost the lead and its exit code', () => {
    const lost: EventInput = {
      type: 'leadership.lost',
      data: { engine: 'mm-1', instance: 'primary', epoch: 1, reason: 'lease gone', leader: 'standby', leaderEpoch: 2 },
    }
    const s = given(started('r1'), lost, ended('r1', 2))
    expect(runs(s)[0]).toMatchObject({
      end: { kind: 'ended', exitCode: 2 },
      lostLead: { seq: 2, ts: 1_001_000, epoch: 1, reason: 'lease gone', leader: 'standby' },
    })
    expect(openRun(s)).toBeUndefined()
  })

  it('keeps the runs in the order they started, whatever order they ended in', () => {
    const s = given(started('r1'), crashed('r1'), started('r2'), ended('r2', 0), started('r3'), ended('r3', 3))
    expect(runs(s).map((r) => r.runId)).toEqual(['r1', 'r2', 'r3'])
    expect(runs(s).map((r) => r.end)).toMatchObject([{ kind: 'crashed' }, { kind: 'ended', exitCode: 0 }, { kind: 'ended', exitCode: 3 }])
    expect(openRun(s)).toBeUndefined()
  })

  it('a run that handed over has ended, naming the instance it handed over to, and leaves no run open for the next start to find crashed', () => {
    const s = given(started('r1'), handedOver('r1', 'b', 'ho-7'), handoverEnded('handed-over', 'ho-7'))
    expect(runs(s)[0]!.end).toEqual({ kind: 'handed-over', to: 'b', handoverId: 'ho-7', seq: 2, ts: 1_001_000 })
    expect(openRun(s)).toBeUndefined()
  })

  it('a run whose handover rolled back and that then exited records its real exit code, replacing the handed-over end', () => {
    const s = given(started('r1'), handedOver('r1'), handoverEnded('rolled-back'), ended('r1', 3))
    expect(runs(s)[0]!.end).toEqual({ kind: 'ended', exitCode: 3, seq: 4, ts: 1_003_000 })
    expect(openRun(s)).toBeUndefined()
  })

  it('a run whose handover rolled back and that recorded no end since is open again: the next start finds it crashed, not handed over', () => {
    const s = given(started('r1'), handedOver('r1'), handoverEnded('rolled-back'))
    expect(runs(s)[0]!.end).toBeUndefined()
    expect(openRun(s)?.runId).toBe('r1')
  })

  it('a rolled-back handover takes back only the end of its own handover', () => {
    const s = given(started('r1'), handedOver('r1', 'b', 'ho-1'), started('r2'), ended('r2', 0), handoverEnded('rolled-back', 'ho-2'))
    expect(runs(s).map((r) => r.end?.kind)).toEqual(['handed-over', 'ended'])
    expect(openRun(s)).toBeUndefined()
  })

  it('an older run whose handover rolled back after a newer run started does not take the open place of the newer run', () => {
    const s = given(started('r1'), handedOver('r1'), started('r2'), handoverEnded('rolled-back'))
    expect(runs(s)[0]!.end).toBeUndefined()
    expect(openRun(s)?.runId).toBe('r2')
  })

  it('an end for a run the log never saw start changes nothing, and the open run stays open', () => {
    const before = given(started('r1'))
    const after = [...facts([ended('ghost', 1)], 2)].reduce(evolveRuns, before)
    expect(runs(after)).toEqual(runs(before))
    expect(openRun(after)?.runId).toBe('r1')
  })

  it('events of other streams, and run events this build cannot read, leave the runs as they are', () => {
    const s = given(started('r1'))
    const [mark] = facts([{ type: 'market.mark', data: { venue: 'sim-a', symbol: 'BTC/USDT', price: 100 } }], 2)
    expect(evolveRuns(s, mark!)).toBe(s)
    const [end] = facts([ended('r1')], 3)
    const unreadable = { ...end!, unreadable: 'version 9 is newer than this build reads (v1); written by a newer haltd?' } as Fact
    expect(evolveRuns(s, unreadable)).toBe(s)
    expect(openRun(s)?.runId).toBe('r1')
  })

  it('never changes the state it is given', () => {
    const s = given(started('r1'))
    const copy = structuredClone(s)
    const next = [...facts([ended('r1', 0), started('r2')], 2)].reduce(evolveRuns, s)
    expect(s).toEqual(copy)
    expect(runs(next).map((r) => r.runId)).toEqual(['r1', 'r2'])
  })
})
