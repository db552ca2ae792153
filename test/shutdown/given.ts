import type { HaltdEvent } from '../../src/events/index.js'
import { decideShutdown, foldShutdown } from '../../src/core/shutdown/decider.js'
import { parseShutdownOptions, type ShutdownOptionsInput } from '../../src/core/shutdown/options.js'
import type { ShutdownFact, ShutdownState } from '../../src/core/shutdown/procedure.js'
import type { ShutdownDecision, ShutdownWorld, WorldOrder, WorldPosition } from '../../src/core/shutdown/types.js'

/**
 * Given / when / then for the shutdown deciders: `given` is a list of stored events, `when` a
 * command, `then` the events decide returns. No log, no clock: the deciders are pure.
 */
export const SD = 'sd-1'
export const VENUES = [
  { name: 'alpha', massCancel: 'per-symbol' as const, batchCancel: 10, deadMansSwitch: 'countdown' as const },
  { name: 'bravo', massCancel: 'none' as const, batchCancel: 0, deadMansSwitch: 'none' as const },
]

export function requested(options: ShutdownOptionsInput = {}, mode: 'graceful' | 'emergency' = 'graceful'): ShutdownFact {
  return {
    type: 'shutdown.requested',
    // as the controller records every new shutdown: step 5 asks the venues for their positions
    data: {
      shutdownId: SD,
      mode,
      reason: 'maintenance',
      origin: 'signal',
      options: parseShutdownOptions({ venues: VENUES, ...options, graceful: { observePositions: true, ...options.graceful } }),
    },
    ts: 1_000,
  }
}

/** A world with nothing in it: no orders, no positions, trading ACTIVE. */
function emptyWorld(): ShutdownWorld {
  return {
    seq: 0,
    orders: [],
    positions: [],
    marks: {},
    tradingMode: 'ACTIVE',
    killSwitchLatched: false,
    marketData: {},
    reconciliation: { ok: true, verdict: 'OK', counts: {}, problems: [], unverified: [], venues: [] },
    balances: {},
    pnl: { realized: 0, fees: 0, unrealized: 0, equity: 0, drawdown: 0 },
  }
}

let orderNo = 0
export function order(over: Partial<WorldOrder> = {}): WorldOrder {
  orderNo++
  return {
    venue: 'alpha',
    clientOrderId: `hd-o${orderNo}`,
    symbol: 'BTC/USDT:USDT',
    side: 'buy',
    type: 'limit',
    qty: 1,
    filledQty: 0,
    price: 90,
    timeInForce: 'GTC',
    status: 'open',
    origin: { kind: 'strategy', id: 'mm' },
    reduceOnly: false,
    ...over,
  }
}

export function world(over: Partial<Omit<ShutdownWorld, 'orders' | 'positions'>> & { orders?: WorldOrder[]; positions?: WorldPosition[] } = {}): ShutdownWorld {
  return { ...emptyWorld(), ...over }
}

export const decided = (given: readonly ShutdownFact[], when: ShutdownDecision): HaltdEvent[] => decideShutdown(when, foldShutdown(given))
export const advanceWith = (w: ShutdownWorld): ShutdownDecision => ({ kind: 'advance', world: w })

/** What a decision issued, as (kind, fields) without ids: what the tables compare. */
export const commandsOf = (events: readonly HaltdEvent[]) =>
  events.filter((e) => e.type === 'shutdown.command-issued').map((e) => (e.data as { command: Record<string, unknown> }).command)

/** The same, for one step only. */
export const commandsOfStep = (events: readonly HaltdEvent[], step: number) =>
  events.filter((e) => e.type === 'shutdown.command-issued' && e.data.step === step).map((e) => (e.data as { command: Record<string, unknown> }).command)

export const stepEvents = (events: readonly HaltdEvent[]) =>
  events
    .filter((e) => e.type.startsWith('shutdown.step-') || e.type === 'shutdown.completed')
    .map((e) => `${e.type.slice('shutdown.'.length)} ${(e.data as { step?: number }).step ?? ''}`.trim())

/**
 * Drive a shutdown with the decider itself until `untilStep` has started (every command it
 * meets answered `ok`, the world unchanged), and return the stored events so far.
 */
export function driveTo(untilStep: string, w: ShutdownWorld, options: ShutdownOptionsInput = {}, mode: 'graceful' | 'emergency' = 'graceful'): ShutdownFact[] {
  const log: ShutdownFact[] = [requested(options, mode)]
  let ts = 1_000
  for (let guard = 0; guard < 100; guard++) {
    const state: ShutdownState = foldShutdown(log)
    const out = decideShutdown(advanceWith(w), state)
    for (const e of out) {
      if (!e.type.startsWith('shutdown.')) continue
      if (e.type === 'shutdown.step-started' && e.data.name === untilStep) return log
      log.push({ ...(e as ShutdownFact), ts: ++ts })
      if (e.type === 'shutdown.command-issued') {
        log.push({ type: 'shutdown.command-completed', data: { shutdownId: SD, commandId: e.data.commandId, outcome: 'ok' }, ts: ++ts })
      }
    }
    if (out.length === 0 || out.some((e) => e.type === 'shutdown.completed')) break
  }
  throw new Error(`step '${untilStep}' never started`)
}

/** The events of a decision appended, each command answered with `outcome` (and detail). */
export function answer(
  given: readonly ShutdownFact[],
  decided: readonly HaltdEvent[],
  outcome: 'ok' | 'failed' | 'timed-out' = 'ok',
  detail?: Record<string, unknown>,
): ShutdownFact[] {
  const out = [...given]
  let ts = (given[given.length - 1]?.ts ?? 1_000) + 1
  for (const e of decided) {
    if (!e.type.startsWith('shutdown.')) continue
    out.push({ ...(e as ShutdownFact), ts: ts++ })
  }
  for (const e of decided) {
    if (e.type !== 'shutdown.command-issued') continue
    out.push({ type: 'shutdown.command-completed', data: { shutdownId: SD, commandId: e.data.commandId, outcome, ...(detail ? { detail } : {}) }, ts: ts++ })
  }
  return out
}

/** The same, leaving the commands unanswered. */
export function appended(given: readonly ShutdownFact[], decided: readonly HaltdEvent[]): ShutdownFact[] {
  let ts = (given[given.length - 1]?.ts ?? 1_000) + 1
  return [...given, ...decided.filter((e) => e.type.startsWith('shutdown.')).map((e) => ({ ...(e as ShutdownFact), ts: ts++ }))]
}

/**
 * Step 5 once its cancels are done: it asks every venue for its positions before any flatten.
 * Checks that this is what it decided, and returns the events with the questions answered.
 */
export function positionsObserved(given: readonly ShutdownFact[], w: ShutdownWorld): ShutdownFact[] {
  const asked = decided(given, advanceWith(w))
  const kinds = commandsOf(asked).map((c) => c.kind)
  if (kinds.length === 0 || kinds.some((k) => k !== 'observe-venue'))
    throw new Error(`expected step 5 to observe positions, it decided ${kinds.join(', ') || 'nothing'}`)
  return answer(given, asked)
}
