import { afterEach, describe, expect, it } from 'vitest'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import Database from 'better-sqlite3'
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { openEventLog, NotAnEventLog } from '../../src/index.js'
import { LogLocked, LogOpenFailed, LogWriteFailed } from '../../src/core/log/errors.js'
import { LOCK_SETTLE_MS, settleWriterLock } from '../../src/core/log/writer-lock.js'
import { tempDb, tempDir } from '../support/tmp.js'
import { dist } from '../support/paths.js'
import { mark } from '../support/events.js'

type Outcome =
  | { open: true; pid: number; lastSeq: number }
  | { open: false; name: string; code: string; message: string; holder?: { pid: number; host: string; since: string }; reason?: string }

const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

/** Start the opening child; resolves with what it reported on opening, the child itself, and everything it said since. */
function openInChild(
  path: string,
  mode: 'write' | 'read',
  options: { hold?: boolean; uid?: number } = {},
): Promise<{ outcome: Outcome; child: ChildProcess; said: () => Record<string, unknown>[] }> {
  return new Promise((resolve, reject) => {
    const args = [dist('test/core/log-open-child.js'), path, mode, ...(options.hold ? ['hold'] : [])]
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.uid } : {}),
    })
    children.push(child)
    let out = ''
    let err = ''
    child.stderr!.on('data', (d) => (err += d))
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n')[0]
      const said = () =>
        out
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      if (out.includes('\n') && line) resolve({ outcome: JSON.parse(line) as Outcome, child, said })
    })
    child.on('exit', (code) => {
      if (!out.includes('\n')) reject(new Error(`the child exited (${code}) without reporting: ${err}`))
    })
  })
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))

describe('one writer per log file', () => {
  it("refuses a second writer in another process, naming the holder's pid and host, while readers open the log", async () => {
    const path = tempDb()
    const { outcome: first } = await openInChild(path, 'write', { hold: true })
    expect(first).toMatchObject({ open: true, lastSeq: 1 })
    const holderPid = (first as { pid: number }).pid

    const { outcome: second } = await openInChild(path, 'write')
    expect(second).toMatchObject({ open: false, name: 'LogLocked', code: 'LOG_LOCKED', holder: { pid: holderPid, host: hostname() } })
    expect((second as { message: string }).message).toContain(`pid ${holderPid} on ${hostname()}`)
    expect((second as { message: string }).message).toContain(path)

    // in this process too, with the typed error
    let refused: unknown
    try {
      openEventLog({ path })
    } catch (e) {
      refused = e
    }
    expect(refused).toBeInstanceOf(LogLocked)
    expect((refused as LogLocked).holder?.pid).toBe(holderPid)
    expect(Date.parse((refused as LogLocked).holder!.since)).toBeLessThanOrEqual(Date.now())

    // readers are never refused, in another process or in this one
    const { outcome: reader } = await openInChild(path, 'read')
    expect(reader).toMatchObject({ open: true, lastSeq: 1 })
    const log = openEventLog({ path, readonly: true })
    expect([...log.read()].map((e) => e.type)).toEqual(['market.mark'])
    expect(log.verify()).toMatchObject({ ok: true, lastSeq: 1 })
    log.close()
  })

  it('lets the next writer in at once after the holder is killed with kill -9, with nothing to clean up', async () => {
    const path = tempDb()
    const { outcome, child } = await openInChild(path, 'write', { hold: true })
    expect(outcome).toMatchObject({ open: true })
    expect(() => openEventLog({ path })).toThrow(LogLocked)
    child.kill('SIGKILL')
    await exited(child)
    const started = Date.now()
    const log = openEventLog({ path })
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(log.append(mark()).seq).toBe(2)
    // and it now holds the lock itself
    const { outcome: refused } = await openInChild(path, 'write')
    expect(refused).toMatchObject({ open: false, code: 'LOG_LOCKED', holder: { pid: process.pid } })
    log.close()
  })

  it('holds the lock for the process: writers opened on one file in this process share it, and another process gets in once the last is closed', async () => {
    const dir = tempDir()
    const path = join(dir, 'events.db')
    const first = openEventLog({ path })
    first.append(mark())
    // the same file under another name (a symbolic link to its directory) is the same lock
    symlinkSync(dir, join(dir, 'alias'))
    const second = openEventLog({ path: join(dir, 'alias', 'events.db') })
    first.close()
    const { outcome: refused } = await openInChild(path, 'write')
    expect(refused).toMatchObject({ open: false, code: 'LOG_LOCKED', holder: { pid: process.pid } })
    second.close()
    const { outcome: admitted } = await openInChild(path, 'write')
    expect(admitted).toMatchObject({ open: true, lastSeq: 2 })
  })
})

