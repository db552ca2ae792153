import { z } from 'zod'
import { HaltdError } from '../../events/errors.js'
import { EmergencyStepName, GracefulStepName } from '../../events/steps.js'
import { VenueInfo } from './types.js'

/** Shutdown options that cannot be used; `field` names which. */
export class InvalidShutdownOptions extends HaltdError {
  constructor(readonly field: string, detail: string) {
    super('INVALID_SHUTDOWN_OPTIONS', `invalid shutdown options: ${field ? `${field}: ` : ''}${detail}`)
  }
}

const Ms = z.number().int().nonnegative()

/**
 * Which orders a cancel-all takes: `own`, only those haltd tagged (never a venue's mass cancel,
 * which would take the engine's other orders too); `account`, everything on the account, by the
 * venue's mass cancel where it has one. `account` is for an account haltd trades alone.
 */
const CancelScope = z.enum(['own', 'account']).default('own')

export const EmergencyOptions = z.strictObject({
  /** The whole emergency path ends within this, whatever the venues do. */
  deadlineMs: Ms.default(30_000),
  /** The venue cancels everything itself if haltd does not refresh it within this. */
  deadMansSwitchMs: z.number().int().positive().default(10_000),
  /** Per-phase budgets by step name; by default fractions of the deadline (see `emergencyBudget`). */
  budgets: z.partialRecord(EmergencyStepName, Ms).default({}),
  cancelScope: CancelScope,
  /**
   * Once every venue answered its cancel-all, ask each for its open orders and positions (within
   * `observeTimeoutMs`), so the report reconciles against the venues after the cancels.
   * Absent means false: shutdowns recorded before the option existed replay as they ran. The
   * controller and the daemon's config record true for every new shutdown unless told otherwise.
   */
  observeAfterCancels: z.boolean().default(false),
  /** How long the emergency waits for each venue's word on what is left after the cancels. */
  observeTimeoutMs: z.number().int().positive().default(2_000),
})
export type EmergencyOptions = z.output<typeof EmergencyOptions>

export const GracefulOptions = z.strictObject({
  /** Cut every strategy's limits by this percentage at step 3; absent or 0 skips the step. */
  reduceLimitsPct: z.number().min(0).max(100).optional(),
  /** After the cancels: reduce-only market orders, limit IOC at mid then market, or keep the positions. */
  flatten: z.enum(['aggressive', 'conservative', 'none']).default('none'),
  /** With `flatten: 'none'`: cancel only orders that take liquidity and keep resting passive ones. */
  cancelOnlyAggressive: z.boolean().default(false),
  /** Step 6: how long to wait for orders and fills to finish before going on. */
  waitTimeoutMs: Ms.default(60_000),
  /** How long a cancel or flatten round waits for the projections to settle before the next one. */
  settleMs: Ms.default(2_000),
  maxCancelRounds: z.number().int().positive().default(3),
  maxFlattenRounds: z.number().int().positive().default(3),
  /** The graceful path's overall deadline; venue calls never run past it. */
  deadlineMs: Ms.default(300_000),
  /** Per-step budgets by step name (see `GRACEFUL_BUDGETS`). */
  budgets: z.partialRecord(GracefulStepName, Ms).default({}),
  cancelScope: CancelScope,
})
export type GracefulOptions = z.output<typeof GracefulOptions>

/** Everything a shutdown was started with, recorded in `shutdown.requested` so replay decides alike. */
export const ShutdownOptions = z.strictObject({
  venues: z.array(VenueInfo).default([]),
  graceful: GracefulOptions.default(GracefulOptions.parse({})),
  emergency: EmergencyOptions.default(EmergencyOptions.parse({})),
})
export type ShutdownOptions = z.output<typeof ShutdownOptions>
export type ShutdownOptionsInput = z.input<typeof ShutdownOptions>

export function parseShutdownOptions(input: unknown): ShutdownOptions {
  const result = ShutdownOptions.safeParse(input ?? {})
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  throw new InvalidShutdownOptions(issue.path.map(String).join('.'), issue.message)
}

/**
 * The options a stored `shutdown.requested` carries. Logs written before budget keys were step
 * names may hold keys no step has (they never applied to anything): those are dropped here, so
 * such a log replays as it ran instead of failing to parse.
 */
export function parseRecordedShutdownOptions(input: unknown): ShutdownOptions {
  return parseShutdownOptions(withKnownBudgets(input))
}

function withKnownBudgets(input: unknown): unknown {
  if (!isObject(input)) return input
  const out: Record<string, unknown> = { ...input }
  for (const [procedure, names] of [['graceful', GracefulStepName], ['emergency', EmergencyStepName]] as const) {
    const o = out[procedure]
    if (!isObject(o) || !isObject(o.budgets)) continue
    const budgets = Object.fromEntries(Object.entries(o.budgets).filter(([k]) => (names.options as readonly string[]).includes(k)))
    out[procedure] = { ...o, budgets }
  }
  return out
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
