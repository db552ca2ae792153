import { jetstream } from '@nats-io/jetstream'
import { Kvm, KvWatchInclude, type KV, type KvEntry } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { z } from 'zod'
import { HaltdError } from '../../events/errors.js'

/**
 * The lease of an engine's leadership: key `<engine>` in the bucket `haltd-leadership`, whose TTL is
 * the lease. Its value names the holder and the epoch; it is taken with create (or an update at the
 * revision of a handover offer) and renewed with update at the revision it last wrote: a
 * compare-and-set, so of two instances racing for it exactly one wins. A key the leader stopped
 * renewing ages out of the bucket after the TTL, and anyone may then take it.
 */

export const LEADERSHIP_BUCKET = 'haltd-leadership'

export const LeaseValue = z.strictObject({
  instance: z.string().min(1),
  epoch: z.number().int().positive(),
  /** When it was written (ISO), for people reading the bucket; haltd's own timing is monotonic. */
  renewedAt: z.string(),
  /** A planned handover: the leader offers the lease to this instance and stops renewing it. */
  offeredTo: z.string().min(1).optional(),
  /** The handover the offer belongs to, so the new leader records its steps under it. */
  handoverId: z.string().min(1).optional(),
  /** With an offer: the last seq the leader wrote, every event up to it acknowledged by the stream. */
  lastSeq: z.number().int().nonnegative().optional(),
  /** An offer the named standby refused: the leader sees it at once, rolls back and reports `declined`. */
  declinedBy: z.string().min(1).optional(),
  declined: z.string().max(1_500).optional(),
})
export type LeaseValue = z.output<typeof LeaseValue>

export class LeaseHeld extends HaltdError {
  constructor(
    readonly engine: string,
    readonly holder: LeaseValue,
  ) {
    super(
      'LEASE_HELD',
      `engine '${engine}' is led by instance '${holder.instance}' (epoch ${holder.epoch}${holder.offeredTo ? `, offered to '${holder.offeredTo}'` : ''}): start this haltd as a standby, or hand over to it`,
    )
  }
}

/** Who holds an engine's lease now, as the bucket says. */
export type LeaseHolder = { instance: string; epoch: number }

export class LeaseLost extends HaltdError {
  constructor(
    readonly engine: string,
    why: string,
    /** The instance that holds the lease now, where the bucket names one (absent: it expired). */
    readonly holder?: LeaseHolder,
  ) {
    super('LEASE_LOST', `the leadership of engine '${engine}' is lost: ${why}`)
  }
}

export class LeaseBucketMismatch extends HaltdError {
  constructor(ttlMs: number, leaseMs: number) {
    super(
      'LEASE_BUCKET_MISMATCH',
      `the bucket ${LEADERSHIP_BUCKET} keeps keys ${ttlMs} ms and this haltd's lease is ${leaseMs} ms: every instance of the desk must use the same failover.leaseMs`,
    )
  }
}

/**
 * How long one request on the lease (a renewal, a read, a take) waits for its answer: a quarter
 * lease, the renewal's own interval. A request lost to a dropped connection is then given up in
 * time for the next renewal to be asked, instead of holding the keeper for the client's default
 * 5 s, longer than a short lease: a leader whose link comes back learns at once whether it still
 * leads. A renewal that landed after it was given up on is recognised by the next (`renewLease`).
 */
export const leaseRequestTimeoutMs = (leaseMs: number): number => Math.max(250, Math.floor(leaseMs / 4))

/**
 * The bucket, created with the lease as its TTL where it does not exist (an existing one must have
 * the same TTL), as a handle whose requests wait `leaseRequestTimeoutMs`; its creation waits as
 * long as the client's requests do (a replicated bucket takes its servers a moment).
 */
export async function openLeaseBucket(nc: NatsConnection, options: { leaseMs: number; replicas: number }): Promise<KV> {
  const created = await new Kvm(nc).create(LEADERSHIP_BUCKET, { ttl: options.leaseMs, history: 1, replicas: options.replicas })
  const ttl = (await created.status()).ttl
  if (ttl !== options.leaseMs) throw new LeaseBucketMismatch(ttl, options.leaseMs)
  return new Kvm(jetstream(nc, { timeout: leaseRequestTimeoutMs(options.leaseMs) })).open(LEADERSHIP_BUCKET)
}

/** The lease as the bucket holds it now, or undefined when nobody holds it (never taken, released, expired). */
export async function readLease(kv: KV, engine: string): Promise<{ value: LeaseValue; revision: number } | undefined> {
  const entry = await kv.get(engine)
  if (entry?.operation !== 'PUT' || entry.length === 0) return undefined
  const lease = leaseIn(entry)
  if ('unreadable' in lease) throw new LeaseUnreadable(engine, entry.revision, lease.unreadable)
  return lease
}

