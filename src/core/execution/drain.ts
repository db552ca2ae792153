import type { HaltdEvent, Origin } from '../../events/index.js'
import { HaltdError } from '../../events/errors.js'
import type { EventLog } from '../log/event-log.js'
import type { Decider, ShutdownWorld, WorldOrder } from '../shutdown/types.js'

/**
 * Drain: Active → Draining (new strategy orders refused, with the reason, by the gate reading
 * the projected drain state) → Drained once nothing is in flight, or timed out with what
 * remains. A forced stop while positions are open ("locked funds") needs `force: true`.
 */
export type DrainPhase = 'Active' | 'Draining' | 'Drained'
export type DrainState = { phase: DrainPhase; reason?: string }

export type DrainCommand =
  | { kind: 'start'; reason: string; origin: Origin }
  | { kind: 'cancel'; reason: string; origin: Origin }
  /** The in-flight count changed: drained once it is 0. */
  | { kind: 'check'; inFlight: number }
  /** `waitForDrain` ran out of time. */
  | { kind: 'time-out'; inFlight: number }
  | { kind: 'force'; inFlight: number; openPositions: number; force: boolean; reason: string; origin: Origin }

export class DrainRefused extends HaltdError {
  constructor(
    readonly command: string,
    readonly phase: DrainPhase,
    detail: string,
  ) {
    super('DRAIN_REFUSED', `drain ${command} refused while ${phase}: ${detail}`)
  }
}

/** A forced stop with positions open would leave funds locked at the venues. */
export class LockedFunds extends HaltdError {
  constructor(readonly openPositions: number) {
    super('LOCKED_FUNDS', `${openPositions} position(s) are still open: forcing the drain now leaves those funds locked; pass force: true to do it anyway`)
  }
}

type DrainFact = Extract<HaltdEvent, { type: `drain.${string}` }>

export function evolveDrain(state: DrainState, event: HaltdEvent): DrainState {
  switch (event.type) {
    case 'drain.started':
      return { phase: 'Draining', reason: event.data.reason }
    case 'drain.canceled':
      return { phase: 'Active' }
    case 'drain.completed':
      return { ...state, phase: 'Drained' }
    default:
      return state
  }
}

export function decideDrain(command: DrainCommand, state: DrainState): DrainFact[] {
  switch (command.kind) {
    case 'start':
      if (state.phase === 'Draining') throw new DrainRefused('start', state.phase, `already draining (${state.reason ?? 'no reason'})`)
      return [{ type: 'drain.started', data: { reason: command.reason, origin: command.origin } }]
    case 'cancel':
      if (state.phase !== 'Draining') throw new DrainRefused('cancel', state.phase, 'there is no drain to cancel')
      return [{ type: 'drain.canceled', data: { reason: command.reason, origin: command.origin } }]
    case 'check':
      return state.phase === 'Draining' && command.inFlight === 0 ? [{ type: 'drain.completed', data: { outcome: 'drained', inFlight: 0 } }] : []
    case 'time-out':
      return state.phase === 'Draining' ? [{ type: 'drain.completed', data: { outcome: 'timed-out', inFlight: command.inFlight } }] : []
    case 'force':
      if (state.phase !== 'Draining') throw new DrainRefused('force', state.phase, 'start a drain first')
      if (command.openPositions > 0 && !command.force) throw new LockedFunds(command.openPositions)
      return [{ type: 'drain.completed', data: { outcome: 'forced', inFlight: command.inFlight, reason: command.reason, origin: command.origin } }]
  }
}

export const drainDecider: Decider<DrainCommand, HaltdEvent, DrainState> = {
  initialState: () => ({ phase: 'Active' }),
  evolve: evolveDrain,
  decide: decideDrain,
}

export type DrainResult = { outcome: 'drained' | 'timed-out' | 'forced'; inFlight: number; remaining: WorldOrder[] }

/**
 * The drain runbook over the log: the state is read back from the log each time (drain events
 * are few), the world from the projections.
 */
export class DrainController {
  constructor(private readonly ports: { log: EventLog; world: () => ShutdownWorld }) {}

  get state(): DrainState {
    let state: DrainState = drainDecider.initialState()
    for (const e of this.ports.log.read({ stream: 'trading', types: ['drain.started', 'drain.canceled', 'drain.completed'] })) state = evolveDrain(state, e)
    return state
  }

  /** Live orders: what a drain waits for. */
  get inFlight(): number {
    return this.ports.world().orders.length
  }

  private run(command: DrainCommand): void {
    const events = decideDrain(command, this.state)
    if (events.length) this.ports.log.appendBatch(events)
  }

  start(reason: string, origin: Origin): void {
    this.run({ kind: 'start', reason, origin })
    this.run({ kind: 'check', inFlight: this.inFlight })
  }

  cancel(reason: string, origin: Origin): void {
    this.run({ kind: 'cancel', reason, origin })
  }

  force(options: { reason: string; origin: Origin; force?: boolean }): DrainResult {
    const world = this.ports.world()
    this.run({
      kind: 'force',
      inFlight: world.orders.length,
      openPositions: world.positions.length,
      force: options.force ?? false,
      reason: options.reason,
      origin: options.origin,
    })
    return { outcome: 'forced', inFlight: world.orders.length, remaining: [...world.orders] }
  }

  /** Resolves once drained, or at the timeout with what remains (recorded as `drain.completed` timed-out). */
  waitForDrain(timeoutMs: number): Promise<DrainResult> {
    const settled = (): DrainResult | undefined => {
      const s = this.state
      if (s.phase === 'Drained') return { outcome: 'drained', inFlight: 0, remaining: [] }
      if (s.phase !== 'Draining') throw new DrainRefused('wait', s.phase, 'there is no drain to wait for')
      const world = this.ports.world()
      if (world.orders.length > 0) return undefined
      this.run({ kind: 'check', inFlight: 0 })
      return { outcome: 'drained', inFlight: 0, remaining: [] }
    }
    const now = settled()
    if (now) return Promise.resolve(now)
    return new Promise((resolve, reject) => {
      let queued = false
      const finish = (r: DrainResult) => {
        clearTimeout(timer)
        off()
        resolve(r)
      }
      const off = this.ports.log.on('event', () => {
        if (queued) return
        queued = true
        setImmediate(() => {
          queued = false
          try {
            const r = settled()
            if (r) finish(r)
          } catch (e) {
            clearTimeout(timer)
            off()
            reject(e)
          }
        })
      })
      const timer = setTimeout(() => {
        const world = this.ports.world()
        this.run({ kind: 'time-out', inFlight: world.orders.length })
        finish({ outcome: 'timed-out', inFlight: world.orders.length, remaining: [...world.orders] })
      }, timeoutMs)
    })
  }
}
