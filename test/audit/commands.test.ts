import { describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { stateHash } from '../../src/projections/index.js'
import { auditFile } from '../../src/audit/audit.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { dist } from '../support/paths.js'
import { tempDb, tempDir } from '../support/tmp.js'
import { rig } from '../shutdown/rig.js'
import { rechainFrom, T0, tamper, tradingDay, writeLog } from './fixtures.js'
import { anchorOf, formatAnchor } from '../../src/core/log/anchor.js'
import { formatShutdownReport } from '../../src/core/shutdown/report.js'
import { checksumOf } from '../../src/core/shutdown/checkpoint.js'

const cli = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })

describe('haltd replay', () => {
  it('--until SEQ gives the state hash the live projections had at that seq, in the middle of a shutdown', async () => {
    const r = rig({ options: { graceful: { flatten: 'aggressive', settleMs: 50, waitTimeoutMs: 500 } } })
    await r.rest(2)
    await r.take('alpha', 3)
    // live: the projection runner subscribed first, so at our turn it has applied this very event
    let at: { seq: number; hash: string } | undefined
    let announced: number | undefined
    const off = r.log.subscribe(r.log.lastSeq + 1, (e) => {
      if (!at && e.type === 'shutdown.step-started' && (e.data as { step: number }).step === 5) at = { seq: e.seq, hash: stateHash(r.projections.state) }
      if (announced === undefined && e.type === 'shutdown.step-started' && (e.data as { step: number }).step === 1) announced = e.seq
    })
    await r.controller.requestShutdown({ mode: 'graceful', reason: 'replay test', origin: 'admin' }).done
    off()
    const finalHash = stateHash(r.projections.state)
    const lastSeq = r.log.lastSeq
    await r.close()
    const db = join(r.dir, 'copy.db')
    copyFileSync(r.log.path, db)
    expect(at).toBeDefined()
    expect(at!.seq).toBeLessThan(lastSeq)

    const mid = cli('replay', '--db', db, '--until', String(at!.seq), '--json')
    expect(mid.status, mid.stderr).toBe(0)
    const view = JSON.parse(mid.stdout)
    expect(view.seq).toBe(at!.seq)
    expect(view.stateHash).toBe(at!.hash)
    expect(view.tradingState).toBe('HALTED')
    expect(view.killSwitch).toEqual({ latched: false, reason: null })
    expect(view.shutdowns).toHaveLength(1)
    expect(view.shutdowns[0].mode).toBe('graceful')
    expect(view.shutdowns[0].status).toBe('SHUTTING_DOWN')
    expect(JSON.parse(cli('replay', '--db', db, '--until', String(announced), '--json').stdout).shutdowns[0].status).toBe('SHUTTING_DOWN_SOON')
    expect(view.shutdowns[0].steps.at(-1)).toMatchObject({ number: 5, name: 'cancel orders and flatten', endedAt: null, outcome: 'running' })
    for (const s of view.shutdowns[0].steps) expect(Object.keys(s)).toEqual(expect.arrayContaining(['number', 'name', 'startedAt', 'endedAt', 'outcome']))
    expect(view.openOrders.length).toBeGreaterThan(0)
    expect(view.positions).toContainEqual(expect.objectContaining({ venue: 'alpha', qty: 3 }))

    const end = JSON.parse(cli('replay', '--db', db, '--json').stdout)
    expect([end.seq, end.stateHash]).toEqual([lastSeq, finalHash])
    expect(end.openOrders).toEqual([])
    expect(end.shutdowns[0].steps).toHaveLength(13)
    expect(end.shutdowns[0].status).toBe('SHUT_DOWN')

    const text = cli('replay', '--db', db, '--until', String(at!.seq))
    expect(text.stdout).toContain(`state as of seq ${at!.seq} of ${lastSeq}`)
    expect(text.stdout).toContain('cancel orders and flatten')
  })

  it('given a log a live writer appends to while it reads, replays to the end the log had when it opened it, and names no seq past it', async () => {
    const path = tempDb()
    const writer = spawn(process.execPath, [dist('test/audit/live-writer-child.js'), path, '30000'], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      await new Promise<void>((resolve, reject) => {
        writer.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve())
        writer.on('exit', (code) => reject(new Error(`the writer exited (${code}) before it was ready`)))
      })

      const text = cli('replay', '--db', path)
      const json = cli('replay', '--db', path, '--json')

      expect(text.status, text.stderr).toBe(0)
      const [, seq, of] = /^state as of seq (\d+)(?:, the end of the log when replay opened it| of (\d+)) /.exec(text.stdout) ?? []
      expect(seq).toBeDefined()
      if (of !== undefined) expect(Number(seq)).toBeLessThanOrEqual(Number(of))
      expect(json.status, json.stderr).toBe(0)
      const view = JSON.parse(json.stdout) as { seq: number; stateHash: string }
      // the writer went on: the log is past what the replay showed, and that state is the log's own at its seq
      const log = openEventLog({ path, readonly: true })
      expect(log.lastSeq).toBeGreaterThan(view.seq)
      log.close()
      expect(JSON.parse(cli('replay', '--db', path, '--until', String(view.seq), '--json').stdout).stateHash).toBe(view.stateHash)
    } finally {
      writer.kill('SIGKILL')
    }
  })

  it('--at ISO-TIME replays the events stamped at or before that time', () => {
    const path = tempDb()
    writeLog(path, tradingDay(4), 1000).log.close()
    const byTime = JSON.parse(cli('replay', '--db', path, '--at', new Date(T0 + 9_500).toISOString(), '--json').stdout)
    const bySeq = JSON.parse(cli('replay', '--db', path, '--until', '10', '--json').stdout)
    expect(byTime.seq).toBe(10)
    expect(byTime.stateHash).toBe(bySeq.stateHash)
  })

  it('refuses contradictory or malformed bounds with a message naming the flag, and unreadable files, with exit 2 (1 means an incomplete state)', () => {
    const path = tempDb()
    writeLog(path, tradingDay(1)).log.close()
    const both = cli('replay', '--db', path, '--until', '3', '--at', '2025-01-01T00:00:00Z')
    expect([both.status, both.stderr]).toEqual([2, expect.stringContaining('--until or --at, not both')])
    expect(cli('replay', '--db', path, '--at', 'yesterday').stderr).toContain('--at must be an ISO time')
    expect(cli('replay', '--db', path, '--until', '-1').stderr).toContain('--until must be a seq')
    expect(cli('replay', '--db', join(tempDir(), 'none.db')).status).toBe(2)
  })

  it('given a fill stored as a version newer than this build reads, then the text names it near the top and replay exits 1: the state shown is incomplete', () => {
    const path = tempDb()
    writeLog(path, tradingDay(4)).log.close()
    // tradingDay: seq 10 is o-1's first fill
    tamper(path, (db) => {
      db.prepare('UPDATE events SET v = 2 WHERE seq = 10').run()
      rechainFrom(db, 10)
    })
    const text = cli('replay', '--db', path)
    expect(text.status).toBe(1)
    const lines = text.stdout.split('\n')
    expect(lines[1]).toBe('INCOMPLETE: 1 event not applied, so the state below lacks what it says (haltd audit names it too):')
    expect(lines[2]).toBe('  seq 10 order.filled v2: version 2 is newer than this build reads (v1); written by a newer haltd?')

    const json = cli('replay', '--db', path, '--json')
    expect(json.status).toBe(1)
    expect(JSON.parse(json.stdout).notApplied).toEqual({
      total: 1,
      first: [{ seq: 10, type: 'order.filled', v: 2, why: 'version 2 is newer than this build reads (v1); written by a newer haltd?' }],
    })
    // the state before that event is whole
    const before = cli('replay', '--db', path, '--until', '9')
    expect(before.status).toBe(0)
    expect(before.stdout).not.toContain('INCOMPLETE')
    // the audit flags the same file
    expect(cli('audit', '--db', path).status).toBe(1)
  })

  it('given many events this build cannot read, then the text lists the first ten with their seq, type, version and why, and counts the rest', () => {
    const path = tempDb()
    writeLog(path, tradingDay(6)).log.close()
    tamper(path, (db) => {
      db.prepare("UPDATE events SET type = 'venue.teleported' WHERE type = 'market.mark'").run()
      db.prepare("UPDATE events SET v = 7 WHERE type = 'order.accepted'").run()
      rechainFrom(db, 1)
    })
    const r = cli('replay', '--db', path)
    expect(r.status).toBe(1)
    const lines = r.stdout.split('\n')
    // a mark per venue, then 6 orders × (accepted + mark)
    expect(lines[1]).toMatch(/^INCOMPLETE: 14 events not applied, so the state below lacks what they say/)
    expect(lines[2]).toBe("  seq 4 venue.teleported v1: 'venue.teleported' is not an event type this build knows (written by a newer haltd?)")
    expect(lines.filter((l) => l.startsWith('  seq '))).toHaveLength(10)
    expect(lines[12]).toBe('  … and 4 more (--json lists the first 14)')
    expect(lines).toContainEqual('  seq 9 order.accepted v7: version 7 is newer than this build reads (v1); written by a newer haltd?')
  })
})