/** The lease an entry of the bucket holds, or why it holds none that haltd wrote. */
function leaseIn(entry: KvEntry): { value: LeaseValue; revision: number } | { unreadable: string } {
  let json: unknown
  try {
    json = entry.json()
  } catch {
    return { unreadable: 'it is not JSON' }
  }
  const parsed = LeaseValue.safeParse(json)
  if (!parsed.success)
    return { unreadable: `it is not a haltd lease (${parsed.error.issues[0]?.path.join('.') || 'the value'}: ${parsed.error.issues[0]?.message})` }
  return { value: parsed.data, revision: entry.revision }
}

export class LeaseUnreadable extends HaltdError {
  constructor(
    readonly engine: string,
    readonly revision: number,
    why: string,
  ) {
    super(
      'LEASE_UNREADABLE',
      `the lease of engine '${engine}' in the bucket ${LEADERSHIP_BUCKET} (key '${engine}', revision ${revision}) cannot be read: ${why}`,
    )
  }
}

const encode = (v: LeaseValue) => JSON.stringify(v)

/** Whether two lease values say the same, field by field. */
const isSame = (a: LeaseValue, b: LeaseValue): boolean => {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof LeaseValue)[])
  for (const k of keys) if (a[k] !== b[k]) return false
  return true
}

/** A lease this instance holds. `confirmedAt` is the monotonic time the last successful write was sent: the lease runs from there. */
export type HeldLease = {
  readonly engine: string
  readonly instance: string
  readonly epoch: number
  readonly revision: number
  readonly confirmedAt: number
  /** Who held it before, where the bucket still said so. */
  readonly previous: string | undefined
  /** What the last renewal wrote over: the key rewritten by another writer, still naming no other leader. */
  readonly overwrote?: string
}

/**
 * Take the lease: where nobody holds it, with create; where it is this instance's own (a restart)
 * or offered to it, with an update at its revision. The epoch is one more than any this instance
 * knows of (the bucket's and `minEpoch`, the newest in its log). Throws `LeaseHeld` otherwise, and
 * when another instance wins the race.
 */
export async function acquireLease(
  kv: KV,
  input: {
    engine: string
    instance: string
    minEpoch: number
    /** The lease as the caller just saw it in the bucket (an offer on its watch), so it is not read again; a stale one fails the compare-and-set. */
    seen?: { value: LeaseValue; revision: number }
  },
): Promise<HeldLease> {
  const { engine, instance } = input
  const current = input.seen ?? (await readLease(kv, engine))
  if (current && current.value.instance !== instance && current.value.offeredTo !== instance) throw new LeaseHeld(engine, current.value)
  const epoch = Math.max(input.minEpoch, current?.value.epoch ?? 0) + 1
  const value: LeaseValue = { instance, epoch, renewedAt: new Date().toISOString() }
  const sentAt = performance.now()
  try {
    const revision = current ? await kv.update(engine, encode(value), current.revision) : await kv.create(engine, encode(value))
    return { engine, instance, epoch, revision, confirmedAt: sentAt, previous: current?.value.instance }
  } catch (e) {
    const holder = await readLease(kv, engine).catch(() => undefined)
    if (holder && holder.value.instance !== instance) throw new LeaseHeld(engine, holder.value)
    throw e
  }
}

/**
 * Renew at the revision last written; `LeaseLost` when the bucket says another instance holds it,
 * or it expired. A key rewritten by another writer that names no other leader (its own instance
 * and epoch with an offer it never made, or a value that is no lease at all) is renewed over, at
 * that revision, and said so in `overwrote`: only a taken or expired lease is lost. Of the renewal
 * and a standby's take of the same revision, exactly one succeeds.
 */
export async function renewLease(kv: KV, lease: HeldLease): Promise<HeldLease> {
  const value: LeaseValue = { instance: lease.instance, epoch: lease.epoch, renewedAt: new Date().toISOString() }
  const sentAt = performance.now()
  try {
    const revision = await kv.update(lease.engine, encode(value), lease.revision)
    return { ...lease, revision, confirmedAt: sentAt, overwrote: undefined }
  } catch (e) {
    const entry = await kv.get(lease.engine).catch(() => 'unknown' as const)
    if (entry === 'unknown') throw e
    if (entry === null || entry.operation !== 'PUT' || entry.length === 0) throw new LeaseLost(lease.engine, 'it expired in the bucket before it was renewed')
    if (entry.revision === lease.revision) throw e
    const found = leaseIn(entry)
    if ('value' in found && (found.value.instance !== lease.instance || found.value.epoch !== lease.epoch))
      throw new LeaseLost(lease.engine, `instance '${found.value.instance}' holds it now (epoch ${found.value.epoch})`, {
        instance: found.value.instance,
        epoch: found.value.epoch,
      })
    // the renewal landed and only its answer was lost: the key holds what was just sent
    if ('value' in found && isSame(found.value, value)) return { ...lease, revision: entry.revision, confirmedAt: sentAt, overwrote: undefined }
    // an earlier renewal of this leader's that landed after its answer was given up on (the key
    // holds this leader's plain renewal at another time): renewed over, no other writer involved
    const ownEarlier = 'value' in found && isSame(found.value, { ...value, renewedAt: found.value.renewedAt })
    const overwrote = ownEarlier
      ? undefined
      : 'unreadable' in found
        ? `revision ${entry.revision}, which is no lease: ${found.unreadable}`
        : `revision ${entry.revision}, written by another writer in this leader's name${found.value.offeredTo ? ` offering the lease to '${found.value.offeredTo}'` : ''}`
    const again = performance.now()
    const revision = await kv.update(lease.engine, encode({ ...value, renewedAt: new Date().toISOString() }), entry.revision)
    return { ...lease, revision, confirmedAt: again, overwrote }
  }
}

