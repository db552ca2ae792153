import { describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { auditFile } from '../../src/audit/audit.js'
import { chainLinker, openEventLog, type StoredRow } from '../../src/core/log/event-log.js'
import { ChainKeyFileRefused, ChainKeyMismatch, ChainKeyMissing, ChainKeyUnexpected } from '../../src/core/log/errors.js'
import { readChainKeyFile } from '../../src/core/log/chain-key.js'
import { manualClock, sequentialIds } from '../../src/events/clock.js'
import { GENESIS_HASH } from '../../src/events/index.js'
import { dist } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'
import { T0, tamper, tradingDay } from './fixtures.js'

const cli = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { encoding: 'utf8' })

/** A key file of `bytes` random bytes, mode 0600 unless said otherwise, in a directory of its own. */
function keyFile(bytes = 32, mode = 0o600): { path: string; key: Buffer } {
  const key = randomBytes(bytes)
  const path = join(tempDir('haltd-key-'), 'chain.key')
  writeFileSync(path, key, { mode })
  chmodSync(path, mode)
  return { path, key }
}

/** A day of trading written through the event log, keyed with `key` (or plain without one). */
function tradedLog(key?: Buffer): string {
  const path = join(tempDir(), 'events.db')
  const clock = manualClock(T0)
  const log = openEventLog({ path, clock, ids: sequentialIds('ev'), ...(key ? { chainKey: key } : {}) })
  for (const input of tradingDay(8)) {
    log.append(input)
    clock.advance(10)
  }
  log.close()
  return path
}

const FORGED_SEQ = 20

/**
 * What a forger with write access does: edit the event at `from`, then relink every row from
 * there on with `link` (plain sha256 by default, as the file's own rule says), so each row hashes
 * right over the one before. With `markPlain`, the meta is made to say the log was never keyed.
 */
function forge(path: string, from: number, link = chainLinker(), markPlain = false): void {
  tamper(path, (db) => {
    const rows = db
      .prepare(
        'SELECT seq, id, type, v, ts, stream, causation_id AS causationId, correlation_id AS correlationId, data, prev_hash AS prevHash, hash FROM events ORDER BY seq',
      )
      .all() as StoredRow[]
    const update = db.prepare('UPDATE events SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?')
    db.transaction(() => {
      let prev = from === 1 ? GENESIS_HASH : rows[from - 2]!.hash
      for (const row of rows.slice(from - 1)) {
        const data =
          row.seq === from ? row.data.replace(/"runId":"run-1"|"price":/, (m) => (m.startsWith('"runId"') ? '"runId":"run-9"' : '"price":9')) : row.data
        const hash = link(prev, { ...row, data })
        update.run(data, prev, hash, row.seq)
        prev = hash
      }
      if (markPlain) {
        db.prepare(`UPDATE meta SET value = 'sha256' WHERE key = 'chain'`).run()
        db.prepare(`DELETE FROM meta WHERE key = 'chain_key_id'`).run()
        db.prepare(`UPDATE meta SET value = '1' WHERE key = 'format_version'`).run()
      }
    })()
  })
}

const meta = (path: string): Record<string, string> => {
  const db = new Database(path, { readonly: true })
  try {
    return Object.fromEntries((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]))
  } finally {
    db.close()
  }
}