describe('haltd checkpoint verify', () => {
  it('accepts the checkpoint a graceful shutdown wrote and rejects it once edited', async () => {
    const r = rig()
    await r.rest(1)
    await r.controller.requestShutdown({ mode: 'graceful', reason: 'checkpoint test', origin: 'admin' }).done
    await r.close()
    const file = join(r.dir, 'checkpoints', 'checkpoint.json')
    expect(existsSync(file)).toBe(true)
    const ok = cli('checkpoint', 'verify', file)
    expect([ok.status, ok.stdout]).toEqual([0, expect.stringMatching(/^ok: .* valid checkpoint at seq \d+/)])
    const edited = join(r.dir, 'edited.json')
    const json = JSON.parse(readFileSync(file, 'utf8'))
    json.content.atSeq += 1
    writeFileSync(edited, JSON.stringify(json))
    const bad = cli('checkpoint', 'verify', edited)
    expect([bad.status, bad.stdout]).toEqual([1, expect.stringContaining('checksum mismatch')])
    const notOne = join(r.dir, 'not.json')
    writeFileSync(notOne, '{"hello":1}')
    expect(cli('checkpoint', 'verify', notOne).status).toBe(1)
    expect(cli('checkpoint', 'verify', join(r.dir, 'missing.json')).stdout).toContain('cannot read it')
    expect(cli('checkpoint', 'check', file).stderr).toContain("use 'haltd checkpoint verify FILE'")
  })
})

