import { Worker } from 'node:worker_threads'

export type WatchdogOptions = {
  /** Called just before the main-thread exit: the last chance to write a line. */
  onFire?: (reason: string) => void
  /** How the main thread ends the process (tests of the daemon pass the real one). */
  exit?: (code: number) => void
}

export type Watchdog = {
  /**
   * Guarantee the process is gone by `killAt` (ms from now): a main-thread timer exits with
   * `code` at `exitAt`; should the main thread be blocked (a hung native call, a busy loop),
   * a worker thread sends SIGKILL at `killAt`. Arming again keeps the earlier deadline.
   */
  arm(input: { exitAtMs: number; killAtMs: number; code: number; reason: string }): void
  disarm(): void
  readonly armed: boolean
}

/** However long the emergency deadline, the process is gone this long after the emergency began. */
export const WATCHDOG_HARD_LIMIT_MS = 30_000
/** After the emergency deadline: the main thread exits this much later, a worker SIGKILLs later still. */
export const WATCHDOG_EXIT_AFTER_MS = 2_000
export const WATCHDOG_KILL_AFTER_MS = 4_000
/**
 * The longest emergency deadline the config accepts: the procedure ends by its deadline on its
 * own, the watchdog exits 2 s and kills 4 s after it, and all of it within the 30 s limit.
 */
export const EMERGENCY_DEADLINE_MAX_MS = WATCHDOG_HARD_LIMIT_MS - WATCHDOG_KILL_AFTER_MS

/**
 * When the watchdog fires for an emergency with this deadline: a little slack past the deadline
 * for the procedure's own last writes, but never past the hard limit, so a deadline configured
 * at the 30 s maximum still has the process gone within 30 s (exit a second before the kill).
 */
export function emergencyWatchdogTimes(deadlineMs: number): { exitAtMs: number; killAtMs: number } {
  const killAtMs = Math.min(deadlineMs + WATCHDOG_KILL_AFTER_MS, WATCHDOG_HARD_LIMIT_MS)
  const exitAtMs = Math.max(0, Math.min(deadlineMs + WATCHDOG_EXIT_AFTER_MS, killAtMs - 1_000))
  return { exitAtMs, killAtMs }
}

// A worker has its own event loop, so its timer fires even while the main thread is stuck.
const KILLER = `
const { workerData } = require('node:worker_threads')
setTimeout(() => { try { process.kill(workerData.pid, 'SIGKILL') } catch {} }, workerData.ms)
`

/** The hard stop behind the emergency deadline. Both timers are unref'd: they never keep a finished process alive. */
export function createWatchdog(options: WatchdogOptions = {}): Watchdog {
  const exit = options.exit ?? ((code: number) => process.exit(code))
  let timer: ReturnType<typeof setTimeout> | undefined
  let worker: Worker | undefined
  let deadline = Infinity
  return {
    arm({ exitAtMs, killAtMs, code, reason }) {
      const at = Date.now() + killAtMs
      if (at >= deadline) return
      this.disarm()
      deadline = at
      timer = setTimeout(
        () => {
          try {
            options.onFire?.(reason)
          } finally {
            exit(code)
          }
        },
        Math.max(0, exitAtMs),
      )
      timer.unref()
      worker = new Worker(KILLER, { eval: true, execArgv: [], workerData: { pid: process.pid, ms: Math.max(0, killAtMs) } })
      worker.unref()
      worker.on('error', () => {})
    },
    disarm() {
      clearTimeout(timer)
      timer = undefined
      void worker?.terminate()
      worker = undefined
      deadline = Infinity
    },
    get armed() {
      return timer !== undefined
    },
  }
}
