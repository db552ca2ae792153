import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'

/** How late the event loop ran its timers, in seconds beyond the sampling interval. */
export type EventLoopLag = { meanSeconds: number; p99Seconds: number; maxSeconds: number }

const RESOLUTION_MS = 10

let histogram: IntervalHistogram | undefined

/**
 * Start sampling this process's event loop delay (once per process: every haltd in it shares
 * it). The native timer does not keep the process alive.
 */
export function watchEventLoop(): void {
  if (histogram) return
  histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
}

/**
 * The lag since the last reading (then the window starts again): each delay minus the interval
 * the timer was set for, so an idle loop reads 0. Zero before anything was sampled.
 */
export function readEventLoopLag(): EventLoopLag {
  watchEventLoop()
  const h = histogram!
  if (h.count === 0) return { meanSeconds: 0, p99Seconds: 0, maxSeconds: 0 }
  const beyond = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS) / 1000
  const lag = { meanSeconds: beyond(h.mean), p99Seconds: beyond(h.percentile(99)), maxSeconds: beyond(h.max) }
  h.reset()
  return lag
}
