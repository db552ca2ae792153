import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { systemClock, uuidIds } from '../events/clock.js'
import { HaltdError } from '../events/errors.js'
import { acquireLease, LeaseHeld, LeaseValue, openLeaseBucket, readLease } from '../cluster/leadership/lease.js'
import { instanceOf, openNatsLink } from '../cluster/link.js'
import { startFollower, type Follower, type FollowerStatus } from '../cluster/replication/follower.js'
import { lastEpochIn, type LeadershipReason } from './cluster.js'
import { parseConfig, secretsOf, type HaltdConfig, type HaltdConfigInput } from './config.js'
import { createHaltd } from './haltd.js'
import { createLogger } from './logger.js'
import { openLogWithProjections } from './open-log.js'
import type { Haltd, HaltdPorts } from './types.js'

/**
 * A hot standby: it follows the engine's stream into its own log (the chain checked link by link,
 * the projections kept warm), sends nothing, and watches the engine's lease. When the leader offers
 * it the lease (a planned handover), or the lease expired (the leader died or hung), it catches up
 * with the stream, takes the lease by compare-and-set, and becomes the leading haltd over the same
 * log, without reopening it. It refuses to take over while its log holds an event this build cannot
 * read, and says which.
 */

export class StandbyNotConfigured extends HaltdError {
  constructor(missing: string) {
    super('STANDBY_NOT_CONFIGURED', `a standby needs the ${missing} section`)
  }
}

export type StandbyStatus = {
  role: 'standby' | 'leader' | 'stopped'
  instance: string
  engine: string
  follower: FollowerStatus
  /** Who leads the engine, as the bucket last said (absent while nobody holds the lease). */
  leader?: { instance: string; epoch: number }
  /** Why the last chance to take over was not taken. */
  refused?: string
}

export type Standby = {
  readonly instance: string
  status(): StandbyStatus
  /** Resolves with the leading haltd once this standby took over. */
  readonly promoted: Promise<Haltd>
  /** Stop following (a standby that has not taken over); a promoted one is closed through its haltd. */
  close(): Promise<void>
}

