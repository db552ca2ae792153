import { readFleetKey } from '../cluster/fleet/signature.js'
import { hostname } from 'node:os'
import type { KV } from '@nats-io/kv'
import type { ExchangeGateway } from '../exchanges/gateway.js'
import type { NatsConnection } from '@nats-io/transport-node'
import { systemClock, uuidIds } from '../events/clock.js'
import { HaltdError } from '../events/errors.js'
import type { ShutdownMode } from '../events/primitives.js'
import { acquireLease, declineOffer, LeaseHeld, LeaseValue, openLeaseBucket, readLease, type HeldLease } from '../cluster/leadership/lease.js'
import { fenceMarginOf } from '../cluster/leadership/config.js'
import { keepLeadership, type Leadership } from '../cluster/leadership/keeper.js'
import { stepBudget } from '../core/handover/decider.js'
import { instanceOf, openNatsLink } from '../cluster/link.js'
import { startFollower, type Follower } from '../cluster/replication/follower.js'
import { openFleetBuckets } from '../cluster/fleet/buckets.js'
import { startRegistration, type Registration } from '../cluster/fleet/registry.js'
import { standbyRowOf } from '../cluster/fleet/row.js'
import { lastEpochIn, type LeadershipReason } from './cluster.js'
import { parseConfig, secretsOf, type HaltdConfig, type HaltdConfigInput } from './config.js'
import { createLogger, type Logger } from './logger.js'
import { openLogWithProjections } from './open-log.js'
import { watchLogFile } from './log-health.js'
import { HALTD_VERSION } from './version.js'
import { watchVenues, type StandbyVenues } from './standby-venues.js'
import { startStandbyAdmin, type StandbyAdmin } from './standby-admin.js'
import { runsIn } from './run-record.js'
import { deliberateStopIn, describeDeliberateStop, type DeliberateStop } from './stopped-engine.js'
import { tradingGate } from './trading-gate.js'
import type { OrderGate } from '../core/execution/gate.js'
import type { SubmitOrder, SubmitOutcome } from '../core/execution/order-router.js'
import type { EventLog } from '../core/log/event-log.js'
import type { HaltdState } from '../projections/index.js'
import type { Haltd, HaltdPorts, StandbyStatus } from './types.js'

export type { StandbyStatus, StandbyVenue } from './types.js'

/**
 * A hot standby: it follows the engine's stream into its own log (the chain checked link by link,
 * the projections kept warm), sends nothing, and watches the engine's lease. When the leader offers
 * it the lease (a planned handover), or the lease expired (the leader died or hung), it catches up
 * with the stream, takes the lease by compare-and-set, and becomes the leading haltd over the same
 * log, without reopening it. It refuses to take over while its log holds an event this build cannot
 * read, and says which. An expired lease is not taken when the stream shows its leader stopped the
 * engine on purpose (`stopped-engine.ts`): the standby keeps following and says so. Meanwhile it is
 * connected to the venues, read-only (`standby-venues.ts`), and its gate is fenced shut: it has no
 * router, so no order of its own can reach a venue.
 */

export class StandbyNotConfigured extends HaltdError {
  constructor(missing: string) {
    super('STANDBY_NOT_CONFIGURED', `a standby needs the ${missing} section`)
  }
}

/** An order or cancel asked of an instance that does not lead its engine. */
export class NotLeading extends HaltdError {
  constructor(instance: string, engine: string, what: string) {
    super('NOT_LEADING', `instance '${instance}' is a standby of engine '${engine}': ${what} until it leads`)
  }
}