describe('the log head kept outside the log', () => {
  it('the checkpoint and the final report carry the head; checkpoint verify --db fails once the log no longer holds it', async () => {
    const r = rig()
    await r.rest(1)
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'anchor test', origin: 'admin' }).done
    const end = anchorOf(r.log)
    await r.close()
    expect(report.head).toEqual(end)
    expect(formatShutdownReport(report)).toContain(`--expect-head ${formatAnchor(end)}`)
    const file = join(r.dir, 'checkpoints', 'checkpoint.json')
    const head = JSON.parse(readFileSync(file, 'utf8')).content.head as { seq: number; hash: string }
    expect(head.seq).toBeGreaterThan(0)
    expect(head.seq).toBeLessThan(end.seq)
    const ok = cli('checkpoint', 'verify', file, '--db', r.log.path)
    expect([ok.status, ok.stdout]).toEqual([0, expect.stringContaining('valid checkpoint')])
    expect(cli('audit', '--db', r.log.path, '--expect-head', formatAnchor(end)).status).toBe(0)

    tamper(r.log.path, (db) => db.prepare('UPDATE events SET hash = ? WHERE seq = ?').run('0'.repeat(64), head.seq))
    const bad = cli('checkpoint', 'verify', file, '--db', r.log.path)
    expect([bad.status, bad.stdout]).toEqual([1, expect.stringContaining('disagrees with it')])
    expect(cli('checkpoint', 'verify', file, '--db', join(r.dir, 'none.db')).status).toBe(2)
  })
})

