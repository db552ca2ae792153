import { z } from 'zod'
import type { HaltdEvent, OrderOrigin, Origin, ShutdownMode, Side, TradingMode } from '../../events/index.js'

/**
 * The shape every shutdown procedure has (DESIGN.md, "Deciders"). `evolve` folds the procedure's
 * own stream; `decide` is pure: no clock, no I/O, only the state and what the command carries.
 * `initialState` is a function because states are folded in place (see `ShutdownState`).
 */
export type Decider<C, E, S> = {
  initialState: () => S
  evolve: (state: S, event: E) => S
  decide: (command: C, state: S) => E[]
}

// ── what the decider sees of the world ─────────────────────────────────────────────────────

/** A live order as the projections know it (finished orders are not in the world). */
export type WorldOrder = {
  venue: string
  clientOrderId: string
  symbol: string
  side: Side
  type: 'market' | 'limit'
  qty: number
  filledQty: number
  price?: number
  timeInForce: 'GTC' | 'IOC' | 'FOK' | 'PO'
  status: string
  origin: OrderOrigin
  reduceOnly: boolean
  venueOrderId?: string
}

export type WorldPosition = { venue: string; symbol: string; qty: number; avgEntry?: number; realized?: number; unrealized?: number }

/**
 * A read-only view of the projections, handed to `decide` with every command. Lists are sorted
 * (venue, then symbol or client order id) so the same projection state gives the same decision.
 */
export type ShutdownWorld = {
  /** The log position the view was taken at. */
  seq: number
  /** Live orders only. */
  orders: readonly WorldOrder[]
  /** Non-zero positions only. */
  positions: readonly WorldPosition[]
  /** Last mark per `venue symbol` (see `markKey`). */
  marks: Readonly<Record<string, number>>
  tradingMode: TradingMode
  killSwitchLatched: boolean
  /** Symbols with market data subscribed, per venue. */
  marketData: Readonly<Record<string, readonly string[]>>
  reconciliation: { ok: boolean; counts: Record<string, number>; problems: readonly ReconciliationProblem[] }
  balances: Readonly<Record<string, readonly { asset: string; free: number; used: number; total: number }[]>>
  pnl: { realized: number; fees: number; unrealized: number; equity: number; drawdown: number }
}

export type ReconciliationProblem = {
  kind: 'position' | 'order'
  venue: string
  symbol: string
  clientOrderId?: string
  internal: number
  observed: number | null
  status: string
}

export const markKey = (venue: string, symbol: string): string => `${venue} ${symbol}`

export function emptyWorld(): ShutdownWorld {
  return {
    seq: 0,
    orders: [],
    positions: [],
    marks: {},
    tradingMode: 'ACTIVE',
    killSwitchLatched: false,
    marketData: {},
    reconciliation: { ok: true, counts: {}, problems: [] },
    balances: {},
    pnl: { realized: 0, fees: 0, unrealized: 0, equity: 0, drawdown: 0 },
  }
}

// ── venues as the shutdown was told about them ─────────────────────────────────────────────

/** Recorded in `shutdown.requested`, so a replay decides with the capabilities the live run had. */
export const VenueInfo = z.strictObject({
  name: z.string().min(1).max(64),
  massCancel: z.enum(['account', 'per-symbol', 'none']).default('none'),
  batchCancel: z.number().int().nonnegative().default(0),
  deadMansSwitch: z.enum(['countdown', 'cancel-on-disconnect', 'none']).default('none'),
})
export type VenueInfo = z.output<typeof VenueInfo>

// ── the commands a procedure issues (the `command` of `shutdown.command-issued`) ───────────

const Venue = z.string().min(1).max(64)
export const ServiceName = z.enum(['strategies', 'engine', 'risk', 'order-management', 'market-data', 'monitoring'])
export type ServiceName = z.infer<typeof ServiceName>

/** What a shutdown tells the world it is doing (the runbook's status line). */
export const ShutdownStatus = z.enum(['SHUTTING_DOWN_SOON', 'SHUTTING_DOWN', 'EMERGENCY_SHUTDOWN', 'SHUT_DOWN'])
export type ShutdownStatus = z.infer<typeof ShutdownStatus>

export const ShutdownCommand = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('notify'), topic: z.string().min(1).max(100), severity: z.enum(['info', 'warning', 'critical']), message: z.string().max(2000),
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
  z.strictObject({ kind: z.literal('cancel-all'), venue: Venue, scope: z.enum(['own', 'account']), orders: z.number().int().nonnegative(), round: z.number().int().positive() }),
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
  z.strictObject({ kind: z.literal('health-check') }),
  z.strictObject({ kind: z.literal('report') }),
])
export type ShutdownCommand = z.infer<typeof ShutdownCommand>
export type CommandKind = ShutdownCommand['kind']

export type CommandOutcome = 'ok' | 'failed' | 'timed-out'

// ── what decide is asked ───────────────────────────────────────────────────────────────────

export type ShutdownRequest = { mode: ShutdownMode; reason: string; origin: Origin }

export type ShutdownDecision =
  /** Start a shutdown: records `shutdown.requested` with its options. */
  | { kind: 'start'; shutdownId: string; request: ShutdownRequest; options: Record<string, unknown> }
  /** Another request while this one runs: escalate (emergency during graceful) or record it ignored. */
  | { kind: 'request'; request: ShutdownRequest }
  /** haltd restarted with this shutdown unfinished: end the step it was in, so that step runs again. */
  | { kind: 'resume' }
  /** What should happen next, given the world now. */
  | { kind: 'advance'; world: ShutdownWorld }

export type ShutdownEventOut = HaltdEvent
