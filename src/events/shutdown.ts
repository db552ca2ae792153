import { z } from 'zod'
import { Venue } from './primitives.js'
import { EmergencyStepName, GracefulStepName } from './steps.js'

/**
 * What a shutdown records: the options it was started with (in `shutdown.requested`), the
 * commands it issues (in `shutdown.command-issued`) and how its steps and commands end. The
 * shutdown's stream is folded from these (src/projections/shutdowns.ts); the engine that decides
 * them lives in src/core/shutdown.
 */

// ── the options, recorded with the request so replay decides alike ─────────────────────────

const Ms = z.number().int().nonnegative()

/** Recorded in `shutdown.requested`, so a replay decides with the capabilities the live run had. */
export const VenueInfo = z.strictObject({
  name: z.string().min(1).max(64),
  massCancel: z.enum(['account', 'per-symbol', 'none']).default('none'),
  batchCancel: z.number().int().nonnegative().default(0),
  deadMansSwitch: z.enum(['countdown', 'cancel-on-disconnect', 'none']).default('none'),
})
export type VenueInfo = z.output<typeof VenueInfo>

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
  /**
   * Once the cancels (and the observation after them) are in, settle by observation every order
   * still live at a venue: looked up by id, checked against the open-order list fetched after the
   * cancel (see `settle-orders`). Absent means false, as with `observeAfterCancels`.
   */
  settleByObservation: z.boolean().default(false),
  /**
   * Once orders were settled by observation (and cancelled again), ask the venues they were on for
   * their open orders and positions once more, so the report reconciles against the venue's word
   * after the last cancel rather than call it UNVERIFIED. Absent means false, so a shutdown
   * recorded before the rule replays as it ran; the controller records true.
   */
  observeAfterSettles: z.boolean().default(false),
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
  /**
   * Step 5, once the cancels are done: ask every venue for its positions and size the flatten by
   * what the venues hold. Absent means false: shutdowns recorded before the option existed replay
   * as they ran. The controller records true for every new shutdown unless told otherwise.
   */
  observePositions: z.boolean().default(false),
  /**
   * From the second cancel round on, orders whose cancel the venue did not confirm are settled by
   * observation (`settle-orders`) instead of cancelled blindly again. Absent means false, so a
   * shutdown recorded before the option existed replays as it ran.
   */
  settleByObservation: z.boolean().default(false),
  /**
   * The first cancel round goes through each venue's cancel-all, whatever its mass or batch cancel
   * (a venue with neither has its orders cancelled one by one in that command), with the
   * shutdown's scope, as the emergency's does: the venue's answers count only for the orders its
   * list, read after them, no longer holds. Absent means false: such a venue was sent one
   * `cancel-order` per order, so a shutdown recorded before the option replays as it ran; the
   * controller records true.
   */
  cancelAllFirst: z.boolean().default(false),
  /**
   * An engine haltd controls that was not seen gone ends the shutdown `residual-exposure` (exit 2),
   * whatever else failed: it may still trade. Absent means false (it ended `failed` then), so a
   * shutdown recorded before the rule replays as it ran; the controller records true.
   */
  engineRunningIsExposure: z.boolean().default(false),
  /**
   * Orders left live, positions left open or a reconciliation not OK end the shutdown
   * `residual-exposure` (exit 2) even when its checkpoint or health check failed too: the account
   * needs a person before anything restarts haltd, where 1 would let a supervisor restart it into
   * trading. Absent means false (it ended `failed` then), so a shutdown recorded before the rule
   * replays as it ran; the controller records true.
   */
  exposureOutranksFailure: z.boolean().default(false),
  /**
   * A canceled order whose final fill the shutdown could not learn (FINAL FILL UNKNOWN: the venue's
   * cancel answer omits fills and no lookup told) ends the shutdown `residual-exposure` (exit 2):
   * positions and P&L may lack what it filled, so exposure is not ruled out. Absent means false (it
   * could end `clean`), so a shutdown recorded before the rule replays as it ran; the controller
   * records true.
   */
  fillUnknownIsExposure: z.boolean().default(false),
})
export type GracefulOptions = z.output<typeof GracefulOptions>

/**
 * The trading engine's process, when haltd controls it (the config's `engine` section). Absent:
 * no engine commands are decided, so a shutdown recorded before engines were controlled replays
 * as it ran. How each action is carried out (signal, HTTP, command) is the daemon's; the decider
 * only needs to know that there is an engine and how the emergency treats it first.
 */
