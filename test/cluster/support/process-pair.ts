import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { demoConfig } from '../../../src/daemon/demo.js'
import { spawnHaltd, waitFor, whenUp, type Daemon } from '../../daemon/processes.js'
import { tempDir } from '../../support/tmp.js'

/**
 * Real haltd processes of one engine: config files for them, and a primary trading under the
 * demo's strategies with a standby following it.
 */

/** What sets one config apart: the NATS at `url`, the engine, the instance and its failover section. */
export type ProcessConfig = {
  url: string
  engine: string
  instance: string
  failover: Record<string, unknown>
  /** Latency the instance's simulated venues add, by method, in ms. */
  venueLatency?: Record<string, number>
  /** More of the `nats` section (its servers, engine and instance are the fields above). */
  nats?: Record<string, unknown>
  /** The `shutdown` section, where not the demo's. */
  shutdown?: Record<string, unknown>
  /** The replication section, where not sync mode with a 1 s ack timeout. */
  replication?: Record<string, unknown>
}

/**
 * A config file in `dir` for instance `instance`: the demo's venues and strategies, JSON logs, its
 * log at `<instance>.db` beside the file, replication (sync by default) on the NATS at `url`.
 */
export function processConfigFile(dir: string, config: ProcessConfig): { file: string; db: string } {
  const db = join(dir, `${config.instance}.db`)
  const demo = demoConfig({ db, port: 0, seed: 1, orders: 0 })
  const latency = config.venueLatency
  const haltd = {
    ...demo,
    ...(latency
      ? { venues: (demo.venues as Record<string, unknown>[]).map((v) => ({ ...v, faults: { ...(v.faults as object), latencyByMethod: latency } })) }
      : {}),
    log: { format: 'json', level: 'info' },
    nats: { servers: [config.url], engine: config.engine, instance: config.instance, connectTimeoutMs: 1_000, ...config.nats },
    replication: config.replication ?? { mode: 'sync', ackTimeoutMs: 1_000 },
    ...(config.shutdown ? { shutdown: config.shutdown } : {}),
    failover: config.failover,
  }
  const file = join(dir, `${config.instance}.json`)
  writeFileSync(file, JSON.stringify(haltd))
  return { file, db }
}

/**
 * Instance `primary` of `engine` up and leading (`haltd run`), then instance `standby` following it
 * (`haltd standby`), both with the same `failover` section; `primaryLatency` slows the primary's venues.
 */
export async function processPair(pair: {
  url: string
  engine: string
  failover: Record<string, unknown>
  primaryLatency?: Record<string, number>
}): Promise<{ engine: string; primary: Daemon; standby: Daemon; p: { db: string; file: string }; s: { db: string; file: string } }> {
  const dir = tempDir()
  const { url, engine, failover } = pair
  const p = processConfigFile(dir, { url, engine, instance: 'primary', failover, venueLatency: pair.primaryLatency })
  const s = processConfigFile(dir, { url, engine, instance: 'standby', failover })
  const primary = spawnHaltd(['run', '--config', p.file], { db: p.db })
  await whenUp(primary)
  const standby = spawnHaltd(['standby', '--config', s.file], { db: s.db })
  await waitFor('the standby follows', () => standby.stdout.some((l) => l.startsWith('haltd standby: instance standby follows')), standby)
  return { engine, primary, standby, p, s }
}