export type Standby = {
  readonly instance: string
  readonly engine: string
  readonly logger: Logger
  status(): StandbyStatus
  /** The log it follows into, the projections over it: read, never write. */
  readonly log: EventLog
  state(): HaltdState
  /** Fenced shut while a standby: every order is refused, the shutdown's own included. */
  readonly gate: OrderGate
  /** The venues it keeps connected, read-only. */
  readonly venues: ReadonlyMap<string, ExchangeGateway>
  /** An order asked of a standby is refused by its gate: nothing is sent and nothing is logged. */
  readonly orders: { submit(order: SubmitOrder): Promise<SubmitOutcome>; cancel(): Promise<never> }
  /** Its read-only admin API (with `admin.enabled`), closed as it starts to lead. */
  readonly admin: { url: string; token: string } | undefined
  /** Resolves with the leading haltd once this standby took over. */
  readonly promoted: Promise<Haltd>
  /** Where the stops kept while it takes over are taken from (its signals), as the leading haltd's handlers go in. */
  takeStopsFrom(source: () => readonly { mode: ShutdownMode; reason: string }[]): void
  /** The lease it took went back before it led (it could not catch up with the stream): it follows again. */
  onGaveBack(listener: (why: string) => void): () => void
  /** Stop following (a standby that has not taken over); a promoted one is closed through its haltd. */
  close(): Promise<void>
}

/** How a standby that took the lease comes to lead: `createHaltd` over the log it followed (injected: the daemon's root imports this file). */
export type Lead = (config: HaltdConfig, ports: HaltdPorts) => Promise<Haltd>

