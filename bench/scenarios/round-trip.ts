/**
 * One order's round trip through haltd at zero venue latency: the gate's check, `order.submitted`
 * written ahead, the simulated venue, its ack, `order.accepted` written, the live projections
 * updated. Next to it, in the same run and interleaved: the venue called alone (what the engine
 * would pay without haltd) and two raw autocommit inserts (the floor for two log writes).
 */
import { join } from 'node:path'
import { openEventLog } from '../../src/core/log/event-log.js'
import { OrderGate } from '../../src/core/execution/gate.js'
import { OrderRouter } from '../../src/core/execution/order-router.js'
import { createProjectionRunner } from '../../src/core/log/projection-runner.js'
import { recordUpdates } from '../../src/core/execution/venue-recorder.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { order as projectedOrder, position } from '../../src/projections/index.js'
import { compare, ratio, throughputResult, type BenchContext, type BenchResult, type BenchScenario, type Contender } from '../harness.js'
import { tradingEvents } from '../workload.js'
import { rawEventsTable, rawRows, type RunShape } from './baselines.js'

const SYMBOL = 'BTC/USDT:USDT'
const VENUE = 'binance-sim'

const total = (s: RunShape) => s.warmup + s.repetitions * s.opsPerRep

/** A resting limit order far from the mid, alternating sides, so it neither fills nor piles onto one side. */
const order = (i: number) => {
  const side = i % 2 === 0 ? ('buy' as const) : ('sell' as const)
  return { symbol: SYMBOL, side, type: 'limit' as const, qty: 0.001, price: side === 'buy' ? 50 - (i % 100) * 0.01 : 150 + (i % 100) * 0.01 }
}

const sim = (seed: number) =>
  new SimExchange({
    venue: VENUE,
    seed,
    mode: 'derivatives',
    idEpoch: `rt${seed}`,
    symbols: [{ symbol: SYMBOL, mid: 100, amountStep: 0.001, priceStep: 0.01, volatilityBps: 0 }],
  })

/** The router as the daemon wires it: gate, log (process durability), venue, recorded updates, live projections. */
function throughHaltd(ctx: BenchContext, shape: RunShape): Contender {
  const log = openEventLog({ path: join(ctx.tmpDir, 'round-trip.db') })
  const projections = createProjectionRunner({ log, warn: () => {} })
  const gate = new OrderGate(() => ({ mode: projections.state.trading.mode, strategyBlock: undefined }))
  const venue = sim(1)
  const stopRecording = recordUpdates(log, venue, undefined, (v, id) => projectedOrder(projections.state, v, id) !== undefined)
  const router = new OrderRouter({
    log,
    gate,
    venues: new Map([[VENUE, venue]]),
    runTag: 'rt',
    positionOf: (v, s) => position(projections.state, v, s)?.qty ?? 0,
    orderOf: (v, id) => projectedOrder(projections.state, v, id),
  })
  return {
    fn: async (i) => {
      const r = await router.submit({ venue: VENUE, ...order(i), origin: { kind: 'strategy', id: 'bench' } })
      if (r.status !== 'accepted') throw new Error(`round trip ${i}: ${r.status}`)
    },
    options: shape,
    result: (m) =>
      throughputResult('order round trip (router + SimExchange, 0 ms)', m, {
        unit: 'ops/s',
        baseline: 'raw insert autocommit x2',
        target: { op: '>=', value: 0.8, of: 'ratio' },
        note: 'gate check, order.submitted written ahead, venue submit, ack, order.accepted, projections live; percentiles per order',
      }),
    close: () => {
      stopRecording()
      router.close()
      void venue.close()
      projections.stop()
      log.close()
    },
  }
}

function venueAlone(shape: RunShape): Contender {
  const venue = sim(2)
  return {
    fn: async (i) => {
      await venue.submit({ clientOrderId: `va-${i}`, ...order(i) })
    },
    options: shape,
    result: (m) => throughputResult('SimExchange submit alone (0 ms)', m, { unit: 'ops/s', note: 'the same orders straight to the venue: no gate, no log' }),
    close: () => void venue.close(),
  }
}

/** Two prepared autocommit inserts per operation: what writing submitted + accepted costs SQLite alone. */
function twoRawInserts(ctx: BenchContext, shape: RunShape): Contender {
  const rows = rawRows(tradingEvents(total(shape) * 2, 'rt'))
  const { db, insert } = rawEventsTable(join(ctx.tmpDir, 'raw-x2.db'), 'NORMAL')
  return {
    fn: (i) => {
      insert.run(...rows[2 * i]!)
      insert.run(...rows[2 * i + 1]!)
    },
    options: shape,
    result: (m) =>
      throughputResult('raw insert autocommit x2', m, {
        unit: 'ops/s',
        note: 'two better-sqlite3 prepared INSERTs, WAL, synchronous=NORMAL, one row per transaction',
      }),
    close: () => db.close(),
  }
}

export const scenarios: BenchScenario[] = [
  {
    name: 'round-trip',
    description: "An order's round trip through the gate, the log, SimExchange at 0 ms and back, against the venue alone and two raw inserts",
    async run(ctx) {
      const shape: RunShape = ctx.quick ? { warmup: 200, repetitions: 3, opsPerRep: 1000 } : { warmup: 2000, repetitions: 7, opsPerRep: 10_000 }
      ctx.log('order round trip: through haltd, the venue alone, two raw inserts')
      const [rt, alone, raw] = await compare([throughHaltd(ctx, shape), venueAlone(shape), twoRawInserts(ctx, shape)])
      const results: BenchResult[] = [rt!, alone!, raw!]
      const costUs = (1 / rt!.value - 1 / alone!.value) * 1e6
      results.push({
        name: "haltd's cost per order (round trip minus venue alone)",
        unit: 'ms',
        value: costUs / 1000,
        note: `${costUs.toFixed(1)} µs per order; the round trip runs at ${ratio(rt!.value, alone!.value).toFixed(2)}x the venue alone`,
      })
      return results
    },
  },
]
