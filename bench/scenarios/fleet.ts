/**
 * The fleet (issue [15]): N haltd engines on loopback in one desk's fleet, each its own NATS
 * connection, its own log and its own simulated venue, embedded in this process so that each
 * gate can be read the instant it closes. Measured: from the operator's write of the fleet kill
 * switch to the last engine's gate closed (p50/p99 over the activations), from an EMERGENCY
 * activation to the last engine's emergency finished, and the registry's load on NATS per engine.
 */
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { openFleetBuckets } from '../../src/cluster/fleet/buckets.js'
import { activateFleetKillSwitch, resetFleetKillSwitch } from '../../src/cluster/fleet/control.js'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { startNats } from '../../test/support/nats-server.js'
import { median, percentilesOf, type BenchContext, type BenchResult, type BenchScenario } from '../harness.js'

const operator = { by: 'bench', host: 'bench-host', instance: 'bench' }

async function untilAll(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const end = performance.now() + timeoutMs
  for (;;) {
    if (check()) return performance.now()
    if (performance.now() > end) throw new Error(`fleet bench: ${what} not within ${timeoutMs} ms`)
    await new Promise((r) => setImmediate(r))
  }
}

async function engine(ctx: BenchContext, url: string, i: number): Promise<Haltd> {
  const venue = new SimExchange({
    venue: 'sim',
    seed: i,
    mode: 'derivatives',
    symbols: [{ symbol: 'BTC/USDT:USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }],
  })
  const silent = { write: () => true } as unknown as NodeJS.WritableStream
  return createHaltd(
    {
      db: { path: join(ctx.tmpDir, `e${i}.db`) },
      admin: { enabled: false },
      nats: { servers: [url], engine: `bench-${i}`, instance: `bench-${i}-1` },
      fleet: {},
    },
    { gateways: [venue], logger: createLogger({ destination: silent as never, level: 'fatal' }), env: {} },
  )
}

async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const n = ctx.quick ? 5 : 20
  const activations = ctx.quick ? 3 : 20
  const loadWindowMs = ctx.quick ? 2_000 : 10_000
  const nats = await startNats()
  const engines: Haltd[] = []
  try {
    ctx.log(`starting ${n} engines`)
    for (let i = 0; i < n; i++) engines.push(await engine(ctx, nats.url, i))
    const nc = await connect({ servers: [nats.url] })
    try {
      const buckets = await openFleetBuckets(nc, { ttlMs: 10_000, replicas: 1 })

      // the registry's load: every request to the fleet's buckets, and its reply, per engine per second
      let requests = 0
      const subs = [
        '$KV.haltd-fleet.>',
        '$KV.haltd-fleet-control.>',
        '$JS.API.DIRECT.GET.KV_haltd-fleet-control.>',
        '$JS.API.STREAM.MSG.GET.KV_haltd-fleet-control',
      ].map((s) => nc.subscribe(s, { callback: () => void requests++ }))
      await new Promise((r) => setTimeout(r, loadWindowMs))
      for (const s of subs) s.unsubscribe()
      const perEngine = (requests * 2) / (loadWindowMs / 1000) / n

      const closed: number[] = []
      for (let a = 0; a < activations; a++) {
        const t0 = performance.now()
        await activateFleetKillSwitch(buckets.control, { ...operator, action: 'HALTED', engines: 'all', reason: `bench ${a}`, known: new Set() })
        const last = await untilAll(() => engines.every((h) => h.gate.halted), 10_000, 'every gate closed')
        closed.push(last - t0)
        await resetFleetKillSwitch(buckets.control, { ...operator, reason: `bench ${a} over` })
        await untilAll(() => engines.every((h) => !h.gate.halted), 10_000, 'every gate open again')
      }
      const p = percentilesOf(closed.map((ms) => ms * 1e6))

      ctx.log('one EMERGENCY activation')
      const t0 = performance.now()
      await activateFleetKillSwitch(buckets.control, { ...operator, action: 'EMERGENCY', engines: 'all', reason: 'bench emergency', known: new Set() })
      const codes = await Promise.all(engines.map((h) => h.exited))
      const emergencyMs = performance.now() - t0
      await resetFleetKillSwitch(buckets.control, { ...operator, reason: 'bench over' })

      return [
        {
          name: `fleet kill switch to the last gate closed, ${n} engines`,
          unit: 'ms',
          value: median(closed),
          min: Math.min(...closed),
          max: Math.max(...closed),
          samples: closed,
          percentiles: p,
          note: `p50 ${(p.p50 / 1e6).toFixed(1)} ms, p99 ${(p.p99 / 1e6).toFixed(1)} ms over ${activations} activations`,
        },
        {
          name: `fleet kill switch to the last gate closed, ${n} engines, p99`,
          unit: 'ms',
          value: p.p99 / 1e6,
          target: { op: '<=', value: 100, of: 'value' },
          note: 'target: p99 under 100 ms',
        },
        {
          name: `fleet EMERGENCY to the last emergency finished, ${n} engines`,
          unit: 'ms',
          value: emergencyMs,
          note: `exit codes ${[...new Set(codes)].join(', ')}`,
        },
        {
          name: 'fleet registry load on NATS per engine',
          unit: 'ops/s',
          value: perEngine,
          note: `messages per second per engine (requests to the fleet buckets and their replies) at the default refresh, over ${loadWindowMs / 1000} s`,
        },
      ]
    } finally {
      await nc.close()
    }
  } finally {
    for (const h of engines) await h.close().catch(() => undefined)
    await nats.close()
  }
}

export const scenarios: BenchScenario[] = [
  { name: 'fleet', description: 'the fleet kill switch over N engines: command to last gate closed, to last emergency done; registry load', run },
]
