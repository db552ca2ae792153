/**
 * Appending to the event log (issue [1]): per event, in batches, and under `power` durability,
 * each next to the raw baseline it is judged against, measured right after it.
 */
import { join } from 'node:path'
import { openEventLog, type EventLog } from '../../src/core/event-log.js'
import { Histogram, measure, throughputResult, type BenchContext, type BenchResult, type BenchScenario, type ThroughputExtras } from '../harness.js'
import { tradingEvents } from '../workload.js'
import { emmettAppend, rawInsertAutocommit, rawInsertBatched, rawNdjsonAppend, type RunShape } from './baselines.js'

const BATCH = 1000

function shapes(quick: boolean) {
  return quick
    ? {
        perEvent: { warmup: 200, repetitions: 3, opsPerRep: 1000 },
        batched: { warmup: 1, repetitions: 3, opsPerRep: 2 },
        power: { warmup: 1, repetitions: 3, opsPerRep: 2 },
        smallBursts: { warmup: 5, repetitions: 3, opsPerRep: 20 },
        emmett: { warmup: 3, repetitions: 2, opsPerRep: 15 },
      }
    : {
        perEvent: { warmup: 2000, repetitions: 7, opsPerRep: 10_000 },
        batched: { warmup: 3, repetitions: 7, opsPerRep: 10 },
        power: { warmup: 3, repetitions: 7, opsPerRep: 10 },
        smallBursts: { warmup: 50, repetitions: 5, opsPerRep: 300 },
        emmett: { warmup: 20, repetitions: 3, opsPerRep: 100 },
      }
}

const count = (s: RunShape, perOp = 1) => (s.warmup + s.repetitions * s.opsPerRep) * perOp

function withLog<T>(ctx: BenchContext, file: string, durability: 'process' | 'power', fn: (log: EventLog) => Promise<T>): Promise<T> {
  const log = openEventLog({ path: join(ctx.tmpDir, file), durability })
  return fn(log).finally(() => log.close())
}

/** Per-event `append` (validate + chain + insert, `process` durability), each one timed. */
async function perEvent(ctx: BenchContext, shape: RunShape): Promise<BenchResult> {
  const inputs = tradingEvents(count(shape), 'pe')
  return withLog(ctx, 'per-event.db', 'process', async (log) => {
    const m = await measure((i) => {
      log.append(inputs[i]!)
    }, shape)
    return throughputResult('append per-event (process)', m, {
      baseline: 'raw insert autocommit',
      target: { op: '>=', value: 0.7, of: 'ratio' },
      note: 'EventLog.append: zod validation, stream and key, sha256 chain, INSERT, publish',
    })
  })
}

/** `appendBatch` of BATCH events: one all-or-nothing transaction per operation. */
async function batched(ctx: BenchContext, shape: RunShape): Promise<BenchResult> {
  const inputs = tradingEvents(count(shape, BATCH), 'ba')
  const batches = Array.from({ length: count(shape) }, (_, i) => inputs.slice(i * BATCH, (i + 1) * BATCH))
  return withLog(ctx, 'batched.db', 'process', async (log) => {
    const m = await measure((i) => {
      log.appendBatch(batches[i]!)
    }, { ...shape, unitsPerOp: BATCH })
    return throughputResult(`append batch ${BATCH} (process)`, m, {
      baseline: `raw insert ${BATCH}/tx`,
      target: { op: '>=', value: 0.8, of: 'ratio' },
      note: `EventLog.appendBatch of ${BATCH}; percentiles per batch`,
    })
  })
}

/**
 * `power` durability under a steady stream: each operation is a burst of `burst` appends made in
 * one event-loop turn, then `flush()` (the group commit, fsync'd). Latency is per append, from
 * the call until its event is durable, which is what a caller awaiting `appendDurable` sees.
 */
