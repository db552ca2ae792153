/**
 * Projections (issue [2]): the hot path (validate + append + project one event), replay of all
 * projections, and restart from a snapshot near the tail against a full replay, each next to
 * its baseline. Restarts run in child processes of this same file, so each one's peak RSS is
 * its own.
 */
import Database from 'better-sqlite3'
import { execFileSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { createProjectionRunner, replayLog } from '../../src/core/log/projection-runner.js'
import { openSnapshotStore } from '../../src/core/log/snapshots.js'
import { evolve, initialState, type Fact } from '../../src/projections/index.js'
import { parseEvent, type EventInput } from '../../src/events/index.js'
import { compare, median, throughputResult, type BenchContext, type BenchResult, type BenchScenario, type Contender } from '../harness.js'
import { tradingEvents } from '../workload.js'
import { rawInsertAutocommit, rawInsertBatched, type RunShape } from './baselines.js'

const BATCH = 1000
const CHILD = '--projections-restart-child'
const count = (s: RunShape, perOp = 1) => (s.warmup + s.repetitions * s.opsPerRep) * perOp

/** A log and a live runner on it, closed with the contender. */
function liveLog(ctx: BenchContext, file: string, make: (log: EventLog) => Omit<Contender, 'close'>): Contender {
  const log = openEventLog({ path: join(ctx.tmpDir, file) })
  const runner = createProjectionRunner({ log })
  return {
    ...make(log),
    close: () => {
      runner.stop()
      log.close()
    },
  }
}

// ── hot path ─────────────────────────────────────────────────────────────────────────────────

function hotPerEvent(ctx: BenchContext, shape: RunShape): Contender {
  const inputs = tradingEvents(count(shape), 'hp')
  return liveLog(ctx, 'hot-per-event.db', (log) => ({
    fn: (i) => {
      log.append(inputs[i]!)
    },
    options: shape,
    result: (m) =>
      throughputResult('hot path per-event: append + project', m, {
        baseline: 'raw insert autocommit',
        target: { op: '>=', value: 0.6, of: 'ratio' },
        note: 'EventLog.append (zod, sha256 chain, INSERT) with a live projection runner applying each event in the same tick',
      }),
  }))
}

function hotBatched(ctx: BenchContext, shape: RunShape): Contender {
  const inputs = tradingEvents(count(shape, BATCH), 'hb')
  const batches = Array.from({ length: count(shape) }, (_, i) => inputs.slice(i * BATCH, (i + 1) * BATCH))
  return liveLog(ctx, 'hot-batched.db', (log) => ({
    fn: (i) => {
      log.appendBatch(batches[i]!)
    },
    options: { ...shape, unitsPerOp: BATCH },
    result: (m) =>
      throughputResult(`hot path batch ${BATCH}: append + project`, m, {
        baseline: `raw insert ${BATCH}/tx`,
        target: { op: '>=', value: 0.6, of: 'ratio' },
        note: `EventLog.appendBatch of ${BATCH} with the live runner projecting each; percentiles per batch`,
      }),
  }))
}

/** The same appends with nobody subscribed: what the log costs by itself, to split the hot path. */
function appendOnly(ctx: BenchContext, shape: RunShape, batch?: number): Contender {
  const per = batch ?? 1
  const inputs = tradingEvents(count(shape, per), batch ? 'ob' : 'op')
  const log = openEventLog({ path: join(ctx.tmpDir, batch ? 'append-only-batched.db' : 'append-only.db') })
  const batches = batch ? Array.from({ length: count(shape) }, (_, i) => inputs.slice(i * batch, (i + 1) * batch)) : []
  return {
    fn: batch
      ? (i) => {
          log.appendBatch(batches[i]!)
        }
      : (i) => {
          log.append(inputs[i]!)
        },
    options: { ...shape, unitsPerOp: per },
    result: (m) =>
      throughputResult(batch ? `append batch ${batch} without projections` : 'append per-event without projections', m, {
        baseline: batch ? `raw insert ${batch}/tx` : 'raw insert autocommit',
        note: 'the same appends with no runner subscribed: the log alone',
      }),
    close: () => log.close(),
  }
}

/** `evolve` alone over prepared facts: what the projections add to an append. */
function evolveOnly(shape: RunShape): Contender {
  const facts = tradingEvents(count(shape), 'ev').map((input, k) => ({ seq: k + 1, ts: 1_000 + k, ...parseEvent(input) }) as Fact)
  const state = initialState()
  return {
    fn: (i) => {
      evolve(state, facts[i]!)
    },
    options: { ...shape, latencies: false },
    result: (m) => throughputResult('evolve only (all projections)', m, { note: 'one event into the whole HaltdState, no I/O' }),
  }
}

// ── replay ───────────────────────────────────────────────────────────────────────────────────

/**
 * Orders that finish, the way a log that runs for months fills up: submitted, accepted, filled
 * whole, and a mark, across three venues and two strategies, flipping long and short. (The
 * append workload leaves most orders partly filled, so its open-order book grows without end.)
 */
function finishingEvent(i: number): EventInput {
  const venue = ['binance', 'okx', 'kraken'][(i >> 2) % 3]!
  const cid = `f-${i >> 2}`
  const qty = 0.01 + ((i >> 2) % 5) / 100
  const price = 64000 + ((i * 7) % 101)
  switch (i & 3) {
    case 0:
      return {
        type: 'order.submitted',
        data: {
          venue,
          clientOrderId: cid,
          symbol: 'BTC/USDT',
          side: (i >> 3) % 3 === 0 ? 'sell' : 'buy',
          type: 'limit',
          qty,
          price,
          origin: { kind: 'strategy', id: (i >> 2) % 2 ? 'mm-1' : 'trend-1' },
        },
      }
    case 1:
      return { type: 'order.accepted', data: { venue, clientOrderId: cid, venueOrderId: `v-${cid}` } }
    case 2:
      return { type: 'order.filled', data: { venue, clientOrderId: cid, tradeId: `t-${cid}`, qty, price, fee: 0.02, feeCurrency: 'USDT', liquidity: 'maker' } }
    default:
      return { type: 'market.mark', data: { venue, symbol: 'BTC/USDT', price } }
  }
}

/** A log of `n` such events, written in batches. */
function buildLog(path: string, n: number): void {
  const log = openEventLog({ path })
  for (let from = 0; from < n; from += BATCH) {
    log.appendBatch(Array.from({ length: Math.min(BATCH, n - from) }, (_, k) => finishingEvent(from + k)))
  }
  log.close()
}

function replayContenders(path: string, n: number, shape: RunShape): Contender[] {
  const log = openEventLog({ path, readonly: true })
  const raw = new Database(path, { readonly: true })
  const iterate = raw.prepare('SELECT seq, ts, type, v, data FROM events ORDER BY seq')
  const opts = { ...shape, unitsPerOp: n, latencies: false }
  return [
    {
      // the floor: SQLite hands over the rows, JSON.parse, and a fold that touches each one
      fn: () => {
        let sum = 0
        for (const row of iterate.iterate() as Iterable<{ seq: number; ts: number; type: string; data: string }>) {
          const data = JSON.parse(row.data) as { qty?: number }
          sum += row.seq + (data.qty ?? 0)
        }
        if (sum < 0) throw new Error('unreachable')
      },
      options: opts,
      result: (m) => throughputResult('raw iterate + JSON.parse + fold', m, { note: `better-sqlite3 iterate() over ${n} rows (seq, ts, type, v, data)` }),
      close: () => raw.close(),
    },
    {
      fn: () => {
        replayLog(log, { fromSnapshot: false })
      },
      options: opts,
      result: (m) =>
        throughputResult('replay all projections', m, {
          baseline: 'raw iterate + JSON.parse + fold',
          target: { op: '>=', value: 0.8, of: 'ratio' },
          note: `replayLog over ${n} events (orders that finish: submitted, accepted, filled, mark): paged reads, upcasting, every projection`,
        }),
    },
    {
      fn: () => {
        const state = initialState()
        for (const e of log.read()) evolve(state, e)
      },
      options: opts,
      result: (m) =>
        throughputResult('replay via EventLog.read (full envelopes)', m, {
          baseline: 'raw iterate + JSON.parse + fold',
          note: 'the same fold over EventLog.read(), which builds whole envelopes with ids and hashes',
        }),
      close: () => log.close(),
    },
  ]
}

// ── restart ──────────────────────────────────────────────────────────────────────────────────

type ChildReport = { ms: number; maxRssBytes: number; liveHeapBytes: number; restoredFrom: number | null; applied: number; seq: number }

/** In a fresh process: open the log and bring a runner up, from the snapshot or from seq 0. */
function restartChild(path: string, mode: 'snapshot' | 'full'): void {
  const t0 = process.hrtime.bigint()
  const log = openEventLog({ path })
  const runner = createProjectionRunner({ log, fromSnapshot: mode === 'snapshot', warn: (m) => process.stderr.write(`${m}\n`) })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  // what the replay holds on to, as opposed to what it passed through: the flat-memory claim
  ;(globalThis as { gc?: () => void }).gc?.()
  const report: ChildReport = {
    ms,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    liveHeapBytes: process.memoryUsage().heapUsed,
    restoredFrom: runner.restoredFrom?.seq ?? null,
    applied: runner.seq - (runner.restoredFrom?.seq ?? 0),
    seq: runner.seq,
  }
  log.close()
  process.stdout.write(`${JSON.stringify(report)}\n`)
}

function runChild(path: string, mode: 'snapshot' | 'full'): ChildReport {
  const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), CHILD, path, mode], { encoding: 'utf8', maxBuffer: 1 << 20 })
  return JSON.parse(out.trim().split('\n').pop()!) as ChildReport
}

