import { generateToken } from '../admin/access.js'
import type { AdminBackend, Health } from '../admin/backend.js'
import { adminInfoPath, removeAdminInfo, writeAdminInfo } from '../admin/info-file.js'
import type { Metric } from '../admin/prometheus.js'
import { startAdminServer } from '../admin/server.js'
import type { EventLog } from '../core/log/event-log.js'
import { HaltdError } from '../events/errors.js'
import { dashboardView, type StatusPart } from '../admin/dashboard/view.js'
import { openOrders, positions, type HaltdState } from '../projections/index.js'
import type { HaltdConfig } from './config.js'
import type { Logger } from './logger.js'
import { tradingStatus } from './status.js'
import type { StandbyStatus } from './types.js'

/**
 * A standby's admin listener, on the port its config names, so `haltd status` and a scrape reach it
 * before it leads. Read-only: health, status (role `standby`, the seq it followed to, its lag, who
 * leads), metrics, and the warm projections' orders and positions. Every action, and every read
 * that asks a venue or the leader's own machinery, is refused with 409 `NOT_LEADING` naming the role
 * and the leader. It records nothing: its log must stay a prefix of the stream (refused requests go
 * to the process log). Closed before the standby leads, so the leading haltd can take the port.
 */

export class StandbyRefuses extends HaltdError {
  constructor(instance: string, engine: string, leader: StandbyStatus['leader'], what: string) {
    const who = leader ? `the leader is '${leader.instance}' (epoch ${leader.epoch})` : 'no instance holds the lease now'
    super('NOT_LEADING', `instance '${instance}' is a standby of engine '${engine}' (role standby; ${who}): ${what} only on the leader`)
  }
}

export type StandbyAdmin = { readonly url: string; readonly token: string; close(): Promise<void> }

