import { join } from 'node:path'
import { openEventLog, sequentialIds, systemClock, type Clock, type Envelope, type EventLog } from '../../src/index.js'
import { OrderGate } from '../../src/core/execution/gate.js'
import { OrderRouter } from '../../src/core/execution/order-router.js'
import { createProjectionRunner, type ProjectionRunner } from '../../src/core/log/projection-runner.js'
import { recordUpdates } from '../../src/core/execution/venue-recorder.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import type { CancelAllResult, ExchangeGateway } from '../../src/exchanges/gateway.js'
import { exposureOf } from '../../src/projections/index.js'
import { createCheckpointer, type Checkpointer } from '../../src/core/shutdown/checkpoint.js'
import { ShutdownController } from '../../src/core/shutdown/controller.js'
import type { ShutdownOptionsInput } from '../../src/core/shutdown/options.js'
import type { ShutdownPorts } from '../../src/core/shutdown/ports.js'
import { worldOf } from '../../src/core/shutdown/world.js'
import { afterEachTest } from '../support/after-each-test.js'
import { tempDir } from '../support/tmp.js'

export const SYMBOL = 'BTC/USDT:USDT'
export const MID = 100

type SimOptions = ConstructorParameters<typeof SimExchange>[0]
export type RigOptions = {
  venues?: string[]
  faults?: Record<string, SimOptions['faults']>
  capabilities?: Record<string, SimOptions['capabilities']>
  options?: ShutdownOptionsInput
  seed?: number
  checkpoint?: { primary?: string; fallback?: string }
  ports?: Partial<ShutdownPorts>
  clock?: Clock
  path?: string
  /** Venues that outlive a haltd process (a restart after a crash talks to the same ones). */
  sims?: SimExchange[]
  /** A venue's gateway as haltd sees it, built around its simulator (a venue that answers otherwise). */
  gateways?: Record<string, (sim: SimExchange) => ExchangeGateway>
  /** The router's submit and cancel timeouts (300 ms: the simulators answer in-process). */
  routerTimeoutMs?: number
  /** The log's durability (`process` by default). */
  durability?: 'process' | 'power'
}

export type Rig = Awaited<ReturnType<typeof rig>>

/** Three simulated venues, a real SQLite log, live projections, the gated router and a controller, as the daemon wires them. */
export function rig(o: RigOptions = {}) {
  const dir = tempDir('haltd-shutdown-')
  const names = o.venues ?? ['alpha', 'bravo', 'charlie']
  const clock = o.clock ?? systemClock
  const log: EventLog = openEventLog({ path: o.path ?? join(dir, 'events.db'), clock, ...(o.durability ? { durability: o.durability } : {}) })
  const projections: ProjectionRunner = createProjectionRunner({ log, warn: () => {} })
  const gate = new OrderGate(() => {
    const t = projections.state.trading
    return { mode: t.mode, strategyBlock: t.drain.state !== 'Active' ? 'draining' : t.paused ? 'paused' : undefined }
  })
  const sims =
    o.sims ??
    names.map(
      (venue, i) =>
        new SimExchange({
          venue,
          seed: (o.seed ?? 1) * 31 + i,
          mode: 'derivatives',
          symbols: [{ symbol: SYMBOL, mid: MID, amountStep: 0.001, priceStep: 0.01, volatilityBps: 0 }],
          faults: o.faults?.[venue],
          capabilities: o.capabilities?.[venue],
          maxFillParts: 2,
        }),
    )
  const venues = new Map<string, ExchangeGateway>(sims.map((s) => [s.venue, o.gateways?.[s.venue]?.(s) ?? s]))
  const router = new OrderRouter({
    log,
    gate,
    venues,
    runTag: 't',
    submitTimeoutMs: o.routerTimeoutMs ?? 300,
    cancelTimeoutMs: o.routerTimeoutMs ?? 300,
    positionOf: (v, s) => exposureOf(projections.state, v, s),
  })
  // what haltd hears is what its gateways tell (a simulator, or whatever stands in for it)
  const stops = [...venues.values()].map((g) => recordUpdates(log, g))
  const checkpointer: Checkpointer = createCheckpointer({
    primary: o.checkpoint?.primary ?? join(dir, 'checkpoints', 'checkpoint.json'),
    fallback: o.checkpoint?.fallback ?? join(dir, 'fallback', 'checkpoint.json'),
    logPath: log.path,
  })
  const ports: ShutdownPorts = {
    log,
    gate,
    router,
    venues,
    clock,
    checkpointer,
    world: () => worldOf(projections.state),
    ...o.ports,
  }
  const controller = new ShutdownController({ ...ports, ids: sequentialIds('sd'), options: o.options ?? {} })
  let closed = false
  let crashed = false
  /** The haltd process dies: its log closes under whatever is running; the venues carry on. */
  const crash = () => {
    if (crashed) return
    crashed = true
    for (const s of stops) s()
    router.close()
    projections.stop()
    log.close()
  }
  const close = async () => {
    if (closed) return
    closed = true
    crash()
    for (const s of sims) await s.close()
  }
  afterEachTest(close)

  const strategy = { kind: 'strategy' as const, id: 'mm' }
  return {
    dir,
    log,
    projections,
    gate,
    router,
    sims,
    venues,
    ports,
    controller,
    checkpointer,
    close,
    crash,
    sim: (name: string) => sims.find((s) => s.venue === name)!,
    world: () => worldOf(projections.state),
    /** Resting limit orders far from the mid, `n` per venue, from a strategy. */
    async rest(n: number, on: readonly string[] = names): Promise<void> {
      for (const venue of on) {
        for (let i = 0; i < n; i++) {
          const side = i % 2 === 0 ? 'buy' : 'sell'
          const out = await router.submit({
            venue,
            symbol: SYMBOL,
            side,
            type: 'limit',
            qty: 1,
            price: side === 'buy' ? MID * 0.9 : MID * 1.1,
            origin: strategy,
          })
          if (out.status !== 'accepted') throw new Error(`resting order not accepted: ${JSON.stringify(out)}`)
        }
      }
    },
    /** A position taken with a strategy's market order. */
    async take(venue: string, qty: number): Promise<void> {
      const out = await router.submit({ venue, symbol: SYMBOL, side: qty > 0 ? 'buy' : 'sell', type: 'market', qty: Math.abs(qty), origin: strategy })
      if (out.status !== 'accepted') throw new Error(`market order not accepted: ${JSON.stringify(out)}`)
    },
    events(): Envelope[] {
      return [...log.read()]
    },
    types(prefix = ''): string[] {
      return [...log.read()].map((e) => e.type).filter((t) => t.startsWith(prefix))
    },
  }
}

/** The simulated venue whose batch cancel answers no order by its own item (OKX's code 1 for the whole batch, say). */
export function silentBatchCancel(sim: SimExchange): ExchangeGateway {
  return new Proxy(sim, {
    get: (target, key) => {
      if (key === 'cancelAll')
        return async (): Promise<CancelAllResult> => {
          const open = await sim.fetchOpenOrders()
          return { scope: 'own', method: 'batched', canceled: [], failed: [], unanswered: open.map((o) => o.clientOrderId ?? o.venueOrderId) }
        }
      const v = Reflect.get(target, key, target) as unknown
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}
