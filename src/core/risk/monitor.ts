import type { Envelope, EventInput, FleetOrigin } from '../../events/index.js'
import type { Origin, TradingMode } from '../../events/primitives.js'
import { killSwitch, venues, type Fact, type HaltdState, type KillSwitch } from '../../projections/index.js'
import type { Clock } from '../../events/clock.js'
import type { OrderGate } from '../execution/gate.js'
import { parseRiskConfig, type KillAction, type RiskConfig } from './config.js'
import { ActivationNeedsReason, KillSwitchNotLatched, ResetNeedsReason } from './errors.js'
import { readings, type Reading } from './readings.js'

/**
 * What the monitor writes through: the event log (all-or-nothing batches). With `read`, a
 * monitor started on an existing log finds the last reset there and measures drawdown from it.
 */
export type RiskLog = {
  appendBatch(inputs: readonly EventInput[]): unknown
  read?(options: { stream: string; types: readonly string[] }): Iterable<Envelope>
}

export type RiskMonitorOptions = {
  config: unknown
  log: RiskLog
  /** The live projections (the projection runner's state). */
  state: () => HaltdState
  gate: Pick<OrderGate, 'halt' | 'release' | 'latchReason'>
  clock: Clock
  /** The emergency shutdown path; the daemon wires it to the shutdown engine. */
  startEmergency?: (reason: string) => unknown
  /** Failures the monitor cannot throw to anyone (a log write inside a timer, an emergency that failed to start). */
  onError?: (error: unknown) => void
}

export type Trip = { trigger: string; reading?: number; threshold?: number; action: KillAction; reason: string }

export type RiskStatus = {
  latched: boolean
  killSwitch: KillSwitch
  /** Every configured trigger's current reading. */
  readings: Reading[]
}

/** Events that count toward the error burst: the venue refused, or haltd could not get an answer. */
const ERROR_EVENTS: ReadonlySet<string> = new Set([
  'order.rejected',
  'order.status-unknown',
  'order.cancel-rejected',
  'order.cancel-unconfirmed',
  'venue.disconnected',
])

const SEVERITY: Record<KillAction, number> = { REDUCING: 1, HALTED: 2, EMERGENCY: 3 }
const MODE_LEVEL: Record<TradingMode, number> = { ACTIVE: 0, REDUCING: 1, HALTED: 2 }
const modeOf = (action: KillAction): TradingMode => (action === 'REDUCING' ? 'REDUCING' : 'HALTED')
/** The gate latch reason the kill switch sets; a reset releases only a latch it set itself. */
const LATCH_PREFIX = 'kill switch: '

/**
 * The risk-driven kill switch. It reads the projections (P&L, positions, marks, trading state),
 * counts errors from the log and market data from the feed, and trips when a trigger's reading
 * reaches its threshold: it closes the gate at once (HALTED), records `killswitch.activated`
 * with the reading and `trading.state-changed`, and for EMERGENCY starts the emergency path.
 * The latch lives in the log, so it survives a restart; only `reset` with a reason clears it.
 */
export class RiskMonitor {
  readonly config: RiskConfig
  private errorTimes: number[] = []
  private readonly lastData = new Map<string, number>()
  private readonly explicitFeeds = new Set<string>()
  /** After a reset, drawdown is measured from the peak equity seen since then. */
  private peakSinceReset: number | undefined
  /** The latch as this process set it, for the moment before the projection has applied the events. */
  private localAction: KillAction | undefined
  private checkQueued = false
  private timer: ReturnType<typeof setInterval> | undefined
  /** Feeds that never delivered count their silence from here (start, or the last reset). */
  private quietSince: number

  constructor(private readonly options: RiskMonitorOptions) {
    this.config = parseRiskConfig(options.config)
    this.quietSince = options.clock.now()
    // A switch latched in an earlier run keeps the gate shut from the first instant of this one.
    const ks = killSwitch(options.state())
    if (ks.latched && ks.action !== 'REDUCING') options.gate.halt(`${LATCH_PREFIX}${ks.reason}`)
    this.peakSinceReset = peakSinceLastReset(options.log, options.state())
  }

  // ── inputs ─────────────────────────────────────────────────────────────────────────────

  /** Every appended event (wire after the projection runner). Counts errors, then re-checks on the next microtask. */
  observe(e: Envelope | Fact): void {
    if (ERROR_EVENTS.has(e.type) && !this.shuttingDown()) this.errorTimes.push(this.options.clock.now())
    // every intermediate equity counts toward the peak, not only the one a batched check sees
    if (this.peakSinceReset !== undefined) this.peakSinceReset = Math.max(this.peakSinceReset, this.options.state().pnl.equity)
    this.scheduleCheck()
  }

