import { z } from 'zod'
import {
  Id,
  Venue,
  MarketSymbol,
  Side,
  Qty,
  Price,
  SignedQty,
  Money,
  Reason,
  OrderType,
  TimeInForce,
  TradingMode,
  ShutdownMode,
  Origin,
  OrderOrigin,
  Text,
} from './primitives.js'
import { JsonRecord } from './json.js'
import { CommandOutcome } from './shutdown.js'

/**
 * The event catalogue: one schema per event type at its current version. Older versions live
 * in `versions.ts` with the upcasters that lift them to these. Every type haltd stores is here.
 */

const OrderRef = { venue: Venue, clientOrderId: Id }
/** Free-form data: plain JSON values only, stored as published (json.ts). */
const Note = JsonRecord

/** What confirmed a cancel: the venue's ack, its stream, a lookup of the order, its absence from a fetched open-order list, or a mass cancel. */
export const CancelConfirmation = z.enum(['ack', 'stream', 'lookup', 'open-orders', 'mass-cancel'])

/**
 * How an order the venue had not confirmed canceled was shown gone: a lookup by id that answered
 * `canceled`, or an open-order list (the observation at `seq`) fetched after the cancel that does
 * not list it (`absent`).
 */
export const SettleEvidence = z.strictObject({
  kind: z.enum(['lookup', 'open-orders']),
  seq: z.number().int().positive().optional(),
  venueStatus: z.enum(['canceled', 'absent']),
})

/** What haltd does to the engine's process: `check` asks whether it is gone. */
export const EngineAction = z.enum(['freeze', 'thaw', 'stop', 'kill', 'check'])
export const KillSwitchScope = z.enum(['local', 'fleet'])

/**
 * Where a fleet kill switch action came from: its id in the fleet's control bucket (the same
 * action seen twice is one action), which engines it named, and the host and instance that issued it.
 */
export const FleetOrigin = z.strictObject({
  id: Text(100),
  engines: z.union([z.literal('all'), z.array(Text(64))]),
  host: Text(200),
  instance: Text(200).optional(),
  at: z.string().max(40),
})
export type FleetOrigin = z.infer<typeof FleetOrigin>

/** An order as a venue's open-order list shows it. */
/**
 * A book of a venue's account (Bybit: `spot`, `linear USDC`, `inverse`) that an account-wide list did
 * not show, and why: never asked for, or `refused` by the venue. What the list claims ("none
 * open", "flat") is of the books it showed only.
 */
export const UnseenBook = z.strictObject({ book: Text(64).min(1), why: Reason, refused: z.literal(true).optional() })
export type UnseenBook = z.infer<typeof UnseenBook>
export const UnseenBooks = z.array(UnseenBook).max(20)

export const ObservedOpenOrder = z.strictObject({
  symbol: MarketSymbol,
  venueOrderId: Id,
  clientOrderId: Id.optional(),
  side: Side,
  qty: Qty,
  filled: z.number().finite().nonnegative().default(0),
  price: Price.optional(),
})

