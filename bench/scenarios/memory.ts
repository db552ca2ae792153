/**
 * Memory over a trading week (issue [13]): a live log with its projections, as the daemon runs
 * them, through 10,000 and then 1,000,000 orders (submitted, accepted, then filled or canceled on
 * the venue's word), each size in a child process of this same file so its memory is its own.
 * Finished orders leave the live state once the newest 10,000 of them are kept (they stay in the
 * log), so the resident set must not grow with the orders seen: after 1,000,000 within 1.2× of
 * after 10,000. The quick run's 5,000 is short of those 10,000, so its live state still doubles.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openEventLog } from '../../src/core/log/event-log.js'
import { createProjectionRunner } from '../../src/core/log/projection-runner.js'
import type { EventInput } from '../../src/events/index.js'
import type { BenchContext, BenchResult, BenchScenario } from '../harness.js'

const CHILD = '--memory-bench-child'
/** Orders per batch; what a busy engine's second looks like, appended as the venues report it. */
const ORDERS_PER_BATCH = 500

function lifecycle(i: number): EventInput[] {
  const venue = ['binance', 'okx', 'bybit'][i % 3]!
  const key = { venue, clientOrderId: `hdmem${i.toString(36)}` }
  const side = i % 2 === 0 ? 'buy' : 'sell'
  const price = 64_000 + (i % 97)
  return [
    { type: 'order.submitted', data: { ...key, symbol: 'BTC/USDT', side, type: 'limit', qty: 0.01, price, origin: { kind: 'strategy', id: 'mm' } } },
    { type: 'order.accepted', data: { ...key, venueOrderId: `v${i}` } },
    i % 4 === 0
      ? { type: 'order.filled', data: { ...key, tradeId: `t${i}`, qty: 0.01, price, fee: 0.01, feeCurrency: 'USDT', liquidity: 'maker' } }
      : { type: 'order.canceled', data: { ...key, confirmedBy: 'stream' } },
  ]
}

type ChildReport = {
  orders: number
  rssBytes: number
  heapBytes: number
  /** What V8 holds for its heap, used or not: the heap's share of the resident set. */
  heapTotalBytes: number
  /** Memory outside the heap that V8 objects hold (Buffers, the ArrayBuffers among them). */
  externalBytes: number
  liveOrders: number
  /** Finished orders the live state keeps (the newest), by its retention. */
  keptFinished: number
  ms: number
  /** The resident set SETTLE_MS after the GC, the process idle meanwhile (but for the checkpoint worker): the figure judged. */
  settledRssBytes: number
}

/**
 * How long the child waits after its GC before it reads the resident set it is judged by. The
 * GC returns while V8's GC threads are still unmapping what it freed: read at once, the RSS of
 * the same run swung by up to 37 MiB; with --single-threaded-gc it reads the same at once as later.
 */
const SETTLE_MS = 100

async function child(path: string, orders: number): Promise<void> {
  const t0 = process.hrtime.bigint()
  const log = openEventLog({ path })
  const projections = createProjectionRunner({ log, warn: () => {} })
  for (let from = 0; from < orders; from += ORDERS_PER_BATCH) {
    const facts: EventInput[] = []
    for (let i = from; i < Math.min(orders, from + ORDERS_PER_BATCH); i++) facts.push(...lifecycle(i))
    log.appendBatch(facts)
  }
  globalThis.gc?.()
  const memory = process.memoryUsage()
  const out: ChildReport = {
    orders,
    rssBytes: memory.rss,
    heapBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    liveOrders: projections.state.orders.size,
    keptFinished: projections.state.retention.closedOrders,
    ms: Number(process.hrtime.bigint() - t0) / 1e6,
    settledRssBytes: 0,
  }
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  out.settledRssBytes = process.memoryUsage().rss
  projections.stop()
  log.close()
  process.stdout.write(`${JSON.stringify(out)}\n`)
}

function runChild(path: string, orders: number): ChildReport {
  const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), CHILD, path, String(orders)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  })
  return JSON.parse(out.trim().split('\n').pop()!) as ChildReport
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`
const label = (n: number): string => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`)

export const scenarios: BenchScenario[] = [
  {
    name: 'memory',
    description: 'RSS and heap of a live log with its projections after 10k and after 1M orders (5k and 50k in a quick run)',
    async run(ctx: BenchContext): Promise<BenchResult[]> {
      const [small, large] = ctx.quick ? [5_000, 50_000] : [10_000, 1_000_000]
      const reports = [small, large].map((n) => {
        ctx.log(`memory: ${n} orders through a live log and its projections`)
        return runChild(join(ctx.tmpDir, `memory-${n}.db`), n)
      })
      const results: BenchResult[] = reports.flatMap((r) => [
        {
          name: `RSS after ${label(r.orders)} orders`,
          unit: 'bytes' as const,
          value: r.settledRssBytes,
          note:
            `${SETTLE_MS} ms after a GC, idle; ${r.liveOrders} orders in the live state (it keeps the newest ${r.keptFinished} finished ones); ` +
            `${(r.ms / 1000).toFixed(1)} s to record them`,
        },
        {
          name: `RSS right after the GC after ${label(r.orders)} orders`,
          unit: 'bytes' as const,
          value: r.rssBytes,
          note: "read as the GC returns: with what V8's GC threads are still unmapping (none of it with --single-threaded-gc)",
        },
        { name: `heap after ${label(r.orders)} orders`, unit: 'bytes' as const, value: r.heapBytes, note: 'V8 heap used after GC' },
        {
          name: `heap committed after ${label(r.orders)} orders`,
          unit: 'bytes' as const,
          value: r.heapTotalBytes,
          note: 'V8 heap held after GC, used or not (heapTotal)',
        },
        {
          name: `RSS outside the heap after ${label(r.orders)} orders`,
          unit: 'bytes' as const,
          value: r.settledRssBytes - r.heapTotalBytes,
          note: `RSS less the committed heap: code, SQLite's page cache and statements, the checkpoint worker, malloc; ${mib(r.externalBytes)} of it external to V8 objects`,
        },
      ])
      results.push({
        name: `RSS after ${label(large)} / ${label(small)} orders`,
        unit: 'bytes',
        value: reports[1]!.settledRssBytes,
        baseline: `RSS after ${label(small)} orders`,
        target: { op: '<=', value: 1.2, of: 'ratio' },
        note: `memory flat in the orders seen: ${large / small}× the orders should not take more than 1.2× the memory`,
      })
      results.push({
        name: `RSS right after the GC after ${label(large)} / ${label(small)} orders`,
        unit: 'bytes',
        value: reports[1]!.rssBytes,
        baseline: `RSS right after the GC after ${label(small)} orders`,
        note: 'the same, each read as the GC returns (not judged: it races the GC threads)',
      })
      return results
    },
  },
]

if (process.argv[2] === CHILD) await child(process.argv[3]!, Number(process.argv[4]))