export const EngineOptions = z.strictObject({
  /** The emergency's first phase, before the cancels: freeze the engine (SIGSTOP) or ask it to stop. */
  firstPhase: z.enum(['freeze', 'stop']).default('freeze'),
  /** After TERM (the stop action), how long the engine has to exit before KILL. */
  graceMs: Ms.default(2_000),
  /**
   * How long the graceful step 4 waits for its stop of the engine before the cancels go on: a stop
   * that never answers (a wedged HTTP endpoint, a command that hangs) ends timed-out then, and the
   * engine is left to step 11's terminate. Absent (a shutdown recorded before the rule), the stop
   * had the step's whole budget, and replays so; the controller records it for every new shutdown.
   */
  stopMs: z.number().int().positive().optional(),
})
export type EngineOptions = z.output<typeof EngineOptions>

/** Everything a shutdown was started with, recorded in `shutdown.requested` so replay decides alike. */
export const ShutdownOptions = z.strictObject({
  venues: z.array(VenueInfo).default([]),
  /**
   * Why this instance no longer led its engine when the shutdown began (it had recorded
   * `leadership.lost`): the steps that act on the venues (graceful 5 and 6, the emergency's cancel)
   * are skipped, naming it. Its gate is fenced, so nothing they sent would leave, and the orders
   * and positions are its leader's now. Absent, they run: a shutdown recorded before the field
   * replays as it ran, and an instance only cut off from its lease keeps trying, as its lease may
   * come back.
   */
  notLeading: z.string().min(1).max(1_000).optional(),
  /**
   * The closing notification's P&L names the open positions it leaves out for want of a price
   * (UNPRICED), as the report does, rather than read as if they made nothing. Absent means false:
   * a shutdown recorded before the rule replays its message as it ran; the controller records true.
   */
  reportNamesUnpriced: z.boolean().default(false),
  engine: EngineOptions.optional(),
  graceful: GracefulOptions.default(GracefulOptions.parse({})),
  emergency: EmergencyOptions.default(EmergencyOptions.parse({})),
})
export type ShutdownOptions = z.output<typeof ShutdownOptions>
export type ShutdownOptionsInput = z.input<typeof ShutdownOptions>

// ── the commands a procedure issues (the `command` of `shutdown.command-issued`) ───────────

export const ServiceName = z.enum(['strategies', 'engine', 'risk', 'order-management', 'market-data', 'monitoring'])
export type ServiceName = z.infer<typeof ServiceName>

/** What a shutdown tells the world it is doing (the runbook's status line). */
export const ShutdownStatus = z.enum(['SHUTTING_DOWN_SOON', 'SHUTTING_DOWN', 'EMERGENCY_SHUTDOWN', 'SHUT_DOWN'])
export type ShutdownStatus = z.infer<typeof ShutdownStatus>

export const EngineCommandAction = z.enum(['freeze', 'stop', 'terminate', 'confirm-gone'])
export type EngineCommandAction = z.infer<typeof EngineCommandAction>

