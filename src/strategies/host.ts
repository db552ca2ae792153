import { z } from 'zod'
import type { Envelope } from '../events/envelope.js'
import type { Origin } from '../events/primitives.js'
import { Id } from '../events/primitives.js'
import { type CancelIntent, OrderIntent, type PlaceIntent, Tick } from './contract.js'
import type { OwnOrderUpdate, Strategy, StrategyContext } from './contract.js'
import {
  DeploymentsLocked,
  DuplicateStrategy,
  InvalidStrategyCheckpoint,
  InvalidStrategyConfig,
  InvalidTick,
  StrategyRestoreFailed,
  UnknownStrategy,
} from './errors.js'
import { limitRefusal, parseLimits, reducedLimits, SendRate, StrategyLimits } from './limits.js'
import type { Clock } from '../events/clock.js'
import { HaltdError } from '../events/errors.js'
import type { EventRecorder, OrderSink, SinkCancelOutcome, SinkOutcome, StrategyBook } from './ports.js'

/** Why the host did not send an intent. `gate` is the router's gate (halted, reducing, strategies blocked). */
export type RefusalKind = 'disabled' | 'invalid' | 'not-own-order' | 'maxPosition' | 'maxOpenOrders' | 'maxOrdersPerSecond' | 'gate'

export type RefusalCounts = { total: number } & Record<RefusalKind, number>

export type IntentResult =
  | { strategyId: string; status: 'submitted'; intent: PlaceIntent; outcome: Exclude<SinkOutcome, { status: 'refused' }> }
  | { strategyId: string; status: 'cancel-sent'; intent: CancelIntent; outcome: SinkCancelOutcome }
  | { strategyId: string; status: 'refused'; intent: unknown; refusal: RefusalKind; reason: string }

export type HostOptions = {
  sink: OrderSink
  book: StrategyBook
  recorder: EventRecorder
  clock: Clock
  /** Called with every intent's result, sent or refused (metrics, tests). */
  onIntent?: (result: IntentResult) => void
  /** Why deployments and config are locked, or undefined when they are not (the trading projection). */
  lockedBecause?: () => string | undefined
}

export type RegisterOptions = { limits: StrategyLimits; enabled?: boolean }

export type StrategyStatus = {
  id: string
  enabled: boolean
  disabledReason?: string
  limits: StrategyLimits
  refusals: RefusalCounts
  /** Times the strategy's own code threw; the first one disables it. */
  errors: number
}

/** What graceful step 8 saves for the strategies and `restoreState` reads back. */
export const HostCheckpoint = z.strictObject({
  strategies: z.record(Id, z.strictObject({ enabled: z.boolean(), limits: StrategyLimits, state: z.unknown() })),
})
export type HostCheckpoint = z.infer<typeof HostCheckpoint>

type Work = { kind: 'tick'; tick: Tick } | { kind: 'update'; update: OwnOrderUpdate }

type Slot = {
  strategy: Strategy
  ctx: StrategyContext
  limits: StrategyLimits
  enabled: boolean
  disabledReason: string | undefined
  refusals: RefusalCounts
  errors: number
  rate: SendRate
  updates: OwnOrderUpdate[]
  /** Only the newest tick per venue and symbol is worth deciding on. */
  ticks: Map<string, Tick>
  draining: Promise<void> | undefined
}

const emptyCounts = (): RefusalCounts => ({
  total: 0,
  disabled: 0,
  invalid: 0,
  'not-own-order': 0,
  maxPosition: 0,
  maxOpenOrders: 0,
  maxOrdersPerSecond: 0,
  gate: 0,
})
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))
const issueText = (error: z.ZodError) => error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')

function requireReason(reason: string, what: string): void {
  if (typeof reason !== 'string' || reason.trim() === '') throw new InvalidStrategyConfig('reason', `${what} needs a reason`)
}

/**
 * Runs strategies and stands between them and the order router. Each strategy's work (ticks,
 * updates about its orders, and the intents they produce) runs one item at a time, so every
 * check sees the projections as they stand after the previous order. Positions and open orders
 * come from the book (the projections), never from a memory of what was sent.
 */
export class StrategyHost {
  private readonly slots = new Map<string, Slot>()
  private stopped = false

  constructor(private readonly options: HostOptions) {}

