import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { rig } from '../shutdown/rig.js'

/**
 * A log written by the real shutdown engine over simulated venues: resting strategy orders,
 * positions on two venues, then a shutdown of the given mode. Returns a copy of the closed log.
 */
export async function shutdownLog(mode: 'graceful' | 'emergency', o: { flatten?: 'aggressive' | 'conservative' | 'none' } = {}): Promise<string> {
  const r = rig({ options: { graceful: { flatten: o.flatten ?? 'aggressive', settleMs: 50, waitTimeoutMs: 500 }, emergency: { deadlineMs: 5_000 } } })
  await r.rest(2)
  await r.take('alpha', 3)
  await r.take('bravo', -2)
  const handle = r.controller.requestShutdown({ mode, reason: `audit test (${mode})`, origin: 'admin' })
  await handle.done
  await r.close()
  const copy = join(r.dir, `${mode}-copy.db`)
  copyFileSync(r.log.path, copy)
  return copy
}

/**
 * A graceful shutdown asked twice (the second request ignored), then escalated to emergency
 * while its venue calls were still out: the request decisions the audit re-derives.
 */
export async function escalatedLog(): Promise<string> {
  const r = rig({ options: { graceful: { settleMs: 20 }, emergency: { deadlineMs: 5_000 } }, faults: { alpha: { latency: 150 } } })
  await r.rest(2)
  const first = r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM', origin: 'signal' })
  r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM again', origin: 'signal' })
  await new Promise((resolve) => setTimeout(resolve, 20))
  r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' })
  await first.done
  await r.close()
  const copy = join(r.dir, 'escalated-copy.db')
  copyFileSync(r.log.path, copy)
  return copy
}
