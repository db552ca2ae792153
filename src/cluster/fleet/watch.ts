import { KvWatchInclude, type KV } from '@nats-io/kv'
import { KILL_SWITCH_KEY, stopKey } from './buckets.js'
import { fleetKillSwitchAt, type FleetKillSwitch, type UnreadableFleetKillSwitch } from './control.js'
import { readFleetStop, type FleetStopRequest } from './stop.js'
import { fleetKeyOf } from './signature.js'

type Watch = { stop(): void }

async function watchKey(
  control: KV,
  key: string,
  include: KvWatchInclude,
  onText: (text: string, revision: number) => void | Promise<void>,
  onError: (e: unknown) => void,
): Promise<Watch> {
  const iter = await control.watch({ key, include })
  void (async () => {
    // one value at a time, in the key's order, each read whole before the next
    for await (const e of iter) if (e.operation === 'PUT') await onText(e.string(), e.revision)
  })().catch(onError)
  return { stop: () => iter.stop() }
}

/**
 * Follow the fleet kill switch: its current value first, then each new one as it is written, one
 * at a time (an `onValue` that answers a promise is waited for before the next).
 * `stop()` ends the watch; a watch that broke (NATS went away) is restarted by the caller.
 */
export async function watchFleetKillSwitch(
  control: KV,
  onValue: (ks: FleetKillSwitch | UnreadableFleetKillSwitch, revision: number) => void | Promise<void>,
  onError: (e: unknown) => void,
): Promise<Watch> {
  return watchKey(
    control,
    KILL_SWITCH_KEY,
    KvWatchInclude.LastValue,
    (text, revision) => onValue(fleetKillSwitchAt(text, revision, fleetKeyOf(control)), revision),
    onError,
  )
}

/**
 * Follow this engine's stop key: only requests written from now on (a stop left from an earlier
 * run is that run's, and must not stop this one).
 */
export async function watchFleetStop(
  control: KV,
  engine: string,
  onRequest: (r: FleetStopRequest) => void,
  onError: (e: unknown) => void,
  onRefused: (why: string) => void = () => {},
): Promise<Watch> {
  return watchKey(
    control,
    stopKey(engine),
    KvWatchInclude.UpdatesOnly,
    (text) => {
      const read = readFleetStop(text, engine, fleetKeyOf(control))
      if ('request' in read) onRequest(read.request)
      else onRefused(read.refused)
    },
    onError,
  )
}
