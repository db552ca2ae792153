import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CheckpointFailed, checksumOf, createCheckpointer, verifyCheckpoint, type CheckpointContent } from '../../src/core/shutdown/checkpoint.js'
import { tempDir } from '../support/tmp.js'

const content = (over: Partial<CheckpointContent> = {}): CheckpointContent => ({
  createdAt: 1_700_000_000_000,
  atSeq: 42,
  positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: -1.5, avgEntry: 100 }],
  orders: [{ venue: 'alpha', clientOrderId: 'hd-1', status: 'open' }],
  balances: { alpha: [{ asset: 'USDT', free: 10, used: 0, total: 10 }] },
  strategies: { strategies: { mm: { enabled: false, state: { inventory: 3 } } } },
  config: { venues: ['alpha'] },
  ...over,
})

describe('checkpoint', () => {
  it('is written atomically with a checksum, read back and verified, leaving no temp file behind', () => {
    const dir = tempDir()
    const cp = createCheckpointer({ primary: join(dir, 'cp', 'checkpoint.json') })
    const written = cp.write(content(), { verify: true })
    expect(written).toMatchObject({ path: join(dir, 'cp', 'checkpoint.json'), verified: true, fallback: false, atSeq: 42 })
    expect(written.checksum).toBe(checksumOf(content()))
    expect(readdirSync(join(dir, 'cp'))).toEqual(['checkpoint.json'])
    const verdict = verifyCheckpoint(written.path)
    expect(verdict).toMatchObject({ ok: true, atSeq: 42 })
    if (verdict.ok) expect(verdict.content.strategies).toEqual(content().strategies)
  })

  it('the checksum does not depend on key order', () => {
    expect(checksumOf({ a: 1, b: { c: 2, d: 3 } })).toBe(checksumOf({ b: { d: 3, c: 2 }, a: 1 }))
  })

  it('verify names what is wrong: an edited byte, a missing file, not JSON, not a checkpoint', () => {
    const dir = tempDir()
    const { path } = createCheckpointer({ primary: join(dir, 'c.json') }).write(content(), { verify: false })
    writeFileSync(path, readFileSync(path, 'utf8').replace('-1.5', '-2.5'))
    expect(verifyCheckpoint(path)).toMatchObject({ ok: false, problem: expect.stringMatching(/^checksum mismatch/) })
    expect(verifyCheckpoint(join(dir, 'nope.json'))).toMatchObject({ ok: false, problem: expect.stringMatching(/^cannot read it/) })
    writeFileSync(path, '{ not json')
    expect(verifyCheckpoint(path)).toMatchObject({ ok: false, problem: expect.stringMatching(/^not JSON/) })
    writeFileSync(path, JSON.stringify({ format: 'something-else' }))
    expect(verifyCheckpoint(path)).toMatchObject({ ok: false, problem: expect.stringMatching(/^not a haltd checkpoint: format/) })
  })

  it('falls back when the primary cannot be written, and when neither can, fails with both reasons and the recovery from the log', () => {
    const dir = tempDir()
    const file = join(dir, 'file')
    writeFileSync(file, 'x')
    const fallback = createCheckpointer({ primary: join(file, 'c.json'), fallback: join(dir, 'fb', 'c.json') }).write(content(), { verify: true })
    expect(fallback).toMatchObject({ fallback: true, path: join(dir, 'fb', 'c.json') })
    expect(fallback.attempts[0]!.path).toBe(join(file, 'c.json'))

    const both = createCheckpointer({ primary: join(file, 'a.json'), fallback: join(file, 'b.json'), logPath: '/var/lib/haltd/events.db' })
    let error: unknown
    try {
      both.write(content(), { verify: true })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(CheckpointFailed)
    const failed = error as CheckpointFailed
    expect(failed.code).toBe('CHECKPOINT_FAILED')
    expect(failed.attempts.map((a) => a.path)).toEqual([join(file, 'a.json'), join(file, 'b.json')])
    expect(failed.recovery).toBe(
      'Rebuild the state from the event log: `haltd replay --db /var/lib/haltd/events.db --until 42 --json` gives the positions, orders and balances as of seq 42.',
    )
  })
})
