import { hostname } from 'node:os'
import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import type { FleetAdmin } from '../admin/backend.js'
import { HaltdError } from '../events/errors.js'
import type { HaltdState } from '../projections/index.js'
import type { KillAction } from '../core/risk/config.js'
import type { FleetOrigin, HaltdEvent, Origin } from '../events/index.js'
import { instanceOf, openNatsLink } from '../cluster/link.js'
import { openFleetBuckets, stopKey, type FleetBuckets } from '../cluster/fleet/buckets.js'
import { fleetOperator, type FleetOperator } from '../cluster/fleet/operator.js'
import {
  fleetOriginOf,
  inScope,
  readFleetKillSwitchValue,
  emptySwitchHistory,
  mergeSwitchHistory,
  noteSwitchValue,
  placed,
  replayOf,
  switchHistory,
  type FleetKillSwitch,
  type UnreadableFleetKillSwitch,
} from '../cluster/fleet/control.js'
import { staleAfterMs, startRegistration, type Registration } from '../cluster/fleet/registry.js'
import { fleetRowOf, type FleetRow, type Identity } from '../cluster/fleet/row.js'
import { readFleetStop, stopApplies, type FleetStopRequest } from '../cluster/fleet/stop.js'
import { watchFleetKillSwitch, watchFleetStop } from '../cluster/fleet/watch.js'
import { readFleetKey } from '../cluster/fleet/signature.js'
import type { HaltdConfig } from './config.js'
import type { Logger } from './logger.js'
import type { DaemonStatus, Lifecycle } from './types.js'
import { HALTD_VERSION } from './version.js'

export type FleetMembership = {
  /** Whether this engine sees the fleet now (NATS reachable, buckets open). */
  readonly seen: boolean
  /** What `/status` and `/health` say about the fleet. */
  describe(): FleetStatus
  /** Rewrite this engine's row now. */
  publish(): void
  /** The fleet-wide view and actions for the admin API, signed with this host and instance. */
  readonly admin: FleetAdmin
  /** Write the last row (with the run's exit code) and leave NATS. */
  close(exitCode: number | undefined): Promise<void>
  /** The connection to NATS now, if one is open: kept until the last row is written. */
  readonly link: NatsConnection | undefined
}

export type FleetStatus = { engine: string; instance: string; seen: boolean; since: string; problem?: string }

/** The kill switch as the fleet drives it: this engine's own switch, with the fleet action's origin. */
export type FleetKillSwitchPort = {
  activate(input: { reason: string; by?: string; action?: KillAction; origin?: Origin; fleet?: FleetOrigin }): unknown
  reset(input: { reason: string; by?: string; origin?: Origin; fleet?: FleetOrigin }): void
}

export type FleetInput = {
  config: HaltdConfig
  state: () => HaltdState
  status: () => DaemonStatus
  lifecycle: () => Lifecycle
  gate: { halt(reason: string): void; release(reason: string): boolean; readonly halted: boolean; readonly latchReason: string | undefined }
  killSwitch: FleetKillSwitchPort
  /** This engine's log: losing and regaining sight of the fleet are recorded in it. */
  record: (event: Extract<HaltdEvent, { type: 'fleet.disconnected' | 'fleet.reconnected' }>) => void
  /** Where a fleet stop's request for this engine's procedure goes: where every other shutdown request goes. */
  requestShutdown: (mode: 'graceful' | 'emergency', reason: string, origin: Origin) => unknown
  role: () => 'leader' | 'standby'
  now: () => number
  logger: Logger
  onError: (e: unknown) => void
}

/** The gate's latch while the fleet is out of view and `fleet.onDisconnect` is `halt`. */
export const FLEET_OUT_OF_VIEW = 'the fleet is out of view (NATS unreachable) and fleet.onDisconnect is halt'
/** The gate's latch while the fleet kill switch's value cannot be read: the switch cannot reach this engine, as when out of view. */
export const FLEET_SWITCH_UNREADABLE = 'the fleet kill switch cannot be read and fleet.onDisconnect is halt'

