import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { randomUuid, timeoutSignal, uuidIds } from '../../src/events/clock.js'

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('uuidIds: the log ids a writer gets by default', () => {
  it('given many ids (across several refills of the entropy block), then each is a lower-case random v4 UUID and none repeats', () => {
    const ids = Array.from({ length: 5000 }, () => uuidIds.next())
    for (const id of ids) expect(id).toMatch(V4)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('given ids one after another, then each is its own string, not a view that later ids change', () => {
    const first = randomUuid()
    const copy = `${first}`
    for (let i = 0; i < 300; i++) randomUuid()
    expect(first).toBe(copy)
  })

  it('given many ids, then every hex digit outside the fixed version and variant bits turns up in every position', () => {
    const seen = Array.from({ length: 36 }, () => new Set<string>())
    for (let i = 0; i < 4000; i++) {
      const id = randomUuid()
      for (let p = 0; p < 36; p++) seen[p]!.add(id[p]!)
    }
    for (let p = 0; p < 36; p++) {
      const expected = [8, 13, 18, 23].includes(p) ? 1 : p === 14 ? 1 : p === 19 ? 4 : 16
      expect(seen[p]!.size, `position ${p}`).toBe(expected)
    }
  })
})

describe('timeoutSignal', () => {
  it('given a deadline inside AbortSignal.any and collections before it is due, the composite still aborts, with a TimeoutError', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    // the shape of a venue call's deadline: the gateway's closing signal, and the call's timeout
    const composite = AbortSignal.any([new AbortController().signal, timeoutSignal(100)])
    const aborted = new Promise<void>((resolve) => composite.addEventListener('abort', () => resolve()))
    for (let i = 0; i < 5; i++) {
      gc()
      await new Promise((r) => setTimeout(r, 10))
    }
    const late = new Promise<'late'>((r) => setTimeout(() => r('late'), 1_000))
    expect(await Promise.race([aborted.then(() => 'aborted' as const), late])).toBe('aborted')
    expect((composite.reason as DOMException).name).toBe('TimeoutError')
  })
})
