import {
  activateFleetKillSwitch,
  fleetKillSwitchHistory,
  readFleetKillSwitch,
  resetFleetKillSwitch,
  type EngineScope,
  type FleetAction,
  type FleetKillSwitch,
  type Issued,
  type UnreadableFleetKillSwitch,
} from './control.js'
import type { FleetBuckets } from './buckets.js'
import { readFleet, type FleetMember, vouched } from './registry.js'
import { followFleetStop, requestFleetStop, type StopOutcome } from './stop.js'

export type FleetView = { engines: FleetMember[]; killSwitch: FleetKillSwitch | UnreadableFleetKillSwitch | null }

/** What an operator does to the fleet, from the CLI or an engine's admin API: each action signed with who and where. */
export type FleetOperator = {
  view(): Promise<FleetView>
  history(): Promise<FleetKillSwitch[]>
  activate(input: { by: string; action: FleetAction; engines: EngineScope; reason: string }): Promise<FleetKillSwitch>
  reset(input: { by: string; reason: string }): Promise<FleetKillSwitch>
  /**
   * `engines` are followed to their exit; `pending` cannot see the fleet now and act on it when they do, until `validUntil`;
   * `untrusted` are named only by rows the fleet key does not vouch for, and are not asked.
   */
  stop(input: {
    by: string
    mode: 'graceful' | 'emergency'
    reason: string
    validForMs?: number | undefined
  }): Promise<{ id: string; engines: string[]; pending: string[]; untrusted: string[]; validUntil: string }>
  follow(input: { id: string; engines: readonly string[]; timeoutMs: number; onOutcome: (o: StopOutcome) => void }): Promise<StopOutcome[]>
}

export function fleetOperator(buckets: FleetBuckets, where: Omit<Issued, 'by'>): FleetOperator {
  const view = async (): Promise<FleetView> => {
    const [engines, ks] = await Promise.all([readFleet({ ...buckets, now: Date.now() }), readFleetKillSwitch(buckets.control)])
    return { engines, killSwitch: ks?.value ?? null }
  }
  return {
    view,
    history: async () => (await fleetKillSwitchHistory(buckets.control)).map((h) => h.value),
    async activate(input) {
      const known = new Set((await readFleet({ ...buckets, now: Date.now() })).filter(vouched).map((m) => m.engine))
      return activateFleetKillSwitch(buckets.control, { ...where, ...input, known })
    },
    reset: (input) => resetFleetKillSwitch(buckets.control, { ...where, ...input }),
    async stop(input) {
      const { request, engines, pending, untrusted } = await requestFleetStop(buckets, { ...where, ...input })
      return { id: request.id, engines, pending, untrusted, validUntil: request.validUntil ?? request.at }
    },
    follow: (input) => followFleetStop(buckets, input),
  }
}
