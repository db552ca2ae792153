import { spawn } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LOCK_SETTLE_MS } from '../../src/core/log/writer-lock.js'
import { createHaltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { dist } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'

/** A writer in another process that held the log and was killed with SIGKILL: its WAL is left beside the log. */
async function killedWriter(db: string): Promise<void> {
  const child = spawn(process.execPath, [dist('test/core/log-open-child.js'), db, 'write', 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before it opened the log`)))
  })
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
}

describe('createHaltd on a log whose writer lock has to be waited out', { timeout: 30_000 }, () => {
  it('given a killed writer and its lock file removed, when haltd is created embedded, then the embedding event loop keeps running through the wait and haltd says why it waited', async () => {
    const db = join(tempDir(), 'haltd.db')
    await killedWriter(db)
    expect(existsSync(`${db}-wal`) || existsSync(`${db}-shm`)).toBe(true)
    rmSync(`${db}.lock`)
    const out = memoryDestination()

    let ticks = 0
    const ticker = setInterval(() => ticks++, 100)
    const haltd = await createHaltd(
      { db: { path: db }, admin: { enabled: false }, venues: [{ kind: 'sim', name: 'sim-a' }] },
      { logger: createLogger({ destination: out, level: 'info' }), env: {} },
    )
    clearInterval(ticker)
    try {
      // blocked for the wait, the loop would have ticked a handful of times in the rest of the start
      expect(ticks).toBeGreaterThanOrEqual(LOCK_SETTLE_MS / 100 / 2)
      expect(out.lines.some((l) => /waited \d+ ms for any live writer to take it back/.test(l))).toBe(true)
      expect(haltd.status().seq).toBeGreaterThan(1)
    } finally {
      await haltd.shutdown({ mode: 'graceful', reason: 'test over' })
    }
  })
})
