/** How late the event loop ran its timers, in seconds beyond the sampling interval. */
export type EventLoopLag = { meanSeconds: number; p99Seconds: number; maxSeconds: number }

export type EventLoopWatch = {
  /** The lag since the last reading (then the window starts again); zero before anything was sampled. */
  read(): EventLoopLag
  stop(): void
}

const RESOLUTION_MS = 10
// a scrape every 15 s holds 1,500 samples; past this the oldest are overwritten
const WINDOW = 8_192

/**
 * Sample this process's event loop from now on, with a window of its own: each haltd in a process
 * reads its own, so one's scrape never erases what another's would have shown. A timer of ours
 * rather than `monitorEventLoopDelay`: that histogram drops the first interval after a reset, so a
 * loop held up right after a scrape never showed in the next one. The timer does not keep the
 * process alive.
 */
export function watchEventLoop(): EventLoopWatch {
  const delays = new Float64Array(WINDOW)
  let count = 0
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    delays[count % WINDOW] = Math.max(0, now - last - RESOLUTION_MS)
    count++
    last = now
  }, RESOLUTION_MS)
  timer.unref()
  return {
    read() {
      const n = Math.min(count, WINDOW)
      if (n === 0) return { meanSeconds: 0, p99Seconds: 0, maxSeconds: 0 }
      const window = delays.slice(0, n).sort()
      let sum = 0
      for (const d of window) sum += d
      count = 0
      const seconds = (ms: number) => ms / 1000
      return { meanSeconds: seconds(sum / n), p99Seconds: seconds(window[Math.ceil(n * 0.99) - 1]!), maxSeconds: seconds(window[n - 1]!) }
    },
    stop() {
      clearInterval(timer)
    },
  }
}
