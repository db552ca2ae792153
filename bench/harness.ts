/**
 * What a benchmark scenario is, and the measuring tools scenario authors share.
 *
 * A scenario file is any `bench/scenarios/*.ts` that exports `scenarios: BenchScenario[]`; the
 * runner (`bench/run.ts`) finds it in dist/ by itself. Files in that folder without such an
 * export (helpers like `baselines.ts`) are imported but not run.
 *
 * Conventions the report relies on:
 * - `value` is the median over repetitions, `min`/`max` the extreme repetitions.
 * - `latenciesNs` are per-operation timings in nanoseconds; `percentiles` are in nanoseconds too
 *   (the runner computes them from `latenciesNs` when a scenario gives only the raw timings).
 * - `ratio` = value / value of the result named by `baseline` (the runner fills it in when the
 *   scenario leaves it out). For throughputs higher is better (`>=` targets); for `ms` lower is.
 * - A result a scenario could not measure carries `skipped` with the reason and `value: NaN`;
 *   it is reported as skipped, never as a number.
 * - Emergency results are named `emergency orders=<n> venues=<n> latency=<n>ms` with unit `ms`
 *   (extra words may follow): the HTML page charts them as duration vs order count, one line per
 *   distinct rest of the name (venues, latency and any extra words).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Histogram, type Percentiles } from './histogram.js'

export { Histogram, percentilesOf, type Percentiles } from './histogram.js'

export type BenchUnit = 'events/s' | 'ops/s' | 'ms' | 'bytes'

export type BenchTarget = {
  op: '>=' | '<='
  value: number
  /** Compare the target with the ratio to the baseline, or with the value itself. */
  of: 'ratio' | 'value'
}

export type BenchResult = {
  name: string
  unit: BenchUnit
  /** The median over repetitions. */
  value: number
  min?: number
  max?: number
  /** One figure per repetition, in `unit`. */
  samples?: number[]
  /** Per-operation timings in nanoseconds, for percentiles. */
  latenciesNs?: number[]
  /** In nanoseconds per operation. */
  percentiles?: Percentiles
  /** Name of the result this one is compared with. */
  baseline?: string
  ratio?: number
  target?: BenchTarget
  note?: string
  /** Set when the figure could not be measured here: the reason. `value` is then NaN. */
  skipped?: string
}

export type BenchContext = {
  /** A fast smoke run: small counts, few repetitions. */
  quick: boolean
  /** A fresh directory for this scenario, removed after it. */
  tmpDir: string
  log(msg: string): void
}

export type BenchScenario = {
  name: string
  description: string
  run(ctx: BenchContext): Promise<BenchResult[]>
}

export type MeasureOptions = {
  /** Operations run before timing starts (JIT, caches, file growth). */
  warmup: number
  repetitions: number
  opsPerRep: number
  /** How many units (events) one operation stands for, e.g. 1000 for a batch of 1000. Default 1. */
  unitsPerOp?: number
  /** Time every operation for percentiles (default true); turn off when an op is a few ns. */
  latencies?: boolean
}

export type Measurement = {
  /** Median throughput over repetitions, units per second. */
  median: number
  min: number
  max: number
  /** Throughput of each repetition. */
  samples: number[]
  /** Per-operation timings in nanoseconds (when `latencies` was on). */
  latenciesNs?: number[]
  percentiles?: Percentiles
  /** Operations timed (warm-up excluded). */
  ops: number
}

/** An operation: `i` counts every call (warm-up included), so each call can use fresh input. */
export type Operation = (i: number) => void | Promise<void>

/**
 * A whole repetition run and timed elsewhere (in another process: an engine beside the daemon),
 * operations `from`…`from + ops - 1`; resolves with each one's time in nanoseconds, as measured there.
 */
export type TimedElsewhere = (from: number, ops: number) => Promise<number[]>

