import Database from 'better-sqlite3'
import { spawnSync } from 'node:child_process'
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { EventInput } from '../../src/events/index.js'
import { dist } from '../support/paths.js'
import { tempDb } from '../support/tmp.js'
import { writeLog } from './fixtures.js'

const cli = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { encoding: 'utf8' })

function* marks(n: number): Generator<EventInput> {
  for (let i = 0; i < n; i++) yield { type: 'market.mark', data: { venue: 'alpha', symbol: 'BTC/USDT', price: 100 + i / 2 } }
}

/**
 * A log whose second leaf page of the events table has its last quarter overwritten: the cells
 * there (the page's lowest seqs) point off the page, and SQLite's ordered walk ends there
 * without an error.
 */
function damagedLog(): { path: string; events: number } {
  const path = tempDb()
  const { log, lastSeq } = writeLog(path, marks(400))
  log.close()
  const db = new Database(path, { readonly: true })
  const leaves = db.prepare("SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY pageno").pluck().all() as number[]
  const pageSize = db.pragma('page_size', { simple: true }) as number
  db.close()
  expect(leaves.length).toBeGreaterThan(3)
  const garbage = Buffer.alloc(pageSize / 4)
  for (let i = 0; i < garbage.length; i += 4) garbage.writeUInt32BE(0xdeadbeef, i)
  const fd = openSync(path, 'r+')
  writeSync(fd, garbage, 0, garbage.length, leaves[1]! * pageSize - garbage.length)
  closeSync(fd)
  return { path, events: lastSeq }
}

describe('a log with a damaged page that ends SQLite’s walk early without an error', () => {
  it('given such a file, SQLite itself reads fewer rows in order than the log holds, and says nothing', () => {
    const { path, events } = damagedLog()
    const db = new Database(path, { readonly: true })
    const read = db.prepare('SELECT seq FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT 2000').pluck().all(1, Number.MAX_SAFE_INTEGER) as number[]
    const held = db.prepare('SELECT max(seq) FROM events').pluck().get()
    db.close()
    expect(held).toBe(events)
    expect(read.length).toBeLessThan(events)
  })

  it('haltd verify exits 2 naming where reading stops and how far the log goes, never "ok" for the part it read', () => {
    const { path, events } = damagedLog()
    const r = cli('verify', '--db', path)
    expect(r.stdout).not.toMatch(/^ok:/)
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(new RegExp(`is damaged: it holds rows to seq ${events}, but reading in order stops after seq \\d+`))
  })

  it('haltd audit says UNREADABLE past the last seq it read, with a read finding, exit 2: never LOG INTACT', () => {
    const { path } = damagedLog()
    const r = cli('audit', '--db', path, '--format', 'json')
    expect(r.status).toBe(2)
    const report = JSON.parse(r.stdout) as { verdict: string; log: { lastSeq: number; unreadableAfterSeq: number | null }; chain: { intact: boolean } }
    expect(report.verdict).toBe('unreadable')
    expect(report.chain.intact).toBe(false)
    expect(report.log.unreadableAfterSeq).toBe(report.log.lastSeq)
    expect(cli('audit', '--db', path).stdout).not.toMatch(/LOG INTACT/)
  })

  it('haltd replay exits 2 instead of showing the state of the part it read as the log’s', () => {
    const { path, events } = damagedLog()
    const r = cli('replay', '--db', path, '--json')
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(new RegExp(`the log cannot be replayed: .* is damaged: it holds rows to seq ${events}`))
  })

  it('haltd run refuses to start on it, naming the file, rather than trading on a state folded from part of the log', () => {
    const { path, events } = damagedLog()
    const config = join(dirname(path), 'haltd.json')
    writeFileSync(config, JSON.stringify({ db: { path }, admin: { enabled: false }, venues: [] }))
    const r = spawnSync(process.execPath, [dist('src/cli.js'), 'run', '--config', config], { encoding: 'utf8', timeout: 30_000 })
    expect(r.status).toBe(1)
    expect(r.stderr).toContain(`${path} is damaged: it holds rows to seq ${events}`)
  })
})