export const ShutdownCommand = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('notify'),
    topic: z.string().min(1).max(100),
    severity: z.enum(['info', 'warning', 'critical']),
    message: z.string().max(2000),
    /** The status the message announces, when it is not the one the procedure is in as it sends (the closing report says SHUT_DOWN). */
    status: ShutdownStatus.optional(),
  }),
  z.strictObject({ kind: z.literal('reduce-limits'), pct: z.number().min(0).max(100) }),
  z.strictObject({ kind: z.literal('disable-strategies') }),
  /** The synchronous latch on the order gate (the projected HALTED mode closes it too). */
  z.strictObject({ kind: z.literal('close-gate') }),
  z.strictObject({
    kind: z.literal('cancel-order'),
    venue: Venue,
    clientOrderId: z.string().min(1),
    symbol: z.string().min(1),
    venueOrderId: z.string().optional(),
    round: z.number().int().positive(),
  }),
  /** Every order of ours at the venue in one go: mass cancel where the venue has it, batched or per order otherwise. */
  z.strictObject({
    kind: z.literal('cancel-all'),
    venue: Venue,
    scope: z.enum(['own', 'account']),
    orders: z.number().int().nonnegative(),
    round: z.number().int().positive(),
  }),
  /**
   * Settle by observation the orders still live at a venue after a cancel round whose answers
   * left them unconfirmed: each is looked up by id where the venue can, and checked against an
   * open-order list fetched after the cancel; only what the venue shows gone is settled.
   */
  z.strictObject({
    kind: z.literal('settle-orders'),
    venue: Venue,
    orders: z.number().int().nonnegative(),
    round: z.number().int().positive(),
  }),
  z.strictObject({ kind: z.literal('arm-dead-mans-switch'), venue: Venue, timeoutMs: z.number().int().positive() }),
  /** A reduce-only order with the shutdown as origin; never larger than the position it closes. */
  z.strictObject({
    kind: z.literal('flatten'),
    venue: Venue,
    symbol: z.string().min(1),
    side: z.enum(['buy', 'sell']),
    qty: z.number().positive(),
    type: z.enum(['market', 'limit']),
    price: z.number().positive().optional(),
    /** The signed position the order closes, as projected when it was decided. */
    position: z.number(),
    round: z.number().int().positive(),
  }),
  /** Wait until the projections show no order of the kind still live (or the budget ends). */
  z.strictObject({ kind: z.literal('await-orders'), which: z.enum(['all', 'shutdown', 'unkept']), timeoutMs: z.number().int().nonnegative() }),
  /** Ask a venue for its state and record it; `what` narrows it (all of it when absent). */
  z.strictObject({
    kind: z.literal('observe-venue'),
    venue: Venue,
    what: z.array(z.enum(['open-orders', 'positions'])).optional(),
    /** A bound of its own, within the step's budget. */
    timeoutMs: z.number().int().positive().optional(),
  }),
  z.strictObject({ kind: z.literal('write-checkpoint'), verify: z.boolean() }),
  z.strictObject({ kind: z.literal('stop-market-data') }),
  z.strictObject({ kind: z.literal('close-venue'), venue: Venue }),
  z.strictObject({ kind: z.literal('stop-service'), service: ServiceName }),
  /**
   * The trading engine's process: `freeze` (SIGSTOP, or the configured freeze), `stop` (TERM or
   * the configured stop), `terminate` (stop, up to `graceMs` for it to be gone, then kill; an
   * engine gone already is left alone), `confirm-gone` (only check).
   */
  z.strictObject({
    kind: z.literal('control-engine'),
    action: EngineCommandAction,
    graceMs: Ms.optional(),
    /** A bound of its own, within the step's budget (the graceful stop's `stopMs`). */
    timeoutMs: z.number().int().positive().optional(),
  }),
  z.strictObject({ kind: z.literal('health-check') }),
  z.strictObject({ kind: z.literal('report') }),
])
export type ShutdownCommand = z.infer<typeof ShutdownCommand>
export type CommandKind = ShutdownCommand['kind']

// ── how steps and commands end ─────────────────────────────────────────────────────────────

/** How a command ended (the `outcome` of `shutdown.command-completed`). */
export const CommandOutcome = z.enum(['ok', 'failed', 'timed-out'])
export type CommandOutcome = z.infer<typeof CommandOutcome>

/**
 * Where a step of a shutdown stands: running from its start until one of its end events
 * (completed, failed, timed-out) or skipped without a start. The post-shutdown report calls it
 * a step's status, the audit's timeline its outcome: one set of values either way.
 */
export const StepStatus = z.enum(['running', 'completed', 'failed', 'timed-out', 'skipped'])
export type StepStatus = z.infer<typeof StepStatus>

/**
 * The options a stored `shutdown.requested` carries, as a fold reads them. Budget keys no step
 * has (logs written before budgets were keyed by step name; they never applied to anything) are
 * dropped, so such a log replays as it ran. Options this build cannot use at all (another
 * version's, or edited) read as the defaults, so a fold never throws; the audit's decision
 * replay names such a request.
 */
export function recordedShutdownOptions(recorded: unknown): ShutdownOptions {
  const parsed = ShutdownOptions.safeParse(withKnownBudgets(recorded ?? {}))
  return parsed.success ? parsed.data : ShutdownOptions.parse({})
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

function withKnownBudgets(input: unknown): unknown {
  if (!isObject(input)) return input
  const out: Record<string, unknown> = { ...input }
  for (const [procedure, names] of [
    ['graceful', GracefulStepName],
    ['emergency', EmergencyStepName],
  ] as const) {
    const o = out[procedure]
    if (!isObject(o) || !isObject(o.budgets)) continue
    const known: readonly string[] = names.options
    out[procedure] = { ...o, budgets: Object.fromEntries(Object.entries(o.budgets).filter(([k]) => known.includes(k))) }
  }
  return out
}