function isPromise(x: unknown): x is Promise<void> {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function'
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * A full collection, run between the warm-ups and the timed repetitions. Contenders build their
 * inputs for every repetition up front (tens of MB of events); until a collection has moved them
 * to the old generation, each young one copies them, and it runs when some side allocates: the
 * side that does (haltd's log) paid for promoting every side's workload, the raw baseline's
 * prebuilt rows included, and a ratio swung by a fifth from run to run. After this, each side's
 * collections are those of its own garbage.
 */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** One measured operation's bookkeeping: warm-up, repetitions, timings. */
class Measuring {
  private i = 0
  private readonly hist: Histogram | undefined
  private readonly samples: number[] = []

  constructor(
    private readonly fn: Operation,
    private readonly options: MeasureOptions,
    private readonly elsewhere?: TimedElsewhere,
  ) {
    if (!(options.repetitions >= 1 && options.opsPerRep >= 1)) throw new RangeError('measure needs at least one repetition of one operation')
    this.hist = (options.latencies ?? true) ? new Histogram(options.repetitions * options.opsPerRep) : undefined
  }

  async warm(): Promise<void> {
    if (this.elsewhere) {
      await this.elsewhere(this.i, this.options.warmup)
      this.i += this.options.warmup
      return
    }
    for (let w = 0; w < this.options.warmup; w++) {
      const r = this.fn(this.i++)
      if (isPromise(r)) await r
    }
  }

  async repetition(): Promise<void> {
    const { fn, hist } = this
    const n = this.options.opsPerRep
    if (this.elsewhere) {
      const times = await this.elsewhere(this.i, n)
      this.i += n
      if (times.length !== n) throw new Error(`a repetition timed elsewhere gave ${times.length} timings for ${n} operations`)
      for (const t of times) hist?.record(t)
      this.samples.push((n * (this.options.unitsPerOp ?? 1) * 1e9) / times.reduce((a, b) => a + b, 0))
      return
    }
    const start = process.hrtime.bigint()
    for (let k = 0; k < n; k++) {
      if (hist) {
        const t0 = process.hrtime.bigint()
        const r = fn(this.i++)
        if (isPromise(r)) await r
        hist.record(Number(process.hrtime.bigint() - t0))
      } else {
        const r = fn(this.i++)
        if (isPromise(r)) await r
      }
    }
    const elapsedNs = Number(process.hrtime.bigint() - start)
    this.samples.push((n * (this.options.unitsPerOp ?? 1) * 1e9) / elapsedNs)
  }

  result(): Measurement {
    const { samples, hist } = this
    return {
      median: median(samples),
      min: Math.min(...samples),
      max: Math.max(...samples),
      samples,
      ops: this.options.repetitions * this.options.opsPerRep,
      ...(hist ? { latenciesNs: hist.toArray(), percentiles: hist.percentiles() } : {}),
    }
  }
}

/**
 * Run `fn` `warmup` times, then `repetitions` × `opsPerRep` times; throughput per repetition,
 * its median/min/max, and (by default) every operation's latency. Synchronous operations are
 * never awaited, so they are timed without promise overhead; the event loop gets a turn between
 * repetitions.
 */
export async function measure(fn: Operation, options: MeasureOptions): Promise<Measurement> {
  const [m] = await measureInterleaved([{ fn, options }])
  return m!
}

/**
 * Measure several operations with their repetitions interleaved (A B C, B C A, C A B, …), so a
 * disk stall or a noisy neighbour hits each of them alike and their ratios hold. All entries
 * need the same number of repetitions; warm-ups run first, in order.
 */
export async function measureInterleaved(entries: readonly { fn: Operation; options: MeasureOptions; elsewhere?: TimedElsewhere }[]): Promise<Measurement[]> {
  const reps = entries[0]?.options.repetitions ?? 0
  if (entries.some((e) => e.options.repetitions !== reps)) throw new RangeError('interleaved measurements need the same number of repetitions')
  const runs = entries.map((e) => new Measuring(e.fn, e.options, e.elsewhere))
  for (const r of runs) await r.warm()
  collectGarbage()
  await yieldToLoop()
  for (let rep = 0; rep < reps; rep++) {
    // Rotate who goes first, so no side always runs in the wake of the same neighbour.
    for (let k = 0; k < runs.length; k++) {
      await runs[(rep + k) % runs.length]!.repetition()
      await yieldToLoop()
    }
  }
  return runs.map((r) => r.result())
}

/**
 * One side of a comparison: how to set it up, the operation, and how its measurement becomes
 * a result. `compare` measures all sides interleaved and always tears them down.
 */
export type Contender = {
  fn: Operation
  /** Set when the side times its operations itself, elsewhere: `fn` is then not called. */
  elsewhere?: TimedElsewhere
  options: MeasureOptions
  result(m: Measurement): BenchResult
  close?(): void
}

export async function compare(contenders: readonly Contender[]): Promise<BenchResult[]> {
  try {
    const ms = await measureInterleaved(contenders)
    return contenders.map((c, k) => c.result(ms[k]!))
  } finally {
    for (const c of contenders) c.close?.()
  }
}

export type ThroughputExtras = Omit<Partial<BenchResult>, 'name' | 'unit' | 'value'> & { unit?: 'events/s' | 'ops/s' }

/** A throughput result from a measurement; extra fields (baseline, target, note) are merged in. */
export function throughputResult(name: string, m: Measurement, extra: ThroughputExtras = {}): BenchResult {
  return {
    name,
    unit: 'events/s',
    value: m.median,
    min: m.min,
    max: m.max,
    samples: m.samples,
    ...(m.latenciesNs ? { latenciesNs: m.latenciesNs, percentiles: m.percentiles } : {}),
    ...extra,
  }
}

/** A result that could not be measured here, and why. */
export function skippedResult(name: string, unit: BenchUnit, reason: string, extra: Partial<BenchResult> = {}): BenchResult {
  return { name, unit, value: Number.NaN, ...extra, skipped: reason }
}

/** The process's peak resident set size so far, in bytes (a high-water mark, never decreases). */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024
}

/** a / b, or NaN when either is not a positive finite figure. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : Number.NaN
}

/** Whether a result meets its target; undefined when there is no target or nothing to compare. */
export function targetMet(result: Pick<BenchResult, 'target' | 'value' | 'ratio' | 'skipped'>): boolean | undefined {
  const t = result.target
  if (!t || result.skipped !== undefined) return undefined
  const x = t.of === 'ratio' ? result.ratio : result.value
  if (x === undefined || !Number.isFinite(x)) return undefined
  return t.op === '>=' ? x >= t.value : x <= t.value
}

/** Parse an emergency result name (see the naming convention above). */
export function parseEmergencyName(name: string): { orders: number; venues: number; latencyMs: number; series: string } | undefined {
  if (!/^emergency\b/.test(name)) return undefined
  const orders = /\borders=(\d+)\b/.exec(name)
  const venues = /\bvenues=(\d+)\b/.exec(name)
  const latency = /\blatency=(\d+(?:\.\d+)?)ms\b/.exec(name)
  if (!orders || !venues || !latency) return undefined
  // Everything but the order count tells the series apart, extra words included.
  const series = name
    .replace(/^emergency\s*/, '')
    .replace(/\borders=\d+\s*/, '')
    .trim()
  return { orders: Number(orders[1]), venues: Number(venues[1]), latencyMs: Number(latency[1]), series }
}

/** The name of an emergency result, following the convention. */
export function emergencyName(orders: number, venues: number, latencyMs: number): string {
  return `emergency orders=${orders} venues=${venues} latency=${latencyMs}ms`
}
