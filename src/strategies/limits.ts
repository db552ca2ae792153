import type { z } from 'zod'
import { current } from '../events/catalogue.js'
import type { OwnOrder, PlaceIntent } from './contract.js'
import { InvalidStrategyConfig } from './errors.js'

/** Per-strategy limits; the same schema the `strategy.limits-changed` event records. */
export const StrategyLimits = current['strategy.limits-changed'].data.shape.limits
export type StrategyLimits = z.infer<typeof StrategyLimits>

export type LimitName = keyof StrategyLimits

/** Validates limits from config or an API, naming the offending field. */
export function parseLimits(input: unknown, field = 'limits'): StrategyLimits {
  const result = StrategyLimits.safeParse(input)
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  throw new InvalidStrategyConfig([field, ...issue.path.map(String)].join('.'), issue.message)
}

/**
 * Limits cut by `pct` percent (graceful step 3). Open orders round down, so a reduction never
 * leaves more room than the percentage says.
 */
export function reducedLimits(limits: StrategyLimits, pct: number): StrategyLimits {
  if (!Number.isFinite(pct) || pct < 0 || pct > 100) throw new InvalidStrategyConfig('pct', `expected a percentage from 0 to 100, got ${pct}`)
  const keep = 1 - pct / 100
  return {
    maxPosition: limits.maxPosition * keep,
    maxOpenOrders: Math.floor(limits.maxOpenOrders * keep),
    maxOrdersPerSecond: limits.maxOrdersPerSecond * keep,
  }
}

/** What the limit check reads: the strategy's projected position and live orders, and its recent send rate. */
export type LimitView = {
  /** Signed position of the strategy at the intent's venue and symbol. */
  position: number
  /** All of the strategy's live orders, on every venue. */
  openOrders: readonly OwnOrder[]
  /** Orders the strategy sent during the last second. */
  sentLastSecond: number
}

export type LimitRefusal = { limit: LimitName; reason: string }

// Float sums of fills (0.1 + 0.2) must not refuse an order that lands exactly on the limit.
const EPS = 1e-9

/**
 * Whether a new order keeps the strategy within its limits, or which limit it breaks. The
 * position check is worst case: the current position plus every live order on the same side
 * filling in full, plus this one.
 */
export function limitRefusal(intent: PlaceIntent, view: LimitView, limits: StrategyLimits): LimitRefusal | undefined {
  if (view.openOrders.length + 1 > limits.maxOpenOrders) {
    return { limit: 'maxOpenOrders', reason: `${view.openOrders.length} orders are open; the limit is ${limits.maxOpenOrders}` }
  }
  if (view.sentLastSecond + 1 > limits.maxOrdersPerSecond + EPS) {
    return { limit: 'maxOrdersPerSecond', reason: `${view.sentLastSecond} orders were sent in the last second; the limit is ${limits.maxOrdersPerSecond}/s` }
  }
  const sign = intent.side === 'buy' ? 1 : -1
  let resting = 0
  for (const o of view.openOrders) {
    if (o.venue === intent.venue && o.symbol === intent.symbol && o.side === intent.side) resting += Math.max(0, o.qty - o.filledQty)
  }
  const worst = view.position + sign * (resting + intent.qty)
  // Beyond the limit only counts on the order's own side: a buy while still short (or a sell
  // while still long) moves the position toward zero, which is allowed even after a limit cut.
  if (sign * worst > limits.maxPosition + EPS) {
    return {
      limit: 'maxPosition',
      reason: `${intent.side} ${intent.qty} ${intent.symbol} on ${intent.venue} could take the position to ${worst} (now ${view.position}, ${resting} resting); the limit is ±${limits.maxPosition}`,
    }
  }
  return undefined
}

/** Orders sent per strategy in a sliding one-second window, on the injected clock. */
export class SendRate {
  private readonly times: number[] = []

  countAt(now: number): number {
    while (this.times.length > 0 && this.times[0]! <= now - 1_000) this.times.shift()
    return this.times.length
  }

  record(now: number): void {
    this.times.push(now)
  }
}