describe("a checkpoint's contents against the log", () => {
  it('checkpoint verify --db compares its positions and live orders with the log at its seq: an edit with a recomputed checksum is named', async () => {
    // given a graceful shutdown that keeps its resting orders and its positions, so the checkpoint holds both
    const r = rig({ options: { graceful: { flatten: 'none', cancelOnlyAggressive: true } } })
    await r.rest(2)
    await r.take('alpha', 3)
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'contents test', origin: 'admin' }).done
    await r.close()
    expect(report.openOrders.count).toBe(6)
    const file = join(r.dir, 'checkpoints', 'checkpoint.json')
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { checksum: string; content: { positions: { qty: number }[]; orders: { status: string }[] } }
    expect(kept.content.positions).toEqual([expect.objectContaining({ venue: 'alpha', qty: 3 })])
    expect(kept.content.orders).toHaveLength(6)

    // when it is verified as written, then it agrees with the log
    const ok = cli('checkpoint', 'verify', file, '--db', r.log.path)
    expect([ok.status, ok.stdout]).toEqual([0, expect.stringContaining('valid checkpoint')])

    // when its position and an order's status are edited and its checksum recomputed, as anyone can
    const edited = join(r.dir, 'edited.json')
    kept.content.positions[0]!.qty = 0.5
    kept.content.orders[0]!.status = 'canceled'
    kept.checksum = checksumOf(kept.content)
    writeFileSync(edited, JSON.stringify(kept))
    // then the file alone still passes, and against the log each edit is named
    expect(cli('checkpoint', 'verify', edited).status).toBe(0)
    const bad = cli('checkpoint', 'verify', edited, '--db', r.log.path)
    expect(bad.status).toBe(1)
    expect(bad.stdout).toContain('disagrees with what it says')
    expect(bad.stdout).toContain('position alpha BTC/USDT:USDT: 0.5 in the checkpoint, 3 in the log')
    expect(bad.stdout).toMatch(/order \S+ \S+: status canceled in the checkpoint, (new|open) in the log/)

    // given a row before the checkpoint's seq this haltd cannot read, then nothing can be compared: exit 2, as for a log that cannot be read
    tamper(r.log.path, (db) => db.prepare('UPDATE events SET data = ? WHERE seq = 2').run('{not json'))
    const unreadable = cli('checkpoint', 'verify', file, '--db', r.log.path)
    expect(unreadable.status).toBe(2)
    expect(unreadable.stderr).toMatch(/up to seq \d+ has 1 event\(s\) this haltd cannot apply/)
  })
})

describe('haltd backup', () => {
  it('takes a consistent copy while another process keeps appending, and the copy audits clean', async () => {
    const db = tempDb()
    const child = spawn(process.execPath, [dist('test/support/append-child.js'), db, 'process'], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const lines = createInterface({ input: child.stdout! })
      let acked = 0
      const enough = new Promise<void>((resolve) => {
        lines.on('line', (l) => {
          const n = Number(l)
          if (Number.isInteger(n)) acked = n
          if (acked >= 3000) resolve()
        })
      })
      await enough
      const before = acked
      const out = join(tempDir(), 'backup.db')
      const run = cli('backup', '--db', db, '--out', out)
      expect(run.status, run.stderr).toBe(0)
      const count = Number(/: (\d+) events to seq (\d+)/.exec(run.stdout)?.[1])
      expect(count).toBeGreaterThanOrEqual(before)
      expect(run.stdout).toContain('chain intact')
      // one file, readable by its owner only, as the log is
      expect(statSync(out).mode & 0o777).toBe(0o600)
      expect([existsSync(`${out}-wal`), existsSync(`${out}-shm`)]).toEqual([false, false])
      const report = auditFile(out)
      expect(report.verdict).toBe('clean')
      expect(report.log.events).toBe(count)
      // the writer went on meanwhile: the copy is a snapshot, not the live file
      expect(cli('backup', '--db', db, '--out', out).stderr).toContain('exists already')
    } finally {
      child.kill('SIGKILL')
    }
  })
})