export async function startStandby(input: HaltdConfigInput | HaltdConfig, ports: HaltdPorts, lead: Lead): Promise<Standby> {
  const config = parseConfig(input, ports.env ?? process.env)
  if (!config.nats) throw new StandbyNotConfigured('nats')
  if (!config.replication) throw new StandbyNotConfigured('replication')
  if (!config.failover) throw new StandbyNotConfigured('failover')
  // the key signs and checks the fleet's commands once this standby leads: a bad file is said now, not at the takeover
  if (config.fleet?.enabled && config.fleet.keyFile !== undefined) readFleetKey(config.fleet.keyFile)
  const { nats, failover } = config
  const clock = ports.clock ?? systemClock
  const logger = ports.logger ?? createLogger({ level: config.log.level, format: config.log.format, secrets: secretsOf(config, config.admin.token ?? '') })
  const instance = instanceOf(nats)
  const engine = nats.engine
  const { log, runner } = openLogWithProjections(config, { clock, ids: ports.ids ?? uuidIds, logger })
  let nc: NatsConnection | undefined
  let follower: Follower | undefined
  let kv: KV
  let venues: StandbyVenues | undefined
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
    venues = await watchVenues({ config, ports, clock, logger })
  } catch (e) {
    await follower?.stop().catch(() => {})
    await venues?.release()
    await nc?.close().catch(() => {})
    runner.stop()
    log.close()
    throw e
  }
  const link = nc
  const watched = venues
  const following = follower
  // The copy is this instance's own log: its file, WAL, index or lock removed or replaced under
  // it leaves a log that is no longer the stream's to follow into, nor to lead from.
  const unwatchFile = watchLogFile({ log, logger, now: () => clock.now() })
  const offLogFault = log.on('write-failed', ({ error }) => following.fail(`its log cannot be trusted: ${error.message}`))
  logger.info({ engine, instance, seq: log.lastSeq }, 'standby: following the stream')
  // folded now, off the takeover's path: taking over then reads only the runs and leaderships since
  runsIn(log)
  lastEpochIn(log)
  const registration = await registerStandby()

  let role: StandbyStatus['role'] = 'standby'
  const state = () => runner.state
  const gate = tradingGate(state)
  gate.fence(() =>
    role === 'leader'
      ? 'this standby took over: its leading haltd sends the orders'
      : `instance '${instance}' is a standby: only the leader of '${engine}' sends orders`,
  )
  let refused: string | undefined
  let leader: StandbyStatus['leader']
  let engineStopped: (DeliberateStop & { message: string }) | undefined
  // read again only once the log has grown: a lease left absent is looked at every poll
  let stopRead: { seq: number; stop: DeliberateStop | undefined } | undefined
  const deliberateStop = () => {
    if (stopRead?.seq !== log.lastSeq) stopRead = { seq: log.lastSeq, stop: deliberateStopIn(log) }
    return stopRead.stop
  }
  /** Said once per stopped run; it records nothing, as a standby never does. */
  const stayStopped = (stop: DeliberateStop) => {
    if (engineStopped?.runId === stop.runId) return
    const message = describeDeliberateStop(stop)
    engineStopped = { ...stop, message }
    // the stop is why it stays a standby now, not an earlier refusal
    refused = undefined
    logger.warn({ engine, leader: stop.leader, runId: stop.runId, shutdownId: stop.shutdownId, exitCode: stop.exitCode }, `standby: ${message}`)
  }
  let taking = false
  // a take of the lease on its way to the bucket, and the keeper renewing the lease taken until the
  // leading haltd's own keeper takes the renewing over
  let acquiring: Promise<HeldLease> | undefined
  let held: Leadership | undefined
  const gaveBack = new Set<(why: string) => void>()
  let stopsKept: (() => readonly { mode: ShutdownMode; reason: string }[]) | undefined
  /**
   * The lease back to the bucket, at the revision taken, where no leading haltd came to renew it:
   * another standby, or the restarted primary, takes over at once instead of at its expiry.
   */
  const giveBack = async (lease: HeldLease, why: string) => {
    try {
      await kv.delete(engine, { previousSeq: lease.revision })
      logger.warn({ engine, instance, epoch: lease.epoch, reason: why }, 'standby: gave the lease back: another instance may take over at once')
    } catch (e) {
      logger.error({ err: e, engine, epoch: lease.epoch, reason: why }, 'standby: could not give the lease back: it expires on its own')
    }
  }
  /** Stop renewing the lease taken and, unless it changed hands meanwhile, give it back at the revision it holds now. */
  const release = async (keeper: Leadership, why: string) => {
    held = undefined
    await keeper.stop()
    if (keeper.lost === undefined) await giveBack(keeper.lease(), why)
  }
  /** It took the lease but will not lead: it follows again, to take the lease anew once it can, and says why. */
  const followAgain = (why: string) => {
    role = 'standby'
    refuse(why)
    for (const listener of [...gaveBack]) listener(why)
  }
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
  // how long an offer's last seq is waited for: three quarters of what the leader waits for the
  // take, so a standby that is behind declines, saying how far, while the leader still listens
  const offerWaitMs = Math.max(1, Math.floor((Math.min(stepBudget({ budgetMs: failover.handoverBudgetMs }, 'release-lease'), failover.leaseMs / 2) * 3) / 4))

  /**
   * Refuse, and where the lease was offered, say so in the key at the offer's revision: the leader
   * reads the reason and rolls back at once. This log records nothing (it must stay a prefix of
   * the stream); the refusal is in the process log, the status, and the leader's handover events.
   */
  const decline = async (why: string, offer: Seen | undefined) => {
    refuse(why)
    if (!offer) return
    try {
      await declineOffer(kv, engine, offer, instance, why)
      logger.warn({ handoverId: offer.value.handoverId, leader: offer.value.instance, reason: why }, 'standby: declined the offered lease')
    } catch (e) {
      // withdrawn or expired meanwhile: the leader has rolled back already
      logger.warn({ err: e, handoverId: offer.value.handoverId }, 'standby: could not decline the offer (withdrawn meanwhile?)')
    }
  }

  const takeOver = async (reason: LeadershipReason, offer?: Seen) => {
    const handoverId = offer?.value.handoverId
    const followed = following.status()
    if (followed.state !== 'following') return decline(`it no longer follows the stream: ${followed.reason ?? followed.state}`, offer)
    if (followed.unknown.length > 0) {
      const which = followed.unknown.map((u) => `seq ${u.seq}: ${u.type} v${u.v} (${u.why})`).join('; ')
      return decline(`its log holds events this build cannot read: ${which}; upgrade this instance before it may lead`, offer)
    }
    // an offer names the leader's last seq, all of it on the stream: waiting for it here asks the stream nothing
    const offeredSeq = offer?.value.lastSeq
    try {
      if (offeredSeq !== undefined) await following.waitForSeq(offeredSeq, offerWaitMs)
      else await following.catchUp(failover.handoverBudgetMs)
    } catch (e) {
      if (offer) return decline(`it is behind the offer: ${e instanceof Error ? e.message : String(e)}`, offer)
      throw e
    }
    const forged = offer ? offerNotRecorded(log, offer.value, instance) : undefined
    if (forged && offer) return decline(forged, offer)
    // caught up with the stream: a lease gone because the leader stopped the engine is left alone
    const stop = offer ? undefined : deliberateStop()
    if (stop) return stayStopped(stop)
    // stopped while it caught up: it takes nothing
    if (role !== 'standby') return
    let lease: HeldLease
    const acquired = acquireLease(kv, { engine, instance, minEpoch: lastEpochIn(log), ...(offer ? { seen: offer } : {}) })
    acquiring = acquired
    try {
      lease = await acquired
    } catch (e) {
      if (e instanceof LeaseHeld) return refuse(e.message)
      throw e
    } finally {
      acquiring = undefined
    }
    // stopped while the take was on its way: `close` gives the lease back
    if (role !== 'standby') return
    // From here this instance is the engine's leader: a stop asked of it now is the leader's
    // shutdown (the signals keep it until the leading haltd is up), never a standby's quiet exit.
    role = 'leader'
    // Renewed from its take, as a leader's keeper renews it, through the catch-up and the leading
    // haltd's start (each may take longer than the lease), until that haltd's keeper takes it over.
    let lost!: (why: string) => void
    const lostNow = new Promise<{ lost: string }>((resolve) => {
      lost = (why) => resolve({ lost: why })
    })
    const keeper = keepLeadership({
      kv,
      lease,
      leaseMs: failover.leaseMs,
      marginMs: fenceMarginOf(failover),
      onLost: (why) => lost(why),
      onRenewError: (e) => logger.warn({ err: e, engine, epoch: lease.epoch }, 'standby: a renewal of the lease it took failed; it tries again'),
    })
    held = keeper
    logger.warn({ engine, instance, epoch: lease.epoch, reason }, 'standby: took the lease; catching up with the stream before it leads')
    // the old leader's last events may still have been on their way: the lease is ours, so take them
    let caughtUp: number | { lost: string }
    const catchingUp = following.catchUp(failover.handoverBudgetMs)
    catchingUp.catch(() => {})
    try {
      caughtUp = await Promise.race([catchingUp, lostNow])
    } catch (e) {
      // not caught up, it cannot lead: the lease goes back at once and it follows again, to take
      // the lease anew once it can (a lone standby gone would leave the engine with no leader)
      const why = `it took the lease but could not catch up with the stream: ${e instanceof Error ? e.message : String(e)}`
      await release(keeper, why)
      return followAgain(why)
    }
    // the lease changed hands while it caught up: another instance leads, and this one must not
    const lostWhy = typeof caughtUp === 'number' ? keeper.lost : caughtUp.lost
    if (lostWhy !== undefined) {
      held = undefined
      return followAgain(`it took the lease but lost it before it could lead: ${lostWhy}`)
    }
    const streamLast = caughtUp as number
    await following.stop()
    // every event the stream held when the lease was ours is in the log, each link checked
    const stored = following.status().state === 'stopped' && log.lastSeq >= streamLast
    stopWatching()
    // the leading haltd rewrites this instance's row (the same key) with role leader as it joins the fleet
    await registration?.stop()
    // the leading haltd listens on the same port
    await admin?.close()
    await watched.release()
    logger.warn({ engine, instance, epoch: lease.epoch, reason, previous: lease.previous }, 'standby: taking over the engine')
    // the leading haltd's keeper renews it from the revision this keeper reached, or it says why it could not lead
    const handOverRenewal = async () => {
      held = undefined
      await keeper.stop()
      if (keeper.lost !== undefined) throw new HaltdError('LEASE_LOST', `it took the lease but lost it before it could lead: ${keeper.lost}`)
      return keeper.lease()
    }
    const haltd = await lead(config, {
      ...ports,
      logger,
      takeover: {
        log,
        runner,
        leadership: {
          nc: link,
          kv,
          lease,
          reason,
          ...(handoverId ? { handoverId } : {}),
          ...(stored ? { streamSeq: log.lastSeq } : {}),
          handOverRenewal,
        },
        stops: () => stopsKept?.() ?? [],
      },
    })
    resolvePromoted(haltd)
  }

  // asked while a look was under way (an offer landing while a poll still reads the key): looked
  // again the moment that look ends, not at the next poll
  let askedAgain: { seen: Seen | undefined } | undefined
  /** `seen`: the lease as the watch just delivered it, so it is not read again. */
  const consider = async (seen?: Seen): Promise<void> => {
    if (role !== 'standby') return
    if (taking) {
      if (seen || !askedAgain) askedAgain = { seen }
      return
    }
    taking = true
    let doing = 'reading the lease'
    try {
      const current = seen ?? (await readLease(kv, engine))
      leader = current && { instance: current.value.instance, epoch: current.value.epoch }
      // a leader again (the primary restarted): the stop it ended is history
      if (current) engineStopped = undefined
      // a leader renewing its lease plainly (no offer, no decline still shown in the key): whatever
      // was refused before is over
      if (current && current.value.offeredTo === undefined && current.value.declinedBy === undefined) refused = undefined
      doing = 'taking over'
      if (current === undefined) await takeOver('failover')
      else if (current.value.offeredTo === instance) await takeOver('handover', current)
    } catch (e) {
      if ((role as StandbyStatus['role']) === 'leader') {
        role = 'stopped'
        // it took the lease but could not go on to lead: the lease goes back at once, not at its expiry
        if (held) await release(held, `it took the lease but could not start leading: ${e instanceof Error ? e.message : String(e)}`)
        rejectPromoted(e)
      } else refuse(`${doing}: ${e instanceof Error ? e.message : String(e)}`)
    } finally {
      taking = false
    }
    const again = askedAgain
    askedAgain = undefined
    if (again && role === 'standby') await consider(again.seen)
  }

  /**
   * With a fleet configured, this instance has its row in the registry as the engine's standby,
   * over the standby's own link (a standby that cannot see NATS cannot take over either). A fleet
   * that cannot be opened is said and does not stop the standby.
   */
  async function registerStandby(): Promise<Registration | undefined> {
    const fleet = config.fleet
    if (!fleet?.enabled) return undefined
    const identity = { engine, instance, host: hostname(), pid: process.pid, role: 'standby' as const, version: HALTD_VERSION }
    let seen = true
    void (async () => {
      for await (const s of link.status()) {
        if (s.type === 'disconnect') seen = false
        else if (s.type === 'reconnect') seen = true
      }
    })().catch(() => {})
    try {
      const buckets = await openFleetBuckets(link, { ttlMs: fleet.ttlMs, replicas: fleet.replicas })
      return startRegistration({
        ...buckets,
        engine,
        instance,
        row: () => standbyRowOf({ identity, state: runner.state, fleetSeen: seen, refreshMs: fleet.refreshMs, now: clock.now() }),
        refreshMs: fleet.refreshMs,
        onError: (e) => logger.warn({ err: e }, 'standby: its row in the fleet registry could not be written'),
      })
    } catch (e) {
      logger.warn({ err: e }, 'standby: cannot open the fleet registry; following the stream without a row in it')
      return undefined
    }
  }

  const status = (): StandbyStatus => ({
    role,
    instance,
    engine,
    follower: following.status(),
    ...(leader ? { leader } : {}),
    ...(refused !== undefined ? { refused } : {}),
    ...(engineStopped ? { engineStopped: { ...engineStopped } } : {}),
    venues: watched.status(),
  })
  // up before the lease is watched: a takeover closes it before the leader opens its own
  let admin: StandbyAdmin | undefined
  try {
    admin = await startStandbyAdmin({ config, log, state, status, startedAt: clock.now(), now: () => clock.now(), logger })
  } catch (e) {
    // without its listener it is still a standby: said, not fatal (the leader's own may hold the port on this host)
    logger.error({ err: e }, 'standby: its admin API could not start; following without it')
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
    // a leading haltd watches the log itself
    unwatchFile()
    offLogFault()
    clearInterval(poll)
    if (expiry) clearTimeout(expiry)
    watcher.stop()
  }

  return {
    instance,
    engine,
    logger,
    log,
    state,
    gate,
    venues: watched.gateways,
    orders: {
      // the gate answers, as a leader's would: refused, nothing sent, nothing logged
      submit: async (order) => ({
        status: 'refused',
        reason: gate.refusal({ origin: order.origin, reduceOnly: order.reduceOnly === true }) ?? 'not the leader',
      }),
      cancel: () => Promise.reject(new NotLeading(instance, engine, 'it cancels nothing')),
    },
    status,
    get admin() {
      return admin && role === 'standby' ? { url: admin.url, token: admin.token } : undefined
    },
    promoted,
    takeStopsFrom(source) {
      stopsKept = source
    },
    onGaveBack(listener) {
      gaveBack.add(listener)
      return () => void gaveBack.delete(listener)
    },
    async close() {
      if (role === 'leader') {
        // taking over: closed through the haltd it becomes, or, the lease gone back, as a standby
        let listener = () => {}
        const back = new Promise<boolean>((resolve) => {
          listener = () => resolve(false)
          gaveBack.add(listener)
        })
        const led = await Promise.race([
          promoted.then(
            () => true,
            () => true,
          ),
          back,
        ])
        gaveBack.delete(listener)
        if (led) return
      }
      role = 'stopped'
      stopWatching()
      // a take already on its way when the stop came: what it took goes back before the link closes
      const racing = await acquiring?.catch(() => undefined)
      if (racing) await giveBack(racing, 'the standby was stopped while its take of the lease was on its way')
      await admin?.close()
      await registration?.stop()
      await following.stop()
      await watched.release()
      await link.close().catch(() => {})
      runner.stop()
      log.close()
    },
  }
}

