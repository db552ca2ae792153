import { describe, expect, it } from 'vitest'
import { LogWriteFailed, openEventLog } from '../../src/index.js'
import type { EventLog } from '../../src/core/log/event-log.js'
import { foldStreams, type StreamFold } from '../../src/core/log/stream-fold.js'
import { runsIn } from '../../src/daemon/run-record.js'
import { openRun, runs } from '../../src/projections/index.js'
import { tempDb } from '../support/tmp.js'
import { mark } from '../support/events.js'

const started = (runId: string) => ({ type: 'run.started' as const, data: { runId, version: '1', configHash: 'c', host: 'h', pid: 1 }, stream: 'run' })
const ended = (runId: string) => ({ type: 'run.ended' as const, data: { runId, exitCode: 0 }, stream: 'run' })

/** The marks' seqs, counting the rows each question reads. */
const marks = (): StreamFold<number[]> & { evolved: number } => {
  const fold = {
    evolved: 0,
    reads: [{ stream: 'marks' }],
    initial: () => [] as number[],
    evolve: (seqs: number[], e: { seq: number }) => {
      fold.evolved++
      return [...seqs, e.seq]
    },
  }
  return fold
}

describe('a fold of a few streams kept per open log', () => {
  it('given a fold asked once, when more is appended and it is asked again, it reads only what came since and answers as a fold from the start would', () => {
    const log = openEventLog({ path: tempDb() })
    const fold = marks()
    for (let i = 0; i < 50; i++) log.append({ ...mark(), stream: i % 2 ? 'marks' : 'other' })
    const first = foldStreams(log, fold)
    expect(first).toHaveLength(25)
    expect(fold.evolved).toBe(25)
    for (let i = 0; i < 4; i++) log.append({ ...mark(), stream: 'marks' })
    const second = foldStreams(log, fold)
    expect(fold.evolved).toBe(29)
    expect(second).toEqual(foldStreams(log, marks()))
    expect(second.slice(0, 25)).toEqual(first)
    log.close()
  })

  it('given the same fold over two logs, each log keeps its own', () => {
    const fold = marks()
    const [a, b] = [openEventLog({ path: tempDb() }), openEventLog({ path: tempDb() })]
    a.append({ ...mark(), stream: 'marks' })
    expect(foldStreams(a, fold)).toEqual([1])
    b.append({ ...mark(), stream: 'other' })
    b.append({ ...mark(), stream: 'marks' })
    expect(foldStreams(b, fold)).toEqual([2])
    expect(foldStreams(a, fold)).toEqual([1])
    a.close()
    b.close()
  })

  it('given runs started and ended across restarts, the runs asked after each start match the runs of the file opened afresh', () => {
    const path = tempDb()
    let log: EventLog = openEventLog({ path })
    for (let i = 0; i < 30; i++) {
      log.append(started(`r${i}`))
      expect(openRun(runsIn(log))?.runId).toBe(`r${i}`)
      log.append(mark())
      log.append(ended(`r${i}`))
      expect(openRun(runsIn(log))).toBeUndefined()
    }
    log.append(started('last'))
    const kept = runsIn(log)
    log.close()
    log = openEventLog({ path })
    expect(runs(runsIn(log))).toEqual(runs(kept))
    expect(openRun(runsIn(log))?.runId).toBe('last')
    log.close()
  })

  it('given a run started in a power group not yet committed, it is counted while the group is open and forgotten when the group is lost', async () => {
    let failCommit = false
    const log = openEventLog({
      path: tempDb(),
      durability: 'power',
      beforeCommit: () => {
        if (failCommit) throw new Error('EIO: injected at commit')
      },
    })
    await log.appendDurable(started('kept'))
    await log.appendDurable(ended('kept'))
    expect(openRun(runsIn(log))).toBeUndefined()
    failCommit = true
    const lost = log.appendDurable(started('lost'))
    // written in the open group, not committed: this run sees it
    expect(log.committedSeq).toBeLessThan(log.lastSeq)
    expect(openRun(runsIn(log))?.runId).toBe('lost')
    await expect(lost).rejects.toBeInstanceOf(LogWriteFailed)
    failCommit = false
    expect(openRun(runsIn(log))).toBeUndefined()
    expect(runs(runsIn(log)).map((r) => r.runId)).toEqual(['kept'])
    await log.appendDurable(started('next'))
    expect(runs(runsIn(log)).map((r) => r.runId)).toEqual(['kept', 'next'])
    log.close()
  })
})
