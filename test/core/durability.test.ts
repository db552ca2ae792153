import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { openEventLog } from '../../src/index.js'
import { tempDb } from '../support/tmp.js'
import { dist } from '../support/paths.js'

const KILLS = process.env.HALTD_SOAK ? 200 : 20

/**
 * Run the appending child until it has acknowledged at least `minAcks` events past its start,
 * plus a random extra moment, then SIGKILL it. Returns every seq it acknowledged.
 */
function appendThenKill(path: string, durability: 'process' | 'power', minAcks: number, extraMs: number): Promise<{ acked: number[]; startSeq: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [dist('test/support/append-child.js'), path, durability], { stdio: ['ignore', 'pipe', 'pipe'] })
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
    it(`keeps every acknowledged append through ${KILLS / 2} kill -9s in ${durability} mode`, async () => {
      const path = tempDb()
      let expectedAtLeast = 0
      for (let round = 0; round < KILLS / 2; round++) {
        const { acked, startSeq } = await appendThenKill(path, durability, 1 + Math.floor(Math.random() * 400), Math.floor(Math.random() * 40))
        // the child resumed exactly where the previous one's durable log ended
        expect(startSeq).toBeGreaterThanOrEqual(expectedAtLeast)
        const log = openEventLog({ path, readonly: true })
        const result = log.verify()
        expect(result).toMatchObject({ ok: true })
        const last = acked.length ? acked[acked.length - 1]! : startSeq
        expect(log.lastSeq).toBeGreaterThanOrEqual(last)
        // every acknowledged seq is present and whole (readable, parsable, in its place)
        const present = new Set<number>()
        for (const e of log.read({ from: startSeq + 1 })) present.add(e.seq)
        for (const seq of acked) expect(present.has(seq)).toBe(true)
        expectedAtLeast = log.lastSeq
        log.close()
      }
    }, 120_000)
  }
})
