import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { openEventLog } from '../../src/index.js'
import { WORKER_BEHIND_PAGES } from '../../src/core/log/checkpointer.js'
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

// A connection of its own on its own thread that takes the log's write lock, as the checkpoint
// worker's RESTART does, holds it for `ms`, then lets go.
const LOCK_HOLDER = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.sqlite)
const db = new Database(workerData.path, { fileMustExist: true })
db.exec('BEGIN IMMEDIATE')
parentPort.postMessage('held')
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.ms)
db.exec('ROLLBACK')
db.close()
`

/** Resolves once another connection holds the write lock of the log at `path`; it lets go after `ms` and the thread ends. */
async function holdWriteLock(path: string, ms: number): Promise<{ ended: Promise<number> }> {
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3')
  const worker = new Worker(LOCK_HOLDER, { eval: true, workerData: { sqlite, path, ms } })
  const ended = new Promise<number>((resolve) => worker.once('exit', resolve))
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve())
    worker.once('error', reject)
  })
  return { ended }
}

const HOLD_MS = 300

describe('WAL checkpoints off the append path', () => {
  it('given a writer, its commits never checkpoint: the background worker folds the WAL into the database while appends go on', async () => {
    const path = tempDb()
    const log = openEventLog({ path })
    // the writer's own checkpoints end once the worker holds the log, but for a backstop far past the worker's bound
    expect(await until(() => autocheckpoint(log.database) === WORKER_BEHIND_PAGES)).toBe(true)
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

  it('given appends that never pause, the worker still checkpoints while they go on', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    appendOrders(log, 10)
    const created = statSync(path).size
    // commits back to back for up to 6 s, with no pause for the worker to wait for
    const end = Date.now() + 6_000
    let i = 10
    let grewAt: number | undefined
    const started = Date.now()
    while (grewAt === undefined && Date.now() < end) {
      appendOrders(log, 50, i)
      i += 50
      if (statSync(path).size > created) grewAt = Date.now() - started
    }
    expect(grewAt).toBeDefined()
    log.close()
  })

  it('given the first log of a process and a main thread that does not yield, when it appends megabytes, then SQLite’s own checkpoints bound the WAL until the worker holds the log', () => {
    const path = tempDb()
    // nothing lets the worker's word in until the appends are done: the writer must not have given up its checkpoints yet
    const script = `import { openEventLog } from ${JSON.stringify(dist('src/core/log/event-log.js'))}