/** Offer the lease to a named standby (a planned handover): the holder stops renewing it from here. */
export async function offerLease(kv: KV, lease: HeldLease, to: string, handoverId?: string, lastSeq?: number): Promise<number> {
  const value: LeaseValue = {
    instance: lease.instance,
    epoch: lease.epoch,
    renewedAt: new Date().toISOString(),
    offeredTo: to,
    ...(handoverId ? { handoverId } : {}),
    ...(lastSeq !== undefined ? { lastSeq } : {}),
  }
  return kv.update(lease.engine, encode(value), lease.revision)
}

/** Take back an offer no one took (a handover rolled back), at the offer's revision. */
export async function withdrawOffer(kv: KV, lease: HeldLease, offerRevision: number): Promise<HeldLease> {
  const value: LeaseValue = { instance: lease.instance, epoch: lease.epoch, renewedAt: new Date().toISOString() }
  const sentAt = performance.now()
  const revision = await kv.update(lease.engine, encode(value), offerRevision)
  return { ...lease, revision, confirmedAt: sentAt }
}

/**
 * Refuse an offer made to `by`, at the offer's revision: the key goes back to the leader (same
 * instance and epoch, no offer) with the reason, so the leader rolls back at once instead of waiting
 * out its offer. Of a decline, a take and a withdrawal of the same offer exactly one succeeds.
 */
export async function declineOffer(kv: KV, engine: string, offer: { value: LeaseValue; revision: number }, by: string, reason: string): Promise<number> {
  const { instance, epoch, handoverId } = offer.value
  const declined = reason.length > 1_500 ? `${reason.slice(0, 1_497)}...` : reason
  const value: LeaseValue = { instance, epoch, renewedAt: new Date().toISOString(), ...(handoverId ? { handoverId } : {}), declinedBy: by, declined }
  return kv.update(engine, encode(value), offer.revision)
}

/** What became of an offer: taken by the standby, declined by it (at the decline's revision), or neither in time. */
export type OfferAnswer = { taken: true } | { taken: false; declined?: { reason: string; revision: number } }

/** The answer to an offer the lease as read says, if any: the standby holds it, or declined this handover's offer. */
export function offerAnswerIn(lease: { value: LeaseValue; revision: number } | undefined, offer: { to: string; handoverId: string }): OfferAnswer | undefined {
  if (lease?.value.instance === offer.to) return { taken: true }
  if (lease?.value.declinedBy === offer.to && lease.value.handoverId === offer.handoverId)
    return { taken: false, declined: { reason: lease.value.declined ?? 'no reason given', revision: lease.revision } }
  return undefined
}

/**
 * Wait up to `timeoutMs` for the standby `to` to take the lease offered under `handoverId`, or to
 * decline it. A watch on the key hears each write as it lands (no polling of the bucket while the
 * standby works); the key is read once more as soon as the watch is up, so an answer written
 * before the watch started is not missed. A watch that cannot start leaves the key read every few ms.
 */
export async function watchForTake(
  kv: KV,
  engine: string,
  offer: { to: string; handoverId: string },
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<OfferAnswer> {
  const answerIn = (lease: { value: LeaseValue; revision: number } | undefined) => offerAnswerIn(lease, offer)
  const leaseOf = (entry: KvEntry) => {
    if (entry.operation !== 'PUT' || entry.length === 0) return undefined
    const found = leaseIn(entry)
    return 'value' in found ? found : undefined
  }
  const until = performance.now() + timeoutMs
  let resolve!: (answer: OfferAnswer) => void
  const promise = new Promise<OfferAnswer>((r) => {
    resolve = r
  })
  let settled = false
  const settle = (answer: OfferAnswer) => {
    settled = true
    resolve(answer)
  }
  const timer = setTimeout(() => settle({ taken: false }), Math.max(0, timeoutMs))
  // an abort ends the wait as if unanswered: the caller takes its offer back, or finds it taken meanwhile
  const onAbort = () => settle({ taken: false })
  if (signal?.aborted) onAbort()
  else signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const watcher = await kv.watch({ key: engine, include: KvWatchInclude.UpdatesOnly }).catch(() => undefined)
    if (watcher) {
      void promise.then(() => watcher.stop())
      void (async () => {
        for await (const entry of watcher) {
          const answer = answerIn(leaseOf(entry))
          if (answer) return settle(answer)
        }
      })().catch(() => undefined)
    }
    while (!settled) {
      const answer = answerIn(await readLease(kv, engine).catch(() => undefined))
      if (answer) settle(answer)
      else if (watcher || performance.now() >= until) break
      else await new Promise((r) => setTimeout(r, 5))
    }
    return await promise
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}
