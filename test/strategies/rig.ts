import { manualClock } from '../../src/events/clock.js'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { OrderGate, type GateView } from '../../src/core/execution/gate.js'
import { OrderRouter } from '../../src/core/execution/order-router.js'
import { createProjectionRunner, type ProjectionRunner } from '../../src/core/log/projection-runner.js'
import { recordUpdates } from '../../src/core/execution/venue-recorder.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { position, type HaltdState } from '../../src/projections/index.js'
import { StrategyHost, type HostOptions, type IntentResult } from '../../src/strategies/index.js'
import { tempDb } from '../support/tmp.js'
import { strategyBook } from '../../src/daemon/strategies.js'

export const BTC = 'BTC/USDT:USDT'
export const ETH = 'ETH/USDT:USDT'
export const SYMBOLS = [
  { symbol: BTC, mid: 64000, amountStep: 0.001, priceStep: 0.1 },
  { symbol: ETH, mid: 3000, amountStep: 0.01, priceStep: 0.01 },
]

/** The strategies' book, read from the projections: the one the daemon hands the host. */
export { strategyBook }

/** What the gate reads from the trading-state projection. */
export function gateView(state: HaltdState): GateView {
  const t = state.trading
  const strategyBlock = t.paused ? `paused: ${t.paused.reason}` : t.drain.state !== 'Active' ? `drain ${t.drain.state}` : undefined
  return { mode: t.mode, strategyBlock }
}

export type Rig = {
  log: EventLog
  runner: ProjectionRunner
  state: () => HaltdState
  gate: OrderGate
  router: OrderRouter
  sims: SimExchange[]
  host: StrategyHost
  clock: ReturnType<typeof manualClock>
  results: IntentResult[]
  /** One seeded step on every venue, each ticker handed to the host; resolves once strategies are idle. */
  tick(): Promise<void>
  close(): Promise<void>
}

/**
 * The real parts, wired as the daemon wires them: SQLite log, live projections, gate, write-ahead
 * router, simulated venues whose updates are recorded, and the host fed from the log.
 */
export function rig(options: { venues?: string[]; path?: string; seed?: number; sink?: (router: OrderRouter) => HostOptions['sink'] } = {}): Rig {
  const clock = manualClock(1_700_000_000_000)
  const log = openEventLog({ path: options.path ?? tempDb(), clock })
  const runner = createProjectionRunner({ log })
  const state = () => runner.state
  const gate = new OrderGate(() => gateView(runner.state))
  const sims = (options.venues ?? ['binance-sim']).map(
    (venue, i) => new SimExchange({ venue, seed: (options.seed ?? 7) + i, mode: 'derivatives', symbols: SYMBOLS, clock }),
  )
  const router = new OrderRouter({
    log,
    gate,
    runTag: 't',
    venues: new Map(sims.map((s) => [s.venue, s])),
    positionOf: (venue, symbol) => position(runner.state, venue, symbol)?.qty ?? 0,
  })
  const offs = sims.map((s) => recordUpdates(log, s))
  const results: IntentResult[] = []
  const host = new StrategyHost({
    sink: options.sink ? options.sink(router) : router,
    book: strategyBook(state),
    recorder: log,
    clock,
    onIntent: (r) => results.push(r),
  })
  offs.push(log.subscribe(log.lastSeq + 1, (e) => void host.onLogEvent(e)))
  for (const s of sims) offs.push(s.onTicker((t) => void host.onTick({ venue: s.venue, ...t })))
  return {
    log,
    runner,
    state,
    gate,
    router,
    sims,
    host,
    clock,
    results,
    async tick() {
      for (const s of sims) s.tick()
      await host.idle()
    },
    async close() {
      await host.stop()
      for (const off of offs) off()
      for (const s of sims) await s.close()
      runner.stop()
      router.close()
      log.close()
    },
  }
}
