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
  options: { db?: string; fleet?: Record<string, unknown> | false; admin?: boolean; destination?: ReturnType<typeof memoryDestination> } = {},
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
      admin: options.admin ? { enabled: true, port: 0, token: 'a-token-of-sixteen-chars' } : { enabled: false },
      nats: { servers: [url], engine, instance: `${engine}-i1`, connectTimeoutMs: 500 },
      ...(options.fleet === false ? {} : { fleet: { refreshMs: 200, ttlMs: 1_000, ...options.fleet } }),
    },
    { gateways: [venue], logger, env: {} },
  )
}

/** The test's own connection to the fleet's buckets, as an operator's CLI would hold it. */
export async function operatorView(url: string): Promise<{ nc: NatsConnection; buckets: FleetBuckets }> {
  const nc = await connect({ servers: [url] })
  return { nc, buckets: await openFleetBuckets(nc, { ttlMs: 1_000, replicas: 1 }) }
}

export { until } from '../../support/until.js'
