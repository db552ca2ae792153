import { join } from 'node:path'
import { afterEach } from 'vitest'
import type { HaltdConfigInput } from '../../../src/daemon/config.js'
import { createHaltd, createStandby, type Haltd, type HaltdPorts, type Standby } from '../../../src/daemon/index.js'
import { createLogger } from '../../../src/daemon/logger.js'
import type { SimExchange } from '../../../src/exchanges/sim/index.js'
import { memoryDestination } from '../../support/memory-log.js'
import { tempDir } from '../../support/tmp.js'
import { simVenue } from './sim-venue.js'

/**
 * haltd instances of one engine in the test's own process, on the simulated venue and a NATS
 * server: their configs, what they run on, and primaries and standbys put away after each test.
 */

/** A logger that keeps haltd's lines out of the test's output. */
export const quietLogger = () => createLogger({ destination: memoryDestination(), level: 'fatal' })

/** What an instance runs on: one venue (a fresh simulated one by default), a quiet logger, no environment. */
export const quietPorts = (venue: SimExchange = simVenue()) => ({ gateways: [venue], logger: quietLogger(), env: {} })

export type FailoverSection = NonNullable<HaltdConfigInput['failover']>
export type ReplicationSection = NonNullable<HaltdConfigInput['replication']>

/**
 * A primary of `engine` on the NATS at `url`, replicating as `replication` says, with no failover
 * section (so no lease and no instance name): its log at `db`, its admin API on a free port.
 */
export function replicatingPrimaryConfig(url: string, engine: string, replication: ReplicationSection, db: string) {
  return {
    db: { path: db },
    admin: { enabled: true, port: 0, token: 'a-token-of-sixteen-chars' },
    nats: { servers: [url], engine, connectTimeoutMs: 1_000 },
    replication,
  }
}

/**
 * Instance `instance` of `engine` on the NATS at `url`: its own log (`db`, by default a file in a
 * fresh directory), sync replication, `failover` as given, and the admin API on a free port only
 * when given a token.
 */
export function instanceConfig(url: string, engine: string, instance: string, failover: FailoverSection, options: { db?: string; adminToken?: string } = {}) {
  return {
    db: { path: options.db ?? join(tempDir(), `${instance}.db`) },
    admin: options.adminToken ? { enabled: true, host: '127.0.0.1', port: 0, token: options.adminToken } : { enabled: false },
    nats: { servers: [url], engine, instance, connectTimeoutMs: 1_000 },
    replication: { mode: 'sync' as const },
    failover,
  }
}

/**
 * Primaries and standbys of engines on the file's NATS, all with the same `failover` section;
 * what a test started is closed after it, its standbys first. Call it at the file's top level.
 */
export function pairsForFile(nats: { readonly url: string }, failover: FailoverSection, settings: { adminToken?: string } = {}) {
  const haltds: Haltd[] = []
  const standbys: Standby[] = []
  afterEach(async () => {
    for (const s of standbys.splice(0)) await s.close().catch(() => undefined)
    for (const h of haltds.splice(0)) await h.close().catch(() => undefined)
  })
  return {
    /** Instance `instance` of `engine`: `admin` turns its API on with the file's token. */
    config: (engine: string, instance: string, options: { db?: string; admin?: boolean } = {}) =>
      instanceConfig(nats.url, engine, instance, failover, {
        ...(options.db ? { db: options.db } : {}),
        ...(options.admin ? { adminToken: settings.adminToken } : {}),
      }),
    async primary(config: HaltdConfigInput, ports: HaltdPorts = quietPorts()): Promise<Haltd> {
      const h = await createHaltd(config, ports)
      haltds.push(h)
      return h
    },
    async standby(config: HaltdConfigInput, ports: HaltdPorts = quietPorts()): Promise<Standby> {
      const s = await createStandby(config, ports)
      standbys.push(s)
      return s
    },
    /** A haltd the test came by otherwise (a standby's, once it leads), closed with the rest. */
    closeAfter(h: Haltd): Haltd {
      haltds.push(h)
      return h
    },
  }
}