  /** Adds a strategy and records its limits and whether it starts enabled. */
  register(strategy: Strategy, options: RegisterOptions): void {
    const id = strategy.id
    if (Id.safeParse(id).success === false) throw new InvalidStrategyConfig('id', `a strategy id must be 1 to 200 characters, got '${String(id)}'`)
    if (this.slots.has(id)) throw new DuplicateStrategy(id)
    this.refuseWhileLocked(`registering strategy '${id}'`)
    const limits = parseLimits(options.limits)
    const enabled = options.enabled ?? true
    const { book, clock } = this.options
    const ctx: StrategyContext = {
      strategyId: id,
      now: () => clock.now(),
      position: (venue, symbol) => book.position(id, venue, symbol),
      openOrders: (venue, symbol) =>
        book.openOrders(id).filter((o) => (venue === undefined || o.venue === venue) && (symbol === undefined || o.symbol === symbol)),
    }
    const { recorder } = this.options
    recorder.append({ type: 'strategy.limits-changed', data: { strategyId: id, limits, reason: 'registered', origin: 'system' } })
    recorder.append(
      enabled
        ? { type: 'strategy.enabled', data: { strategyId: id, reason: 'registered', origin: 'system' } }
        : { type: 'strategy.disabled', data: { strategyId: id, reason: 'registered disabled', origin: 'system' } },
    )
    this.slots.set(id, {
      strategy,
      ctx,
      limits,
      enabled,
      disabledReason: enabled ? undefined : 'registered disabled',
      refusals: emptyCounts(),
      errors: 0,
      rate: new SendRate(),
      updates: [],
      ticks: new Map(),
      draining: undefined,
    })
  }

  ids(): string[] {
    return [...this.slots.keys()]
  }

  private slot(id: string): Slot {
    const slot = this.slots.get(id)
    if (!slot) throw new UnknownStrategy(id, this.ids())
    return slot
  }

  // ── operations: enable, disable, limits ───────────────────────────────────────────────

  /** Records first: a strategy that cannot be recorded as enabled stays disabled. */
  enable(id: string, reason: string, origin: Origin = 'operator'): boolean {
    const slot = this.slot(id)
    if (slot.enabled) return false
    this.options.recorder.append({ type: 'strategy.enabled', data: { strategyId: id, reason, origin } })
    slot.enabled = true
    slot.disabledReason = undefined
    return true
  }

  /** Takes effect before it is recorded: a disable holds even when the log cannot be written. */
  disable(id: string, reason: string, origin: Origin = 'operator'): boolean {
    requireReason(reason, 'disabling a strategy')
    const slot = this.slot(id)
    if (!slot.enabled) return false
    slot.enabled = false
    slot.disabledReason = reason
    this.options.recorder.append({ type: 'strategy.disabled', data: { strategyId: id, reason, origin } })
    return true
  }

  /** Graceful step 4. Returns the ids it disabled (those not disabled already). */
  disableAll(reason: string, origin: Origin = 'shutdown'): string[] {
    requireReason(reason, 'disabling strategies')
    return this.ids().filter((id) => this.disable(id, reason, origin))
  }

  limits(id: string): StrategyLimits {
    return { ...this.slot(id).limits }
  }

  /** A tightening applies before it is recorded (fail safe); a loosening only once recorded. */
  setLimits(id: string, input: StrategyLimits, reason: string, origin: Origin = 'operator'): StrategyLimits {
    requireReason(reason, 'changing limits')
    const slot = this.slot(id)
    const limits = parseLimits(input)
    const old = slot.limits
    const tighter = limits.maxPosition <= old.maxPosition && limits.maxOpenOrders <= old.maxOpenOrders && limits.maxOrdersPerSecond <= old.maxOrdersPerSecond
    const record = () => this.options.recorder.append({ type: 'strategy.limits-changed', data: { strategyId: id, limits, reason, origin } })
    if (!tighter) this.refuseWhileLocked(`loosening the limits of strategy '${id}'`)
    if (tighter) {
      slot.limits = limits
      record()
    } else {
      record()
      slot.limits = limits
    }
    return { ...limits }
  }

  /** A lock refuses what adds risk (a new strategy, looser limits); cutting risk is always allowed. */
  private refuseWhileLocked(action: string): void {
    const because = this.options.lockedBecause?.()
    if (because !== undefined) throw new DeploymentsLocked(action, because)
  }

  /** Graceful step 3: every strategy's limits cut by `pct` percent. */
  reduceLimits(pct: number, reason: string, origin: Origin = 'shutdown'): Record<string, StrategyLimits> {
    requireReason(reason, 'reducing limits')
    const out: Record<string, StrategyLimits> = {}
    for (const [id, slot] of this.slots) out[id] = this.setLimits(id, reducedLimits(slot.limits, pct), reason, origin)
    return out
  }

  isEnabled(id: string): boolean {
    return this.slot(id).enabled
  }

  /** Refused intents per kind for one strategy (for metrics). */
  refusals(id: string): RefusalCounts {
    return { ...this.slot(id).refusals }
  }