describe('the keyed chain: a rewrite without the key is found', () => {
  it('records at creation that a log is keyed, with the key id, and that a log without a key is plain', () => {
    const { key } = keyFile()
    const keyed = tradedLog(key)
    expect(meta(keyed)).toMatchObject({ chain: 'hmac-sha256', chain_key_id: createHash('sha256').update(key).digest('hex').slice(0, 16), format_version: '2' })
    const plain = tradedLog()
    expect(meta(plain)).toMatchObject({ chain: 'sha256', format_version: '1' })
    expect(meta(plain).chain_key_id).toBeUndefined()
    // the links really are keyed: the plain rule does not make them
    const log = openEventLog({ path: keyed, readonly: true, chainKey: key })
    const [first] = [...log.readRaw(1, 1)]
    expect(chainLinker()(GENESIS_HASH, first!)).not.toBe(first!.hash)
    expect(chainLinker(key)(GENESIS_HASH, first!)).toBe(first!.hash)
    expect(log.verify()).toMatchObject({ ok: true })
    log.close()
  })

  it('given a keyed log, when its key verifies it, then verify, audit and backup report it intact (exit 0)', () => {
    const { path: kf, key } = keyFile()
    const db = tradedLog(key)
    const verify = cli('verify', '--db', db, '--key-file', kf)
    expect(verify.status, verify.stderr).toBe(0)
    expect(verify.stdout).toMatch(/^ok: \d+ events, chain intact/)
    const audit = cli('audit', '--db', db, '--key-file', kf)
    expect(audit.status, audit.stderr).toBe(0)
    expect(audit.stdout).toContain('LOG INTACT')
    expect(audit.stdout).toContain('hash chain intact')
    const backup = cli('backup', '--db', db, '--out', join(tempDir(), 'copy.db'), '--key-file', kf)
    expect(backup.status, backup.stderr).toBe(0)
    expect(backup.stdout).toContain('chain intact')
  })

  it('given a keyed log whose tail was rewritten with recomputed sha256 links, then verify --key-file fails at the first forged seq (exit 1), where the same rewrite of a plain log passes', () => {
    const plain = tradedLog()
    forge(plain, FORGED_SEQ)
    const unkeyedCheck = cli('verify', '--db', plain)
    expect(unkeyedCheck.status).toBe(0)

    const { path: kf, key } = keyFile()
    const db = tradedLog(key)
    forge(db, FORGED_SEQ)
    const run = cli('verify', '--db', db, '--key-file', kf)
    expect(run.status).toBe(1)
    expect(run.stdout, run.stderr).toContain(`broken at seq ${FORGED_SEQ}:`)
    expect(run.stdout, run.stderr).toContain(`intact to seq ${FORGED_SEQ - 1}`)
    const audit = cli('audit', '--db', db, '--key-file', kf)
    expect(audit.status).toBe(1)
    expect(audit.stdout).toContain(`first bad seq ${FORGED_SEQ}`)
    expect(auditFile(db, { chainKey: key }).chain.firstBadSeq).toBe(FORGED_SEQ)
    const backup = cli('backup', '--db', db, '--out', join(tempDir(), 'copy.db'), '--key-file', kf)
    expect(backup.status).toBe(1)
    expect(backup.stdout).toContain(`broken at seq ${FORGED_SEQ}`)
  })

  it('given a keyed log rewritten whole with sha256 links and marked plain, then it passes an unkeyed verify but verify --key-file fails at seq 1', () => {
    const { path: kf, key } = keyFile()
    const db = tradedLog(key)
    forge(db, 1, chainLinker(), true)
    expect(cli('verify', '--db', db).status).toBe(0)
    const run = cli('verify', '--db', db, '--key-file', kf)
    expect(run.status).toBe(1)
    expect(run.stdout, run.stderr).toContain('broken at seq 1:')
    expect(run.stdout, run.stderr).toContain('plain sha256')
    const report = auditFile(db, { chainKey: key })
    expect(report.chain.firstBadSeq).toBe(1)
    expect(report.coverage.chainNote).toContain('plain sha256')
  })

  it('given a keyed log whose tail was rewritten and marked plain, then verify --key-file finds the first forged seq, the rows before it verifying under the key', () => {
    const { path: kf, key } = keyFile()
    const db = tradedLog(key)
    forge(db, FORGED_SEQ, chainLinker(), true)
    const run = cli('verify', '--db', db, '--key-file', kf)
    expect(run.status).toBe(1)
    expect(run.stdout, run.stderr).toContain(`broken at seq ${FORGED_SEQ}:`)
  })

  it('given a keyed log whose tail was relinked under another key, then the right key finds the first forged seq', () => {
    const { path: kf, key } = keyFile()
    const db = tradedLog(key)
    forge(db, FORGED_SEQ, chainLinker(randomBytes(32)))
    const run = cli('verify', '--db', db, '--key-file', kf)
    expect(run.status).toBe(1)
    expect(run.stdout, run.stderr).toContain(`broken at seq ${FORGED_SEQ}:`)
    expect(cli('audit', '--db', db, '--key-file', kf).stdout).toContain(`first bad seq ${FORGED_SEQ}`)
  })

  it('given a keyed log, when a wrong key is given, then verify, audit and backup say the key does not match the log (exit 2)', () => {
    const { key } = keyFile()
    const { path: wrong } = keyFile()
    const db = tradedLog(key)
    for (const run of [
      cli('verify', '--db', db, '--key-file', wrong),
      cli('audit', '--db', db, '--key-file', wrong),
      cli('backup', '--db', db, '--out', join(tempDir(), 'copy.db'), '--key-file', wrong),
    ]) {
      expect(run.status).toBe(2)
      expect(run.stderr).toContain('the key does not match this log')
    }
  })

  it('given a keyed log and no key, then verify cannot check it (exit 2) and audit does all but the chain, saying so', () => {
    const { key } = keyFile()
    const db = tradedLog(key)
    const verify = cli('verify', '--db', db)
    expect(verify.status).toBe(2)
    expect(verify.stderr).toContain('chain not verified: keyed log, give --key-file')
    const audit = cli('audit', '--db', db)
    expect(audit.status).toBe(2)
    expect(audit.stderr).toContain('chain not verified: keyed log, give --key-file')
    expect(audit.stdout).toContain('hash chain NOT verified: chain not verified: keyed log, give --key-file')
    // the headline claims nothing of the chain it did not walk
    expect(audit.stdout).toMatch(/^NO FINDINGS, CHAIN NOT VERIFIED — /m)
    expect(audit.stdout).not.toContain('LOG INTACT')
    const report = auditFile(db)
    expect(report.coverage).toMatchObject({ chainVerified: false, chainNote: 'chain not verified: keyed log, give --key-file' })
    expect(report.chain.intact).toBe(false)
    expect(report.log.events).toBeGreaterThan(FORGED_SEQ)
    expect(report.positions.length).toBeGreaterThan(0)
    const backup = cli('backup', '--db', db, '--out', join(tempDir(), 'copy.db'))
    expect(backup.status).toBe(2)
    expect(backup.stderr).toContain('chain not verified: keyed log, give --key-file')
  })

  it('refuses a keyed log opened for writing without its key, naming the key file option, and a plain log opened with a key', () => {
    const { key } = keyFile()
    const keyed = tradedLog(key)
    expect(() => openEventLog({ path: keyed })).toThrow(ChainKeyMissing)
    expect(() => openEventLog({ path: keyed })).toThrow(/db\.chainKeyFile.*--key-file/)
    expect(() => openEventLog({ path: keyed, chainKey: randomBytes(32) })).toThrow(ChainKeyMismatch)
    expect(() => openEventLog({ path: keyed, readonly: true, chainKey: randomBytes(32) })).toThrow(ChainKeyMismatch)
    // a reader without the key reads, but cannot verify
    const reader = openEventLog({ path: keyed, readonly: true })
    expect([...reader.read()].length).toBe(reader.lastSeq)
    expect(() => reader.verify()).toThrow(ChainKeyMissing)
    reader.close()
    // the writer with its key appends links the key verifies
    const writer = openEventLog({ path: keyed, chainKey: key })
    writer.append({ type: 'market.mark', data: { venue: 'okx', symbol: 'BTC/USDT', price: 101 } })
    expect(writer.verify()).toMatchObject({ ok: true })
    writer.close()

    const plain = tradedLog()
    expect(() => openEventLog({ path: plain, chainKey: key })).toThrow(ChainKeyUnexpected)
    expect(meta(plain).chain).toBe('sha256')
  })

  it('refuses a key file readable by group or others, or shorter than 32 bytes, on the command line too', () => {
    const open = keyFile(32, 0o640)
    expect(() => readChainKeyFile(open.path)).toThrow(ChainKeyFileRefused)
    expect(() => readChainKeyFile(open.path)).toThrow(/group or others/)
    const short = keyFile(16)
    expect(() => readChainKeyFile(short.path)).toThrow(/fewer than the 32/)
    const db = tradedLog(keyFile().key)
    const run = cli('verify', '--db', db, '--key-file', open.path)
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('group or others')
  })
})
