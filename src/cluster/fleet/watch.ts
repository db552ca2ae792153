import type { KV } from '@nats-io/kv'
import { KILL_SWITCH_KEY } from './buckets.js'
import { parseFleetKillSwitch, type FleetKillSwitch } from './control.js'

/**
 * Follow the fleet kill switch: its current value first, then each new one as it is written.
 * `stop()` ends the watch; a watch that broke (NATS went away) is restarted by the caller.
 */
export async function watchFleetKillSwitch(control: KV, onValue: (ks: FleetKillSwitch) => void, onError: (e: unknown) => void): Promise<{ stop(): void }> {
  const iter = await control.watch({ key: KILL_SWITCH_KEY })
  void (async () => {
    for await (const e of iter) {
      if (e.operation !== 'PUT') continue
      const value = parseFleetKillSwitch(e.string())
      if (value) onValue(value)
    }
  })().catch(onError)
  return { stop: () => iter.stop() }
}
