import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { COMMANDS } from '../../src/cli/commands.js'
import { dist, repoRoot } from '../support/paths.js'
import { tempDb, tempDir } from '../support/tmp.js'
import { afterEachTest } from '../support/after-each-test.js'
import { demoConfig } from '../../src/daemon/demo.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { events, waitFor } from './processes.js'
import { tradingDay, writeLog } from '../audit/fixtures.js'

const FULL = '/dev/full'

/** `haltd …` with its stdout on /dev/full, where every write fails with ENOSPC. */
function toFull(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const fd = openSync(FULL, 'w')
  const child = spawn(process.execPath, [dist('src/cli.js'), ...args], { cwd: repoRoot, stdio: ['ignore', fd, 'pipe'] })
  closeSync(fd)
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString('utf8')
  })
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })))
}

describe('output that could not be written', { timeout: 60_000 }, () => {
  it.skipIf(!existsSync(FULL))(
    'given stdout on a device that takes no write, every command asked for its usage exits non-zero and says its output is not all there',
    async () => {
      // the daemons (run, demo, standby) too: their usage is output, not the daemon's log
      const asked = [['--help'], ['--version'], ...COMMANDS.map((c) => [c.name, '--help'])]
      const results = await Promise.all(asked.map(async (args) => ({ args: args.join(' '), ...(await toFull(args)) })))
      for (const r of results) {
        expect(r.code, r.args).not.toBe(0)
        expect(r.stderr, r.args).toMatch(/the output could not be written \(ENOSPC: no space left on device, write\): what it printed is not all there/)
      }
    },
  )
  it.skipIf(!existsSync(FULL))(
    'given stdout on a device that takes no write, each command that prints its answer exits non-zero: offline reports, exports and credentials',
    async () => {
      const db = tempDb()
      writeLog(db, tradingDay()).log.close()
      const asked = [
        ['audit', '--db', db],
        ['audit', '--db', db, '--format', 'json'],
        ['verify', '--db', db],
        ['replay', '--db', db],
        ['export', '--db', db, '--format', 'ndjson'],
        ['export', '--db', db, '--format', 'csv'],
        ['token', 'new', '--name', 'ops', '--role', 'operator'],
      ]
      const results = await Promise.all(asked.map(async (args) => ({ args: args.join(' '), ...(await toFull(args)) })))
      for (const r of results) {
        expect(r.code, r.args).not.toBe(0)
        expect(r.stderr, r.args).toMatch(/ENOSPC/)
      }
    },
  )
  it.skipIf(!existsSync(FULL))(
    'given a daemon whose stdout (its process log) takes no write, it trades and, on SIGTERM, runs its shutdown to the end with its own exit code, saying once on stderr that its log lines are lost',
    async () => {
      const db = tempDb()
      const fd = openSync(FULL, 'w')
      const child = spawn(process.execPath, [dist('src/cli.js'), 'demo', '--db', db, '--port', '0', '--seed', '2', '--status-every', '0'], {
        cwd: repoRoot,
        stdio: ['ignore', fd, 'pipe'],
      })
      closeSync(fd)
      let stderr = ''
      child.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString('utf8')
      })
      const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      await waitFor('the strategies trading', () => {
        if (child.exitCode !== null) throw new Error(`haltd exited ${child.exitCode} before trading: ${stderr}`)
        return events(db, ['order.accepted']).length >= 3
      })
      child.kill('SIGTERM')
      const code = await exit
      // its code is the shutdown's (0 clean, 2 exposure), never a crash's
      expect([0, 2]).toContain(code)
      expect(events(db, ['shutdown.completed'])).toHaveLength(1)
      expect(stderr.match(/haltd: the process log could not be written \(ENOSPC[^)]*\): its lines are lost until it can be/g)).toHaveLength(1)
    },
  )

  /** `haltd demo > haltd.log 2>&1` on a full disk (its stdout and stderr on /dev/full), once its strategies trade. */
  async function demoTradingOnFullDisk(db: string) {
    const fd = openSync(FULL, 'w')
    const child = spawn(process.execPath, [dist('src/cli.js'), 'demo', '--db', db, '--port', '0', '--seed', '2', '--status-every', '0'], {
      cwd: repoRoot,
      stdio: ['ignore', fd, fd],
    })
    closeSync(fd)
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    await waitFor('the strategies trading', () => {
      if (child.exitCode !== null) throw new Error(`haltd exited ${child.exitCode} before trading`)
      return events(db, ['order.accepted']).length >= 3
    })
    return { child, exit }
  }

  it.skipIf(!existsSync(FULL))(
    'given a daemon whose stdout and stderr both take no write (its log and its errors on one full disk), it trades and, on SIGTERM, runs its shutdown to the end with its own exit code',
    async () => {
      // given `haltd demo > haltd.log 2>&1` on a disk that is full
      const db = tempDb()
      const { child, exit } = await demoTradingOnFullDisk(db)
      // when it is asked to stop
      child.kill('SIGTERM')
      // then its code is the shutdown's (0 clean, 2 exposure), never a crash's, and the log holds the shutdown's end
      expect([0, 2]).toContain(await exit)
      expect(events(db, ['shutdown.completed'])).toHaveLength(1)
    },
  )

  it.skipIf(!existsSync(FULL))(
    'given a daemon whose stdout and stderr take no write, when its log file is removed, it saves the log, halts and stays up until stopped',
    async () => {
      // given `haltd demo > haltd.log 2>&1` on a full disk, trading
      const dir = tempDir()
      const db = join(dir, 'haltd.db')
      const { child, exit } = await demoTradingOnFullDisk(db)
      // when its log file is removed
      rmSync(db)
      // then it saves what it held (and says so, where it can: nowhere here) and is still up
      // (or the daemon gone: then there is nothing more to wait for)
      const saved = await waitFor('the copy saved whole, or the daemon gone', () => {
        if (child.exitCode !== null) return 'the daemon exited'
        const name = readdirSync(dir).find((f) => f.startsWith('haltd.db.saved-') && !f.endsWith('-journal'))
        if (name === undefined) return undefined
        try {
          const log = openEventLog({ path: join(dir, name), readonly: true })
          const ok = log.verify().ok
          log.close()
          return ok ? name : undefined
        } catch {
          return undefined
        }
      })
      expect(saved).toMatch(/^haltd\.db\.saved-/)
      // a crash comes on the tick after the line that fails; a second later the daemon is still there
      await new Promise((r) => setTimeout(r, 1_000))
      expect(child.exitCode).toBeNull()
      child.kill('SIGTERM')
      // its log faulted: the shutdown's own code (1), after a shutdown that ran
      expect(await exit).toBe(1)
    },
  )
})