async function until<T>(what: string, probe: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const found = probe()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('the writer lock file removed or replaced under a live writer', { timeout: 30_000 }, () => {
  it('given the lock file removed, a second writer is refused naming the first, which locks the file at the path again and goes on writing', async () => {
    const path = tempDb()
    const first = await openInChild(path, 'write', { hold: true })
    expect(first.outcome).toMatchObject({ open: true, lastSeq: 1 })
    const firstPid = (first.outcome as { pid: number }).pid

    rmSync(`${path}.lock`)
    const { outcome: second } = await openInChild(path, 'write')

    expect(second).toMatchObject({ open: false, code: 'LOG_LOCKED', holder: { pid: firstPid } })
    const retaken = await until('the first writer taking its lock back', () => first.said().find((l) => 'retaken' in l))
    expect(retaken.retaken).toMatch(
      new RegExp(
        `^the writer lock ${path}\\.lock was (removed|replaced by another file) while this process held it; it is locked again, and the log still ends at seq 1`,
      ),
    )
    expect(first.said().some((l) => 'lost' in l)).toBe(false)
    const log = openEventLog({ path, readonly: true })
    expect(log.verify()).toMatchObject({ ok: true, lastSeq: 1 })
    log.close()
  })

  it('given the lock file replaced by a copy of itself, a second writer is refused naming the first: a copy is not the file the first writer kept', async () => {
    const path = tempDb()
    const first = await openInChild(path, 'write', { hold: true })
    const firstPid = (first.outcome as { pid: number }).pid
    copyFileSync(`${path}.lock`, `${path}.lock.copy`)
    renameSync(`${path}.lock.copy`, `${path}.lock`)

    const { outcome: second } = await openInChild(path, 'write')

    expect(second).toMatchObject({ open: false, code: 'LOG_LOCKED', holder: { pid: firstPid } })
    await until('the first writer taking its lock back', () => first.said().find((l) => 'retaken' in l))
  })

  it('given the lock file removed and no writer left to take it back, the next writer waits the lock out and gets in', async () => {
    const path = tempDb()
    const first = await openInChild(path, 'write', { hold: true })
    first.child.kill('SIGKILL')
    await exited(first.child)
    // what the killed writer left beside the log says a connection may be live
    expect(existsSync(`${path}-wal`) || existsSync(`${path}-shm`)).toBe(true)
    rmSync(`${path}.lock`)

    const log = openEventLog({ path })

    expect(log.append(mark()).seq).toBe(2)
    const { outcome: refused } = await openInChild(path, 'write')
    expect(refused).toMatchObject({ open: false, code: 'LOG_LOCKED', holder: { pid: process.pid } })
    log.close()
  })

  it('given the lock file replaced by one another process holds, the writer reports its lock lost, naming that holder', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    log.append(mark())
    const failures: string[] = []
    log.on('write-failed', ({ error }) => failures.push(error.message))
    rmSync(`${path}.lock`)
    const other = new Database(`${path}.lock`)
    other.exec('CREATE TABLE holder (pid INTEGER NOT NULL, host TEXT NOT NULL, since TEXT NOT NULL, token TEXT NOT NULL) STRICT')
    other.prepare('INSERT INTO holder VALUES (?, ?, ?, ?)').run(4242, 'elsewhere', '2026-01-01T00:00:00.000Z', 'theirs')
    other.exec('BEGIN IMMEDIATE')

    try {
      // the first look gives an opener between its brief steps the benefit of the doubt
      expect(log.checkFile()).toBeUndefined()
      const lost = log.checkFile()

      expect(lost).toBe(
        `the writer lock ${path}.lock was replaced by another file while this process held it, and pid 4242 on elsewhere, since 2026-01-01T00:00:00.000Z holds the one there now: another writer may have opened ${path}`,
      )
      expect(failures).toEqual([`event log write failed: ${lost}: from the moment it was gone, another writer could open ${path}; this one stops writing`])
      expect(log.checkFile()).toBe(lost)
      // and an embedder appending on is refused, naming the lock, with nothing written
      const head = log.lastSeq
      expect(() => log.append(mark(102))).toThrow(`${lost}: this writer no longer holds the log's writer lock and writes nothing more`)
      expect(() => log.appendBatch([mark(103), mark(104)])).toThrow(LogWriteFailed)
      expect(log.lastSeq).toBe(head)
    } finally {
      other.exec('ROLLBACK')
      other.close()
      log.close()
    }
  })

  it('given the lock file removed and the log written by someone else before the writer looked, the writer reports the lock lost rather than writing on', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    log.append(mark())
    log.append(mark(101))
    rmSync(`${path}.lock`)
    const intruder = new Database(path)
    intruder
      .prepare(
        `INSERT INTO events (seq, id, type, v, ts, stream, causation_id, correlation_id, idem_key, data, prev_hash, hash)
         SELECT seq + 1, id || '-again', type, v, ts, stream, causation_id, correlation_id, NULL, data, hash, hash || '-again' FROM events ORDER BY seq DESC LIMIT 1`,
      )
      .run()
    intruder.close()

    const lost = log.checkFile()

    expect(lost).toBe(
      `the writer lock ${path}.lock was removed while this process held it; it was locked again, but the log now ends at seq 3, not at seq 2 where this writer left it: another process wrote it`,
    )
    // and its next append does not race the other writer for seq 3: it is refused, naming why
    expect(() => log.append(mark(102))).toThrow(LogWriteFailed)
    const reader = new Database(path, { readonly: true })
    expect(reader.prepare('SELECT count(*) FROM events').pluck().get()).toBe(3)
    reader.close()
    log.close()
  })

  it("given the lock file removed and the log's last event unreadable when the writer looks, the writer reports the lock lost naming the lock and why it could not read", () => {
    const path = tempDb()
    const log = openEventLog({ path })
    log.append(mark())
    rmSync(`${path}.lock`)
    const intruder = new Database(path)
    intruder.exec('ALTER TABLE events RENAME TO events_moved')
    intruder.close()

    const lost = log.checkFile()

    expect(lost).toMatch(
      new RegExp(
        `^the writer lock ${path}\\.lock was removed while this process held it; it was locked again, but the log's last event could not be read to make sure no one wrote it meanwhile: .*events`,
      ),
    )
    expect(() => log.append(mark(102))).toThrow(LogWriteFailed)
    log.close()
  })
})

