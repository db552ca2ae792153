import { copyFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { NotAnEventLog } from '../../src/core/log/errors.js'
import { tempDir } from '../support/tmp.js'

describe('a WAL left where the log it belongs to is gone', () => {
  it('given a -wal with no log beside it, opening for writing is refused naming the WAL, and no new log is made that would take in its frames', () => {
    const dir = tempDir()
    const gone = join(dir, 'gone.db')
    const log = openEventLog({ path: gone })
    for (let i = 0; i < 50; i++) log.append({ type: 'market.mark', data: { venue: 'alpha', symbol: 'BTC/USDT', price: 100 + i } })
    // the WAL of a live log, as a log removed under its writer leaves it
    const path = join(dir, 'haltd.db')
    copyFileSync(`${gone}-wal`, `${path}-wal`)
    log.close()

    let refused: unknown
    try {
      openEventLog({ path }).close()
    } catch (e) {
      refused = e
    }
    expect(refused).toBeInstanceOf(NotAnEventLog)
    expect((refused as Error).message).toBe(
      `${path} is not a haltd event log: there is no file there, but there is ${path}-wal, the WAL of a log that was removed or moved: a new log there would take in its frames; put back the log it belongs to, or move ${path}-wal and ${path}-shm away`,
    )
    expect(existsSync(path)).toBe(false)
  })
})
