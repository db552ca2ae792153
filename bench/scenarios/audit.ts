/**
 * Offline replay and audit (issue [7]): throughput of `haltd audit` (chain + schemas +
 * invariants + decision replay + projections, in one pass) with and without the hash chain, and
 * of a full replay, over logs of two sizes; each run in a child process of this same file so its
 * peak RSS is its own and comparing the sizes shows whether memory stays flat.
 */
import { execFileSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { auditFile } from '../../src/audit/audit.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { replayLog } from '../../src/core/log/projection-runner.js'
import type { EventInput } from '../../src/events/index.js'
import { median, type BenchContext, type BenchResult, type BenchScenario } from '../harness.js'

const CHILD = '--audit-bench-child'
const BATCH = 1000
type Mode = 'audit' | 'audit-no-chain' | 'replay'

/**
 * A trading log as it fills up over months: orders on three venues submitted, accepted and
 * filled (or canceled on the venue's word), marks, and now and then a venue's position report.
 */
function auditEvent(i: number): EventInput {
  const venue = ['binance', 'okx', 'kraken'][(i >> 3) % 3]!
  const cid = `a-${i >> 3}`
  const qty = 0.01 + ((i >> 3) % 5) / 100
  const price = 64000 + ((i * 7) % 101)
  switch (i & 7) {
    case 0:
      return {
        type: 'order.submitted',
        data: {
          venue,
          clientOrderId: cid,
          symbol: 'BTC/USDT',
          side: (i >> 4) % 3 === 0 ? 'sell' : 'buy',
          type: 'limit',
          qty,
          price,
          origin: { kind: 'strategy', id: (i >> 3) % 2 ? 'mm-1' : 'trend-1' },
        },
      }
    case 1:
      return { type: 'order.accepted', data: { venue, clientOrderId: cid, venueOrderId: `v-${cid}` } }
    case 2:
      return {
        type: 'order.filled',
        data: { venue, clientOrderId: cid, tradeId: `t-${cid}-1`, qty: qty / 2, price, fee: 0.01, feeCurrency: 'USDT', liquidity: 'maker' },
      }
    case 3:
      return { type: 'market.mark', data: { venue, symbol: 'BTC/USDT', price } }
    case 4:
      return (i >> 3) % 4 === 0
        ? { type: 'order.cancel-requested', data: { venue, clientOrderId: cid, reason: 'requote', origin: 'strategy' } }
        : {
            type: 'order.filled',
            data: { venue, clientOrderId: cid, tradeId: `t-${cid}-2`, qty: qty / 2, price, fee: 0.01, feeCurrency: 'USDT', liquidity: 'maker' },
          }
    case 5:
      return (i >> 3) % 4 === 0
        ? { type: 'order.canceled', data: { venue, clientOrderId: cid, confirmedBy: 'ack' } }
        : { type: 'market.mark', data: { venue, symbol: 'ETH/USDT', price: price / 20 } }
    case 6:
      return { type: 'market.mark', data: { venue, symbol: 'BTC/USDT', price: price + 1 } }
    default:
      return (i >> 3) % 64 === 0
        ? { type: 'venue.positions-observed', data: { venue, positions: [{ symbol: 'BTC/USDT', qty: 0 }] } }
        : { type: 'market.mark', data: { venue, symbol: 'ETH/USDT', price: price / 20 + 1 } }
  }
}

export function buildAuditLog(path: string, n: number): void {
  const log = openEventLog({ path })
  for (let from = 0; from < n; from += BATCH) log.appendBatch(Array.from({ length: Math.min(BATCH, n - from) }, (_, k) => auditEvent(from + k)))
  log.close()
}

type ChildReport = { ms: number; maxRssBytes: number; events: number; verdict: string }

function child(path: string, mode: Mode): void {
  const t0 = process.hrtime.bigint()
  let events: number
  let verdict = 'n/a'
  if (mode === 'replay') {
    const log = openEventLog({ path, readonly: true })
    events = replayLog(log, { fromSnapshot: false }).seq
    log.close()
  } else {
    const report = auditFile(path, { verifyChain: mode === 'audit' })
    events = report.log.events
    verdict = report.verdict
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  const out: ChildReport = { ms, maxRssBytes: process.resourceUsage().maxRSS * 1024, events, verdict }
  process.stdout.write(`${JSON.stringify(out)}\n`)
}

function runChild(path: string, mode: Mode): ChildReport {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), CHILD, path, mode], { encoding: 'utf8', maxBuffer: 1 << 20 })
  return JSON.parse(out.trim().split('\n').pop()!) as ChildReport
}