describe('waiting out an unsettled lock file without blocking (settleWriterLock)', { timeout: 30_000 }, () => {
  it('given the lock file removed after its writer was killed, when an async opener settles first, then its event loop runs through the wait and the open that follows does not wait again', async () => {
    const path = tempDb()
    const first = await openInChild(path, 'write', { hold: true })
    first.child.kill('SIGKILL')
    await exited(first.child)
    rmSync(`${path}.lock`)

    let ticks = 0
    const ticker = setInterval(() => ticks++, 100)
    const began = Date.now()
    const waitedOut = await settleWriterLock(path)
    const waitedMs = Date.now() - began
    clearInterval(ticker)

    expect(waitedOut).toBe(true)
    expect(waitedMs).toBeGreaterThanOrEqual(LOCK_SETTLE_MS - 50)
    // a blocked loop would have ticked at most once
    expect(ticks).toBeGreaterThanOrEqual(LOCK_SETTLE_MS / 100 / 2)
    const opening = Date.now()
    const log = openEventLog({ path })
    expect(Date.now() - opening).toBeLessThan(LOCK_SETTLE_MS / 2)
    expect(log.append(mark()).seq).toBe(2)
    const { outcome: refused } = await openInChild(path, 'write')
    expect(refused).toMatchObject({ open: false, code: 'LOG_LOCKED', holder: { pid: process.pid } })
    log.close()
  })

  it('given the lock file removed under a live writer, when an opener settles asynchronously, then the live writer takes its lock back meanwhile and the open is refused naming it', async () => {
    const path = tempDb()
    const first = await openInChild(path, 'write', { hold: true })
    const firstPid = (first.outcome as { pid: number }).pid
    rmSync(`${path}.lock`)

    expect(await settleWriterLock(path)).toBe(true)

    const refused = (() => {
      try {
        openEventLog({ path }).close()
        return undefined
      } catch (e) {
        return e
      }
    })()
    expect(refused).toBeInstanceOf(LogLocked)
    expect((refused as LogLocked).holder).toMatchObject({ pid: firstPid })
    await until('the first writer taking its lock back', () => first.said().find((l) => 'retaken' in l))
  })

  it('given a settled lock file or no sign of a live connection, it returns at once without waiting', async () => {
    const path = tempDb()
    const log = openEventLog({ path })
    log.append(mark())
    log.close()
    const began = Date.now()
    expect(await settleWriterLock(path)).toBe(false)
    expect(await settleWriterLock(join(tempDir(), 'no-log-yet.db'))).toBe(false)
    expect(Date.now() - began).toBeLessThan(LOCK_SETTLE_MS / 2)
  })
})