/**
 * This engine in the fleet: connected to NATS, its row kept in the registry, the fleet kill switch
 * obeyed. It is read before startup goes on, so an engine that starts while the switch is set comes
 * up HALTED. NATS that cannot be reached does not stop haltd: it keeps trying, says it cannot see
 * the fleet, and keeps trading or halts as `fleet.onDisconnect` says.
 */
export async function joinFleet(input: FleetInput): Promise<FleetMembership | undefined> {
  const { config, logger } = input
  const nats = config.nats
  const fleet = config.fleet
  if (!nats || !fleet?.enabled) return undefined
  const fleetKey = fleet.keyFile === undefined ? undefined : readFleetKey(fleet.keyFile)
  if (!fleetKey)
    logger.warn(
      { engine: nats.engine },
      "fleet: commands are not signed (no fleet.keyFile): whoever can write to the fleet's NATS can halt or stop this engine; give every engine and the fleet commands one key file",
    )
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
  let watch: { stop(): void } | undefined
  let stopWatch: { stop(): void } | undefined
  /** The fleet stop this engine is carrying out: its row says so, and its last row pairs the exit code with it. */
  let stopId: string | undefined
  /** Undefined until the first attempt to reach NATS ends, either way. */
  let seen: boolean | undefined
  let since = input.now()
  let problem: string | undefined
  let closed = false
  let retry: ReturnType<typeof setTimeout> | undefined
  let poll: ReturnType<typeof setInterval> | undefined
  /** A fleet stop issued before this moment is an earlier run's. */
  const runStartedAt = input.now()
  /** Fleet actions this run has acted on: the same one seen again (watch, poll, reconnect) is one action. */
  const handled = new Set<string>()
  /** The switch's values written so far (from the key's history at each connect, then as they come): one written again is a replay. */
  const history = emptySwitchHistory()

  const publish = () => void registration?.publish().catch(input.onError)

  const record = (event: Parameters<FleetInput['record']>[0]) => {
    if (closed) return
    try {
      input.record(event)
    } catch (e) {
      input.onError(e)
    }
  }

  /** When NATS last answered this engine (a read of the switch, a reconnect): a link silent for longer is out of view. */
  let answeredAt = input.now()

  const setSeen = (now: boolean, why?: string) => {
    problem = why
    if (now) answeredAt = input.now()
    if (now === seen) return
    const was = seen
    const lostAt = since
    seen = now
    since = input.now()
    if (now) {
      logger.info({ engine: identity.engine }, 'fleet: connected to NATS, the fleet is in view')
      // only an outage recorded is ended in the log (a first connect that succeeds says nothing)
      if (was === false) record({ type: 'fleet.reconnected', data: { outOfViewMs: Math.max(0, since - lostAt), onDisconnect: fleet.onDisconnect } })
      if (input.gate.release(FLEET_OUT_OF_VIEW)) logger.warn('fleet: back in view, the gate closed for it reopens (unless latched for another cause)')
    } else {
      record({ type: 'fleet.disconnected', data: { reason: why ?? 'NATS cannot be reached', onDisconnect: fleet.onDisconnect } })
      logger.warn(
        { engine: identity.engine, why, onDisconnect: fleet.onDisconnect },
        `fleet: cannot see the fleet (${why}): the fleet kill switch cannot reach this engine; ${fleet.onDisconnect === 'halt' ? 'halting until it can' : 'trading on (fleet.onDisconnect: keep)'}`,
      )
      if (fleet.onDisconnect === 'halt') input.gate.halt(FLEET_OUT_OF_VIEW)
    }
    publish()
  }

  /** Since when the switch's value could not be read, while it cannot. */
  let unreadableSince: number | undefined
  /**
   * `placement` is where the value stands (`placed`): an activation written again past what the
   * key's history keeps is a replay the history can no longer name.
   */
  const onKillSwitch = (read: FleetKillSwitch | UnreadableFleetKillSwitch, revision: number, placement?: FleetKillSwitch | UnreadableFleetKillSwitch) => {
    const replay = read.state === 'unreadable' ? read : replayOf(read, revision, history)
    const ks = replay.state !== 'unreadable' && placement?.state === 'unreadable' ? placement : replay
    if (read.state !== 'unreadable') noteSwitchValue(history, read, revision)
    if (ks.state === 'unreadable') {
      // What the switch says cannot be read from it: it cannot reach this engine, which is what
      // fleet.onDisconnect decides for (halt until it can, or keep the state it is in). Said once per value.
      const key = `unreadable:${ks.revision}`
      if (handled.has(key)) return
      handled.add(key)
      const halting = fleet.onDisconnect === 'halt'
      logger.error(
        { revision: ks.revision, why: ks.why, onDisconnect: fleet.onDisconnect },
        `fleet kill switch: the value at revision ${ks.revision} cannot be read (${ks.why}); ${halting ? 'this engine halts' : 'this engine keeps its state (fleet.onDisconnect: keep)'} until a readable one is written (haltd fleet killswitch reset, or activate)`,
      )
      // in the log as the fleet out of view: the switch cannot reach this engine, and the gate (under halt) is closed for it
      record({
        type: 'fleet.disconnected',
        data: { reason: `the fleet kill switch at revision ${ks.revision} cannot be read: ${ks.why}`.slice(0, 2000), onDisconnect: fleet.onDisconnect },
      })
      unreadableSince ??= input.now()
      if (halting) input.gate.halt(FLEET_SWITCH_UNREADABLE)
      return
    }
    if (unreadableSince !== undefined) {
      record({ type: 'fleet.reconnected', data: { outOfViewMs: Math.max(0, input.now() - unreadableSince), onDisconnect: fleet.onDisconnect } })
      unreadableSince = undefined
    }
    if (input.gate.release(FLEET_SWITCH_UNREADABLE))
      logger.warn(
        { id: ks.id, state: ks.state },
        'fleet kill switch: readable again; the gate closed while it was not reopens (unless latched for another cause)',
      )
    if (handled.has(ks.id)) return
    handled.add(ks.id)
    try {
      if (ks.state === 'active') onActivated(ks)
      else onReset(ks)
    } catch (e) {
      input.onError(e)
    }
    publish()
  }

  const onActivated = (ks: Extract<FleetKillSwitch, { state: 'active' }>) => {
    if (!inScope(ks, identity.engine)) return
    const latched = input.state().trading.killSwitch
    // recorded by an earlier run of this engine: the latch in its log holds the gate already
    if (latched.latched && latched.fleet?.id === ks.id) return
    // an engine that starts while the switch is set comes up HALTED: an emergency is for engines that were trading
    const action = input.lifecycle() === 'starting' ? 'HALTED' : ks.action
    logger.warn(
      { id: ks.id, action, by: ks.by, host: ks.host, reason: ks.reason },
      `fleet kill switch ACTIVATED (${action}) by ${ks.by} on ${ks.host}: ${ks.reason}`,
    )
    try {
      const tripped = input.killSwitch.activate({ reason: `fleet kill switch: ${ks.reason}`, by: ks.by, action, origin: 'operator', fleet: fleetOriginOf(ks) })
      if (!tripped) logger.warn({ id: ks.id }, 'fleet kill switch: this engine is latched already at this level or higher; nothing new to do')
    } catch (e) {
      input.gate.halt(`fleet kill switch: ${ks.reason}`)
      throw e
    }
  }

  const onReset = (ks: Extract<FleetKillSwitch, { state: 'reset' }>) => {
    const latched = input.state().trading.killSwitch
    // only a latch the fleet set is the fleet's to clear; this engine's own stays until reset here
    if (!latched.latched || latched.scope !== 'fleet') return
    const life = input.lifecycle()
    if (life === 'shutting-down' || life === 'stopped') return
    // A reset signed before the activation that latched this engine, and not naming it, is an
    // earlier reset written again: its signature holds on the copy, and the key's history, which
    // names replays, may no longer hold the original (anyone can write the key past its depth).
    const by = latched.fleet
    if (by !== undefined && ks.resets !== by.id && Date.parse(ks.at) < Date.parse(by.at)) {
      logger.warn(
        { id: ks.id, at: ks.at, latchedBy: by.id, latchedAt: by.at },
        `fleet kill switch: a reset issued at ${ks.at}, older than the activation ${by.id} of ${by.at} that latched this engine, does not release it (an earlier reset written again): activate and reset the switch to release it`,
      )
      return
    }
    logger.warn({ id: ks.id, by: ks.by, host: ks.host, reason: ks.reason }, `fleet kill switch reset by ${ks.by} on ${ks.host}: ${ks.reason}`)
    input.killSwitch.reset({ reason: `fleet kill switch reset: ${ks.reason}`, by: ks.by, origin: 'operator', fleet: fleetOriginOf(ks) })
  }

  const onStop = (r: FleetStopRequest) => {
    if (stopId !== undefined) return
    const life = input.lifecycle()
    if (life === 'stopped') return
    if (!stopApplies(r, runStartedAt, input.now())) {
      logger.info({ id: r.id, at: r.at, validUntil: r.validUntil }, "fleet stop: an earlier run's or expired request; not acting on it")
      return
    }
    stopId = r.id
    logger.warn({ id: r.id, mode: r.mode, by: r.by, host: r.host }, `fleet stop (${r.mode}) by ${r.by} on ${r.host}: ${r.reason}`)
    try {
      input.requestShutdown(r.mode, `fleet stop by ${r.by} on ${r.host}${r.instance ? ` (${r.instance})` : ''}: ${r.reason}`, 'operator')
    } catch (e) {
      input.onError(e)
    }
    publish()
  }

  /** Where each value read stands (`placed`), asked once per revision: what stands before a revision never changes. */
  const placements = new Map<number, FleetKillSwitch | UnreadableFleetKillSwitch>()
  const placedOnce = async (control: KV, read: FleetKillSwitch | UnreadableFleetKillSwitch, revision: number) => {
    const known = placements.get(revision)
    if (known) return known
    const value = await placed(control, read, revision)
    if (placements.size >= 16) placements.clear()
    placements.set(revision, value)
    return value
  }

  const onStopRefused = (why: string) => logger.warn({ engine: identity.engine, why }, 'fleet: a stop request for this engine was refused')

  /**
   * The switch as it is now, then every change, and this engine's stop key: a stop requested while
   * this run could not see the fleet is found here, and acted on while still valid. Started afresh
   * after each reconnect (a NATS restart ends a watch).
   */
  const follow = async (control: KV) => {
    watch?.stop()
    stopWatch?.stop()
    // without the history the switch is still followed: only a replay of an older activation goes unnamed
    const known = await switchHistory(control).catch((e: unknown) => {
      logger.warn(
        { err: e instanceof Error ? e.message : String(e) },
        "fleet: the kill switch's history could not be read; a replayed activation or reset may be taken as new",
      )
      return emptySwitchHistory()
    })
    mergeSwitchHistory(history, known)
    const now = await readFleetKillSwitchValue(control)
    if (now) onKillSwitch(now.value, now.revision, await placedOnce(control, now.value, now.revision))
    watch = await watchFleetKillSwitch(
      control,
      async (read, revision) => onKillSwitch(read, revision, await placedOnce(control, read, revision)),
      input.onError,
    )
    stopWatch = await watchFleetStop(control, identity.engine, onStop, input.onError, onStopRefused)
    // the request left under the key is read as the watch reads one: refused and named, or acted on while valid
    const pendingStop = await control.get(stopKey(identity.engine))
    const read = pendingStop?.operation === 'PUT' ? readFleetStop(pendingStop.string(), identity.engine, fleetKey) : undefined
    if (read !== undefined && 'refused' in read) onStopRefused(read.refused)
    else if (read !== undefined && stopApplies(read.request, runStartedAt, input.now())) onStop(read.request)
  }

  const row = (exit?: FleetRow['exit']): FleetRow => {
    const s = input.status()
    return fleetRowOf({
      identity: { ...identity, role: input.role() },
      activity: { lifecycle: input.lifecycle(), shutdown: s.shutdown },
      gateHalted: input.gate.halted,
      state: input.state(),
      fleetSeen: seen === true,
      ...(exit ? { exit: stopId ? { ...exit, stopId } : exit } : {}),
      stopId,
      refreshMs: fleet.refreshMs,
      now: input.now(),
    })
  }

  const watchStatus = async (conn: NatsConnection) => {
    for await (const s of conn.status()) {
      if (s.type === 'disconnect') setSeen(false, 'disconnected from NATS')
      else if (s.type === 'reconnect') {
        setSeen(true)
        if (buckets) follow(buckets.control).catch(input.onError)
      }
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
      buckets = await openFleetBuckets(conn, { ttlMs: fleet.ttlMs, replicas: fleet.replicas, key: fleetKey })
      await follow(buckets.control)
      registration = startRegistration({
        ...buckets,
        engine: identity.engine,
        instance: identity.instance,
        row,
        refreshMs: fleet.refreshMs,
        // NATS going away fails a write or two before the link says so: named, not a bare "background error"
        onError: (e) =>
          logger.warn(
            { engine: identity.engine, err: e instanceof Error ? e.message : String(e) },
            "fleet: this engine's row could not be written to the registry; the fleet sees it STALE until a write succeeds",
          ),
      })
      setSeen(true)
      // A watch that missed a change (the server restarted under it) is caught up by a read each refresh.
      // The same read tells a link that went silent (a partition drops packets, no reset): the client
      // calls it dead only after missed pings, while the fleet sees this engine's row stale after
      // `staleAfterMs`; from then this engine counts the fleet out of view too, and back once a read answers.
      const control = buckets.control
      const silentAfterMs = staleAfterMs(fleet.refreshMs)
      answeredAt = input.now()
      let asking = false
      poll = setInterval(() => {
        if (closed) return
        const silentFor = input.now() - answeredAt
        if (seen && silentFor >= silentAfterMs)
          setSeen(false, `NATS has not answered for ${silentFor} ms (the fleet sees this engine's row stale after ${silentAfterMs} ms)`)
        if (asking) return
        asking = true
        readFleetKillSwitchValue(control)
          .then(
            async (now) => {
              answeredAt = input.now()
              if (closed) return
              if (seen === false && nc?.isClosed() === false) {
                setSeen(true)
                follow(control).catch(input.onError)
              } else if (now) onKillSwitch(now.value, now.revision, await placedOnce(control, now.value, now.revision))
            },
            () => {},
          )
          .catch(() => {})
          .finally(() => {
            asking = false
          })
      }, fleet.refreshMs)
      poll.unref?.()
    } catch (e) {
      setSeen(false, `cannot reach NATS: ${e instanceof Error ? e.message : String(e)}`)
      await nc?.close().catch(() => {})
      nc = undefined
      if (!closed) retry = setTimeout(() => void connect(), fleet.refreshMs)
    }
  }
  await connect()

  const operator = (): FleetOperator => {
    if (!buckets || !seen) throw new HaltdError('FLEET_OUT_OF_VIEW', `the fleet is out of view from this engine: ${problem ?? 'NATS cannot be reached'}`)
    return fleetOperator(buckets, { host: identity.host, instance: identity.instance })
  }
  const by = (r: { by?: string | undefined }) => r.by ?? `admin API of ${identity.engine}`
  const admin: FleetAdmin = {
    view: () => operator().view(),
    killswitchActivate: (r) => operator().activate({ by: by(r), action: r.action, engines: r.engines, reason: r.reason }),
    killswitchReset: (r) => operator().reset({ by: by(r), reason: r.reason }),
    stop: (r) => operator().stop({ by: by(r), mode: r.mode, reason: r.reason }),
  }

  return {
    admin,
    get seen() {
      return seen === true
    },
    describe: () => ({ ...identity, seen: seen === true, since: new Date(since).toISOString(), ...(problem ? { problem } : {}) }),
    publish,
    get link() {
      return nc
    },
    async close(exitCode) {
      closed = true
      clearTimeout(retry)
      clearInterval(poll)
      watch?.stop()
      stopWatch?.stop()
      // out of view, a last row would only wait for NATS's timeout and delay the exit: the row expires instead
      const inView = seen === true
      await registration?.stop(exitCode === undefined || !inView ? undefined : row({ code: exitCode }))
      await (inView ? nc?.drain().catch(() => nc?.close()) : nc?.close().catch(() => {}))
    },
  }
}