async function power(ctx: BenchContext, shape: RunShape, burst: number, extra: ThroughputExtras): Promise<BenchResult> {
  const inputs = tradingEvents(count(shape, burst), `pw${burst}`)
  return withLog(ctx, `power-${burst}.db`, 'power', async (log) => {
    const toDurable = new Histogram(shape.repetitions * shape.opsPerRep * burst)
    const started = new Float64Array(burst)
    const m = await measure(async (i) => {
      const timed = i >= shape.warmup
      const from = i * burst
      for (let k = 0; k < burst; k++) {
        if (timed) started[k] = Number(process.hrtime.bigint())
        log.append(inputs[from + k]!)
      }
      await log.flush()
      if (timed) {
        const done = Number(process.hrtime.bigint())
        for (let k = 0; k < burst; k++) toDurable.record(done - started[k]!)
      }
    }, { ...shape, unitsPerOp: burst, latencies: false })
    return throughputResult(`append power burst ${burst}/turn`, m, {
      latenciesNs: toDurable.toArray(),
      percentiles: toDurable.percentiles(),
      ...extra,
    })
  })
}

/** The same events emmett gets, each awaited until durable: fsync per event on both sides. */
async function awaitedPower(ctx: BenchContext, shape: RunShape): Promise<BenchResult> {
  const inputs = tradingEvents(count(shape), 'em')
  return withLog(ctx, 'awaited-power.db', 'power', async (log) => {
    const m = await measure(async (i) => {
      await log.appendDurable(inputs[i]!)
    }, shape)
    return throughputResult('append per-event power awaited', m, {
      baseline: 'emmett-sqlite append per-event',
      target: { op: '>=', value: 1, of: 'ratio' },
      note: "appendDurable awaited one at a time (fsync per event), the same events as emmett-sqlite's run",
    })
  })
}

export const scenarios: BenchScenario[] = [
  {
    name: 'append',
    description: 'Event log append per event, batched and under power durability, against raw SQLite, NDJSON and emmett-sqlite',
    async run(ctx) {
      const s = shapes(ctx.quick)
      const results: BenchResult[] = []
      const step = async (label: string, fn: () => Promise<BenchResult>) => {
        ctx.log(label)
        const r = await fn()
        results.push(r)
      }
      // Each haltd figure is measured right after its baseline, so both see the same machine.
      await step('raw insert autocommit', () => rawInsertAutocommit(ctx, tradingEvents(count(s.perEvent), 'ra'), s.perEvent))
      await step('append per-event (process)', () => perEvent(ctx, s.perEvent))
      await step('raw ndjson writeSync', () => rawNdjsonAppend(ctx, tradingEvents(count(s.perEvent), 'nd'), s.perEvent))
      await step(`raw insert ${BATCH}/tx`, () =>
        rawInsertBatched(ctx, tradingEvents(count(s.batched, BATCH), 'rb'), { ...s.batched, batch: BATCH, synchronous: 'NORMAL' }))
      await step(`append batch ${BATCH} (process)`, () => batched(ctx, s.batched))
      await step(`raw insert ${BATCH}/tx FULL`, () =>
        rawInsertBatched(ctx, tradingEvents(count(s.power, BATCH), 'rf'), { ...s.power, batch: BATCH, synchronous: 'FULL' }))
      await step(`append power burst ${BATCH}/turn`, () =>
        power(ctx, s.power, BATCH, {
          baseline: `raw insert ${BATCH}/tx FULL`,
          target: { op: '>=', value: 0.8, of: 'ratio' },
          note: `${BATCH} appends per event-loop turn, then flush (one fsync'd group commit); latency = append call to durable`,
        }))
      await step('append power burst 10/turn', () =>
        power(ctx, s.smallBursts, 10, { note: "10 appends per turn, then flush: an fsync'd commit every 10 events; latency = append call to durable" }))
      await step('emmett-sqlite append per-event', () => emmettAppend(ctx, tradingEvents(count(s.emmett), 'em'), s.emmett))
      await step('append per-event power awaited', () => awaitedPower(ctx, s.emmett))
      return results
    },
  },
]