/** `haltd …` with its stderr on a pipe whose reader is gone: every write there fails with EPIPE. */
function stderrGone(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [dist('src/cli.js'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stderr!.destroy()
  afterEachTest(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return child
}

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))

describe('stderr that takes no write', { timeout: 60_000 }, () => {
  it('given stderr on a pipe whose reader is gone, a command that fails exits with its own code, not a crash', async () => {
    const missing = join(tempDir(), 'no-such.db')
    // audit and verify say a log they cannot read with 2; a crash would be 1
    for (const args of [
      ['audit', '--db', missing],
      ['verify', '--db', missing],
    ]) {
      expect(await exitOf(stderrGone(args)), args.join(' ')).toEqual({ code: 2, signal: null })
    }
  })

  it('given stderr closed (`2>&-`), a command that fails exits with its own code', () => {
    const missing = join(tempDir(), 'no-such.db')
    const run = spawnSync('sh', ['-c', 'exec "$0" "$1" audit --db "$2" 2>&-', process.execPath, dist('src/cli.js'), missing], { cwd: repoRoot })
    expect(run.status).toBe(2)
  })

  it('given a daemon whose stderr reader is gone, when it says on stderr that it made the log folder, it goes on running and SIGTERM ends it with the shutdown code', async () => {
    const db = join(tempDir(), 'new-folder', 'haltd.db')
    const file = join(tempDir(), 'haltd.json')
    writeFileSync(file, JSON.stringify({ ...demoConfig({ db, port: 0, seed: 4, orders: 0 }), strategies: [] }))
    const child = stderrGone(['run', '--config', file])
    const exit = exitOf(child)
    await waitFor('the run recorded', () => {
      if (child.exitCode !== null) throw new Error(`haltd exited ${child.exitCode} before its run was recorded`)
      return events(db, ['run.started']).length === 1 && events(db, ['venue.positions-observed']).length >= 3
    })
    child.kill('SIGTERM')
    expect(await exit).toEqual({ code: 0, signal: null })
    expect(events(db, ['shutdown.completed'])).toHaveLength(1)
  })
})
