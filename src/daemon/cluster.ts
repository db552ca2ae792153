import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { fenceMarginOf } from '../cluster/leadership/config.js'
import { keepLeadership, type Leadership } from '../cluster/leadership/keeper.js'
import type { LeaseHolder } from '../cluster/leadership/lease.js'
import { acquireLease, LeaseHeld, openLeaseBucket, readLease, type HeldLease } from '../cluster/leadership/lease.js'
import { instanceOf, openNatsLink } from '../cluster/link.js'
import { checkStreamHistory } from '../cluster/replication/publisher.js'
import type { EventLog } from '../core/log/event-log.js'
import { foldStreams, type StreamFold } from '../core/log/stream-fold.js'
import type { OrderGate } from '../core/execution/gate.js'
import type { HaltdConfig } from './config.js'
import type { Logger } from './logger.js'

/** Why this instance leads: it started as primary, a handover gave it the lease, or the leader died. */
export type LeadershipReason = 'startup' | 'handover' | 'failover'

/**
 * What a standby brings when it takes over: its link, the bucket, the lease it took, and why; and
 * the stream's last seq, which its log holds, every link checked as it followed (so the stream's
 * checks at start are not asked again on the way to opening the gate).
 */
export type TakenLeadership = {
  nc: NatsConnection
  kv: KV
  lease: HeldLease
  reason: LeadershipReason
  handoverId?: string
  streamSeq?: number
  /**
   * Where the lease was renewed since its take (a standby's keeper, through its catch-up and the
   * leader's start): stops that renewing, once a renewal on its way landed, and gives the lease as
   * it is now (its revision, its last renewal), so this leader's keeper renews on from there with no
   * gap and no second writer. Throws when the lease changed hands meanwhile: this instance must not lead.
   */
  handOverRenewal?: () => Promise<HeldLease>
}

/** This haltd among the others: its link, and the lease it holds (with `failover` configured). */
export type ClusterSeat = {
  readonly nc: NatsConnection
  readonly engine: string
  readonly instance: string
  readonly taken: TakenLeadership | undefined
}

/** `seq`: where its `leadership.acquired` is in the log (0 before any). */
type LastLeader = { epoch: number; instance: string | undefined; seq: number }

const LAST_LEADER: StreamFold<LastLeader> = {
  reads: [{ stream: 'leadership', types: ['leadership.acquired'] }],
  initial: () => ({ epoch: 0, instance: undefined, seq: 0 }),
  evolve: (last, e) => {
    const d = e.data as { epoch: number; instance: string }
    return d.epoch > last.epoch ? { epoch: d.epoch, instance: d.instance, seq: e.seq } : last
  },
}

/** The newest leadership the log knows: its epoch (0 before any), who held it, and where it was recorded. */
export const lastLeaderIn = (log: EventLog): LastLeader => foldStreams(log, LAST_LEADER)

export const lastEpochIn = (log: EventLog): number => lastLeaderIn(log).epoch

/**
 * Before this run writes anything: connect, and where leadership is configured take the lease (a
 * standby taking over brings it), then check the stream holds nothing this log does not. A primary
 * that another instance leads, or whose log is behind the stream, is refused here, before its run
 * is recorded, so its log stays a prefix of the stream and it can still follow as a standby.
 */
export async function joinCluster(input: {
  config: HaltdConfig
  log: EventLog
  logger: Logger
  taken?: TakenLeadership | undefined
}): Promise<ClusterSeat | undefined> {
  const { config, log } = input
  // A fleet alone needs no seat: it connects on its own and keeps running while NATS is away.
  if (!config.nats || (!config.failover && !config.replication && !input.taken)) return undefined
  const engine = config.nats.engine
  const instance = instanceOf(config.nats)
  const nc = input.taken?.nc ?? (await openNatsLink(config.nats, `haltd ${instance}`))
  try {
    let taken = input.taken
    if (!taken && config.failover) {
      const kv = await openLeaseBucket(nc, { leaseMs: config.failover.leaseMs, replicas: config.failover.replicas })
      // Another instance leading is named first; then a log the stream is ahead of is refused before
      // the lease is touched: taking it would depose the instance leading now (a second start under
      // the same instance name, on another file).
      const seen = await readLease(kv, engine)
      if (seen && seen.value.instance !== instance && seen.value.offeredTo !== instance) throw new LeaseHeld(engine, seen.value)
      if (config.replication) await checkStreamHistory(nc, log, engine, config.replication.replicas)
      const lease = await acquireLease(kv, { engine, instance, minEpoch: lastEpochIn(log) })
      taken = { nc, kv, lease, reason: 'startup' }
    }
    // again with the lease held: nothing can have been written to the stream behind this check
    if (config.replication && taken?.streamSeq === undefined) await checkStreamHistory(nc, log, engine, config.replication.replicas)
    return { nc, engine, instance, taken }
  } catch (e) {
    if (!input.taken) await nc.close().catch(() => {})
    throw e
  }
}

