import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openEventLog } from '../../src/core/log/event-log.js'
import { readAdminInfo, adminInfoPath, type AdminInfo } from '../../src/admin/info-file.js'
import type { Envelope } from '../../src/events/index.js'
import { afterEachTest } from '../support/after-each-test.js'
import { dist, repoRoot } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'
import { demoConfig } from '../../src/daemon/demo.js'

/** A haltd process started by a test: its output lines, its exit, and its admin file once it is up. */
export type Daemon = {
  child: ChildProcess
  pid: number
  db: string
  stdout: string[]
  stderr: string[]
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** The JSON log lines (pino), parsed. */
  logs(): Record<string, unknown>[]
}

/** Whatever a failed test left running. */
function killIfRunning(c: ChildProcess): void {
  if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}

/** `within`: a command prefix the daemon runs under (`ip netns exec NAME` runs it in a network namespace). */
export function spawnHaltd(args: string[], options: { db: string; env?: Record<string, string>; within?: readonly string[] }): Daemon {
  const [command, ...prefix] = [...(options.within ?? []), process.execPath]
  const child = spawn(command!, [...prefix, dist('src/cli.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  afterEachTest(() => killIfRunning(child))
  const stdout: string[] = []
  const stderr: string[] = []
  const lines = (into: string[]) => {
    let rest = ''
    return (chunk: Buffer) => {
      const parts = (rest + chunk.toString('utf8')).split('\n')
      rest = parts.pop() ?? ''
      into.push(...parts)
    }
  }
  child.stdout!.on('data', lines(stdout))
  child.stderr!.on('data', lines(stderr))
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return {
    child,
    pid: child.pid!,
    db: options.db,
    stdout,
    stderr,
    exit,
    logs: () =>
      stdout.flatMap((l) => {
        if (!l.startsWith('{')) return []
        try {
          return [JSON.parse(l) as Record<string, unknown>]
        } catch {
          return []
        }
      }),
  }
}

export function spawnDemo(db: string, extra: string[] = [], env?: Record<string, string>): Daemon {
  return spawnHaltd(['demo', '--db', db, '--port', '0', '--seed', '1', '--status-every', '0', ...extra], { db, ...(env ? { env } : {}) })
}

/** Poll until `check` returns something, or fail with what was seen. Waiting, never timing. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, d?: Daemon, timeoutMs = 45_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const v = check()
    if (v !== undefined && v !== false) return v
    if (d && (d.child.exitCode !== null || d.child.signalCode !== null)) {
      throw new Error(
        `haltd exited (${d.child.exitCode ?? d.child.signalCode}) while waiting for ${what}\nstdout:\n${d.stdout.slice(-30).join('\n')}\nstderr:\n${d.stderr.join('\n')}`,
      )
    }
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${what}\nstdout:\n${d?.stdout.slice(-30).join('\n') ?? ''}\nstderr:\n${d?.stderr.join('\n') ?? ''}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export async function waitForAsync<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > until) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Up means: the admin file is written and the startup reconciliation is done. */
export async function whenUp(d: Daemon): Promise<AdminInfo> {
  await waitFor('startup', () => d.logs().some((l) => l.msg === 'startup reconciliation done') && existsSync(adminInfoPath(d.db)), d)
  return readAdminInfo(adminInfoPath(d.db))
}

/** The events stored so far (a read-only look while the daemon may still write). */
export function events(db: string, types?: string[]): Envelope[] {
  if (!existsSync(db)) return []
  const log = openEventLog({ path: db, readonly: true })
  try {
    return [...log.read(types ? { types } : {})]
  } finally {
    log.close()
  }
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

/** A `haltd run` of the demo's config on the simulated venues, its log in a folder of its own, once its strategies trade. */
export async function runTrading(seed: number): Promise<{ dir: string; db: string; d: Daemon; info: AdminInfo }> {
  const dir = tempDir()
  const db = join(dir, 'haltd.db')
  const file = join(dir, 'haltd.json')
  writeFileSync(file, JSON.stringify(demoConfig({ db, port: 0, seed, orders: 0 })))
  const d = spawnHaltd(['run', '--config', file], { db })
  const info = await whenUp(d)
  await waitFor('the strategies trading', () => events(db, ['order.accepted']).length >= 3, d)
  return { dir, db, d, info }
}
