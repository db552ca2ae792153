import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { PAGE_CACHE_KIB } from './page-cache.js'

/**
 * WAL checkpoints off the append path. SQLite's default runs a checkpoint inside whichever commit
 * pushes the WAL past 1,000 pages, so one append in a thousand pays for copying the WAL into the
 * database and syncing it: the log's tail latency. Here a writer turns its own off (but for a
 * backstop far out, `WORKER_BEHIND_PAGES`) once the process's one worker thread says it holds the log (`taken`),
 * and the worker, with its own connection to each registered log, checkpoints in the background:
 * PASSIVE (never blocks the writer), and RESTART
 * once the WAL is past a bound and PASSIVE has caught up with it (every frame in the database),
 * so the WAL can start over and stays bounded. RESTART takes the writer's lock; it runs with no
 * busy wait, so it holds that lock only as long as it takes to find the readers gone (or not: it
 * tries again later) and never keeps the writer waiting on a reader. A long reader keeps PASSIVE
 * from catching up: then nothing is restarted until it is done.
 *
 * When: once the log's commits pause for a tick, and under steady traffic at the latest
 * `maxDelayMs` after the last checkpoint, so what one checkpoint copies stays small. Measured with
 * the emergency bench (10,000 orders on each of 3 venues, 50 ms): checkpoints at pauses only, at
 * most a second apart, left the setup's backlog to be copied at the emergency's first pause, and
 * the emergency took 1,109 ms against 586 ms with a checkpoint every 100 ms (and 718 ms with this
 * rule). A log with no commit since its last complete checkpoint costs one `data_version` read
 * per tick (it changes when another connection commits), not a checkpoint.
 */
/** The worker's tick, the longest a checkpoint waits for a pause, and the WAL pages past which it forces a RESTART (64 MiB of 4 KiB pages). */
const CHECKPOINTS = { tickMs: 25, maxDelayMs: 100, boundPages: 16_384 }

/**
 * The writer's own checkpoints while the worker holds its log: none until the WAL passes four
 * times the worker's bound (256 MiB), where SQLite checkpoints inside the commit again. The worker
 * runs at the idle scheduling policy, so on a machine whose cores are kept busy it may fall this
 * far behind; the WAL stays bounded all the same.
 */
export const WORKER_BEHIND_PAGES = 4 * CHECKPOINTS.boundPages

/** The size a writer's WAL is cut back to when it starts over, in bytes. */
export const WAL_SIZE_LIMIT = 64 * 1024 * 1024

/** One log's place in the worker: give it back before the writer closes its own connection. */
export type CheckpointLease = {
  /** Closes the worker's connection to the log (waits for a checkpoint under way to finish). */
  release(): void
}

export type CheckpointLeaseEvents = {
  /** The worker has its connection to the log: from now on it checkpoints it, and the writer may stop. */
  taken(): void
  /** A checkpoint failed; the writer's appends are unaffected, the WAL grows until one succeeds. */
  failed(message: string): void
  /** The worker is gone: the writer must take checkpoints back (`wal_autocheckpoint`). */
  lost(reason: string): void
}

type ToWorker = { op: 'add'; id: number; path: string } | { op: 'remove'; id: number; done: SharedArrayBuffer }
type FromWorker = { op: 'failed'; id: number; message: string } | { op: 'taken'; id: number }

/** How long a release waits for the worker to close its connection. */
const RELEASE_WAIT_MS = 5_000