/**
 * Lead: take over renewing the lease from whoever renewed it since its take, record the takeover
 * (`leadership.acquired`, its epoch one above any before), renew the lease, and fence the gate on it.
 * Losing the lease halts trading for good in this run.
 */
export async function lead(input: {
  seat: ClusterSeat
  taken: TakenLeadership
  config: NonNullable<HaltdConfig['failover']>
  log: EventLog
  gate: OrderGate
  logger: Logger
  onError: (e: unknown) => void
  onLost: (reason: string) => void
}): Promise<Leadership> {
  const { seat, taken, log, gate, logger } = input
  // before the takeover is recorded: a lease that changed hands since its take is not led
  const lease = (await taken.handOverRenewal?.()) ?? taken.lease
  // an expired lease is gone from the bucket: the log still says who led
  const previous = taken.lease.previous ?? lastLeaderIn(log).instance
  log.append({
    type: 'leadership.acquired',
    data: {
      engine: seat.engine,
      instance: seat.instance,
      epoch: taken.lease.epoch,
      fromSeq: log.lastSeq + 1,
      reason: taken.reason,
      ...(previous && previous !== seat.instance ? { previous } : {}),
    },
  })
  const leadership = keepLeadership({
    kv: taken.kv,
    lease,
    leaseMs: input.config.leaseMs,
    marginMs: fenceMarginOf(input.config),
    onLost: (reason, holder) => {
      gate.halt(reason)
      recordLostLeadership(log, logger, { engine: seat.engine, instance: seat.instance, epoch: leadership.epoch, reason, holder })
      input.onLost(reason)
    },
    onRenewError: (e) => logger.warn({ err: e }, 'leadership: a renewal failed; the gate closes if none succeeds within the lease'),
    onOverwrote: (what) =>
      logger.error(
        { engine: seat.engine, overwrote: what },
        'leadership: another writer rewrote this engine’s lease key without taking the lease; renewed over it',
      ),
  })
  gate.fence(() => leadership.fence())
  // A leader that lost its lease acts no more at the venues: the new leader owns them, cancels
  // included. One whose lease is past its fence (paused, cut off) may be losing it: only a
  // shutdown's or the risk monitor's cancels go out then, which never add exposure and may be all
  // that stands between the venues and a leader that cannot reach NATS, until a whole lease has
  // passed, when another instance may lead and own the orders.
  gate.fenceCancels((origin) => {
    if (leadership.lost !== undefined) return `not the leader: ${leadership.lost}`
    if (leadership.stopped) return undefined
    if (origin === 'shutdown' || origin === 'risk') return leadership.lapsed()
    return leadership.fence()
  })
  logger.info({ engine: seat.engine, instance: seat.instance, epoch: taken.lease.epoch, reason: taken.reason }, 'leading the engine')
  return leadership
}

/**
 * A leader's own record that it lost the lease (`leadership.lost`), in its local log: the stream
 * fences a deposed leader, so this row is not replicated (its publisher, fenced by the lost lease,
 * publishes nothing more). A log that cannot take it (closed, sealed, faulted) leaves it to the
 * process log: losing the lease must not fail the process.
 */
function recordLostLeadership(
  log: EventLog,
  logger: Logger,
  lost: { engine: string; instance: string; epoch: number; reason: string; holder: LeaseHolder | undefined },
): void {
  const { engine, instance, epoch, reason, holder } = lost
  try {
    if (log.isClosed) return
    log.append({
      type: 'leadership.lost',
      data: { engine, instance, epoch, reason, ...(holder ? { leader: holder.instance, leaderEpoch: holder.epoch } : {}) },
    })
  } catch (e) {
    logger.error({ err: e, engine, epoch }, 'leadership: the lost lease could not be recorded in the log')
  }
}
