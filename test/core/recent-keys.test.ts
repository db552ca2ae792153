import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { RecentKeys } from '../../src/core/log/recent-keys.js'

describe('recent idempotency keys (a hint for answering a repeat by one read)', () => {
  it('given keys added, then each of the latest `capacity` is reported as maybe there', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 300 }), fc.integer({ min: 1, max: 64 }), (keys, capacity) => {
        const recent = new RecentKeys(capacity)
        for (const k of keys) recent.add(k)
        return keys.slice(-capacity).every((k) => recent.mayHave(k))
      }),
      { numRuns: 300 },
    )
  })

  it('given an empty filter, then no key is reported', () => {
    const recent = new RecentKeys(16)
    expect(['', 'a', 'order.submitted:binance:1'].some((k) => recent.mayHave(k))).toBe(false)
  })

  it('given keys that have left the window, then few of them are still reported (a wrong maybe costs one read)', () => {
    const recent = new RecentKeys(4096)
    for (let i = 0; i < 4096; i++) recent.add(`order.submitted:old:${i}`)
    for (let i = 0; i < 4096; i++) recent.add(`order.filled:new:${i}`)
    let wrong = 0
    for (let i = 0; i < 4096; i++) if (recent.mayHave(`order.submitted:old:${i}`)) wrong++
    // about 1.4% expected with two slots of 65536 and 4096 keys
    expect(wrong).toBeLessThan(4096 * 0.04)
    for (let i = 0; i < 4096; i++) expect(recent.mayHave(`order.filled:new:${i}`)).toBe(true)
  })

  it('given a capacity out of range, then it is refused by name', () => {
    expect(() => new RecentKeys(0)).toThrow(/capacity/)
    expect(() => new RecentKeys(70_000)).toThrow(/capacity/)
  })
})
