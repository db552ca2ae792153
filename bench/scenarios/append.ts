/**
 * Appending to the event log (issue [1]): per event, in batches, and under `power` durability,
 * each next to the baselines it is judged against, their repetitions interleaved.
 */
import { join } from 'node:path'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import {
  compare,
  Histogram,
  throughputResult,
  type BenchContext,
  type BenchResult,
  type BenchScenario,
  type Contender,
  type ThroughputExtras,
} from '../harness.js'
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
        smallBursts: { warmup: 50, repetitions: 7, opsPerRep: 100 },
        emmett: { warmup: 20, repetitions: 3, opsPerRep: 100 },
      }
}

const count = (s: RunShape, perOp = 1) => (s.warmup + s.repetitions * s.opsPerRep) * perOp

/** An event log in the scenario's scratch directory, closed with its contender. */
function logContender(
  ctx: BenchContext,
  file: string,
  durability: 'process' | 'power',
  make: (log: EventLog) => Omit<Contender, 'close'>,
  checkpoints: 'background' | 'inline' = 'background',
): Contender {
  const log = openEventLog({ path: join(ctx.tmpDir, file), durability, checkpoints })
  return { ...make(log), close: () => log.close() }
}

const PER_EVENT = 'append per-event (process)'
const PER_EVENT_INLINE = 'append per-event (process), checkpoints inline'
const RAW_AUTOCOMMIT = 'raw insert autocommit'

/**
 * Per-event `append` (validate + chain + insert, `process` durability), each one timed. With
 * checkpoints `inline` it is the log as it was before the checkpoint worker: SQLite checkpoints
 * inside whichever commit fills the WAL, as the raw baseline does.
 */
function perEvent(ctx: BenchContext, shape: RunShape, checkpoints: 'background' | 'inline'): Contender {
  const inputs = tradingEvents(count(shape), checkpoints === 'inline' ? 'pi' : 'pe')
  return logContender(
    ctx,
    `per-event-${checkpoints}.db`,
    'process',
    (log) => ({
      fn: (i) => {
        log.append(inputs[i]!)
      },
      options: shape,
      result: (m) =>
        throughputResult(checkpoints === 'inline' ? PER_EVENT_INLINE : PER_EVENT, m, {
          baseline: RAW_AUTOCOMMIT,
          ...(checkpoints === 'background' ? { target: { op: '>=', value: 0.7, of: 'ratio' } as const } : {}),
          note: `EventLog.append: validation (compiled path, zod for the rest), stream and key, sha256 chain, INSERT, publish; WAL checkpoints ${checkpoints === 'inline' ? "in the writer's commits (SQLite's default)" : 'on the checkpoint worker'}`,
        }),
    }),
    checkpoints,
  )
}

/**
 * The per-event tail against raw autocommit's, from the same interleaved run: p99.9 at or below
 * raw's, p99 within 1.5× of it. Reported for the log with and without the checkpoint worker.
 */
function tails(results: readonly BenchResult[]): BenchResult[] {
  const raw = results.find((r) => r.name === RAW_AUTOCOMMIT)?.percentiles
  if (!raw) return []
  const out: BenchResult[] = []
  for (const name of [PER_EVENT_INLINE, PER_EVENT]) {
    const p = results.find((r) => r.name === name)?.percentiles
    if (!p) continue
    const background = name === PER_EVENT
    for (const [label, mine, theirs, limit] of [
      ['p99.9', p.p999, raw.p999, 1],
      ['p99', p.p99, raw.p99, 1.5],
    ] as const) {
      out.push({
        name: `${name} tail ${label}`,
        unit: 'ms',
        value: mine / 1e6,
        baseline: `${RAW_AUTOCOMMIT} ${label} ${(theirs / 1e6).toFixed(3)} ms`,
        ratio: mine / theirs,
        ...(background ? { target: { op: '<=', value: limit, of: 'ratio' } as const } : {}),
        note: `per-append ${label} over raw autocommit's ${label} in the same run${background ? '' : ' (before: checkpoints inline)'}`,
      })
    }
  }
  return out
}

/** `appendBatch` of BATCH events: one all-or-nothing transaction per operation. */
function batched(ctx: BenchContext, shape: RunShape): Contender {
  const inputs = tradingEvents(count(shape, BATCH), 'ba')
  const batches = Array.from({ length: count(shape) }, (_, i) => inputs.slice(i * BATCH, (i + 1) * BATCH))
  return logContender(ctx, 'batched.db', 'process', (log) => ({
    fn: (i) => {
      log.appendBatch(batches[i]!)
    },
    options: { ...shape, unitsPerOp: BATCH },
    result: (m) =>
      throughputResult(`append batch ${BATCH} (process)`, m, {
        baseline: `raw insert ${BATCH}/tx`,
        target: { op: '>=', value: 0.8, of: 'ratio' },
        note: `EventLog.appendBatch of ${BATCH}; percentiles per batch`,
      }),
  }))
}