// The worker's body is plain JavaScript evaluated in the thread, so the same code runs from the
// compiled package and from the TypeScript sources the tests load; it needs nothing of haltd.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.sqlite)
// The idle scheduling policy for this thread. With two cores, an engine woken by haltd's answer
// while a checkpoint runs had to wait for the end of the checkpoint's time slice (the scheduler
// lets a running task finish its slice; only an idle-policy task gives way at once, nice 19 does
// not): measured on the order-entry bench, the engine-in-its-own-process round trip's p99 fell
// from 1.4 ms to 0.75 ms. chrt is util-linux's; where it is missing or refused, nice 19.
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop())
  const lowest = () => { try { require('node:os').setPriority(tid, 19) } catch {} }
  require('node:child_process').execFile('chrt', ['--idle', '--pid', '0', String(tid)], { timeout: 5000 }, (e) => { if (e) lowest() })
} catch {}
/** id -> { db, seen: data_version at the last tick, done: data_version fully checkpointed, at: time of the last checkpoint, failing } */
const logs = new Map()
const failedOnce = new Set()
function checkpoint(id, db) {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)')
    const caughtUp = !!row && row.busy === 0 && row.checkpointed === row.log
    // a RESTART that found readers still there is tried again, even if nothing more is committed
    const restarted = !caughtUp || row.log <= workerData.boundPages || db.pragma('wal_checkpoint(RESTART)')[0]?.busy === 0
    failedOnce.delete(id)
    return caughtUp && restarted ? 'done' : 'partial'
  } catch (e) {
    // one report per run of failures: a stuck checkpoint must not flood the writer's process
    if (!failedOnce.has(id)) parentPort.postMessage({ op: 'failed', id, message: e && e.message ? e.message : String(e) })
    failedOnce.add(id)
    return 'failed'
  }
}
function tick() {
  const now = Date.now()
  for (const [id, log] of logs) {
    let version
    try {
      version = log.db.pragma('data_version', { simple: true })
    } catch {
      version = undefined
    }
    const quiet = version === log.seen
    log.seen = version
    if (version !== undefined && version === log.done) continue
    // a failing checkpoint is tried again after the delay, not at every pause
    if ((!quiet || log.failing) && now - log.at < workerData.maxDelayMs) continue
    log.at = now
    const outcome = checkpoint(id, log.db)
    log.failing = outcome === 'failed'
    if (outcome === 'done') log.done = version
  }
}
parentPort.on('message', (m) => {
  if (m.op === 'add') {
    try {
      const db = new Database(m.path, { fileMustExist: true })
      // no busy wait: PASSIVE never waits anyway, and a RESTART that waited would hold the writer's lock meanwhile
      db.pragma('busy_timeout = 0')
      // a checkpoint copies WAL frames through a page buffer of its own, not the page cache; what it does cache is capped like the writer's
      db.pragma('cache_size = -' + workerData.cacheKib)
      logs.set(m.id, { db, seen: undefined, done: undefined, at: Date.now(), failing: false })
      parentPort.postMessage({ op: 'taken', id: m.id })
    } catch (e) {
      parentPort.postMessage({ op: 'failed', id: m.id, message: e && e.message ? e.message : String(e) })
    }
  } else if (m.op === 'remove') {
    const log = logs.get(m.id)
    logs.delete(m.id)
    failedOnce.delete(m.id)
    try { if (log) log.db.close() } catch {}
    const flag = new Int32Array(m.done)
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
  }
})
setInterval(tick, workerData.tickMs)
`

type Registration = CheckpointLeaseEvents

class CheckpointWorker {
  private readonly worker: Worker
  private readonly registrations = new Map<number, Registration>()
  /** Logs registered before the thread runs: added once it does. */
  private readonly starting = new Map<number, string>()
  private online = false
  private nextId = 1
  private dead: string | undefined

  constructor() {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3')
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { sqlite, cacheKib: PAGE_CACHE_KIB, ...CHECKPOINTS } })
    // Until the thread runs, messages to it wait on this thread's event loop, which a release
    // blocks: a log opened and closed before then is never handed over (nothing to wait for).
    this.worker.once('online', () => {
      this.online = true
      for (const [id, path] of this.starting) this.post({ op: 'add', id, path })
      this.starting.clear()
    })
    this.worker.on('message', (m: FromWorker) => {
      if (m.op === 'failed') this.registrations.get(m.id)?.failed(m.message)
      else if (m.op === 'taken') this.registrations.get(m.id)?.taken()
    })
    this.worker.on('error', (e) => this.lose(`the checkpoint worker failed: ${e.message}`))
    this.worker.on('exit', (code) => this.lose(`the checkpoint worker exited (code ${code})`))
    // after the listeners, which would otherwise hold the process open: the worker never does
    this.worker.unref()
  }

  get alive(): boolean {
    return this.dead === undefined
  }

  register(path: string, events: Registration): CheckpointLease {
    const id = this.nextId++
    this.registrations.set(id, events)
    if (this.online) this.post({ op: 'add', id, path })
    else this.starting.set(id, path)
    return { release: () => this.release(id) }
  }

  private release(id: number): void {
    if (!this.registrations.delete(id) || this.dead !== undefined || this.starting.delete(id)) return
    const done = new SharedArrayBuffer(4)
    this.post({ op: 'remove', id, done })
    // synchronous on purpose: the writer closes its connection right after, and only the last
    // connection to close folds the WAL back into the database and removes it
    Atomics.wait(new Int32Array(done), 0, 0, RELEASE_WAIT_MS)
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message)
  }

  private lose(reason: string): void {
    if (this.dead !== undefined) return
    this.dead = reason
    if (shared === this) shared = undefined
    for (const r of this.registrations.values()) r.lost(reason)
    this.registrations.clear()
    this.starting.clear()
  }
}

let shared: CheckpointWorker | undefined

/**
 * A lease on the process's checkpoint worker for the log at `path`, starting the worker on first
 * use; undefined when no thread can be started (the caller keeps SQLite's own checkpoints).
 */
export function leaseCheckpoints(path: string, events: CheckpointLeaseEvents): CheckpointLease | undefined {
  try {
    if (!shared?.alive) shared = new CheckpointWorker()
    return shared.register(path, events)
  } catch {
    return undefined
  }
}