describe('haltd export', () => {
  it('streams NDJSON of the chosen types and CSV of all, one line per event, CSV fields quoted', () => {
    const path = tempDb()
    const { lastSeq } = writeLog(path, tradingDay(5))
    const log = openEventLog({ path, readonly: true })
    const fills = [...log.read({ types: ['order.filled'] })].length
    log.close()
    const nd = cli('export', '--db', path, '--format', 'ndjson', '--types', 'order.filled,order.canceled')
    expect(nd.status, nd.stderr).toBe(0)
    const rows = nd.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(rows.filter((e) => e.type === 'order.filled')).toHaveLength(fills)
    expect(new Set(rows.map((e) => e.type))).toEqual(new Set(['order.filled', 'order.canceled']))
    expect(rows[0]).toMatchObject({ seq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/), data: { venue: expect.any(String) } })

    const out = join(tempDir(), 'events.csv')
    expect(cli('export', '--db', path, '--format', 'csv', '--out', out).status).toBe(0)
    const csv = readFileSync(out, 'utf8').trimEnd().split('\r\n')
    expect(csv[0]).toBe('seq,id,type,v,ts,time,stream,causationId,correlationId,data,prevHash,hash')
    expect(csv).toHaveLength(lastSeq + 1)
    expect(csv[1]).toMatch(/^1,ev-1,run\.started,1,\d+,2025-01-15T09:30:00\.000Z,run,,,"\{""runId"":""run-1"",/)

    expect(cli('export', '--db', path, '--format', 'xml').stderr).toContain('--format must be ndjson or csv')
    expect(cli('export', '--db', path, '--format', 'csv', '--types', 'order.nope').stderr).toContain("'order.nope' is not an event type")
  })

  it('given an output it cannot write, says so naming it, exits 2 and leaves no partial file; the log itself is never an output', () => {
    const path = tempDb()
    const written = writeLog(path, tradingDay(5))
    const dir = tempDir()
    const missing = join(dir, 'no', 'such', 'dir', 'x.ndjson')
    const r = cli('export', '--db', path, '--format', 'ndjson', '--out', missing)
    expect([r.status, r.stderr.trim()]).toEqual([2, `haltd export: cannot write ${missing}: ENOENT: no such file or directory, open '${missing}'`])
    expect(cli('export', '--db', path, '--format', 'ndjson', '--out', dir).stderr).toContain(`--out ${dir} is a directory: give a file`)
    for (const command of ['export', 'audit']) {
      const over = cli(command, '--db', path, '--format', command === 'export' ? 'csv' : 'text', '--out', path)
      expect([over.status, over.stderr.trim()]).toEqual([
        command === 'audit' ? 2 : 1,
        `haltd ${command}: --out ${path} is the log being read: give another path`,
      ])
    }
    const log = openEventLog({ path, readonly: true })
    expect([log.lastSeq, log.verify().ok]).toEqual([written.lastSeq, true])
    log.close()
  })

  it('given a reader that stops early (`| head`), ends quietly with exit 0', async () => {
    const path = tempDb()
    writeLog(path, tradingDay(20))
    const child = spawn(process.execPath, [dist('src/cli.js'), 'export', '--db', path, '--format', 'ndjson'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    child.stdout.once('data', () => child.stdout.destroy())
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    expect([code, stderr]).toEqual([0, ''])
  })
})