  /**
   * While a shutdown runs, the errors it meets are its own outcomes (cancels left unconfirmed,
   * venues it closes), already in its report: counting them would latch the kill switch for a
   * reason nobody chose, and the next start would come up HALTED.
   */
  private shuttingDown(): boolean {
    for (const s of this.options.state().shutdowns.values()) if (s.mode !== undefined && !s.completed) return true
    return false
  }

  /** A market data message from a venue: the feed is alive. */
  feedTick(venue: string): void {
    this.lastData.set(venue, this.options.clock.now())
  }

  /** Watch a venue's feed even before any `marketdata.subscribed` is in the log. */
  watchFeed(venue: string): void {
    this.explicitFeeds.add(venue)
    if (!this.lastData.has(venue)) this.lastData.set(venue, this.options.clock.now())
  }

  unwatchFeed(venue: string): void {
    this.explicitFeeds.delete(venue)
    this.lastData.delete(venue)
  }

  /** A venue error that does not reach the log as an event (a failed fetch, a dropped stream). */
  noteVenueError(): void {
    if (this.shuttingDown()) return
    this.errorTimes.push(this.options.clock.now())
    this.scheduleCheck()
  }

  /** Re-check on a timer: feed loss is tripped by time passing, not by an event. */
  start(): void {
    this.stop()
    this.timer = setInterval(() => this.safeCheck(), this.config.checkIntervalMs)
    this.timer.unref?.()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  // ── decisions ──────────────────────────────────────────────────────────────────────────

  get latched(): boolean {
    return this.latchedAction() !== undefined
  }

  private latchedAction(): KillAction | undefined {
    const ks = killSwitch(this.options.state())
    const projected = ks.latched ? ks.action : undefined
    if (projected === undefined) return this.localAction
    if (this.localAction === undefined) return projected
    return SEVERITY[this.localAction] > SEVERITY[projected] ? this.localAction : projected
  }

  status(): RiskStatus {
    return { latched: this.latched, killSwitch: killSwitch(this.options.state()), readings: this.currentReadings() }
  }

  currentReadings(): Reading[] {
    const now = this.options.clock.now()
    const state = this.options.state()
    if (this.config.errorBurst) {
      const from = now - this.config.errorBurst.windowMs
      while (this.errorTimes.length > 0 && this.errorTimes[0]! <= from) this.errorTimes.shift()
    }
    if (this.peakSinceReset !== undefined) this.peakSinceReset = Math.max(this.peakSinceReset, state.pnl.equity)
    return readings(state, this.config, { peakSinceReset: this.peakSinceReset, errorsInWindow: this.errorTimes.length, silenceMs: this.silence(state, now) })
  }

  private silence(state: HaltdState, now: number): Map<string, number> {
    const watched = new Set(this.explicitFeeds)
    for (const v of venues(state)) if (v.marketData.length > 0) watched.add(v.venue)
    const out = new Map<string, number>()
    for (const venue of watched) out.set(venue, now - (this.lastData.get(venue) ?? this.quietSince))
    return out
  }

  /**
   * Evaluate every trigger now. Of those whose reading reached the threshold, trip on the one with
   * the most severe action (the first configured among equals), if it is more severe than the
   * current latch. Returns the trip, if any.
   */
  check(): Trip | undefined {
    const latched = this.latchedAction()
    let worst: Reading | undefined
    for (const r of this.currentReadings()) {
      if (r.reading < r.threshold) continue
      if (latched !== undefined && SEVERITY[latched] >= SEVERITY[r.action]) continue
      if (worst === undefined || SEVERITY[r.action] > SEVERITY[worst.action]) worst = r
    }
    if (worst === undefined) return undefined
    const trip: Trip = { trigger: worst.trigger, reading: worst.reading, threshold: worst.threshold, action: worst.action, reason: worst.detail }
    this.trip(trip, 'risk')
    return trip
  }

  /** An operator's (or the admin API's, or the fleet's: with `fleet`, where it came from) manual activation. */
  activate(input: { reason: string; by?: string; action?: KillAction; origin?: Origin; fleet?: FleetOrigin }): Trip | undefined {
    if (typeof input.reason !== 'string' || input.reason.trim() === '') throw new ActivationNeedsReason()
    const action = input.action ?? 'HALTED'
    const latched = this.latchedAction()
    if (latched !== undefined && SEVERITY[latched] >= SEVERITY[action]) return undefined
    const trip: Trip = { trigger: input.fleet ? 'fleet' : 'manual', action, reason: input.reason }
    this.trip(trip, input.origin ?? 'operator', input.by, input.fleet)
    return trip
  }

  private trip(trip: Trip, origin: Origin, by?: string, fleet?: FleetOrigin): void {
    const { gate, log, state } = this.options
    const mode = modeOf(trip.action)
    // Close first, record second: no order may pass between the decision and its event.
    if (mode === 'HALTED') gate.halt(`${LATCH_PREFIX}${trip.reason}`)
    this.localAction = trip.action
    const raises = MODE_LEVEL[mode] > MODE_LEVEL[state().trading.mode]
    const events: EventInput[] = [
      {
        type: 'killswitch.activated',
        data: {
          reason: trip.reason,
          origin,
          action: trip.action,
          trigger: trip.trigger,
          ...(by !== undefined ? { by } : {}),
          ...(trip.reading !== undefined ? { reading: trip.reading, threshold: trip.threshold } : {}),
          scope: fleet ? 'fleet' : 'local',
          ...(fleet ? { fleet } : {}),
        },
      },
    ]
    // Never lower a mode someone else raised (a shutdown's HALTED stays when REDUCING trips).
    if (raises) events.push({ type: 'trading.state-changed', data: { to: mode, reason: `kill switch: ${trip.reason}`, origin } })
    try {
      log.appendBatch(events)
    } catch (e) {
      // Unrecorded means untrusted: trade nothing rather than trade on a switch nobody can see.
      gate.halt(`${LATCH_PREFIX}${trip.reason} (and the log could not record it)`)
      throw e
    }
    if (trip.action === 'EMERGENCY') this.startEmergency(trip.reason)
  }

  private startEmergency(reason: string): void {
    const start = this.options.startEmergency
    if (!start) return
    try {
      const result = start(`kill switch: ${reason}`)
      if (result instanceof Promise) result.catch((e: unknown) => this.options.onError?.(e))
    } catch (e) {
      this.options.onError?.(e)
    }
  }

  /**
   * The operator's reset: refused without a reason. Records `killswitch.reset`, returns trading
   * to ACTIVE if the kill switch was what last set the mode, and reopens a gate latch it set.
   */
  reset(input: { reason: string; by?: string; origin?: Origin; fleet?: FleetOrigin }): void {
    if (typeof input?.reason !== 'string' || input.reason.trim() === '') throw new ResetNeedsReason()
    if (!this.latched) throw new KillSwitchNotLatched()
    const { gate, log, state, clock } = this.options
    const s = state()
    const ks = s.trading.killSwitch
    const origin = input.origin ?? 'operator'
    const { equity, peakEquity } = s.pnl
    const events: EventInput[] = [
      {
        type: 'killswitch.reset',
        data: {
          reason: input.reason,
          origin,
          ...(input.by !== undefined ? { by: input.by } : {}),
          equity,
          peakEquity,
          scope: input.fleet ? 'fleet' : 'local',
          ...(input.fleet ? { fleet: input.fleet } : {}),
        },
      },
    ]
    const setByKillSwitch = !ks.latched || s.trading.modeChange === undefined || s.trading.modeChange.seq <= ks.seq + 1
    if (s.trading.mode !== 'ACTIVE' && setByKillSwitch) {
      events.push({ type: 'trading.state-changed', data: { to: 'ACTIVE', reason: `kill switch reset: ${input.reason}`, origin } })
    }
    log.appendBatch(events)
    this.localAction = undefined
    gate.release((reason) => reason.startsWith(LATCH_PREFIX))
    // What tripped it was seen and judged by the operator: start counting afresh.
    this.errorTimes = []
    this.peakSinceReset = equity
    const now = clock.now()
    this.quietSince = now
    for (const venue of this.lastData.keys()) this.lastData.set(venue, now)
  }

  private scheduleCheck(): void {
    if (this.checkQueued) return
    this.checkQueued = true
    // Not inside the append that woke us: the monitor's own appends must not nest in the log's publish.
    queueMicrotask(() => {
      this.checkQueued = false
      this.safeCheck()
    })
  }

  private safeCheck(): void {
    try {
      this.check()
    } catch (e) {
      this.options.onError?.(e)
    }
  }
}

/**
 * The peak equity since the last operator reset, from the log: a reset rebases the drawdown
 * trigger, and a restart must not bring back the peak the operator reset away from. The reset
 * records the equity and the all-time peak at that moment. A peak above the recorded one was
 * reached after the reset, so it is the peak since then; otherwise the highs between the reset
 * and this start are not in the projections, and the larger of the reset equity and today's
 * equity is the most the log can vouch for. Undefined (the all-time peak) when never reset.
 */
function peakSinceLastReset(log: RiskLog, state: HaltdState): number | undefined {
  if (!log.read) return undefined
  let last: Envelope | undefined
  for (const e of log.read({ stream: 'trading', types: ['killswitch.reset'] })) last = e
  if (last?.type !== 'killswitch.reset') return undefined
  const { equity, peakEquity } = last.data
  const pnl = state.pnl
  if (peakEquity !== undefined && pnl.peakEquity > peakEquity) return pnl.peakEquity
  return Math.max(equity ?? pnl.equity, pnl.equity)
}