async function restart(ctx: BenchContext, n: number, repetitions: number): Promise<BenchResult[]> {
  const path = join(ctx.tmpDir, `restart-${n}.db`)
  ctx.log(`restart: writing a log of ${n} events`)
  buildLog(path, n)
  const tail = Math.min(1000, Math.floor(n / 10))
  const log = openEventLog({ path })
  const snap = openSnapshotStore(log).write(replayLog(log, { until: n - tail, fromSnapshot: false }).state)
  log.close()
  const label = n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`
  const sides = { snapshot: [] as ChildReport[], full: [] as ChildReport[] }
  for (let r = 0; r < repetitions; r++) {
    sides.snapshot.push(runChild(path, 'snapshot'))
    sides.full.push(runChild(path, 'full'))
  }
  const fileBytes = statSync(path).size
  const ms = (side: ChildReport[]) => side.map((c) => c.ms)
  const rss = (side: ChildReport[]) => Math.max(...side.map((c) => c.maxRssBytes))
  const fullName = `restart full replay ${label} events`
  if (sides.snapshot.some((c) => c.restoredFrom !== snap.seq)) throw new Error(`restart did not use the snapshot at seq ${snap.seq}`)
  return [
    { name: fullName, unit: 'ms', value: median(ms(sides.full)), samples: ms(sides.full), note: `log file ${fileBytes} bytes` },
    {
      name: `restart snapshot + tail ${label} events`,
      unit: 'ms',
      value: median(ms(sides.snapshot)),
      samples: ms(sides.snapshot),
      baseline: fullName,
      note: `snapshot at seq ${snap.seq} (${snap.bytes} bytes), tail of ${tail} events`,
    },
    { name: `peak RSS full replay ${label} events`, unit: 'bytes', value: rss(sides.full), note: 'child process maxRSS' },
    { name: `peak RSS snapshot + tail ${label} events`, unit: 'bytes', value: rss(sides.snapshot), note: 'child process maxRSS' },
    {
      name: `live heap after full replay ${label} events`,
      unit: 'bytes',
      value: Math.max(...sides.full.map((c) => c.liveHeapBytes)),
      note: 'heapUsed after a forced GC, log still open: the state replay keeps, not what it streamed through',
    },
    {
      name: `snapshot size ${label} events`,
      unit: 'bytes',
      value: snap.bytes,
      note: 'canonical JSON of the state (closed orders beyond the retention are dropped)',
    },
  ]
}

export const scenarios: BenchScenario[] = [
  {
    name: 'projections',
    description: 'Projections: hot path (append + project) vs raw inserts, replay vs raw iterate + parse, restart from a snapshot vs full replay',
    async run(ctx) {
      const q = ctx.quick
      const perEvent = q ? { warmup: 200, repetitions: 3, opsPerRep: 1000 } : { warmup: 2000, repetitions: 7, opsPerRep: 10_000 }
      const batched = q ? { warmup: 1, repetitions: 3, opsPerRep: 2 } : { warmup: 3, repetitions: 7, opsPerRep: 10 }
      const results: BenchResult[] = []

      ctx.log('hot path per event: raw insert autocommit, append + project, evolve alone')
      results.push(
        ...(await compare([
          rawInsertAutocommit(ctx, tradingEvents(count(perEvent), 'ra'), perEvent),
          hotPerEvent(ctx, perEvent),
          appendOnly(ctx, perEvent),
          evolveOnly(perEvent),
        ])),
      )
      ctx.log(`hot path batched: raw insert ${BATCH}/tx, appendBatch ${BATCH} + project`)
      results.push(
        ...(await compare([
          rawInsertBatched(ctx, tradingEvents(count(batched, BATCH), 'rb'), { ...batched, batch: BATCH, synchronous: 'NORMAL' }),
          hotBatched(ctx, batched),
          appendOnly(ctx, batched, BATCH),
        ])),
      )

      const n = q ? 20_000 : 200_000
      ctx.log(`replay: ${n} events`)
      const replayPath = join(ctx.tmpDir, 'replay.db')
      buildLog(replayPath, n)
      results.push(
        ...(await compare(replayContenders(replayPath, n, q ? { warmup: 1, repetitions: 3, opsPerRep: 1 } : { warmup: 1, repetitions: 5, opsPerRep: 1 }))),
      )

      for (const size of q ? [20_000, 40_000] : [100_000, 1_000_000]) results.push(...(await restart(ctx, size, q ? 2 : 3)))
      return results
    },
  },
]

if (process.argv[2] === CHILD) restartChild(process.argv[3]!, process.argv[4] === 'full' ? 'full' : 'snapshot')