export async function startStandbyAdmin(input: {
  config: HaltdConfig
  log: EventLog
  state: () => HaltdState
  status: () => StandbyStatus
  startedAt: number
  now: () => number
  logger: Logger
}): Promise<StandbyAdmin | undefined> {
  const { config, log, logger } = input
  if (!config.admin.enabled) return undefined
  const token = config.admin.token ?? generateToken()
  const refuse = (what: string) => (): never => {
    const s = input.status()
    throw new StandbyRefuses(s.instance, s.engine, s.leader, what)
  }
  const view = () => {
    const s = input.status()
    return {
      role: s.role,
      state: 'standby',
      instance: s.instance,
      engine: s.engine,
      pid: process.pid,
      startedAt: new Date(input.startedAt).toISOString(),
      seq: s.follower.seq,
      followedSeq: s.follower.seq,
      lag: { events: s.follower.pending },
      leader: s.leader ?? null,
      follower: s.follower,
      ...(s.refused !== undefined ? { refused: s.refused } : {}),
      ...(s.engineStopped ? { engineStopped: s.engineStopped } : {}),
      venues: s.venues,
    }
  }
  const health = (): Health => {
    const s = input.status()
    const following = s.follower.state === 'following'
    // cut off from NATS it can neither bring its log up to date nor see the lease: it could not take over as it should
    const unanswered = s.follower.unanswered
    return {
      ok: following && unanswered === undefined,
      state: 'standby',
      role: s.role,
      log: {
        ok: following && !log.isClosed,
        lastSeq: s.follower.seq,
        lastEventAt: input.state().ts ? new Date(input.state().ts).toISOString() : null,
        ...(following ? {} : { problem: `not following the stream: ${s.follower.reason ?? s.follower.state}` }),
        ...(following && unanswered
          ? {
              problem: `the stream has not answered since ${unanswered.since} (${unanswered.why}): this log may be behind it, and the lease cannot be seen`,
            }
          : {}),
      },
      venues: s.venues.map((v) => ({ venue: v.venue, connected: v.connected, ...(v.problem ? { lastError: v.problem } : {}) })),
      follower: {
        state: s.follower.state,
        seq: s.follower.seq,
        lagEvents: s.follower.pending,
        ...(unanswered ? { unansweredSince: unanswered.since } : {}),
      },
      leader: s.leader ?? null,
      // a standby of a stopped engine is healthy: it follows, and waits for a leader on purpose
      ...(s.engineStopped ? { engineStopped: s.engineStopped.message } : {}),
    }
  }
  const metrics = (): Metric[] => {
    const s = input.status()
    const engine = { engine: s.engine, instance: s.instance }
    return [
      { name: 'haltd_standby', help: '1 while this instance follows its engine as a standby.', type: 'gauge', samples: [{ labels: engine, value: 1 }] },
      {
        name: 'haltd_standby_followed_seq',
        help: 'The newest seq the standby holds in its log.',
        type: 'gauge',
        samples: [{ labels: engine, value: s.follower.seq }],
      },
      {
        name: 'haltd_standby_lag_events',
        help: 'Events the stream held beyond the last one the standby received.',
        type: 'gauge',
        samples: [{ labels: engine, value: s.follower.pending }],
      },
      {
        name: 'haltd_standby_following',
        help: '1 while the standby follows the stream, 0 once it stopped or broke.',
        type: 'gauge',
        samples: [{ labels: engine, value: s.follower.state === 'following' ? 1 : 0 }],
      },
      {
        name: 'haltd_standby_leader_epoch',
        help: "The leader's epoch as the lease last said (0: nobody holds it).",
        type: 'gauge',
        samples: [{ labels: engine, value: s.leader?.epoch ?? 0 }],
      },
    ]
  }
  /** The page of a standby: the leader's state as the stream carried it, read-only, with whom it follows. */
  const dashboard = () => {
    const s = input.status()
    const state = input.state()
    const who = s.leader ? `the leader is '${s.leader.instance}' (epoch ${s.leader.epoch})` : 'no instance holds the lease now'
    const status: StatusPart = {
      state: 'standby',
      gate: { halted: true, reason: `a standby sends no order; ${who}` },
      ...tradingStatus(state),
      strategies: [],
      uptimeMs: input.now() - input.startedAt,
    }
    return dashboardView({
      state,
      status,
      venues: health().venues,
      risk: [],
      now: input.now(),
      since: input.startedAt,
      standby: {
        engine: s.engine,
        instance: s.instance,
        leader: s.leader ?? null,
        followedSeq: s.follower.seq,
        lagEvents: s.follower.pending,
        following: s.follower.state === 'following',
        ...(s.refused !== undefined ? { refused: s.refused } : {}),
        ...(s.engineStopped ? { engineStopped: s.engineStopped.message } : {}),
      },
    })
  }
  const backend: AdminBackend = {
    log,
    // the log takes nothing on a standby: a refused request is the process log's
    recordRefused: (data) => {
      logger.warn({ refused: data }, 'standby admin: request refused')
      throw new HaltdError('LOG_FOLLOWS_STREAM', 'a standby records nothing of its own')
    },
    health,
    status: view,
    metrics,
    positions: () => ({ positions: positions(input.state()) }),
    orders: () => ({ open: openOrders(input.state()) }),
    reconciliation: refuse('reconciliation with the venues'),
    inflight: refuse('orders in flight'),
    drainStatus: refuse('the drain'),
    dashboard,
    shutdown: refuse('a shutdown'),
    killswitchActivate: refuse('the kill switch'),
    killswitchReset: refuse('the kill switch'),
    drainStart: refuse('a drain'),
    drainCancel: refuse('a drain'),
    drainForce: refuse('a drain'),
    pause: refuse('a pause'),
    resume: refuse('a resume'),
    lockDeployments: refuse('the deployments lock'),
    unlockDeployments: refuse('the deployments lock'),
    handover: refuse('a handover'),
  }
  const server = await startAdminServer({
    backend,
    token,
    users: config.admin.users,
    host: config.admin.host,
    port: config.admin.port,
    logger,
    ...(config.admin.loginLimit ? { loginLimit: config.admin.loginLimit } : {}),
    ...(config.admin.tokenLimit ? { tokenLimit: config.admin.tokenLimit } : {}),
    maxConnections: config.admin.maxConnections,
  })
  const infoPath = adminInfoPath(config.db.path)
  writeAdminInfo(infoPath, { url: server.url, token, pid: process.pid, db: config.db.path, startedAt: new Date(input.startedAt).toISOString() })
  logger.info({ url: server.url, adminFile: infoPath }, 'standby: admin API listening (read-only until it leads)')
  let closed = false
  return {
    url: server.url,
    token,
    async close() {
      if (closed) return
      closed = true
      await server.close().catch((e: unknown) => logger.warn({ err: e }, 'standby: its admin API did not close cleanly'))
      removeAdminInfo(infoPath)
    },
  }
}