const label = (n: number): string => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`)

async function measureSize(ctx: BenchContext, n: number, repetitions: number, targetMs: number | undefined, judged = false): Promise<BenchResult[]> {
  const path = join(ctx.tmpDir, `audit-${n}.db`)
  ctx.log(`audit: writing a log of ${n} events`)
  buildAuditLog(path, n)
  const runs: Record<Mode, ChildReport[]> = { audit: [], 'audit-no-chain': [], replay: [] }
  for (let r = 0; r < repetitions; r++) {
    for (const mode of Object.keys(runs) as Mode[]) {
      const report = runChild(path, mode)
      if (report.events !== n) throw new Error(`${mode} read ${report.events} events, expected ${n}`)
      if (mode !== 'replay' && report.verdict !== 'clean') throw new Error(`the benchmark log audited ${report.verdict}`)
      runs[mode].push(report)
    }
  }
  const L = label(n)
  const rate = (side: ChildReport[]) => side.map((c) => (n * 1000) / c.ms)
  const rss = (side: ChildReport[]) => Math.max(...side.map((c) => c.maxRssBytes))
  const ms = (side: ChildReport[]) => side.map((c) => c.ms)
  const fileBytes = statSync(path).size
  const replayName = `replay ${L} events (all projections)`
  const results: BenchResult[] = [
    {
      name: replayName,
      unit: 'events/s',
      value: median(rate(runs.replay)),
      samples: rate(runs.replay),
      note: `replayLog from seq 0 in a fresh process (open included); log file ${fileBytes} bytes`,
    },
    {
      name: `audit ${L} events`,
      unit: 'events/s',
      value: median(rate(runs.audit)),
      samples: rate(runs.audit),
      baseline: replayName,
      ...(judged ? { target: { op: '>=' as const, value: 0.8, of: 'ratio' as const } } : {}),
      note: 'one pass: hash chain, seq gaps, schema of every row, invariants, decision replay, projections, report',
    },
    {
      name: `audit ${L} events without chain verification`,
      unit: 'events/s',
      value: median(rate(runs['audit-no-chain'])),
      samples: rate(runs['audit-no-chain']),
      baseline: replayName,
      note: 'the same pass with the sha256 chain walk left out: what the chain costs',
    },
    {
      name: `audit ${L} events wall time`,
      unit: 'ms',
      value: median(ms(runs.audit)),
      samples: ms(runs.audit),
      ...(targetMs !== undefined ? { target: { op: '<=' as const, value: targetMs, of: 'value' as const } } : {}),
      note: 'haltd audit in a fresh process, open to report',
    },
    { name: `peak RSS audit ${L} events`, unit: 'bytes', value: rss(runs.audit), note: 'child process maxRSS' },
    { name: `peak RSS replay ${L} events`, unit: 'bytes', value: rss(runs.replay), note: 'child process maxRSS' },
  ]
  return results
}

export const scenarios: BenchScenario[] = [
  {
    name: 'audit',
    description: 'Offline audit and replay: events/s with and without chain verification, wall time of a 1M-event audit, peak RSS at two log sizes',
    async run(ctx) {
      const [small, large] = ctx.quick ? [5_000, 20_000] : [250_000, 1_000_000]
      const reps = ctx.quick ? 1 : 3
      const results = [
        ...(await measureSize(ctx, small, reps, undefined)),
        ...(await measureSize(ctx, large, reps, ctx.quick ? undefined : 10_000, !ctx.quick)),
      ]
      const rssSmall = results.find((r) => r.name === `peak RSS audit ${label(small)} events`)!
      const rssLarge = results.find((r) => r.name === `peak RSS audit ${label(large)} events`)!
      results.push({
        name: `peak RSS audit ${label(large)} / ${label(small)} events`,
        unit: 'bytes',
        value: rssLarge.value,
        baseline: rssSmall.name,
        target: { op: '<=', value: 1.5, of: 'ratio' },
        note: `memory flat in the log length: ${large / small}× the events should not take much more memory`,
      })
      return results
    },
  },
]

if (process.argv[2] === CHILD) child(process.argv[3]!, process.argv[4] as Mode)