describe('the WAL or its index removed or replaced under a live writer', () => {
  it.each([
    ['-wal', "the log's WAL"],
    ['-shm', "the log's WAL index"],
  ])('given %s removed, the writer reports it as a failed write, naming the file', (suffix, what) => {
    const path = tempDb()
    const log = openEventLog({ path })
    log.append(mark())
    const failures: string[] = []
    log.on('write-failed', ({ error }) => failures.push(error.message))
    expect(log.checkFile()).toBeUndefined()

    rmSync(`${path}${suffix}`)
    const lost = log.checkFile()

    expect(lost).toBe(`${path}${suffix}, ${what}, was removed while haltd was writing the log`)
    expect(failures).toHaveLength(1)
    expect(failures[0]).toContain(lost)
    log.close()
  })

  it('given the WAL replaced by another file, the writer says so', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    log.append(mark())
    rmSync(`${path}-wal`)
    writeFileSync(`${path}-wal`, '')

    expect(log.checkFile()).toBe(`${path}-wal, the log's WAL, was replaced by another file while haltd was writing the log`)
    log.close()
  })
})

describe('the log file replaced under a live writer, its WAL beside it', () => {
  it('given another log moved over the path, the writer unlinks its own WAL and index there, and the new log reads as itself', () => {
    const dir = tempDir()
    const path = join(dir, 'events.db')
    // checkpoints left to the writer's commits: its last events stay in the WAL
    const log = openEventLog({ path, checkpoints: 'inline' })
    for (let i = 0; i < 20; i++) log.append(mark(100 + i))
    const other = join(dir, 'other.db')
    const otherLog = openEventLog({ path: other })
    otherLog.append({ type: 'market.mark', data: { venue: 'other', symbol: 'ETH/USDT', price: 1 } })
    otherLog.close()
    renameSync(other, path)

    const lost = log.checkFile()

    expect(lost).toBe(`${path} was replaced by another file while haltd was writing it`)
    expect(existsSync(`${path}-wal`)).toBe(false)
    expect(existsSync(`${path}-shm`)).toBe(false)
    const placed = openEventLog({ path, readonly: true })
    expect([...placed.read()].map((e) => (e.data as { venue: string }).venue)).toEqual(['other'])
    expect(placed.verify()).toMatchObject({ ok: true, lastSeq: 1 })
    placed.close()
    // what the writer held is still read through its connection, to be saved
    expect([...log.read()]).toHaveLength(20)
    log.close()
  })

  it('given another log moved over the path with its own WAL, the writer leaves that WAL alone', () => {
    const dir = tempDir()
    const path = join(dir, 'events.db')
    const log = openEventLog({ path, checkpoints: 'inline' })
    log.append(mark())
    writeFileSync(join(dir, 'other.db-wal'), "not the writer's")
    renameSync(join(dir, 'other.db-wal'), `${path}-wal`)
    copyFileSync(path, join(dir, 'other.db'))
    renameSync(join(dir, 'other.db'), path)

    expect(log.checkFile()).toBe(`${path} was replaced by another file while haltd was writing it`)
    expect(readFileSync(`${path}-wal`, 'utf8')).toBe("not the writer's")
    log.close()
  })
})