/** How far before an offer's last seq its release is looked for: a handover records two events after it, then seals the log. */
const RELEASE_WITHIN = 64

/**
 * Why an offer of the lease is not one its leader made, or undefined. Before it offers, a leader
 * records its release to this instance at its epoch (`leadership.released`) and has the stream
 * hold it, and the offer names that last seq. An offer the followed log does not back was written
 * by someone else while the leader still leads: taking it would make two leaders.
 */
export function offerNotRecorded(log: EventLog, offer: LeaseValue, instance: string): string | undefined {
  if (offer.lastSeq === undefined || offer.handoverId === undefined)
    return `the offer from '${offer.instance}' names no handover or last seq, as no leader's offer does: it is not taken`
  // the release is among the last events before the offer: the handover seals the log after it
  const from = Math.max(1, offer.lastSeq - RELEASE_WITHIN)
  let released = false
  for (const e of log.read({ from, to: offer.lastSeq, types: ['leadership.released', 'leadership.acquired'] })) {
    const d = e.data as { instance: string; epoch: number; to?: string }
    released = e.type === 'leadership.released' && d.instance === offer.instance && d.epoch === offer.epoch && d.to === instance
  }
  return released
    ? undefined
    : `the offer from '${offer.instance}' (epoch ${offer.epoch}, handover ${offer.handoverId}) is not in its log: no release to '${instance}' at that epoch up to seq ${offer.lastSeq}; it is not taken`
}
