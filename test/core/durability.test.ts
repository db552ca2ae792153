import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { openEventLog, checkStored, type EventLog } from '../../src/index.js'
import { tempDb } from '../support/tmp.js'
import { dist } from '../support/paths.js'

const KILLS = process.env.HALTD_SOAK ? 200 : 20

/**
 * Nothing partial is visible: every row from `from` on is whole (its data parses and matches its
 * schema) and every batch in the log is there entire, in consecutive seqs.
 */
function expectOnlyWholeEventsAndBatches(log: EventLog, from: number): { batches: number } {
  const batches = new Map<string, number[]>()
  for (const row of log.readRaw(from)) {
    expect(checkStored(row.type, row.v, JSON.parse(row.data)), `seq ${row.seq}`).toEqual([])
    if (row.correlationId?.startsWith('batch:')) {
      const seqs = batches.get(row.correlationId) ?? []
      seqs.push(row.seq)
      batches.set(row.correlationId, seqs)
    }
  }
  for (const [id, seqs] of batches) {
    const size = Number(id.split(':')[3])
    expect(seqs.length, `${id} is in the log only in part`).toBe(size)
    expect(seqs[seqs.length - 1]! - seqs[0]!, `${id} is not contiguous`).toBe(size - 1)
  }
  return { batches: batches.size }
}

/**
 * Run the appending child until it has acknowledged at least `minAcks` events past its start,
 * plus a random extra moment, then SIGKILL it. Returns every seq it acknowledged.
 */
function appendThenKill(path: string, durability: 'process' | 'power', minAcks: number, extraMs: number): Promise<{ acked: number[]; startSeq: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [dist('test/core/durability-child.js'), path, durability], { stdio: ['ignore', 'pipe', 'pipe'] })
    const acked: number[] = []
    let startSeq = -1
    let buffer = ''
    let armed = false
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const lines = buffer.split('\n')
      buffer = lines.pop()!
      for (const line of lines) {
        if (line.startsWith('ready ')) startSeq = Number(line.slice(6))
        else acked.push(Number(line))
      }
      if (!armed && acked.length >= minAcks) {
        armed = true
        setTimeout(() => child.kill('SIGKILL'), extraMs)
      }
    })
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited without being killed: ${stderr}`))
      else resolve({ acked, startSeq })
    })
  })
}

describe('durability', () => {
  for (const durability of ['process', 'power'] as const) {
    it(`keeps every acknowledged append and batch, and shows nothing partial, through ${KILLS / 2} kill -9s in ${durability} mode`, async () => {
      const path = tempDb()
      let expectedAtLeast = 0
      let batchesSeen = 0
      for (let round = 0; round < KILLS / 2; round++) {
        const { acked, startSeq } = await appendThenKill(path, durability, 1 + Math.floor(Math.random() * 400), Math.floor(Math.random() * 40))
        // the child resumed exactly where the previous one's durable log ended
        expect(startSeq).toBe(expectedAtLeast)
        const log = openEventLog({ path, readonly: true })
        const result = log.verify()
        expect(result).toMatchObject({ ok: true })
        const last = acked.length ? acked[acked.length - 1]! : startSeq
        expect(log.lastSeq).toBeGreaterThanOrEqual(last)
        // every acknowledged seq is present and whole (readable, parsable, in its place)
        const present = new Set<number>()
        for (const e of log.read({ from: startSeq + 1 })) present.add(e.seq)
        for (const seq of acked) expect(present.has(seq)).toBe(true)
        batchesSeen += expectOnlyWholeEventsAndBatches(log, startSeq + 1).batches
        expectedAtLeast = log.lastSeq
        log.close()
      }
      expect(batchesSeen).toBeGreaterThan(0)
      // the file stays writable by the next process after the last kill
      const after = openEventLog({ path, durability })
      expect(after.append({ type: 'market.mark', data: { venue: 'okx', symbol: 'BTC/USDT', price: 1 } }).seq).toBe(expectedAtLeast + 1)
      expect(after.verify()).toMatchObject({ ok: true, lastSeq: expectedAtLeast + 1 })
      after.close()
    }, 120_000)
  }
})
