import { z } from 'zod'
import { type Origin, ShutdownMode } from '../events/primitives.js'
import type { EventLog } from '../core/log/event-log.js'
import type { Metric } from './prometheus.js'

const Reason = z.string().trim().min(1, 'a reason is required').max(2000)
const By = z.string().trim().min(1).max(200).optional()

/** The bodies the admin API accepts, one schema per action; unknown fields are refused. */
export const ActionBody = z.strictObject({ reason: Reason, by: By })
export const ShutdownBody = z.strictObject({ mode: ShutdownMode, reason: Reason, by: By })
export const DrainForceBody = z.strictObject({
  reason: Reason,
  by: By,
  /** Acknowledges that positions still open stay open ("locked funds"); without it such a force is refused. */
  force: z.boolean().default(false),
})
export const KillSwitchActivateBody = z.strictObject({
  reason: Reason,
  by: By,
  /** REDUCING: reduce-only; HALTED: nothing but the shutdown's own orders; EMERGENCY: HALTED and the emergency path. */
  action: z.enum(['REDUCING', 'HALTED', 'EMERGENCY']).default('HALTED'),
})

export const HandoverBody = z.strictObject({
  /** The standby instance to hand the engine to. */
  to: z.string().trim().min(1).max(64),
  reason: Reason,
  by: By,
})

/** What every action carries into the log: who asked (`origin`), why, and optionally who by name. */
export type ActionRequest = z.output<typeof ActionBody> & { origin: Origin }
export type ShutdownRequest = z.output<typeof ShutdownBody> & { origin: Origin }
export type KillSwitchActivateRequest = z.output<typeof KillSwitchActivateBody> & { origin: Origin }
export type DrainForceRequest = z.output<typeof DrainForceBody> & { origin: Origin }
export type HandoverRequest = z.output<typeof HandoverBody> & { origin: Origin }

export type Health = {
  ok: boolean
  log: { ok: boolean; lastSeq: number; lastEventAt: string | null; problem?: string; error?: string }
  venues: { venue: string; connected: boolean; latencyMs?: number; latencySamples?: number; lastCallAt?: string; lastError?: string }[]
  [more: string]: unknown
}

type Sync<T> = T | Promise<T>

/**
 * What the admin API needs from a running haltd. The daemon implements it over its projections,
 * router and shutdown engine; each action appends its event(s) with the request's origin and
 * reason, and rejects with a `HaltdError` (answered 409) when the state does not allow it.
 */
export interface AdminBackend {
  /** For `/events`: catch-up and live delivery of the log. */
  readonly log: EventLog
  health(): Sync<Health>
  status(): Sync<unknown>
  metrics(): Sync<Metric[]>
  positions(): Sync<unknown>
  orders(): Sync<unknown>
  reconciliation(): Sync<unknown>
  inflight(): Sync<unknown>
  drainStatus(): Sync<unknown>

  /** Starts (or escalates) the shutdown and answers at once; the report comes later in the log. */
  shutdown(request: ShutdownRequest): Sync<unknown>
  killswitchActivate(request: KillSwitchActivateRequest): Sync<unknown>
  killswitchReset(request: ActionRequest): Sync<unknown>
  drainStart(request: ActionRequest): Sync<unknown>
  drainCancel(request: ActionRequest): Sync<unknown>
  drainForce(request: DrainForceRequest): Sync<unknown>
  pause(request: ActionRequest): Sync<unknown>
  resume(request: ActionRequest): Sync<unknown>
  lockDeployments(request: ActionRequest): Sync<unknown>
  unlockDeployments(request: ActionRequest): Sync<unknown>
  /** A planned handover to a standby; answers once it handed over or rolled back. Absent where no failover is configured. */
  handover?(request: HandoverRequest): Sync<unknown>
}
