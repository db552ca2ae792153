import { hostname } from 'node:os'
import type { NatsConnection } from '@nats-io/transport-node'
import type { HaltdState } from '../projections/index.js'
import { instanceOf, openNatsLink } from '../cluster/link.js'
import { openFleetBuckets, type FleetBuckets } from '../cluster/fleet/buckets.js'
import { startRegistration, type Registration } from '../cluster/fleet/registry.js'
import { fleetRowOf, type FleetRow, type Identity } from '../cluster/fleet/row.js'
import type { HaltdConfig } from './config.js'
import type { Logger } from './logger.js'
import type { DaemonStatus } from './types.js'
import { HALTD_VERSION } from './version.js'

export type FleetMembership = {
  /** Whether this engine sees the fleet now (NATS reachable, buckets open). */
  readonly seen: boolean
  /** What `/status` and `/health` say about the fleet. */
  describe(): FleetStatus
  /** Rewrite this engine's row now. */
  publish(): void
  /** Write the last row (with the run's exit code) and leave NATS. */
  close(exitCode: number | undefined): Promise<void>
}

export type FleetStatus = { engine: string; instance: string; seen: boolean; since: string; problem?: string }

export type FleetInput = {
  config: HaltdConfig
  state: () => HaltdState
  status: () => DaemonStatus
  gateHalted: () => boolean
  role: () => 'leader' | 'standby'
  now: () => number
  logger: Logger
  onError: (e: unknown) => void
}

/**
 * This engine in the fleet: connected to NATS, its row kept in the registry. NATS that cannot be
 * reached at startup does not stop haltd: it keeps trying, and says it cannot see the fleet.
 */
export async function joinFleet(input: FleetInput): Promise<FleetMembership | undefined> {
  const { config, logger } = input
  const nats = config.nats
  const fleet = config.fleet
  if (!nats || !fleet?.enabled) return undefined
  const identity: Identity = {
    engine: nats.engine,
    instance: instanceOf(nats),
    host: hostname(),
    pid: process.pid,
    role: input.role(),
    version: HALTD_VERSION,
  }
  let nc: NatsConnection | undefined
  let buckets: FleetBuckets | undefined
  let registration: Registration | undefined
  let seen = false
  let since = input.now()
  let problem: string | undefined
  let closed = false
  let retry: ReturnType<typeof setTimeout> | undefined

  const setSeen = (now: boolean, why?: string) => {
    problem = why
    if (now === seen) return
    seen = now
    since = input.now()
    if (now) logger.info({ engine: identity.engine }, 'fleet: connected to NATS, the fleet is in view')
    else logger.warn({ engine: identity.engine, why }, 'fleet: cannot see the fleet (NATS out of reach): the fleet kill switch cannot reach this engine')
    registration?.publish().catch(input.onError)
  }

  const row = (exit?: FleetRow['exit']): FleetRow => {
    const s = input.status()
    return fleetRowOf({
      identity: { ...identity, role: input.role() },
      activity: { lifecycle: s.state, shutdown: s.shutdown },
      gateHalted: input.gateHalted(),
      state: input.state(),
      fleetSeen: seen,
      ...(exit ? { exit } : {}),
      refreshMs: fleet.refreshMs,
      now: input.now(),
    })
  }

  const watchStatus = async (conn: NatsConnection) => {
    for await (const s of conn.status()) {
      if (s.type === 'disconnect') setSeen(false, 'disconnected from NATS')
      else if (s.type === 'reconnect') setSeen(true)
    }
  }

  const connect = async (): Promise<void> => {
    try {
      const conn = await openNatsLink(nats, `haltd-fleet-${identity.engine}-${identity.instance}`)
      if (closed) {
        await conn.close()
        return
      }
      nc = conn
      void watchStatus(conn).catch(input.onError)
      buckets = await openFleetBuckets(conn, { ttlMs: fleet.ttlMs, replicas: fleet.replicas })
      registration = startRegistration({
        ...buckets,
        engine: identity.engine,
        instance: identity.instance,
        row,
        refreshMs: fleet.refreshMs,
        onError: input.onError,
      })
      setSeen(true)
    } catch (e) {
      setSeen(false, `cannot reach NATS: ${e instanceof Error ? e.message : String(e)}`)
      await nc?.close().catch(() => {})
      nc = undefined
      if (!closed) retry = setTimeout(() => void connect(), fleet.refreshMs)
    }
  }
  await connect()

  return {
    get seen() {
      return seen
    },
    describe: () => ({ ...identity, seen, since: new Date(since).toISOString(), ...(problem ? { problem } : {}) }),
    publish: () => void registration?.publish().catch(input.onError),
    async close(exitCode) {
      closed = true
      clearTimeout(retry)
      await registration?.stop(exitCode === undefined ? undefined : row({ code: exitCode }))
      await nc?.drain().catch(() => nc?.close())
    },
  }
}