/**
 * `power` durability under a steady stream: each operation is a burst of `burst` appends made in
 * one event-loop turn, then `flush()` (the group commit, fsync'd). Latency is per append, from
 * the call until its event is durable, which is what a caller awaiting `appendDurable` sees.
 */
function power(ctx: BenchContext, shape: RunShape, burst: number, extra: ThroughputExtras): Contender {
  const inputs = tradingEvents(count(shape, burst), `pw${burst}`)
  const toDurable = new Histogram(shape.repetitions * shape.opsPerRep * burst)
  const started = new Float64Array(burst)
  return logContender(ctx, `power-${burst}.db`, 'power', (log) => ({
    fn: async (i) => {
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
    },
    options: { ...shape, unitsPerOp: burst, latencies: false },
    result: (m) =>
      throughputResult(`append power burst ${burst}/turn`, m, {
        latenciesNs: toDurable.toArray(),
        percentiles: toDurable.percentiles(),
        ...extra,
      }),
  }))
}

/** The same events emmett gets, each awaited until durable: fsync per event on both sides. */
function awaitedPower(ctx: BenchContext, shape: RunShape): Contender {
  const inputs = tradingEvents(count(shape), 'em')
  return logContender(ctx, 'awaited-power.db', 'power', (log) => ({
    fn: async (i) => {
      await log.appendDurable(inputs[i]!)
    },
    options: shape,
    result: (m) =>
      throughputResult('append per-event power awaited', m, {
        baseline: 'emmett-sqlite append per-event',
        target: { op: '>=', value: 1, of: 'ratio' },
        note: "appendDurable awaited one at a time (fsync per event), the same events as emmett-sqlite's run",
      }),
  }))
}

export const scenarios: BenchScenario[] = [
  {
    name: 'append',
    description: 'Event log append per event, batched and under power durability, against raw SQLite, NDJSON and emmett-sqlite',
    async run(ctx) {
      const s = shapes(ctx.quick)
      const results: BenchResult[] = []
      // Each haltd figure is measured with its baselines' repetitions interleaved with its own.
      ctx.log('per event: raw insert autocommit, append (process) with checkpoints on the worker and inline, raw ndjson writeSync')
      const perEventResults = await compare([
        rawInsertAutocommit(ctx, tradingEvents(count(s.perEvent), 'ra'), s.perEvent),
        perEvent(ctx, s.perEvent, 'background'),
        perEvent(ctx, s.perEvent, 'inline'),
        rawNdjsonAppend(ctx, tradingEvents(count(s.perEvent), 'nd'), s.perEvent),
      ])
      results.push(...perEventResults, ...tails(perEventResults))
      ctx.log(`batched: raw insert ${BATCH}/tx, appendBatch ${BATCH}`)
      results.push(
        ...(await compare([
          rawInsertBatched(ctx, tradingEvents(count(s.batched, BATCH), 'rb'), { ...s.batched, batch: BATCH, synchronous: 'NORMAL' }),
          batched(ctx, s.batched),
        ])),
      )
      ctx.log(`power: raw insert ${BATCH}/tx FULL, bursts of ${BATCH} and of 10 appends per turn`)
      results.push(
        ...(await compare([
          rawInsertBatched(ctx, tradingEvents(count(s.power, BATCH), 'rf'), { ...s.power, batch: BATCH, synchronous: 'FULL' }),
          power(ctx, s.power, BATCH, {
            baseline: `raw insert ${BATCH}/tx FULL`,
            target: { op: '>=', value: 0.8, of: 'ratio' },
            note: `${BATCH} appends per event-loop turn, then flush (one fsync'd group commit); latency = append call to durable`,
          }),
          power(ctx, s.smallBursts, 10, {
            note: "10 appends per turn, then flush: an fsync'd commit every 10 events; latency = append call to durable",
          }),
        ])),
      )
      ctx.log('peer: emmett-sqlite and haltd power mode, one durable append at a time')
      const emmett = await emmettAppend(ctx, tradingEvents(count(s.emmett), 'em'), s.emmett)
      if ('fn' in emmett) results.push(...(await compare([emmett, awaitedPower(ctx, s.emmett)])))
      else results.push(emmett, ...(await compare([awaitedPower(ctx, s.emmett)])))
      return results
    },
  },
]
