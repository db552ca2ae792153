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