import { statSync } from 'node:fs'
const log = openEventLog({ path: ${JSON.stringify(path)} })
for (let i = 0; i < 6000; i++) log.append({ type: 'order.submitted', data: { venue: 'sim-a', clientOrderId: 'hdwal' + i, symbol: 'BTC/USDT', side: 'buy', type: 'limit', qty: 1, price: 100, origin: { kind: 'strategy', id: 's' } } })
const walBytes = statSync(${JSON.stringify(`${path}-wal`)}).size
const before = log.database.pragma('wal_autocheckpoint', { simple: true })
const end = Date.now() + 5000
while (log.database.pragma('wal_autocheckpoint', { simple: true }) === 1000 && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
console.log(JSON.stringify({ walBytes, before, after: log.database.pragma('wal_autocheckpoint', { simple: true }) }))
log.close()`
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000, encoding: 'utf8' })
    expect(child.status, child.stderr).toBe(0)
    const seen = JSON.parse(child.stdout) as { walBytes: number; before: number; after: number }
    // 6,000 commits of a few pages each are about 100 MB of WAL unchecked; SQLite's 1,000-page rule keeps it near 4 MB
    expect(seen.before).toBe(1000)
    expect(seen.walBytes).toBeLessThan(16 * 1024 * 1024)
    // and once the main thread lets the worker's word in, the writer leaves the checkpoints to it
    expect(seen.after).toBe(WORKER_BEHIND_PAGES)
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

  it('given a log whose checkpoints the worker holds, its thread runs at the idle scheduling policy, so any other thread that wakes takes the core from it at once', async () => {
    const log = openEventLog({ path: tempDb() })
    expect(await until(() => autocheckpoint(log.database) === WORKER_BEHIND_PAGES)).toBe(true)
    // the policy is field 41 of a thread's stat (5: SCHED_IDLE); the worker sets its own a moment after it starts
    const idleThreads = () =>
      readdirSync('/proc/self/task').filter((tid) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
        return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38] === '5'
      })
    expect(await until(() => idleThreads().length === 1)).toBe(true)
    // and only that thread: the writer's is untouched
    expect(idleThreads()).not.toContain(readlinkSync('/proc/thread-self').split('/').pop())
    log.close()
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
    const started = Date.now()
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' })
    expect(child.error, child.stderr).toBeUndefined()
    expect(child.status, child.stderr).toBe(0)
    // nor keeps its close waiting for a thread not yet running (the release's wait is 5 s)
    expect(Date.now() - started).toBeLessThan(4_000)
  })

  it('given another connection holding the write lock, as a RESTART checkpoint does, a batch that reads before it writes waits for it: no SQLITE_BUSY, nothing lost', async () => {
    // given a log with an order in it, and another connection holding its write lock
    const log = openEventLog({ path: tempDb() })
    const failures: unknown[] = []
    log.on('write-failed', (f) => failures.push(f))
    const first = log.append(submitted({ clientOrderId: 'hdbusy0' }))
    const holder = await holdWriteLock(log.path, HOLD_MS)
    // when the writer appends a batch whose first event is that order again (its lookup reads first), then one alone
    const started = Date.now()
    const batch = log.appendBatch([submitted({ clientOrderId: 'hdbusy0' }), submitted({ clientOrderId: 'hdbusy1' }), submitted({ clientOrderId: 'hdbusy2' })])
    const alone = log.append(submitted({ clientOrderId: 'hdbusy3' }))
    // then both waited for the lock and wrote everything once, in order
    expect(Date.now() - started).toBeGreaterThanOrEqual(HOLD_MS - 50)
    expect(await holder.ended).toBe(0)
    expect(batch.map((e) => e.seq)).toEqual([first.seq, 2, 3])
    expect(alone.seq).toBe(4)
    expect(failures).toEqual([])
    expect(log.verify()).toEqual({ ok: true, lastSeq: 4, count: 4 })
    log.close()
  })

  it('given another connection holding the write lock, a power-mode group and a standby’s replicated rows wait for it: no SQLITE_BUSY, nothing lost', async () => {
    // given a leader in power durability with one order, and a standby following it
    const leader = openEventLog({ path: tempDb(), durability: 'power' })
    const standby = openEventLog({ path: tempDb(), durability: 'power' })
    const failures: unknown[] = []
    for (const log of [leader, standby]) log.on('write-failed', (f) => failures.push(f))
    leader.append(submitted({ clientOrderId: 'hdgroup0' }))
    await leader.flush()
    // when the leader's next group starts with that order again (a read) while another connection holds the lock
    let holder = await holdWriteLock(leader.path, HOLD_MS)
    leader.append(submitted({ clientOrderId: 'hdgroup0' }))
    leader.append(submitted({ clientOrderId: 'hdgroup1' }))
    await leader.flush()
    expect(await holder.ended).toBe(0)
    // and the standby takes the leader's rows while another connection holds its own lock
    holder = await holdWriteLock(standby.path, HOLD_MS)
    standby.appendReplicated([...leader.readReplicable()])
    await standby.flush()
    expect(await holder.ended).toBe(0)
    // then nothing failed and both logs hold the same two events
    expect(failures).toEqual([])
    expect(leader.verify()).toEqual({ ok: true, lastSeq: 2, count: 2 })
    expect(standby.verify()).toEqual({ ok: true, lastSeq: 2, count: 2 })
    expect(standby.headHash).toBe(leader.headHash)
    leader.close()
    standby.close()
  })

  it('given SQLite refusing writes with SQLITE_BUSY for a moment (a commit racing a checkpoint), an append, a batch and a power group commit once it lets go: stored once, chain intact', async () => {
    const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })
    let refuse = 0
    const refused = () => {
      if (refuse > 0) {
        refuse--
        throw busy()
      }
    }
    const log = openEventLog({ path: tempDb(), beforeWrite: refused })
    const failures: unknown[] = []
    log.on('write-failed', (f) => failures.push(f))
    // when the first tries of a single append and of a batch are refused busy
    refuse = 3
    expect(log.append(submitted({ clientOrderId: 'hdbusy0' })).seq).toBe(1)
    refuse = 2
    expect(log.appendBatch([submitted({ clientOrderId: 'hdbusy1' }), submitted({ clientOrderId: 'hdbusy2' })]).map((e) => e.seq)).toEqual([2, 3])
    // then each is stored once and the gate has nothing to halt for
    expect(failures).toEqual([])
    expect(log.verify()).toEqual({ ok: true, lastSeq: 3, count: 3 })
    log.close()

    // and a power-mode group whose COMMIT is refused busy twice commits on the third try
    const power = openEventLog({ path: tempDb(), durability: 'power', beforeCommit: refused })
    power.on('write-failed', (f) => failures.push(f))
    refuse = 2
    power.append(submitted({ clientOrderId: 'hdbusy3' }))
    power.append(submitted({ clientOrderId: 'hdbusy4' }))
    await power.flush()
    expect(failures).toEqual([])
    expect(power.verify()).toEqual({ ok: true, lastSeq: 2, count: 2 })
    power.close()
  })

  it('given SQLITE_BUSY that does not let go within a second, the append fails as a write failure and stores nothing', () => {
    const log = openEventLog({
      path: tempDb(),
      beforeWrite: () => {
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })
      },
    })
    const started = Date.now()
    expect(() => log.append(submitted({ clientOrderId: 'hdbusy5' }))).toThrow(/SQLITE_BUSY/)
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(log.lastSeq).toBe(0)
    log.close()
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
