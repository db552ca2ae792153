import { describe, expect, it } from 'vitest'
import { closeSync, openSync, statSync, ftruncateSync, writeFileSync, writeSync } from 'node:fs'
import { execFileSync, spawnSync } from 'node:child_process'
import { auditFile } from '../../src/audit/audit.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { anchorOf, formatAnchor, parseAnchor } from '../../src/core/log/anchor.js'
import { NotAnEventLog } from '../../src/core/log/errors.js'
import { dist } from '../support/paths.js'
import { tempDb } from '../support/tmp.js'
import { rechainFrom, rowHash, swapRows, T0, tamper, tradingDay, writeLog } from './fixtures.js'

const cli = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { encoding: 'utf8' })

function cleanLog(): { path: string; lastSeq: number } {
  const path = tempDb()
  const { log, lastSeq } = writeLog(path, tradingDay(8))
  log.close()
  return { path, lastSeq }
}

const chainFindings = (path: string) => auditFile(path).findings.filter((f) => f.check === 'chain' || f.check === 'sequence')

describe('audit: tampering is found at the exact seq', () => {
  it('a clean log written through the event log audits clean, exit 0', () => {
    const { path, lastSeq } = cleanLog()
    const report = auditFile(path)
    expect(report.verdict).toBe('clean')
    expect(report.findings).toEqual([])
    expect(report.chain).toEqual({ intact: true, firstBadSeq: null, problem: null })
    expect(report.log.events).toBe(lastSeq)
    // the run the log holds has no end: intact, and not called clean while it may still be running
    const run = cli('audit', '--db', path)
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('LOG INTACT — LAST RUN run-1 NOT ENDED')
    expect(run.stdout).toContain('last run: run-1 (pid 4242, started ')
    // once it has ended, the log audits clean
    const log = openEventLog({ path })
    log.append({ type: 'run.ended', data: { runId: 'run-1', exitCode: 0 } })
    log.close()
    const ended = cli('audit', '--db', path)
    expect(ended.status).toBe(0)
    expect(ended.stdout).toContain('CLEAN — LOG INTACT — NO SHUTDOWN IN THE LOG')
  })

  it('given a row moved to a seq past 2^53 or below 1, which no page reads, verify and audit both say the file holds rows they could not read', () => {
    for (const seq of ['9007199254740993', '9223372036854775807', '0']) {
      const { path } = cleanLog()
      tamper(path, (db) => db.prepare(`UPDATE events SET seq = ${seq} WHERE seq = (SELECT MAX(seq) FROM events)`).run())
      const log = openEventLog({ path, readonly: true })
      const verified = log.verify()
      log.close()
      expect(verified).toMatchObject({ ok: false, problem: expect.stringMatching(/^1 row\(s\) stored at a seq outside 1 to 9007199254740991/) })
      const report = auditFile(path)
      expect(report.verdict).not.toBe('clean')
      expect(report.chain.intact).toBe(false)
      expect(report.findings.map((f) => f.kind)).toContain('chain.seq-out-of-range')
      expect(cli('verify', '--db', path).status).toBe(1)
      expect(cli('audit', '--db', path).status).toBe(1)
    }
  })

  it('an edited payload is named as such at its seq, and only there', () => {
    const { path } = cleanLog()
    tamper(path, (db) => db.prepare(`UPDATE events SET data = replace(data, '"qty":1', '"qty":5') WHERE seq = 10`).run())
    const found = chainFindings(path)
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({ kind: 'chain.payload-edited', seq: 10 })
    const report = auditFile(path)
    expect(report.chain.firstBadSeq).toBe(10)
    const run = cli('audit', '--db', path)
    expect(run.status).toBe(1)
    expect(run.stdout).toContain('first bad seq 10')
  })

  it('an edited hash is told apart from an edited payload', () => {
    const { path } = cleanLog()
    tamper(path, (db) => db.prepare(`UPDATE events SET hash = ? WHERE seq = 9`).run('ab'.repeat(32)))
    expect(chainFindings(path)).toEqual([expect.objectContaining({ kind: 'chain.hash-edited', seq: 9 })])
  })

  it('an edited prevHash breaks the link at that seq', () => {
    const { path } = cleanLog()
    tamper(path, (db) => db.prepare(`UPDATE events SET prev_hash = ? WHERE seq = 15`).run('cd'.repeat(32)))
    expect(chainFindings(path)).toEqual([expect.objectContaining({ kind: 'chain.prev-hash-edited', seq: 15 })])
  })

  it('a row rewritten with a recomputed hash is caught where the next row no longer links', () => {
    const { path } = cleanLog()
    tamper(path, (db) => {
      const row = db.prepare('SELECT * FROM events WHERE seq = 21').get() as Record<string, string | number | null>
      const data = String(row.data).replace('"price":', '"price":1')
      expect(data).not.toBe(row.data)
      // a forger who knows the hash rule rehashes the row, but cannot rehash everything after it without it showing
      const hash = rowHash(String(row.prev_hash), row, data)
      db.prepare('UPDATE events SET data = ?, hash = ? WHERE seq = 21').run(data, hash)
    })
    expect(chainFindings(path)).toEqual([expect.objectContaining({ kind: 'chain.broken-link', seq: 22 })])
  })

  it('a log rewritten with every hash recomputed passes verify, and fails against a head kept outside it', () => {
    const { path, lastSeq } = cleanLog()
    const log = openEventLog({ path, readonly: true })
    const kept = formatAnchor(anchorOf(log))
    log.close()
    expect(cli('audit', '--db', path, '--expect-head', kept).status).toBe(0)

    // the forger edits seq 21 and rehashes it and everything after it: the chain is whole again
    tamper(path, (db) => {
      const row = db.prepare('SELECT data FROM events WHERE seq = 21').get() as { data: string }
      db.prepare('UPDATE events SET data = ? WHERE seq = 21').run(row.data.replace('"price":', '"price":1'))
      rechainFrom(db, 21)
    })
    expect(cli('verify', '--db', path).status).toBe(0)
    const forged = cli('audit', '--db', path, '--expect-head', kept, '--format', 'json')
    expect(forged.status).toBe(1)
    expect(JSON.parse(forged.stdout).findings).toContainEqual(expect.objectContaining({ check: 'chain', kind: 'chain.anchor.mismatch', seq: lastSeq }))

    // a tail cut off is caught the same way
    tamper(path, (db) => db.prepare('DELETE FROM events WHERE seq > ?').run(lastSeq - 3))
    const cut = auditFile(path, { expectHead: parseAnchor(kept)! })
    expect(cut.findings).toContainEqual(expect.objectContaining({ kind: 'chain.anchor.missing', seq: lastSeq }))
    expect(cli('audit', '--db', path, '--expect-head', 'nonsense').status).toBe(2)
  })

  it('a deleted row shows as a gap at the missing seq, not as a cascade of broken links', () => {
    const { path } = cleanLog()
    tamper(path, (db) => db.prepare('DELETE FROM events WHERE seq = 7').run())
    const found = chainFindings(path)
    expect(found).toEqual([expect.objectContaining({ check: 'sequence', kind: 'sequence.gap', seq: 7 })])
    expect(found[0]!.message).toContain('seq 7 is missing')
    expect(auditFile(path).chain.firstBadSeq).toBe(7)
  })

  it('deleted rows with the rest renumbered show as misplaced rows from the first moved seq', () => {
    const { path } = cleanLog()
    tamper(path, (db) => {
      db.prepare('DELETE FROM events WHERE seq = 30').run()
      db.prepare('UPDATE events SET seq = seq - 1 WHERE seq > 30').run()
    })
    const found = chainFindings(path)
    expect(found).toEqual([expect.objectContaining({ kind: 'chain.misplaced-row', seq: 30 })])
    expect(found[0]!.message).toContain('written as seq 31')
  })

  it('two swapped rows are reported as one swap at the first of them', () => {
    const { path } = cleanLog()
    tamper(path, (db) => swapRows(db, 10, 11))
    const found = chainFindings(path)
    expect(found).toEqual([expect.objectContaining({ kind: 'chain.rows-swapped', seq: 10 })])
    expect(found[0]!.message).toContain('seq 10 and seq 11 were swapped')
  })

  it('two tampered spots are both reported, the first bad seq being the earlier', () => {
    const { path } = cleanLog()
    tamper(path, (db) => {
      db.prepare(`UPDATE events SET data = replace(data, 'binance', 'binancf') WHERE seq = 31`).run()
      db.prepare('DELETE FROM events WHERE seq = 5').run()
    })
    const found = chainFindings(path)
    expect(found.map((f) => [f.kind, f.seq])).toEqual([
      ['sequence.gap', 5],
      ['chain.payload-edited', 31],
    ])
    expect(auditFile(path).chain.firstBadSeq).toBe(5)
  })

  it('a payload edited into something its schema forbids is also a schema finding at that seq', () => {
    const { path } = cleanLog()
    tamper(path, (db) => db.prepare(`UPDATE events SET data = replace(data, '"qty":1', '"qty":-1') WHERE seq = 15`).run())
    const report = auditFile(path)
    expect(report.findings.filter((f) => f.check === 'schema')).toEqual([expect.objectContaining({ kind: 'schema.invalid', seq: 15 })])
    expect(report.findings.find((f) => f.check === 'schema')!.message).toContain('data.qty')
  })

  it('the CLI walks the chain on a second thread and finds exactly what the single-threaded pass finds', () => {
    const { path } = cleanLog()
    tamper(path, (db) => {
      db.prepare(`UPDATE events SET data = replace(data, '"qty":1', '"qty":-1') WHERE seq = 15`).run()
      db.prepare(`UPDATE events SET hash = ? WHERE seq = 30`).run('ab'.repeat(32))
      db.prepare('DELETE FROM events WHERE seq = 40').run()
      swapRows(db, 20, 21)
    })
    const order = (fs: { seq: number | null; check: string; kind: string }[]) => fs.map((f) => `${f.seq} ${f.check} ${f.kind}`).sort()
    const inline = auditFile(path)
    const run = cli('audit', '--db', path, '--format', 'json')
    expect(run.status).toBe(1)
    const threaded = JSON.parse(run.stdout)
    expect(threaded.coverage.chainVerified).toBe(true)
    expect(order(threaded.findings)).toEqual(order(inline.findings))
    expect(threaded.chain).toEqual(inline.chain)
    expect(threaded.log.headHash).toBe(inline.log.headHash)
    expect(order(inline.findings)).toEqual(
      expect.arrayContaining(['15 chain chain.payload-edited', '20 chain chain.rows-swapped', '30 chain chain.hash-edited', '40 sequence sequence.gap']),
    )
  })

  it('without the chain walk, the audit reads the same log to the same head and findings, less the chain’s, and says the chain was not verified', () => {
    const { path, lastSeq } = cleanLog()
    tamper(path, (db) => {
      db.prepare(`UPDATE events SET data = replace(data, '"qty":1', '"qty":-1') WHERE seq = 15`).run()
      db.prepare(`UPDATE events SET hash = ? WHERE seq = 30`).run('ab'.repeat(32))
    })
    const now = () => new Date(T0)
    const full = auditFile(path, { now })
    const unchained = auditFile(path, { now, verifyChain: false })
    expect(unchained.coverage).toEqual({ ...full.coverage, chainVerified: false })
    expect(unchained.log).toEqual(full.log)
    expect(unchained.log.events).toBe(lastSeq)
    expect(unchained.findings).toEqual(full.findings.filter((f) => f.check !== 'chain' && f.check !== 'sequence'))
    expect(unchained.findings).toEqual([expect.objectContaining({ check: 'schema', seq: 15 })])
    expect(unchained.positions).toEqual(full.positions)
    expect(unchained.openOrders).toEqual(full.openOrders)
  })

  it('a truncated file is unreadable input: exit 2, naming the seq the log stops being readable at', () => {
    const { path } = cleanLog()
    // enough events to span many pages, then cut the file in half
    const big = tempDb()
    const { log } = writeLog(big, tradingDay(400))
    log.close()
    const size = statSync(big).size
    const fd = openSync(big, 'r+')
    ftruncateSync(fd, Math.floor(size / 2 / 4096) * 4096)
    closeSync(fd)
    const total = [...tradingDay(400)].length
    const run = cli('audit', '--db', big, '--format', 'json')
    expect(run.status, run.stderr).toBe(2)
    const readable = Number(/cannot be read past seq (\d+)/.exec(run.stderr)?.[1])
    expect(readable).toBeGreaterThan(0)
    expect(readable).toBeLessThan(total)
    const report = JSON.parse(run.stdout)
    expect(report.verdict).toBe('unreadable')
    expect(report.log.unreadableAfterSeq).toBe(readable)
    expect(report.findings).toContainEqual(expect.objectContaining({ kind: 'read.unreadable', seq: readable + 1 }))
    // the untouched log beside it still audits clean
    expect(cli('audit', '--db', path).status).toBe(0)
  })

  it('a corrupt page in the middle of a file that opens is unreadable input too: audit reports up to it and exits 2, verify exits 2 saying so', () => {
    const big = tempDb()
    const { log } = writeLog(big, tradingDay(400))
    log.close()
    const pages = Math.floor(statSync(big).size / 4096)
    // a run of pages in the middle: rows as well as index pages, whatever the layout
    const fd = openSync(big, 'r+')
    for (let page = Math.floor(pages * 0.4); page < Math.floor(pages * 0.6); page++) writeSync(fd, Buffer.alloc(4096, 0xff), 0, 4096, page * 4096)
    closeSync(fd)
    const total = [...tradingDay(400)].length

    const audit = cli('audit', '--db', big, '--format', 'json')
    expect(audit.status, audit.stderr).toBe(2)
    const report = JSON.parse(audit.stdout)
    expect(report.verdict).toBe('unreadable')
    expect(report.log.unreadableAfterSeq).toBeGreaterThan(0)
    expect(report.log.unreadableAfterSeq).toBeLessThan(total)
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'read', kind: 'read.unreadable' }))

    const verify = cli('verify', '--db', big)
    expect(verify.status).toBe(2)
    expect(verify.stderr).toContain('cannot be read to its end')
  })

  it('input that is not a haltd log exits 2 with what is wrong: missing, not SQLite, empty, foreign SQLite', () => {
    const dir = tempDb().replace(/events\.db$/, '')
    expect(() => auditFile(`${dir}nope.db`)).toThrow(NotAnEventLog)
    const missing = cli('audit', '--db', `${dir}nope.db`)
    expect([missing.status, missing.stderr]).toEqual([2, expect.stringContaining('no such file')])
    writeFileSync(`${dir}text.db`, 'this is not a database at all, just some text '.repeat(200))
    const text = cli('audit', '--db', `${dir}text.db`)
    expect([text.status, text.stderr]).toEqual([2, expect.stringContaining('not a haltd event log')])
    writeFileSync(`${dir}empty.db`, '')
    expect(cli('audit', '--db', `${dir}empty.db`).status).toBe(2)
    tamper(`${dir}foreign.db`, (db) => db.exec('CREATE TABLE t (x INTEGER)'))
    const foreign = cli('audit', '--db', `${dir}foreign.db`)
    expect([foreign.status, foreign.stderr]).toEqual([2, expect.stringContaining('no haltd meta/events tables')])
  })

  it('a log whose order row was edited into another shape cannot be replayed: replay exits 2 saying so and pointing at the audit', () => {
    const path = tempDb()
    writeLog(path, tradingDay(3))
    tamper(path, (db) => db.prepare(`UPDATE events SET data = '[]' WHERE seq = (SELECT MIN(seq) FROM events WHERE type = 'order.submitted')`).run())
    const r = cli('replay', '--db', path)
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(new RegExp(`^haltd replay: the log cannot be replayed: .+ \\(haltd audit --db ${path} names the rows at fault\\)\\n$`))
  })

  it('a FIFO, a device or a directory given as the log is refused at once, naming what it is, never read or waited on', () => {
    const dir = tempDb().replace(/events\.db$/, '')
    const fifo = `${dir}pipe.db`
    execFileSync('mkfifo', [fifo])
    for (const [path, kind] of [
      [fifo, 'FIFO'],
      ['/dev/zero', 'device'],
      [dir, 'directory'],
    ] as const) {
      for (const command of ['audit', 'verify', 'replay']) {
        const r = cli(command, '--db', path)
        expect([r.status, r.stderr.trim()], `${command} ${path}`).toEqual([
          2,
          `haltd ${command}: ${path} is not a haltd event log: it is a ${kind}, not a file`,
        ])
      }
    }
    const checkpoint = cli('checkpoint', 'verify', fifo)
    expect([checkpoint.status, checkpoint.stdout.trim()]).toEqual([1, `bad: ${fifo}: cannot read it: it is a FIFO, not a file`])
  })
})
