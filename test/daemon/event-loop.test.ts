import { describe, expect, it } from 'vitest'
import { watchEventLoop } from '../../src/daemon/event-loop.js'

const hold = (ms: number) => {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // busy: no timer can run
  }
}
const turn = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('the event loop watch', () => {
  it('given the loop held up right after a reading, the next reading shows it, and the one after does not', async () => {
    const watch = watchEventLoop()
    try {
      await turn(30)
      watch.read()
      hold(120)
      await turn(30)
      const held = watch.read()
      expect(held.maxSeconds).toBeGreaterThanOrEqual(0.1)
      expect(held.p99Seconds).toBeLessThanOrEqual(held.maxSeconds)
      expect(held.meanSeconds).toBeGreaterThan(0)
      await turn(30)
      expect(watch.read().maxSeconds).toBeLessThan(0.1)
    } finally {
      watch.stop()
    }
  })

  it('given two watches in one process, a reading of one leaves the other its window', async () => {
    const a = watchEventLoop()
    const b = watchEventLoop()
    try {
      await turn(30)
      hold(120)
      await turn(30)
      expect(a.read().maxSeconds).toBeGreaterThanOrEqual(0.1)
      expect(b.read().maxSeconds).toBeGreaterThanOrEqual(0.1)
    } finally {
      a.stop()
      b.stop()
    }
  })

  it('reads zero before anything was sampled', () => {
    const watch = watchEventLoop()
    expect(watch.read()).toEqual({ meanSeconds: 0, p99Seconds: 0, maxSeconds: 0 })
    watch.stop()
  })
})