export const current = {
  // ── order lifecycle ────────────────────────────────────────────────────────────────────
  'order.submitted': {
    v: 2,
    data: z.strictObject({
      ...OrderRef,
      symbol: MarketSymbol,
      side: Side,
      type: OrderType,
      qty: Qty,
      price: Price.optional(),
      timeInForce: TimeInForce.default('GTC'),
      reduceOnly: z.boolean().default(false),
      origin: OrderOrigin,
    }),
  },
  'order.accepted': { v: 1, data: z.strictObject({ ...OrderRef, venueOrderId: Id }) },
  'order.rejected': { v: 1, data: z.strictObject({ ...OrderRef, reason: Reason, code: Text(100).optional() }) },
  /** A fill or partial fill; the projection tells which from the cumulative quantity. */
  'order.filled': {
    v: 1,
    data: z.strictObject({
      ...OrderRef,
      tradeId: Id,
      qty: Qty,
      price: Price,
      fee: Money.default(0),
      feeCurrency: Text(32).optional(),
      liquidity: z.enum(['maker', 'taker']).optional(),
      /**
       * `trade` (absent): one trade the venue reported. `order-total`: `qty` is the order's whole
       * filled quantity as the venue reported it (a cancel answer, a lookup, an ack) and `price`
       * its average; only what it says beyond the fills already recorded counts, its trade id is
       * derived from the total, and the order's later trades count against it, not again.
       */
      source: z.enum(['trade', 'order-total']).optional(),
    }),
  },
  'order.cancel-requested': { v: 1, data: z.strictObject({ ...OrderRef, reason: Reason.optional(), origin: Origin.optional() }) },
  /**
   * Only ever appended on the venue's word: an ack, a stream update, the venue's answer to a
   * lookup of the order, or the order missing from a fetched open-order list. An order settled by
   * observation (the venue had said it did not know it) carries what showed it gone in `evidence`.
   */
  'order.canceled': {
    v: 2,
    data: z.strictObject({ ...OrderRef, confirmedBy: CancelConfirmation, evidence: SettleEvidence.optional() }),
  },
  'order.cancel-rejected': { v: 1, data: z.strictObject({ ...OrderRef, reason: Reason }) },
  /** The cancel's budget ran out without a venue confirmation: never assumed canceled. */
  'order.cancel-unconfirmed': { v: 1, data: z.strictObject({ ...OrderRef, reason: Reason }) },
  'order.expired': { v: 1, data: z.strictObject({ ...OrderRef }) },
  /** The submit's answer was lost (timeout, dropped connection): the order may or may not be at the venue. */
  'order.status-unknown': { v: 1, data: z.strictObject({ ...OrderRef, reason: Reason }) },

  // ── what a venue reported ──────────────────────────────────────────────────────────────
  /** `unseen`: the books of the account the list did not show (see `UnseenBook`); absent where it showed all haltd asked. */
  'venue.positions-observed': {
    v: 2,
    data: z.strictObject({
      venue: Venue,
      positions: z.array(z.strictObject({ symbol: MarketSymbol, qty: SignedQty, entryPrice: Price.optional() })),
      unseen: UnseenBooks.optional(),
    }),
  },
  'venue.balances-observed': {
    v: 1,
    data: z.strictObject({
      venue: Venue,
      balances: z.array(z.strictObject({ asset: Text(32).min(1), free: Money, used: Money, total: Money })),
    }),
  },
  /**
   * One list of a venue's open orders. A list too long for one event is recorded as parts (`part`
   * 1 of n … n of n, appended together): the list is observed at its last part, and not before.
   */
  'venue.open-orders-observed': {
    v: 3,
    data: z.strictObject({
      venue: Venue,
      orders: z.array(ObservedOpenOrder),
      /** The books of the account the list did not show (see `UnseenBook`), on a whole list or its last part. */
      unseen: UnseenBooks.optional(),
      part: z
        .strictObject({ index: z.number().int().positive(), of: z.number().int().min(2) })
        .refine((p) => p.index <= p.of, 'index is past of')
        .optional(),
    }),
  },
  /** `contractSize`: a contract market's unit in the base asset, where it is not 1; every notional and P&L there scales by it. */
  'venue.markets-observed': {
    v: 2,
    data: z.strictObject({
      venue: Venue,
      markets: z.array(
        z.strictObject({
          symbol: MarketSymbol,
          amountStep: z.number().finite().positive(),
          priceStep: z.number().finite().positive().optional(),
          contractSize: z.number().finite().positive().optional(),
        }),
      ),
    }),
  },
  'venue.connected': { v: 1, data: z.strictObject({ venue: Venue, latencyMs: z.number().finite().nonnegative().optional() }) },
  'venue.disconnected': { v: 1, data: z.strictObject({ venue: Venue, reason: Reason }) },
  'venue.dead-mans-switch-armed': { v: 1, data: z.strictObject({ venue: Venue, timeoutMs: z.number().int().positive(), method: Text(100) }) },
  'venue.dead-mans-switch-disarmed': { v: 1, data: z.strictObject({ venue: Venue }) },
  'venue.cancel-all-requested': {
    v: 1,
    data: z.strictObject({ venue: Venue, scope: z.enum(['own', 'account']), symbols: z.array(MarketSymbol).optional(), reason: Reason.optional() }),
  },
  /**
   * A trade the venue reported without its market, whose order haltd asked for on each market the
   * account trades (`marketsAsked`) and did not find: the trade as the venue reported it, booked to
   * no position, and why it could not be placed.
   */
  'venue.trade-unresolved': {
    v: 1,
    data: z.strictObject({
      venue: Venue,
      tradeId: Id,
      clientOrderId: Id.optional(),
      venueOrderId: Id.optional(),
      qty: Qty,
      price: Price,
      fee: Money.default(0),
      feeCurrency: Text(32).optional(),
      liquidity: z.enum(['maker', 'taker']).optional(),
      marketsAsked: z.array(MarketSymbol).max(20),
      reason: Reason,
    }),
  },
  /**
   * An order the venue reported (`what`: or one of its trades) in a shape haltd cannot record: a
   * quantity of 0, a side that is neither buy nor sell, an id too long… Not adopted or booked;
   * `reason` names the field and what is wrong with it. The ids and market are those the venue
   * gave, where they are readable themselves.
   */
  'venue.order-unreadable': {
    v: 1,
    data: z.strictObject({
      venue: Venue,
      what: z.enum(['order', 'trade']),
      clientOrderId: Id.optional(),
      venueOrderId: Id.optional(),
      symbol: MarketSymbol.optional(),
      tradeId: Id.optional(),
      reason: Reason,
    }),
  },
  'market.mark': { v: 1, data: z.strictObject({ venue: Venue, symbol: MarketSymbol, price: Price }) },
  'marketdata.subscribed': { v: 1, data: z.strictObject({ venue: Venue, symbols: z.array(MarketSymbol) }) },
  'marketdata.unsubscribed': { v: 1, data: z.strictObject({ venue: Venue, symbols: z.array(MarketSymbol) }) },

  // ── strategies ─────────────────────────────────────────────────────────────────────────
  'strategy.enabled': { v: 1, data: z.strictObject({ strategyId: Id, reason: Reason.optional(), origin: Origin.optional() }) },
  'strategy.disabled': { v: 1, data: z.strictObject({ strategyId: Id, reason: Reason, origin: Origin.optional() }) },
  'strategy.limits-changed': {
    v: 1,
    data: z.strictObject({
      strategyId: Id,
      limits: z.strictObject({
        maxPosition: z.number().finite().nonnegative(),
        maxOpenOrders: z.number().int().nonnegative(),
        maxOrdersPerSecond: z.number().finite().nonnegative(),
      }),
      reason: Reason,
      origin: Origin.optional(),
    }),
  },

  // ── trading state, kill switch, drain, pause, deployments ───────────────────────────────
  'trading.state-changed': { v: 1, data: z.strictObject({ to: TradingMode, reason: Reason, origin: Origin }) },
  'killswitch.activated': {
    v: 2,
    data: z.strictObject({
      reason: Reason,
      origin: Origin,
      by: Text(200).optional(),
      trigger: Text(100).optional(),
      reading: z.number().finite().optional(),
      threshold: z.number().finite().optional(),
      action: z.enum(['REDUCING', 'HALTED', 'EMERGENCY']),
      /** This engine's own switch, or the desk's fleet kill switch seen in NATS. */
      scope: KillSwitchScope.default('local'),
      fleet: FleetOrigin.optional(),
    }),
  },
  'killswitch.reset': {
    v: 2,
    data: z.strictObject({
      reason: Reason.min(1),
      origin: Origin,
      by: Text(200).optional(),
      scope: KillSwitchScope.default('local'),
      fleet: FleetOrigin.optional(),
      /** Mark-to-market equity at the reset: the drawdown trigger measures from here on, across restarts. */
      equity: z.number().finite().optional(),
      /** Peak equity since the log began, at the reset: a higher peak later was reached after the reset. */
      peakEquity: z.number().finite().optional(),
    }),
  },
  'drain.started': { v: 1, data: z.strictObject({ reason: Reason, origin: Origin }) },
  'drain.canceled': { v: 1, data: z.strictObject({ reason: Reason, origin: Origin }) },
  'drain.completed': {
    v: 1,
    // reason and origin: present when someone forced the drain to end
    data: z.strictObject({
      outcome: z.enum(['drained', 'timed-out', 'forced']),
      inFlight: z.number().int().nonnegative(),
      reason: Reason.optional(),
      origin: Origin.optional(),
    }),
  },
  'trading.paused': { v: 1, data: z.strictObject({ reason: Reason, origin: Origin }) },
  'trading.resumed': { v: 1, data: z.strictObject({ reason: Reason, origin: Origin }) },
  'deployments.locked': { v: 1, data: z.strictObject({ reason: Reason, origin: Origin }) },
  'deployments.unlocked': { v: 1, data: z.strictObject({ reason: Reason, origin: Origin }) },
  'checkpoint.written': {
    v: 1,
    data: z.strictObject({
      path: Text().min(1),
      checksum: z.string().regex(/^[0-9a-f]{64}$/),
      atSeq: z.number().int().nonnegative(),
      verified: z.boolean(),
      fallback: z.boolean().default(false),
    }),
  },
  'checkpoint.failed': { v: 1, data: z.strictObject({ path: Text(), error: Reason, recovery: Reason.optional() }) },

  // ── shutdown lifecycle ─────────────────────────────────────────────────────────────────
  'shutdown.requested': {
    v: 1,
    data: z.strictObject({
      shutdownId: Id,
      mode: ShutdownMode,
      reason: Reason,
      origin: Origin,
      options: Note.default({}),
    }),
  },
  'shutdown.step-started': { v: 1, data: z.strictObject({ shutdownId: Id, step: z.number().int().min(1).max(99), name: Text(100).min(1) }) },
  'shutdown.step-completed': {
    v: 1,
    data: z.strictObject({ shutdownId: Id, step: z.number().int().min(1).max(99), name: Text(100).min(1), detail: Note.optional() }),
  },
  'shutdown.step-failed': {
    v: 1,
    data: z.strictObject({ shutdownId: Id, step: z.number().int().min(1).max(99), name: Text(100).min(1), error: Reason }),
  },
  'shutdown.step-timed-out': {
    v: 1,
    data: z.strictObject({
      shutdownId: Id,
      step: z.number().int().min(1).max(99),
      name: Text(100).min(1),
      budgetMs: z.number().int().nonnegative(),
      remaining: Note.optional(),
    }),
  },
  'shutdown.step-skipped': {
    v: 1,
    data: z.strictObject({ shutdownId: Id, step: z.number().int().min(1).max(99), name: Text(100).min(1), reason: Reason }),
  },
  /** A command the decider called for, recorded before the runner carries it out; the audit re-derives it. */
  'shutdown.command-issued': {
    v: 1,
    data: z.strictObject({
      shutdownId: Id,
      commandId: Id,
      step: z.number().int().min(1).max(99),
      command: JsonRecord.pipe(z.object({ kind: Text(100).min(1) }).catchall(z.unknown())),
    }),
  },
  'shutdown.command-completed': {
    v: 1,
    data: z.strictObject({ shutdownId: Id, commandId: Id, outcome: CommandOutcome, detail: Note.optional() }),
  },
  'shutdown.escalated': { v: 1, data: z.strictObject({ shutdownId: Id, to: z.literal('emergency'), reason: Reason, origin: Origin }) },
  /**
   * A request that changed nothing (an emergency already under way). `count` says how many requests
   * alike (same mode, origin and reason) it records: the first of a kind is recorded as it comes, the
   * ones after it counted and recorded together (absent: one), so a flood of signals costs a few
   * events, not one each.
   */
  'shutdown.request-ignored': {
    v: 2,
    data: z.strictObject({ shutdownId: Id, mode: ShutdownMode, reason: Reason, origin: Origin, count: z.number().int().min(2).optional() }),
  },
  'shutdown.completed': {
    v: 1,
    data: z.strictObject({
      shutdownId: Id,
      outcome: z.enum(['clean', 'residual-exposure', 'emergency', 'failed']),
      exitCode: z.number().int().min(0).max(255),
      durationMs: z.number().finite().nonnegative(),
    }),
  },

  // ── the trading engine's process (the config's `engine` section) ─────────────────────────
  /**
   * About to act on the engine: `how` says by what (`SIGSTOP to pid 4242`, `POST http://…/api/v1/stop`,
   * `command …`). `actionId` names this one action, and its `engine.action-completed` carries it:
   * absent only in v1, written before actions had ids, whose ends pair with their requests by action
   * in order.
   */
  'engine.action-requested': {
    v: 2,
    data: z.strictObject({ action: EngineAction, how: Reason, shutdownId: Id.optional(), actionId: Id.optional() }),
  },
  /**
   * What came of it: `done` (the signal was delivered, the call or command succeeded), `failed`,
   * `timed-out`, `gone` (the engine was found gone: nothing to act on), or `abandoned` (the
   * shutdown that asked for it was escalated to emergency while it was out: no longer waited for,
   * its effect unknown). `gone` after a check says whether the engine is gone as far as haltd can
   * tell (`evidence` says how it knows). `actionId` is its request's (absent only in v1).
   */
  'engine.action-completed': {
    v: 2,
    data: z.strictObject({
      actionId: Id.optional(),
      action: EngineAction,
      result: z.enum(['done', 'failed', 'timed-out', 'gone', 'abandoned']),
      gone: z.boolean().optional(),
      evidence: Reason.optional(),
      error: Reason.optional(),
      durationMs: z.number().finite().nonnegative(),
      shutdownId: Id.optional(),
    }),
  },

  // ── runs of the process ────────────────────────────────────────────────────────────────
  'run.started': {
    v: 1,
    data: z.strictObject({
      runId: Id,
      version: Text(50),
      configHash: Text(128),
      host: Text(255),
      pid: z.number().int().nonnegative(),
      /**
       * Its writer records a fill of more than its order as the venue's unreadable report, never
       * as a fill; absent in runs of builds before that rule, whose logs may hold such fills
       * honestly. The audit judges a booked overfill only inside a run that says so.
       */
      refusesOverfills: z.literal(true).optional(),
    }),
  },
  'run.ended': { v: 1, data: z.strictObject({ runId: Id, exitCode: z.number().int().min(0).max(255) }) },
  'run.crashed': { v: 1, data: z.strictObject({ runId: Id, pid: z.number().int().nonnegative(), lastSeq: z.number().int().nonnegative() }) },
  /**
   * The run gave the engine to `to` in planned handover `handoverId`: recorded before the lease is
   * offered, so the new leader finds this run ended, not crashed. Should the handover roll back,
   * the run goes on and records its real end (`run.ended`) later.
   */
  'run.handed-over': { v: 1, data: z.strictObject({ runId: Id, handoverId: Id, to: Id }) },
  /**
   * The run before this one held the engine's lease (`leader`, where the log names it), which
   * expired; this instance (`by`) took the lease under `epoch` and leads now. That is all the new
   * leader knows: the run's end is not in its log, and its process may still be alive (paused, or
   * cut off from NATS) rather than crashed. Written in place of `run.crashed` by a takeover.
   */
  'run.lease-expired': {
    v: 1,
    data: z.strictObject({
      runId: Id,
      pid: z.number().int().nonnegative(),
      lastSeq: z.number().int().nonnegative(),
      leader: Id.optional(),
      by: Id,
      epoch: z.number().int().positive(),
    }),
  },
  // ── leadership of the engine (hot standby, docs/ARCHITECTURE.md "Hot standby") ──────────
  /** This instance leads the engine from `fromSeq` on, under `epoch` (one more than any before it). */
  'leadership.acquired': {
    v: 1,
    data: z.strictObject({
      engine: Id,
      instance: Id,
      epoch: z.number().int().positive(),
      fromSeq: z.number().int().nonnegative(),
      reason: z.enum(['startup', 'handover', 'failover']),
      /** The instance that led before, where known. */
      previous: Id.optional(),
    }),
  },
  /**
   * This instance no longer leads the engine: the bucket says its lease at `epoch` expired or that
   * another instance (`leader`, at `leaderEpoch`) holds it. Recorded in its own log only (the
   * stream fences a deposed leader); from here on its gate refuses every order and cancel, so
   * nothing it does reaches a venue: the engine is its leader's.
   */
  'leadership.lost': {
    v: 1,
    data: z.strictObject({
      engine: Id,
      instance: Id,
      epoch: z.number().int().positive(),
      reason: Reason,
      leader: Id.optional(),
      leaderEpoch: z.number().int().positive().optional(),
    }),
  },
  'leadership.released': {
    v: 1,
    data: z.strictObject({ engine: Id, instance: Id, epoch: z.number().int().positive(), reason: Reason, to: Id.optional() }),
  },
  /** A planned handover of the engine from the leader to a named standby. */
  'handover.requested': {
    v: 1,
    data: z.strictObject({ handoverId: Id, from: Id, to: Id, budgetMs: z.number().int().positive(), reason: Reason, by: Text(100).optional() }),
  },
  /** One step of a handover: its start (with its budget), and its end or failure. */
  'handover.step': {
    v: 1,
    data: z.strictObject({
      handoverId: Id,
      step: z.enum([
        'close-gate',
        'settle-in-flight',
        'flush-replication',
        'release-lease',
        'confirm-last-seq',
        'take-lease',
        'adopt-orders',
        'open-gate',
        'roll-back',
      ]),
      phase: z.enum(['started', 'completed', 'failed']),
      budgetMs: z.number().int().nonnegative(),
      detail: Reason.optional(),
    }),
  },
  'handover.completed': {
    v: 1,
    data: z.strictObject({ handoverId: Id, outcome: z.enum(['handed-over', 'rolled-back']), reason: Reason.optional() }),
  },
  // ── the fleet (docs/ARCHITECTURE.md "The fleet") ─────────────────────────────────────────
  /**
   * This engine lost sight of the fleet (NATS cannot be reached): the fleet kill switch cannot
   * reach it. `onDisconnect` says what it does meanwhile: trade on (`keep`) or halt (`halt`).
   */
  'fleet.disconnected': { v: 1, data: z.strictObject({ reason: Reason, onDisconnect: z.enum(['keep', 'halt']) }) },
  /** It sees the fleet again, after `outOfViewMs`: a gate it closed for the outage reopens. */
  'fleet.reconnected': { v: 1, data: z.strictObject({ outOfViewMs: z.number().int().nonnegative(), onDisconnect: z.enum(['keep', 'halt']) }) },
  // ── access to the admin API ────────────────────────────────────────────────────────────
  /**
   * Requests the admin API refused with 403 (a role that may not, a session request from another
   * origin), counted per credential, route and cause: the first at once (`count` 1), then one row
   * per window with the number refused in it, so a flood of refusals is a row a minute, not a row a request.
   */
  'access.refused': {
    v: 1,
    data: z.strictObject({
      route: Text(200),
      name: Text(100),
      role: Text(20),
      why: z.enum(['role', 'cross-origin']),
      /** The roles the route accepts (a role refusal). */
      needs: z.array(Text(20)).max(10).optional(),
      count: z.number().int().positive(),
      /** When the first refusal this row counts was answered (epoch ms). */
      since: z.number().int().nonnegative(),
    }),
  },
  'notification.sent': {
    v: 1,
    data: z.strictObject({
      sink: Text(100),
      topic: Text(100),
      ok: z.boolean(),
      error: Reason.optional(),
      /** delivered, failed (after `attempts`), or cut off by the notification budget. Older events lack it. */
      outcome: z.enum(['delivered', 'failed', 'budget-exhausted']).optional(),
      attempts: z.number().int().nonnegative().optional(),
      /** What each failed attempt met (`attempt 1: HTTP 429`), a delivery after retries included. */
      failedAttempts: Reason.optional(),
    }),
  },
} as const

export type Catalogue = typeof current
export type EventType = keyof Catalogue
export type EventData<T extends EventType> = z.output<Catalogue[T]['data']>

/** Every current event as `{ type, data }`, discriminated on `type`. */
export type HaltdEvent = { [T in EventType]: { type: T; data: EventData<T> } }[EventType]

export const eventTypes = Object.keys(current) as EventType[]

/** The same union as a zod schema, for tools that validate whole events (the audit, the admin API). */
export const HaltdEventSchema = z.discriminatedUnion(
  'type',
  eventTypes.map((type) => z.strictObject({ type: z.literal(type), data: current[type].data })) as unknown as [
    z.ZodObject<{ type: z.ZodLiteral<string>; data: z.ZodTypeAny }>,
    ...z.ZodObject<{ type: z.ZodLiteral<string>; data: z.ZodTypeAny }>[],
  ],
)
