import { join } from 'node:path'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { createHaltd, type Haltd } from '../../../src/daemon/index.js'
import { createLogger } from '../../../src/daemon/logger.js'
import { SimExchange } from '../../../src/exchanges/sim/index.js'
import { openFleetBuckets, type FleetBuckets } from '../../../src/cluster/fleet/buckets.js'
import { memoryDestination } from '../../support/memory-log.js'
import { tempDir } from '../../support/tmp.js'

/** An embedded haltd on one simulated venue, in the fleet of the NATS at `url`. */
export async function fleetEngine(
  url: string,
  engine: string,
  options: { db?: string; fleet?: Record<string, unknown>; destination?: ReturnType<typeof memoryDestination> } = {},
): Promise<Haltd> {
  const venue = new SimExchange({
    venue: 'alpha-sim',
    seed: 3,
    mode: 'derivatives',
    symbols: [{ symbol: 'BTC/USDT:USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }],
  })
  const logger = createLogger({ destination: options.destination ?? memoryDestination(), level: 'info' })
  return createHaltd(
    {
      db: { path: options.db ?? join(tempDir(), `${engine}.db`) },
      admin: { enabled: false },
      nats: { servers: [url], engine, instance: `${engine}-i1`, connectTimeoutMs: 500 },
      fleet: { refreshMs: 200, ttlMs: 1_000, ...options.fleet },
    },
    { gateways: [venue], logger, env: {} },
  )
}

/** The test's own connection to the fleet's buckets, as an operator's CLI would hold it. */
export async function operatorView(url: string): Promise<{ nc: NatsConnection; buckets: FleetBuckets }> {
  const nc = await connect({ servers: [url] })
  return { nc, buckets: await openFleetBuckets(nc, { ttlMs: 1_000, replicas: 1 }) }
}

export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
