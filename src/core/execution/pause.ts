import type { HaltdEvent, Origin } from '../../events/index.js'
import { HaltdError } from '../../events/errors.js'
import type { EventLog } from '../log/event-log.js'
import type { OrderRouter } from './order-router.js'
import type { Decider, ShutdownWorld } from '../shutdown/types.js'

/**
 * Pause / resume / freeze, the runbooks that stop trading without stopping the process.
 * Pause: strategies off and their orders cancelled. Resume: back on, refused while the kill
 * switch is latched. Freeze: deployments and config locked, observation only.
 */
export type PauseState = { paused: boolean; frozen: boolean }

export type PauseCommand =
  | { kind: 'pause'; reason: string; origin: Origin }
  | { kind: 'resume'; reason: string; origin: Origin; killSwitchLatched: boolean }
  | { kind: 'freeze'; reason: string; origin: Origin }
  | { kind: 'unfreeze'; reason: string; origin: Origin }

export class PauseRefused extends HaltdError {
  constructor(
    readonly command: PauseCommand['kind'],
    detail: string,
  ) {
    super('PAUSE_REFUSED', `${command} refused: ${detail}`)
  }
}

export function evolvePause(state: PauseState, event: HaltdEvent): PauseState {
  switch (event.type) {
    case 'trading.paused':
      return { ...state, paused: true }
    case 'trading.resumed':
      return { ...state, paused: false }
    case 'deployments.locked':
      return { ...state, frozen: true }
    case 'deployments.unlocked':
      return { ...state, frozen: false }
    default:
      return state
  }
}

export function decidePause(command: PauseCommand, state: PauseState): HaltdEvent[] {
  const data = { reason: command.reason, origin: command.origin }
  if (!command.reason.trim()) throw new PauseRefused(command.kind, 'a reason is required')
  switch (command.kind) {
    case 'pause':
      if (state.paused) throw new PauseRefused('pause', 'trading is paused already')
      return [{ type: 'trading.paused', data }]
    case 'resume':
      if (command.killSwitchLatched) throw new PauseRefused('resume', 'the kill switch is latched; an operator must reset it first')
      if (!state.paused) throw new PauseRefused('resume', 'trading is not paused')
      return [{ type: 'trading.resumed', data }]
    case 'freeze':
      if (state.frozen) throw new PauseRefused('freeze', 'deployments and config are locked already')
      return [{ type: 'deployments.locked', data: { ...data, reason: `freeze: ${command.reason}` } }]
    case 'unfreeze':
      if (!state.frozen) throw new PauseRefused('unfreeze', 'deployments and config are not locked')
      return [{ type: 'deployments.unlocked', data }]
  }
}

export const pauseDecider: Decider<PauseCommand, HaltdEvent, PauseState> = {
  initialState: () => ({ paused: false, frozen: false }),
  evolve: evolvePause,
  decide: decidePause,
}

export type PauseStrategies = {
  disableAll(reason: string, origin?: Origin): unknown
  /** Turn back on the strategies the pause turned off. */
  enable?(id: string, reason: string, origin?: Origin): unknown
}

/** Pause, resume and freeze over the log; the gate refuses strategy orders from the projected pause. */
export class PauseController {
  private pausedIds: string[] = []

  constructor(private readonly ports: { log: EventLog; router: OrderRouter; world: () => ShutdownWorld; strategies?: PauseStrategies }) {}

  get state(): PauseState {
    let state = pauseDecider.initialState()
    for (const e of this.ports.log.read({ stream: 'trading', types: ['trading.paused', 'trading.resumed', 'deployments.locked', 'deployments.unlocked'] })) {
      state = evolvePause(state, e)
    }
    return state
  }

  /** Records the pause, turns strategies off, and cancels their live orders; resolves with the cancel outcomes. */
  async pause(reason: string, origin: Origin): Promise<Record<string, number>> {
    this.ports.log.appendBatch(decidePause({ kind: 'pause', reason, origin }, this.state))
    const disabled = this.ports.strategies?.disableAll(`paused: ${reason}`, origin)
    this.pausedIds = Array.isArray(disabled) ? (disabled as string[]) : []
    const orders = this.ports.world().orders.filter((o) => o.origin.kind === 'strategy')
    const outcomes = await Promise.all(
      orders.map((o) =>
        this.ports.router.cancel({ venue: o.venue, clientOrderId: o.clientOrderId, symbol: o.symbol }, { reason: `paused: ${reason}`, origin }),
      ),
    )
    const counts: Record<string, number> = {}
    for (const r of outcomes) counts[r] = (counts[r] ?? 0) + 1
    return counts
  }

  resume(reason: string, origin: Origin): void {
    const world = this.ports.world()
    this.ports.log.appendBatch(decidePause({ kind: 'resume', reason, origin, killSwitchLatched: world.killSwitchLatched }, this.state))
    for (const id of this.pausedIds) this.ports.strategies?.enable?.(id, `resumed: ${reason}`, origin)
    this.pausedIds = []
  }

  freeze(reason: string, origin: Origin): void {
    this.ports.log.appendBatch(decidePause({ kind: 'freeze', reason, origin }, this.state))
  }

  unfreeze(reason: string, origin: Origin): void {
    this.ports.log.appendBatch(decidePause({ kind: 'unfreeze', reason, origin }, this.state))
  }
}
