import { z } from 'zod'
import { type Origin, ShutdownMode } from '../events/primitives.js'
import { UNPRINTABLE } from '../events/text.js'
import type { EventLog } from '../core/log/event-log.js'
import type { EventData } from '../events/catalogue.js'
import type { Metric } from './prometheus.js'
import type { DashboardView } from './dashboard/view.js'

/**
 * An operator's reason: one line, shown as given in the log, the status and the page. Who asked
 * is added by haltd (`[by name (role)]`), so a reason may not say it.
 */
const Reason = z
  .string()
  .trim()
  .min(1, 'a reason is required')
  .max(2000)
  .refine((r) => !UNPRINTABLE.test(r), 'a reason is one line of printable text: no line breaks, tabs, control characters or bidirectional overrides')
  .refine((r) => !/\[\s*by\b/i.test(r), "a reason may not say '[by …]': haltd adds who asked")

/**
 * The bodies the admin API accepts, one schema per action; unknown fields are refused. None carries
 * a `by`: who asked is the authenticated credential, never what the body says.
 */
export const ActionBody = z.strictObject({ reason: Reason })
export const ShutdownBody = z.strictObject({ mode: ShutdownMode, reason: Reason })
export const DrainForceBody = z.strictObject({
  reason: Reason,
  /** Acknowledges that positions still open stay open ("locked funds"); without it such a force is refused. */
  force: z.boolean().default(false),
})
export const KillSwitchActivateBody = z.strictObject({
  reason: Reason,
  /** REDUCING: reduce-only; HALTED: nothing but the shutdown's own orders; EMERGENCY: HALTED and the emergency path. */
  action: z.enum(['REDUCING', 'HALTED', 'EMERGENCY']).default('HALTED'),
})

/** The fleet kill switch: HALTED (halt and latch) or EMERGENCY (the emergency procedure), for every engine or those named. */
export const FleetKillSwitchActivateBody = z.strictObject({
  reason: Reason,
  action: z.enum(['HALTED', 'EMERGENCY']).default('HALTED'),
  engines: z.union([z.literal('all'), z.array(z.string().trim().min(1).max(64)).min(1)], { error: '"all", or a list of engine names' }).default('all'),
})
/** A fleet-wide shutdown: each engine runs its own procedure. */
export const FleetStopBody = z.strictObject({ reason: Reason.default('fleet stop'), mode: z.enum(['graceful', 'emergency']).default('graceful') })

/** What every action carries into the log: where it came from (`origin`), why, and who asked (`by`: the authenticated name and role). */
type Asked = { origin: Origin; by: string }
export type ActionRequest = z.output<typeof ActionBody> & Asked
export type ShutdownRequest = z.output<typeof ShutdownBody> & Asked
export type KillSwitchActivateRequest = z.output<typeof KillSwitchActivateBody> & Asked
export type DrainForceRequest = z.output<typeof DrainForceBody> & Asked
export type FleetKillSwitchActivateRequest = z.output<typeof FleetKillSwitchActivateBody> & Asked
export type FleetStopRequest = z.output<typeof FleetStopBody> & Asked

/** The desk's fleet as seen from this engine (present when it has one): the view, and the fleet-wide actions. */
export interface FleetAdmin {
  view(): Promise<unknown>
  killswitchActivate(request: FleetKillSwitchActivateRequest): Promise<unknown>
  killswitchReset(request: ActionRequest): Promise<unknown>
  stop(request: FleetStopRequest): Promise<unknown>
}
/** A planned handover to the standby instance named. */
export const HandoverBody = z.strictObject({
  /** The standby instance to hand the engine to. */
  to: z.string().trim().min(1).max(64),
  reason: Reason,
})
export type HandoverRequest = z.output<typeof HandoverBody> & Asked

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
  /** What the page shows (`/ui/feed`), built from the projections when asked. */
  dashboard(): Sync<DashboardView>

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
  /** Absent without a fleet: its routes then answer 404. */
  readonly fleet?: FleetAdmin
  /**
   * Records refused requests (`access.refused`) where the daemon lets the log take them; absent,
   * they are appended to `log`. Throws when the log must take nothing now (the reason goes to the process log).
   */
  recordRefused?(refused: EventData<'access.refused'>): void
  /** A planned handover to a standby; answers once it handed over or rolled back. Absent where no failover is configured. */
  handover?(request: HandoverRequest): Sync<unknown>
}
