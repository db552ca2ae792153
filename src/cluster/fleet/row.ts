import { z } from 'zod'
import type { HaltdState } from '../../projections/index.js'
import { EngineName } from '../config.js'
import { FleetSignature } from './signature.js'

/** What an engine is doing, as the fleet sees it. `STANDBY`: a hot standby following the leader's stream. */
export const EngineState = z.enum(['STARTING', 'RUNNING', 'HALTED', 'SHUTTING-DOWN', 'STOPPED', 'STANDBY'])
export type EngineState = z.infer<typeof EngineState>

/** An engine's row in the registry: who it is, what it is doing, what it holds, and when it said so. */
export const FleetRow = z.strictObject({
  // a name no haltd takes (a space, an escape) is a row no haltd wrote: it names no key a stop can be written to
  engine: EngineName,
  instance: z.string(),
  host: z.string(),
  pid: z.number().int(),
  role: z.enum(['leader', 'standby']),
  version: z.string(),
  state: EngineState,
  /** The running shutdown's procedure and step, while one runs. */
  step: z.string().optional(),
  openOrders: z.number().int().nonnegative(),
  /** Sum over positions of |qty| × the last mark (the entry price without one). */
  grossExposure: z.number().nonnegative(),
  seq: z.number().int().nonnegative(),
  lastEventAt: z.string().nullable(),
  killSwitch: z.strictObject({ latched: z.boolean(), scope: z.enum(['local', 'fleet']).optional(), reason: z.string().optional() }),
  /** Whether this engine sees the fleet's kill switch now (false while NATS is out of reach). */
  fleetSeen: z.boolean(),
  /** Set once a shutdown ended the run: its exit code, and the fleet stop that asked for it, if one did. */
  exit: z.strictObject({ code: z.number().int(), stopId: z.string().optional() }).optional(),
  /** The fleet stop this engine is carrying out, once it has taken it. */
  stopId: z.string().optional(),
  /** When this row was written, and how often it is rewritten: a row older than a few refreshes is stale. */
  at: z.string(),
  refreshMs: z.number().int().positive(),
  /** Under the fleet key, where the fleet has one: a row without it, or whose signature fails, is none an engine of this fleet wrote. */
  sig: FleetSignature,
})
export type FleetRow = z.infer<typeof FleetRow>

/** The daemon's side of a row: its lifecycle and the shutdown it is running, if any. */
export type EngineActivity = {
  lifecycle: 'starting' | 'running' | 'halted' | 'shutting-down' | 'stopped'
  shutdown: { procedure: string; step?: number; stepName?: string } | null
}

export type Identity = { engine: string; instance: string; host: string; pid: number; role: 'leader' | 'standby'; version: string }

const STATE_OF: Record<EngineActivity['lifecycle'], EngineState> = {
  starting: 'STARTING',
  running: 'RUNNING',
  halted: 'HALTED',
  'shutting-down': 'SHUTTING-DOWN',
  stopped: 'STOPPED',
}

/** The gross exposure the projections know: every position at its last mark. */
export function grossExposure(state: HaltdState): number {
  let sum = 0
  for (const [key, p] of state.positions) sum += Math.abs(p.qty) * (state.marks.get(key) ?? p.avgEntry)
  return sum
}

/** One row from the projections and the daemon's activity, at `now`. Pure. */
export function fleetRowOf(input: {
  identity: Identity
  activity: EngineActivity
  /** The gate is shut although the lifecycle still says running (a latched kill switch, a log fault). */
  gateHalted: boolean
  state: HaltdState
  fleetSeen: boolean
  stopId?: string | undefined
  exit?: FleetRow['exit']
  refreshMs: number
  now: number
}): FleetRow {
  const { identity, activity, state } = input
  const ks = state.trading.killSwitch
  let engineState = input.exit ? 'STOPPED' : STATE_OF[activity.lifecycle]
  if (engineState === 'RUNNING' && input.gateHalted) engineState = 'HALTED'
  const sd = input.exit ? null : activity.shutdown
  // an instance that no longer leads (it handed the engine over, or lost its lease) holds nothing:
  // the engine's orders and exposure are in its leader's row
  const leads = identity.role === 'leader'
  return {
    ...identity,
    state: engineState,
    ...(sd ? { step: `${sd.procedure}${sd.step !== undefined ? ` step ${sd.step}${sd.stepName ? ` ${sd.stepName}` : ''}` : ''}` } : {}),
    openOrders: leads ? state.inFlight : 0,
    grossExposure: leads ? grossExposure(state) : 0,
    seq: state.seq,
    lastEventAt: state.seq > 0 ? new Date(state.ts).toISOString() : null,
    killSwitch: ks.latched ? { latched: true, scope: ks.scope ?? 'local', reason: ks.reason } : { latched: false },
    fleetSeen: input.fleetSeen,
    ...(input.exit ? { exit: input.exit } : {}),
    ...(input.stopId ? { stopId: input.stopId } : {}),
    at: new Date(input.now).toISOString(),
    refreshMs: input.refreshMs,
  }
}

/**
 * A hot standby's row: it sends nothing and holds nothing (the engine's orders and exposure are in
 * its leader's row), so it counts none; its seq and last event say how far it follows the stream,
 * and its kill switch is the engine's as the stream carried it. Pure.
 */
export function standbyRowOf(input: { identity: Identity; state: HaltdState; fleetSeen: boolean; refreshMs: number; now: number }): FleetRow {
  const { state } = input
  const ks = state.trading.killSwitch
  return {
    ...input.identity,
    role: 'standby',
    state: 'STANDBY',
    openOrders: 0,
    grossExposure: 0,
    seq: state.seq,
    lastEventAt: state.seq > 0 ? new Date(state.ts).toISOString() : null,
    killSwitch: ks.latched ? { latched: true, scope: ks.scope ?? 'local', reason: ks.reason } : { latched: false },
    fleetSeen: input.fleetSeen,
    at: new Date(input.now).toISOString(),
    refreshMs: input.refreshMs,
  }
}
