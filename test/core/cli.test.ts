import { describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openEventLog } from '../../src/index.js'
import { repoRoot } from '../support/paths.js'
import { tempDb, tempDir } from '../support/tmp.js'
import { mark, submitted } from '../support/events.js'

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string
  bin: Record<string, string>
  scripts: Record<string, string>
  engines: { node: string }
}
const bin = join(repoRoot, pkg.bin.haltd!)
const haltd = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })

describe('the haltd command', () => {
  it('is the package bin: a built file that starts with a node shebang, built by npm install / npm ci through prepare', () => {
    expect(pkg.name).toBe('haltd')
    expect(pkg.engines.node).toBe('>=20')
    expect(existsSync(bin)).toBe(true)
    expect(readFileSync(bin, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node')
    // npm chmods the bins it links for dependencies, never the package's own: the build must
    expect(statSync(bin).mode & 0o111).toBe(0o111)
    // prepare runs the build, and the build is what writes the bin
    expect(pkg.scripts.prepare).toBe('npm run build')
    expect(pkg.scripts.build).toMatch(/^tsc -p /)
  })

  it('answers `npx haltd --help` with its usage and exit code 0', () => {
    // offline: npx must find haltd in this package, never look for it in a registry
    const run = spawnSync('npx', ['haltd', '--help'], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
    })
    expect(run.status, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^haltd: an event-sourced shutdown daemon/)
    expect(run.stdout).toMatch(/usage: haltd <command>/)
    expect(run.stdout).toMatch(/^\s+verify\s/m)
  }, 60_000)

  it('names an unknown command and exits 1', () => {
    const run = haltd('teleport')
    expect(run.status).toBe(1)
    expect(run.stderr).toMatch(/unknown command 'teleport'/)
  })
})

describe('haltd verify', () => {
  function logOf(n: number): string {
    const path = tempDb()
    const log = openEventLog({ path })
    for (let i = 0; i < n; i++) log.append(i % 2 ? mark(100 + i) : submitted())
    log.close()
    return path
  }

  it('exits 0 and says so when the chain is intact', () => {
    const run = haltd('verify', '--db', logOf(12))
    expect(run.status).toBe(0)
    expect(run.stdout).toBe('ok: 12 events, chain intact to seq 12\n')
  })

  it('exits 1 and names the first bad seq when an event was edited', () => {
    const path = logOf(12)
    const db = new Database(path)
    db.prepare(`UPDATE events SET data = replace(data, '"price":107', '"price":7') WHERE seq = 8`).run()
    expect(db.prepare('SELECT changes()').pluck().get()).toBe(1)
    db.close()
    const run = haltd('verify', '--db', path)
    expect(run.status).toBe(1)
    expect(run.stdout).toBe('broken at seq 8: hash does not match the stored event (contents changed) (intact to seq 7)\n')
  })

  it('exits 2, never 1, when it cannot check: no --db, an unknown flag, a file that is not a haltd log', () => {
    const notALog = join(tempDir(), 'notes.txt')
    writeFileSync(notALog, 'not a database')
    for (const [args, why] of [
      [[], /--db FILE is required/],
      [['--db', logOf(1), '--fast'], /--fast/],
      [['--db', notALog], /is not a haltd event log/],
      [['--db', join(tempDir(), 'missing.db')], /is not a haltd event log: no such file/],
    ] as const) {
      const run = haltd('verify', ...args)
      expect(run.status, args.join(' ')).toBe(2)
      expect(run.stderr).toMatch(why)
    }
  })
})
