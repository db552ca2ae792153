import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import Database from 'better-sqlite3'
import { openEventLog } from '../../src/index.js'
import { tempDb } from '../support/tmp.js'
import { submitted } from '../support/events.js'
import { dist } from '../support/paths.js'

const autocheckpoint = (db: Database.Database) => db.pragma('wal_autocheckpoint', { simple: true })

async function until(check: () => boolean, ms = 5_000): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (check()) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return check()
}

/** A few thousand orders: megabytes of WAL, well past SQLite's own 1,000-page checkpoint. */
function appendOrders(log: ReturnType<typeof openEventLog>, n: number, from = 0): void {
  for (let i = from; i < from + n; i++) log.append(submitted({ clientOrderId: `hdck${i}` }))
}

describe('WAL checkpoints off the append path', () => {
  it('given a writer, its commits never checkpoint: the background worker folds the WAL into the database while appends go on', async () => {
    const path = tempDb()
    const log = openEventLog({ path })
    expect(autocheckpoint(log.database)).toBe(0)
    const created = statSync(path).size

    appendOrders(log, 4000)

    // the database file grows only by checkpoints, and the writer takes none
    expect(await until(() => statSync(path).size > created * 4)).toBe(true)
    const reader = new Database(path, { readonly: true })
    try {
      expect(reader.prepare('SELECT count(*) FROM events').pluck().get()).toBe(4000)
    } finally {
      reader.close()
    }
    log.close()
  })

  it('when the writer closes, the worker lets go first, so the last connection folds the WAL in and removes it', () => {
    for (let k = 0; k < 10; k++) {
      const path = tempDb()
      const log = openEventLog({ path })
      appendOrders(log, 50)
      log.close()
      expect(existsSync(`${path}-wal`)).toBe(false)
      const db = new Database(path, { readonly: true })
      try {
        expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(50)
      } finally {
        db.close()
      }
    }
  })

  it('given two logs in one process, each is checkpointed, and closing one leaves the other checkpointed', async () => {
    const first = openEventLog({ path: tempDb() })
    const second = openEventLog({ path: tempDb() })
    first.close()
    const created = statSync(second.path).size
    appendOrders(second, 3000)
    expect(await until(() => statSync(second.path).size > created * 4)).toBe(true)
    second.close()
  })

  it.each([
    ['after closing its log', 'log.close()'],
    ['with its log still open', ''],
  ])('a process that used a log ends on its own %s: the worker never holds it open', (_, close) => {
    const path = tempDb()
    const script = `import { openEventLog } from ${JSON.stringify(dist('src/core/log/event-log.js'))}
const log = openEventLog({ path: ${JSON.stringify(path)} })
log.append({ type: 'market.mark', data: { venue: 'sim-a', symbol: 'BTC/USDT', price: 1 } })
${close}`
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' })
    expect(child.error, child.stderr).toBeUndefined()
    expect(child.status, child.stderr).toBe(0)
  })

  it('given checkpoints inline, SQLite checkpoints inside the commits as it always did', () => {
    const log = openEventLog({ path: tempDb(), checkpoints: 'inline' })
    expect(autocheckpoint(log.database)).toBe(1000)
    log.close()
  })

  it('given a read-only log, nothing is checkpointed on its behalf and the writer is unaffected', () => {
    const path = tempDb()
    const writer = openEventLog({ path })
    appendOrders(writer, 10)
    const reader = openEventLog({ path, readonly: true })
    expect([...reader.read()].length).toBe(10)
    reader.close()
    appendOrders(writer, 10, 10)
    expect([...writer.read()].length).toBe(20)
    writer.close()
  })
})