export async function createStandby(input: HaltdConfigInput | HaltdConfig, ports: HaltdPorts = {}): Promise<Standby> {
  const config = parseConfig(input, ports.env ?? process.env)
  if (!config.nats) throw new StandbyNotConfigured('nats')
  if (!config.replication) throw new StandbyNotConfigured('replication')
  if (!config.failover) throw new StandbyNotConfigured('failover')
  const { nats, failover } = config
  const clock = ports.clock ?? systemClock
  const logger = ports.logger ?? createLogger({ level: config.log.level, format: config.log.format, secrets: secretsOf(config, config.admin.token ?? '') })
  const instance = instanceOf(nats)
  const engine = nats.engine
  const { log, runner } = openLogWithProjections(config, { clock, ids: ports.ids ?? uuidIds, logger })
  let nc: NatsConnection | undefined
  let follower: Follower
  let kv: KV
  try {
    nc = await openNatsLink(nats, `haltd standby ${instance}`)
    follower = await startFollower({
      nc,
      log,
      engine,
      replicas: config.replication.replicas,
      onBroken: (reason) => logger.fatal({ reason }, 'the standby stopped following the stream: it will not take over'),
    })
    kv = await openLeaseBucket(nc, { leaseMs: failover.leaseMs, replicas: failover.replicas })
  } catch (e) {
    await nc?.close().catch(() => {})
    runner.stop()
    log.close()
    throw e
  }
  const link = nc
  logger.info({ engine, instance, seq: log.lastSeq }, 'standby: following the stream')

  let role: StandbyStatus['role'] = 'standby'
  let refused: string | undefined
  let leader: StandbyStatus['leader']
  let taking = false
  let resolvePromoted!: (h: Haltd) => void
  let rejectPromoted!: (e: unknown) => void
  const promoted = new Promise<Haltd>((resolve, reject) => {
    resolvePromoted = resolve
    rejectPromoted = reject
  })
  promoted.catch(() => {})

  const refuse = (why: string) => {
    if (refused !== why) logger.error({ reason: why }, 'standby: not taking over')
    refused = why
  }

  type Seen = { value: LeaseValue; revision: number }
  const takeOver = async (reason: LeadershipReason, offer?: Seen) => {
    const handoverId = offer?.value.handoverId
    const followed = follower.status()
    if (followed.state !== 'following') return refuse(`it no longer follows the stream: ${followed.reason ?? followed.state}`)
    if (followed.unknown.length > 0) {
      const which = followed.unknown.map((u) => `seq ${u.seq}: ${u.type} v${u.v} (${u.why})`).join('; ')
      return refuse(`its log holds events this build cannot read: ${which}; upgrade this instance before it may lead`)
    }
    // an offer names the leader's last seq, all of it on the stream: waiting for it here asks the stream nothing
    const offeredSeq = offer?.value.lastSeq
    if (offeredSeq !== undefined) await follower.waitForSeq(offeredSeq, failover.handoverBudgetMs)
    else await follower.catchUp(failover.handoverBudgetMs)
    let lease: Awaited<ReturnType<typeof acquireLease>>
    try {
      lease = await acquireLease(kv, { engine, instance, minEpoch: lastEpochIn(log), ...(offer ? { seen: offer } : {}) })
    } catch (e) {
      if (e instanceof LeaseHeld) return refuse(e.message)
      throw e
    }
    // the old leader's last events may still have been on their way: the lease is ours, so take them
    const streamLast = await follower.catchUp(failover.handoverBudgetMs)
    await follower.stop()
    // every event the stream held when the lease was ours is in the log, each link checked
    const stored = follower.status().state === 'stopped' && log.lastSeq >= streamLast
    stopWatching()
    role = 'leader'
    logger.warn({ engine, instance, epoch: lease.epoch, reason, previous: lease.previous }, 'standby: taking over the engine')
    const haltd = await createHaltd(config, {
      ...ports,
      logger,
      takeover: {
        log,
        runner,
        leadership: { nc: link, kv, lease, reason, ...(handoverId ? { handoverId } : {}), ...(stored ? { streamSeq: log.lastSeq } : {}) },
      },
    })
    resolvePromoted(haltd)
  }

  /** `seen`: the lease as the watch just delivered it, so it is not read again. */
  const consider = async (seen?: Seen) => {
    if (taking || role !== 'standby') return
    taking = true
    try {
      const current = seen ?? (await readLease(kv, engine))
      leader = current && { instance: current.value.instance, epoch: current.value.epoch }
      if (current === undefined) await takeOver('failover')
      else if (current.value.offeredTo === instance) await takeOver('handover', current)
    } catch (e) {
      if ((role as StandbyStatus['role']) === 'leader') {
        role = 'stopped'
        rejectPromoted(e)
      } else refuse(e instanceof Error ? e.message : String(e))
    } finally {
      taking = false
    }
  }

  // An offer arrives on the watch at once. An expiry makes no sound in the bucket: each write of
  // the lease seen on the watch sets a check for the moment it can expire (the bucket's TTL runs
  // from its write, which was no later than this sight of it), asked again shortly until the
  // bucket has dropped it; a slower poll stays behind that, for a watch that missed a write.
  let expiry: NodeJS.Timeout | undefined
  const EXPIRY_RECHECK_MS = 10
  const EXPIRY_RECHECKS = 50
  const checkExpiry = (left: number) => {
    expiry = undefined
    void consider().then(() => {
      if (role === 'standby' && left > 0 && expiry === undefined && leader !== undefined) expiry = setTimeout(() => checkExpiry(left - 1), EXPIRY_RECHECK_MS)
    })
  }
  const watcher = await kv.watch({ key: engine })
  void (async () => {
    for await (const entry of watcher) {
      if (entry.operation !== 'PUT') {
        void consider()
        continue
      }
      const parsed = LeaseValue.safeParse(entry.json())
      const seen = parsed.success ? { value: parsed.data, revision: entry.revision } : undefined
      if (expiry) clearTimeout(expiry)
      expiry = setTimeout(() => checkExpiry(EXPIRY_RECHECKS), failover.leaseMs)
      void consider(seen?.value.offeredTo === instance ? seen : undefined)
    }
  })().catch(() => {})
  const poll = setInterval(() => void consider(), Math.max(25, Math.floor(failover.leaseMs / 10)))
  const stopWatching = () => {
    clearInterval(poll)
    if (expiry) clearTimeout(expiry)
    watcher.stop()
  }

  return {
    instance,
    status: () => ({ role, instance, engine, follower: follower.status(), ...(leader ? { leader } : {}), ...(refused !== undefined ? { refused } : {}) }),
    promoted,
    async close() {
      if (role === 'leader') return
      role = 'stopped'
      stopWatching()
      await follower.stop()
      await link.close().catch(() => {})
      runner.stop()
      log.close()
    },
  }
}
