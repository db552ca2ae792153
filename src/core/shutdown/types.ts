import type { OrderOrigin, Origin, ShutdownMode, Side, TradingMode } from '../../events/index.js'
import type { ReconciliationVerdict, VenueReconciliation } from '../../projections/index.js'

/**
 * The shape every shutdown procedure has (docs/ARCHITECTURE.md, "Deciders"). `evolve` folds the procedure's
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

/**
 * A position as the shutdown sizes it: the venue's word where it reported (`basis: 'venue'`, its
 * report at `observedSeq` plus what traded since), the fills alone elsewhere; `fromFills` is what
 * haltd's own fills add up to. `amountStep` is the market's, where the venue reported it:
 * quantities print at its precision.
 */
export type WorldPosition = {
  venue: string
  symbol: string
  qty: number
  avgEntry?: number
  realized?: number
  unrealized?: number
  amountStep?: number
  fromFills?: number
  basis?: 'venue' | 'fills'
  observedSeq?: number
  /**
   * haltd has no price for the market (a market outside the venue's `symbols`, whose tickers it
   * does not poll, or none seen yet): its `unrealized` is not known, and no P&L total counts it.
   */
  unpriced?: true
}

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
  reconciliation: WorldReconciliation
  balances: Readonly<Record<string, readonly { asset: string; free: number; used: number; total: number }[]>>
  pnl: { realized: number; fees: number; unrealized: number; equity: number; drawdown: number }
}

/** The reconciliation as a shutdown sees it: `ok` is `verdict === 'OK'`, and UNVERIFIED names each venue without evidence. */
export type WorldReconciliation = {
  ok: boolean
  verdict: ReconciliationVerdict
  counts: Record<string, number>
  problems: readonly ReconciliationProblem[]
  unverified: readonly { venue: string; why: string }[]
  /** The observation each venue's verdict rests on. */
  venues: readonly VenueReconciliation[]
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

// ── what a shutdown records (its options' venues, its commands): schemas in src/events ──────

export { VenueInfo, ServiceName, ShutdownStatus, ShutdownCommand, CommandOutcome, StepStatus, type CommandKind } from '../../events/shutdown.js'

// ── what decide is asked ───────────────────────────────────────────────────────────────────

export type ShutdownRequest = { mode: ShutdownMode; reason: string; origin: Origin }

export type ShutdownDecision =
  /** Start a shutdown: records `shutdown.requested` with its options. */
  | { kind: 'start'; shutdownId: string; request: ShutdownRequest; options: Record<string, unknown> }
  /** Another request while this one runs: escalate (emergency during graceful) or record it ignored. */
  | {
      kind: 'request'
      request: ShutdownRequest
      /** How many such requests arrived (absent: one): requests alike that changed nothing are recorded together. */
      count?: number
    }
  /** haltd restarted with this shutdown unfinished: end the step it was in, so that step runs again. */
  | { kind: 'resume' }
  /** What should happen next, given the world now. */
  | { kind: 'advance'; world: ShutdownWorld }