describe('opening a log for writing', () => {
  it('creates a new log only where no file exists: an empty file is refused, named and left as it was', () => {
    const path = tempDb()
    writeFileSync(path, '')
    expect(() => openEventLog({ path })).toThrow(NotAnEventLog)
    expect(() => openEventLog({ path })).toThrow(`${path} is not a haltd event log: the file is empty (0 bytes)`)
    expect(statSync(path).size).toBe(0)
    // and the refusal released the lock: once the file is gone, a new log is made
    const fresh = tempDb()
    const log = openEventLog({ path: fresh })
    expect(log.append(mark()).seq).toBe(1)
    log.close()
  })

  it('creates the log, its WAL and shared-memory files and its lock file readable and writable by the owner only', () => {
    const previous = process.umask(0o022)
    try {
      const path = tempDb()
      const log = openEventLog({ path })
      log.append(mark())
      for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}.lock`]) {
        expect((statSync(file).mode & 0o777).toString(8), file).toBe('600')
      }
      log.close()
    } finally {
      process.umask(previous)
    }
  })

  // As root, permissions do not stop a write: the refused open then runs as nobody, who must
  // be able to reach the directory.
  const asRoot = process.getuid?.() === 0
  const reachable = (dir: string) => {
    chmodSync(dir, 0o755)
    return dir
  }
  const openForWriting = async (path: string): Promise<{ name: string; message: string; reason?: string }> => {
    if (asRoot) {
      const { outcome } = await openInChild(path, 'write', { uid: 65534 })
      expect(outcome.open).toBe(false)
      return outcome as { name: string; message: string }
    }
    try {
      openEventLog({ path })
    } catch (e) {
      return e as LogOpenFailed
    }
    throw new Error('the log opened')
  }

  it('says a read-only directory is read-only, naming the log, rather than calling the file no event log', async () => {
    const dir = join(reachable(tempDir()), 'ro')
    mkdirSync(dir)
    const path = join(dir, 'events.db')
    openEventLog({ path }).close()
    chmodSync(dir, 0o555)
    try {
      const failure = await openForWriting(path)
      expect(failure).toMatchObject({ name: 'LogOpenFailed', reason: 'read-only' })
      expect(failure.message).toBe(`${path} cannot be opened for writing: it is read-only (the directory ${dir} is read-only)`)
      const missing = await openForWriting(join(dir, 'new.db'))
      expect(missing).toMatchObject({ name: 'LogOpenFailed', reason: 'read-only' })
      expect(missing.message).toContain(join(dir, 'new.db'))
      // readers still open it
      const reader = openEventLog({ path, readonly: true })
      expect(reader.verify()).toMatchObject({ ok: true })
      reader.close()
    } finally {
      chmodSync(dir, 0o755)
    }
  })

  it('says a read-only log file is read-only, naming it', async () => {
    const dir = join(reachable(tempDir()), 'rw')
    mkdirSync(dir)
    const path = join(dir, 'events.db')
    const log = openEventLog({ path })
    log.append(mark())
    log.close()
    chmodSync(dir, 0o777)
    chmodSync(path, 0o444)
    const failure = await openForWriting(path)
    expect(failure).toMatchObject({ name: 'LogOpenFailed', reason: 'read-only' })
    expect(failure.message).toBe(`${path} cannot be opened for writing: it is read-only (the file is read-only)`)
  })

  // A real full disk needs a small filesystem of its own: a tmpfs, where this may mount one.
  it('names a full disk as the cause when a log cannot be opened or created on it', (ctx) => {
    const dir = tempDir()
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir], { stdio: 'ignore' })
    } catch {
      ctx.skip()
    }
    try {
      const path = join(dir, 'events.db')
      const log = openEventLog({ path })
      log.append(mark())
      log.close()
      try {
        for (;;) appendFileSync(join(dir, 'filler'), Buffer.alloc(4096))
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC')
      }
      for (const target of [path, join(dir, 'new.db')]) {
        let failure: unknown
        try {
          openEventLog({ path: target })
        } catch (e) {
          failure = e
        }
        expect(failure, target).toBeInstanceOf(LogOpenFailed)
        expect(failure).toMatchObject({ reason: 'disk-full' })
        expect((failure as Error).message).toMatch(new RegExp(`^${target} cannot be opened for writing: the disk is full`))
      }
    } finally {
      execFileSync('umount', [dir])
    }
  })
})