  status(): StrategyStatus[] {
    return [...this.slots.entries()].map(([id, s]) => ({
      id,
      enabled: s.enabled,
      disabledReason: s.disabledReason,
      limits: { ...s.limits },
      refusals: { ...s.refusals },
      errors: s.errors,
    }))
  }

  // ── input: market data and the log ────────────────────────────────────────────────────

  /**
   * Hands a tick to every strategy; resolves once they have decided and their intents are done.
   * A malformed tick rejects with `InvalidTick` (never throws: feed handlers chain `.catch`).
   */
  onTick(input: Tick): Promise<void> {
    const parsed = Tick.safeParse(input)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      return Promise.reject(new InvalidTick(issue.path.map(String).join('.'), issue.message))
    }
    const tick = parsed.data
    if (this.stopped) return Promise.resolve()
    const key = `${tick.venue}\u0000${tick.symbol}`
    return Promise.all(
      [...this.slots.values()].map((slot) => {
        slot.ticks.set(key, tick)
        return this.drain(slot)
      }),
    ).then(() => undefined)
  }

  /**
   * Hands an order event from the log to the strategy that sent the order (found through the
   * book). Meant to be called for every appended event; others are ignored.
   */
  onLogEvent(e: Envelope): Promise<void> {
    if (this.stopped) return Promise.resolve()
    const update = updateOf(e)
    if (!update) return Promise.resolve()
    const owner = this.options.book.ownerOf(update.venue, update.clientOrderId)
    const slot = owner === undefined ? undefined : this.slots.get(owner)
    if (!slot) return Promise.resolve()
    slot.updates.push(update)
    return this.drain(slot)
  }

  /** Resolves once every strategy has finished what it was given. */
  async idle(): Promise<void> {
    while ([...this.slots.values()].some((s) => s.draining)) {
      await Promise.all([...this.slots.values()].map((s) => s.draining))
    }
  }

  /** Graceful step 11: no more ticks or updates are handed to strategies; work already queued is dropped. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const slot of this.slots.values()) {
      slot.ticks.clear()
      slot.updates.length = 0
    }
    await this.idle()
  }

  private drain(slot: Slot): Promise<void> {
    if (slot.draining) return slot.draining
    slot.draining = (async () => {
      // Never decide inside the caller's turn: a log subscriber must not append re-entrantly,
      // and the projections must have applied every fact of that turn, the event that woke us
      // and the venue's facts the log appends at the turn's end (`appendSoon`) alike.
      await new Promise((resolve) => setImmediate(resolve))
      try {
        for (;;) {
          if (this.stopped) return
          const work = this.nextWork(slot)
          if (!work) return
          await this.handle(slot, work)
        }
      } finally {
        slot.draining = undefined
      }
    })()
    return slot.draining
  }

  private nextWork(slot: Slot): Work | undefined {
    const update = slot.updates.shift()
    if (update) return { kind: 'update', update }
    for (const [key, tick] of slot.ticks) {
      slot.ticks.delete(key)
      return { kind: 'tick', tick }
    }
    return undefined
  }

  private async handle(slot: Slot, work: Work): Promise<void> {
    let intents: readonly unknown[]
    try {
      intents = work.kind === 'tick' ? slot.strategy.onTick(work.tick, slot.ctx) : (slot.strategy.onOrderUpdate?.(work.update, slot.ctx) ?? [])
      if (!Array.isArray(intents)) throw new TypeError(`expected an array of intents, got ${typeof intents}`)
    } catch (e) {
      slot.errors++
      if (slot.enabled) this.disable(slot.strategy.id, `strategy threw in ${work.kind === 'tick' ? 'onTick' : 'onOrderUpdate'}: ${messageOf(e)}`, 'system')
      return
    }
    for (const intent of intents) await this.execute(slot, intent)
  }

  private refuse(slot: Slot, intent: unknown, refusal: RefusalKind, reason: string): void {
    slot.refusals[refusal]++
    slot.refusals.total++
    this.options.onIntent?.({ strategyId: slot.strategy.id, status: 'refused', intent, refusal, reason })
  }

  private async execute(slot: Slot, raw: unknown): Promise<void> {
    const id = slot.strategy.id
    const parsed = OrderIntent.safeParse(raw)
    if (!parsed.success) return this.refuse(slot, raw, 'invalid', issueText(parsed.error))
    const intent = parsed.data
    const { sink, book, clock, onIntent } = this.options

    if (intent.kind === 'cancel') {
      // Cancels never add exposure, so a disabled strategy may still withdraw its own orders.
      const order = book.openOrders(id).find((o) => o.venue === intent.venue && o.clientOrderId === intent.clientOrderId)
      if (!order) return this.refuse(slot, intent, 'not-own-order', `${intent.clientOrderId} on ${intent.venue} is not a live order of strategy ${id}`)
      let outcome: SinkCancelOutcome
      try {
        outcome = await sink.cancel(
          { venue: intent.venue, clientOrderId: intent.clientOrderId, symbol: order.symbol },
          { reason: `strategy ${id}`, origin: 'strategy' },
        )
      } catch (e) {
        // the gate refused it (a handover under way): nothing was sent, the strategy may ask again
        if (e instanceof HaltdError && e.code === 'CANCEL_REFUSED') return this.refuse(slot, intent, 'gate', e.message)
        throw e
      }
      onIntent?.({ strategyId: id, status: 'cancel-sent', intent, outcome })
      return
    }

    if (!slot.enabled) return this.refuse(slot, intent, 'disabled', `strategy ${id} is disabled: ${slot.disabledReason ?? ''}`)
    const now = clock.now()
    const over = limitRefusal(
      intent,
      { position: book.position(id, intent.venue, intent.symbol), openOrders: book.openOrders(id), sentLastSecond: slot.rate.countAt(now) },
      slot.limits,
    )
    if (over) return this.refuse(slot, intent, over.limit, over.reason)
    const outcome = await sink.submit({
      venue: intent.venue,
      symbol: intent.symbol,
      side: intent.side,
      type: intent.type,
      qty: intent.qty,
      price: intent.price,
      timeInForce: intent.timeInForce,
      reduceOnly: intent.reduceOnly,
      origin: { kind: 'strategy', id },
    })
    if (outcome.status === 'refused') return this.refuse(slot, intent, 'gate', outcome.reason)
    slot.rate.record(now)
    onIntent?.({ strategyId: id, status: 'submitted', intent, outcome })
  }

  // ── checkpoint ────────────────────────────────────────────────────────────────────────

  /** Every strategy's state, limits and enabled flag, as plain JSON (graceful step 8). */
  checkpointState(): HostCheckpoint {
    const strategies: HostCheckpoint['strategies'] = {}
    for (const [id, slot] of this.slots) {
      const state: unknown = slot.strategy.snapshot()
      strategies[id] = { enabled: slot.enabled, limits: { ...slot.limits }, state: state === undefined ? null : JSON.parse(JSON.stringify(state)) }
    }
    return { strategies }
  }

  /**
   * Hands each registered strategy its saved state. Limits are restored only when asked (a
   * restart normally starts from the configured limits, not the ones a shutdown cut); whether a
   * strategy trades is decided at startup, after reconciliation, so `enabled` is not restored.
   */
  restoreState(input: unknown, options: { limits?: boolean } = {}): { restored: string[]; unknown: string[] } {
    const parsed = HostCheckpoint.safeParse(input)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      throw new InvalidStrategyCheckpoint(issue.path.map(String).join('.'), issue.message)
    }
    const restored: string[] = []
    const unknown: string[] = []
    for (const [id, saved] of Object.entries(parsed.data.strategies)) {
      const slot = this.slots.get(id)
      if (!slot) {
        unknown.push(id)
        continue
      }
      try {
        slot.strategy.restore(saved.state)
      } catch (e) {
        throw new StrategyRestoreFailed(id, e)
      }
      if (options.limits) this.setLimits(id, saved.limits, 'restored from checkpoint', 'restart')
      restored.push(id)
    }
    return { restored, unknown }
  }
}

/** The strategy-facing view of an order event, or undefined for events strategies are not told about. */
function updateOf(e: Envelope): OwnOrderUpdate | undefined {
  switch (e.type) {
    case 'order.accepted':
      return { kind: 'accepted', venue: e.data.venue, clientOrderId: e.data.clientOrderId }
    case 'order.filled':
      // a venue-reported order total is not a trade, and its trades may still follow: strategies hear of trades
      if (e.data.source === 'order-total') return undefined
      return { kind: 'filled', venue: e.data.venue, clientOrderId: e.data.clientOrderId, qty: e.data.qty, price: e.data.price, fee: e.data.fee }
    case 'order.rejected':
      return { kind: 'rejected', venue: e.data.venue, clientOrderId: e.data.clientOrderId, reason: e.data.reason }
    case 'order.canceled':
      return { kind: 'canceled', venue: e.data.venue, clientOrderId: e.data.clientOrderId }
    case 'order.expired':
      return { kind: 'expired', venue: e.data.venue, clientOrderId: e.data.clientOrderId }
    default:
      return undefined
  }
}
