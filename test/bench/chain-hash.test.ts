import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { chainHash } from '../../src/core/log/event-log.js'

/** The chain's definition, written the plain way: what the fast path in the log must equal. */
function reference(prevHash: string, r: Parameters<typeof chainHash>[1]): string {
  const header = JSON.stringify([r.seq, r.id, r.type, r.v, r.ts, r.stream, r.causationId, r.correlationId])
  return createHash('sha256').update(prevHash).update(header).update(r.data).digest('hex')
}

const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[a-z0-9:.-]{0,40}$/))

describe('chainHash (sped up for the append benchmark)', () => {
  it('is sha256 over prevHash, the JSON header [seq, id, type, v, ts, stream, causationId, correlationId] and the data, for any strings', () => {
    fc.assert(
      fc.property(
        text,
        fc.record({
          seq: fc.integer(),
          id: text,
          type: text,
          v: fc.integer(),
          ts: fc.double(),
          stream: text,
          causationId: fc.option(text),
          correlationId: fc.option(text),
          data: text,
        }),
        (prev, row) => chainHash(prev, row) === reference(prev, row),
      ),
      { numRuns: 3000 },
    )
  })

  it('keeps the hash of a known event unchanged, so logs written before still verify', () => {
    const row = {
      seq: 1,
      id: 'id-1',
      type: 'market.mark',
      v: 1,
      ts: 1700000000000,
      stream: 'market:sim-a:BTC/USDT',
      causationId: null,
      correlationId: 'run "7"',
      data: '{"venue":"sim-a","symbol":"BTC/USDT","price":100}',
    }
    // computed with the original createHash(...).update(prev).update(header).update(data) code
    expect(chainHash('0'.repeat(64), row)).toBe('af369938ff256a5e55f2120eafc351c80dcb302348a9b359f1792d9c493ff845')
  })
})
