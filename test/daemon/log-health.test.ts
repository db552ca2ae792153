import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { LogWriteFailed } from '../../src/core/log/errors.js'
import { describeLogFault, watchLogFile, watchLogHealth } from '../../src/daemon/log-health.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

/**
 * What the operator reads when the log could not record: one unit throughout, events, so the count
 * and the list of what was not recorded agree.
 */
/** A log whose writes (or, in power durability, whose group commits) fail with the SQLite `code`, watched for its health. */
function failingLog(durability: 'process' | 'power', code: string, message: string) {
  const fail = () => {
    throw Object.assign(new Error(message), { code })
  }
  const log = openEventLog({ path: join(tempDir(), 'events.db'), durability, ...(durability === 'power' ? { beforeCommit: fail } : { beforeWrite: fail }) })
  const health = watchLogHealth({ log, now: () => Date.UTC(2026, 0, 1), onFirstFault: () => undefined, onError: () => undefined })
  return { log, health }
}

describe('the log fault line', () => {
  it('given a batch and single appends refused, counts the events they held and lists each type once with its count', () => {
    // a disk that fills at the first write
    const { log, health } = failingLog('process', 'SQLITE_FULL', 'database or disk is full')
    const mark = (i: number) => ({ type: 'market.mark', data: { venue: 'sim', symbol: 'BTC/USDT:USDT', price: 50_000 + i } })
    // the first failure comes from the file; every append after it is refused
    expect(() => log.append({ type: 'killswitch.reset', data: { reason: 'x', origin: 'operator' } })).toThrow(LogWriteFailed)
    expect(() => log.appendBatch([mark(1), mark(2), mark(3)])).toThrow(LogWriteFailed)
    expect(() => log.append(mark(4))).toThrow(LogWriteFailed)

    const line = describeLogFault(health.fault!)
    expect(line).toMatch(/^the event log could not record 5 event\(s\) in 3 write\(s\) since 2026-01-01T00:00:00\.000Z: .*database or disk is full/)
    expect(line).toMatch(/; not recorded: killswitch\.reset, market\.mark ×4$/)
    log.close()
  })

  it('given a power-mode group that does not commit, names the group apart from the events it counts', async () => {
    const { log, health } = failingLog('power', 'SQLITE_IOERR', 'disk I/O error')
    for (let i = 0; i < 3; i++) log.append({ type: 'market.mark', data: { venue: 'sim', symbol: 'BTC/USDT:USDT', price: 50_000 + i } })
    await expect(log.flush()).rejects.toThrow()
    expect(describeLogFault(health.fault!)).toMatch(
      /^the event log lost the events after seq 0 \(a group that did not commit\) since 2026-01-01T00:00:00\.000Z: .*disk I\/O error$/,
    )
    log.close()
  })

  it('given more refused than it keeps, names how many more there were', () => {
    const line = describeLogFault({ error: 'x', at: 0, failures: 150, events: 150, unrecorded: Array.from({ length: 100 }, () => 'order.canceled') })
    expect(line).toMatch(/could not record 150 event\(s\) since .*not recorded: order\.canceled ×100, and 50 more$/)
  })
})

describe('the log file watch', () => {
  it('given a look at the files that fails, logs it and looks again at the next tick, the process going on', async () => {
    const log = openEventLog({ path: join(tempDir(), 'events.db') })
    let looks = 0
    log.checkFile = () => {
      looks++
      throw new Error('a look that failed')
    }
    const dest = memoryDestination()
    const logger = createLogger({ destination: dest })
    const stop = watchLogFile({ log, logger, everyMs: 20, now: () => Date.now() })
    try {
      const until = Date.now() + 5_000
      while (looks < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
      expect(looks).toBeGreaterThanOrEqual(3)
      expect(dest.lines.some((l) => l.includes('the log file check failed') && l.includes('a look that failed'))).toBe(true)
    } finally {
      stop()
      log.close()
    }
  })
})
