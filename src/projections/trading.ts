import type { EventData, Origin, TradingMode } from '../events/index.js'
import type { FactOf } from './fact.js'

type Because = { reason: string; origin: Origin; seq: number; ts: number }

export type KillSwitch =
  | { latched: false; lastReset?: Because & { by?: string } }
  | ({ latched: true; seq: number; ts: number } & EventData<'killswitch.activated'>)

export type DrainState = 'Active' | 'Draining' | 'Drained'

/** Whether haltd trades, and every switch that says how much. */
export type TradingView = {
  mode: TradingMode
  modeChange?: Because
  killSwitch: KillSwitch
  drain: { state: DrainState; since?: Because; outcome?: EventData<'drain.completed'>['outcome']; inFlightAtEnd?: number }
  paused: false | Because
  deploymentsLocked: false | Because
}

export type TradingFact =
  | FactOf<'trading.state-changed'>
  | FactOf<'killswitch.activated'>
  | FactOf<'killswitch.reset'>
  | FactOf<'drain.started'>
  | FactOf<'drain.canceled'>
  | FactOf<'drain.completed'>
  | FactOf<'trading.paused'>
  | FactOf<'trading.resumed'>
  | FactOf<'deployments.locked'>
  | FactOf<'deployments.unlocked'>

export function initialTrading(): TradingView {
  return { mode: 'ACTIVE', killSwitch: { latched: false }, drain: { state: 'Active' }, paused: false, deploymentsLocked: false }
}

const SEVERITY: Record<TradingMode, number> = { ACTIVE: 0, REDUCING: 1, HALTED: 2 }

/**
 * Trading state's reducer (a new view each time). A kill switch never lowers the mode: it raises
 * it to its action's level at once, so a reader never sees a latched switch with an ACTIVE gate.
 * A reset unlatches only; going back to ACTIVE takes its own `trading.state-changed`.
 */
export function evolveTrading(view: TradingView, fact: TradingFact): TradingView {
  const at = { seq: fact.seq, ts: fact.ts }
  switch (fact.type) {
    case 'trading.state-changed':
      return { ...view, mode: fact.data.to, modeChange: { reason: fact.data.reason, origin: fact.data.origin, ...at } }
    case 'killswitch.activated': {
      const level: TradingMode = fact.data.action === 'REDUCING' ? 'REDUCING' : 'HALTED'
      const raise = SEVERITY[level] > SEVERITY[view.mode]
      return {
        ...view,
        killSwitch: { latched: true, ...at, ...fact.data },
        ...(raise ? { mode: level, modeChange: { reason: `kill switch: ${fact.data.reason}`, origin: fact.data.origin, ...at } } : {}),
      }
    }
    case 'killswitch.reset': {
      const lastReset: Because & { by?: string } = { reason: fact.data.reason, origin: fact.data.origin, ...at }
      if (fact.data.by !== undefined) lastReset.by = fact.data.by
      return { ...view, killSwitch: { latched: false, lastReset } }
    }
    case 'drain.started':
      return { ...view, drain: { state: 'Draining', since: { reason: fact.data.reason, origin: fact.data.origin, ...at } } }
    case 'drain.canceled':
      return { ...view, drain: { state: 'Active', since: { reason: fact.data.reason, origin: fact.data.origin, ...at } } }
    case 'drain.completed': {
      const since = view.drain.since
      return {
        ...view,
        drain: { state: 'Drained', ...(since ? { since } : {}), outcome: fact.data.outcome, inFlightAtEnd: fact.data.inFlight },
      }
    }
    case 'trading.paused':
      return { ...view, paused: { reason: fact.data.reason, origin: fact.data.origin, ...at } }
    case 'trading.resumed':
      return { ...view, paused: false }
    case 'deployments.locked':
      return { ...view, deploymentsLocked: { reason: fact.data.reason, origin: fact.data.origin, ...at } }
    case 'deployments.unlocked':
      return { ...view, deploymentsLocked: false }
  }
}

// ── strategies ─────────────────────────────────────────────────────────────────────────────

export type StrategyView = {
  strategyId: string
  /** Strategies are enabled until told otherwise. */
  enabled: boolean
  reason?: string
  limits?: EventData<'strategy.limits-changed'>['limits']
  updatedSeq: number
}

export type StrategyFact = FactOf<'strategy.enabled'> | FactOf<'strategy.disabled'> | FactOf<'strategy.limits-changed'>

export function evolveStrategy(view: StrategyView | undefined, fact: StrategyFact): StrategyView {
  const next: StrategyView = { ...(view ?? { strategyId: fact.data.strategyId, enabled: true, updatedSeq: fact.seq }), updatedSeq: fact.seq }
  switch (fact.type) {
    case 'strategy.enabled':
      next.enabled = true
      if (fact.data.reason === undefined) delete next.reason
      else next.reason = fact.data.reason
      break
    case 'strategy.disabled':
      next.enabled = false
      next.reason = fact.data.reason
      break
    case 'strategy.limits-changed':
      next.limits = fact.data.limits
      break
  }
  return next
}
