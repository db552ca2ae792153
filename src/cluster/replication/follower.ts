import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamManager,
} from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { ReplicatedChainBroken } from '../../core/log/errors.js'
import type { EventLog, ReplicatedRow } from '../../core/log/event-log.js'
import { HaltdError } from '../../events/errors.js'
import { StreamForked } from './errors.js'
import {
  decodeRow,
  ensureLogStream,
  isChunked,
  lastStreamSeq,
  readEntry,
  replicatedRow,
  streamNameOf,
  streamRowAt,
  UnreadableStreamMessage,
  type StreamEntry,
} from './log-stream.js'
import { backoffAt } from './backoff.js'

/**
 * The standby's side of replication: the engine's stream, followed into this instance's own log,
 * each event checked to continue the chain (seq, prevHash, hash) before it is stored, so the local
 * log is the leader's, byte for byte. The log's subscribers (the projections) see each event as it
 * is stored: they stay warm. An event this build cannot read is stored as it came and named, so
 * the standby can refuse to take over with it. An event whose body was too large for one message is
 * put together from its chunks in the companion stream before it is checked and stored.
 */

/** The local log holds events the stream does not: it was a leader whose tail never left the node. */
export class LogAheadOfStream extends HaltdError {
  constructor(
    readonly engine: string,
    readonly logSeq: number,
    readonly streamSeq: number,
  ) {
    super(
      'LOG_AHEAD_OF_STREAM',
      `this log holds ${logSeq} events and the stream of engine '${engine}' only ${streamSeq}: its last ${logSeq - streamSeq} never reached the stream, so it cannot follow it; restore a fresh log from the stream (haltd restore --from-stream) and keep this one for the audit`,
    )
  }
}

export type UnknownEvent = { seq: number; type: string; v: number; why: string }

export type FollowerStatus = {
  state: 'following' | 'broken' | 'stopped'
  /** The newest seq in the local log. */
  seq: number
  /** Messages the stream held beyond the last one delivered, as of that delivery. */
  pending: number
  /** Events this build cannot read, the first ones (a standby refuses to take over with any). */
  unknown: UnknownEvent[]
  reason?: string
  /**
   * While following, the stream has not answered since `since` (ISO): nothing came and the question
   * whether it holds more went unanswered (NATS out of reach). The log may be behind what the stream
   * holds by then, and `pending` is as of the last delivery; cleared by the next delivery or answer.
   */
  unanswered?: { since: string; why: string }
}

export type Follower = {
  status(): FollowerStatus
  /** Resolves once the local log holds `seq`. */
  waitForSeq(seq: number, timeoutMs: number): Promise<void>
  /** Resolves once the local log holds what the stream holds now; returns that seq. */
  catchUp(timeoutMs: number): Promise<number>
  /** Stop following for good (`broken`, with `reason`): the local log can no longer be trusted to be the stream's. */
  fail(reason: string): void
  stop(): Promise<void>
}

const UNKNOWN_KEPT = 20
const BATCH = 512
const PULL_EXPIRES_MS = 2_000
/**
 * How often a follower that received nothing asks whether the stream holds more: when it does, the
 * consumer is made anew from the next seq (the client's own reset does not come when the consumer's
 * server is gone and its questions go unanswered).
 */
const STALL_CHECK_MS = 3_000
/** How long a follower waits before asking again for a chunked body the companion stream did not answer for. */
const BODY_RETRY_MS = [100, 250, 500, 1_000] as const

export async function startFollower(input: {
  nc: NatsConnection
  log: EventLog
  engine: string
  /** Copies of the stream, should this follower be the first to create it. */
  replicas?: number
  timeoutMs?: number
  /** The chain broke or the log could not be written: following stopped. */
  onBroken?: (reason: string) => void
}): Promise<Follower> {
  const { nc, log, engine } = input
  const timeout = input.timeoutMs ?? 5_000
  const jsm = await jetstreamManager(nc, { timeout })
  await ensureLogStream(jsm, { engine, replicas: input.replicas ?? 1 })
  await checkFollows(jsm, log, engine)
  const js = jetstream(nc, { timeout })
  // short pulls: the ordered consumer lives on one server (the stream's leader when it was made); if
  // that server dies, two missed heartbeats (half a pull each) are what tell the client to make it anew
  const open = async (from: number): Promise<ConsumerMessages> => {
    const consumer = await js.consumers.get(streamNameOf(engine), {
      deliver_policy: from <= 1 ? DeliverPolicy.All : DeliverPolicy.StartSequence,
      ...(from <= 1 ? {} : { opt_start_seq: from }),
    })
    return consumer.consume({ max_messages: 4_096, expires: PULL_EXPIRES_MS })
  }
  const follower = new StreamFollower(log, engine, jsm, await open(log.lastSeq + 1), open, input.onBroken)
  void sayWhenCutOff(nc, follower)
  return follower
}

/**
 * A link that drops is said at once (two pings unanswered, or the server gone): nothing can come
 * from the stream through it, where the stall check would first wait out a question's timeout.
 */
async function sayWhenCutOff(nc: NatsConnection, follower: StreamFollower): Promise<void> {
  try {
    for await (const s of nc.status()) if (s.type === 'disconnect') follower.cutOff('disconnected from NATS')
  } catch {
    // a connection closed under the watch: the follower's own questions say what that means
  }
}

/** The local log must be a prefix of the stream: its last event is the stream's event at that seq. */
async function checkFollows(jsm: JetStreamManager, log: EventLog, engine: string): Promise<void> {
  if (log.lastSeq === 0) return
  const streamLast = await lastStreamSeq(jsm, engine)
  if (streamLast < log.lastSeq) throw new LogAheadOfStream(engine, log.lastSeq, streamLast)
  const theirs = await streamRowAt(jsm, engine, log.lastSeq)
  if (!theirs || theirs.row.hash !== log.headHash) {
    throw new StreamForked(
      engine,
      log.lastSeq,
      `this log's head is ${log.headHash.slice(0, 12)}…, the stream's event there ${theirs?.row.hash.slice(0, 12) ?? 'missing'}…; restore a fresh log from the stream`,
    )
  }
}

class StreamFollower implements Follower {
  private state: FollowerStatus['state'] = 'following'
  private reason: string | undefined
  private pending = 0
  private readonly unknown: UnknownEvent[] = []
  private buffer: ReplicatedRow[] = []
  private flushQueued = false
  private waiters: { seq: number; resolve: () => void; timer: NodeJS.Timeout }[] = []
  private readonly done: Promise<void>
  /** The newest seq taken from the stream (stored or in the buffer): a consumer made anew starts after it. */
  private lastTaken: number
  private delivered = 0
  private deliveredAtCheck = 0
  private remaking = false
  private unanswered: { since: string; why: string } | undefined
  private readonly stallCheck: NodeJS.Timeout

  constructor(
    private readonly log: EventLog,
    private readonly engine: string,
    private readonly jsm: JetStreamManager,
    private messages: ConsumerMessages,
    private readonly open: (from: number) => Promise<ConsumerMessages>,
    private readonly onBroken: ((reason: string) => void) | undefined,
  ) {
    this.lastTaken = log.lastSeq
    this.done = this.run()
    this.stallCheck = setInterval(() => void this.checkStalled(), STALL_CHECK_MS)
    this.stallCheck.unref()
  }

  /** The link to NATS dropped: until the stream delivers or answers again, this log may be behind it. */
  cutOff(why: string): void {
    if (this.state === 'following') this.unanswered ??= { since: new Date().toISOString(), why }
  }

  private async run(): Promise<void> {
    for (;;) {
      const messages = this.messages
      for await (const m of messages) {
        if (this.state !== 'following') break
        this.delivered++
        this.unanswered = undefined
        // a consumer made anew may deliver again what the old one delivered last
        if (m.seq <= this.lastTaken) continue
        try {
          this.pending = m.info.pending
          const entry = isChunked(m.headers) ? await this.readChunked(m.seq, m.data, m.headers) : decodeRow(m.seq, m.data, m.headers)
          if (entry === undefined) break
          this.buffer.push(replicatedRow(entry))
          this.lastTaken = m.seq
        } catch (e) {
          this.break(e instanceof Error ? e.message : String(e))
          break
        }
        if (this.buffer.length >= BATCH) this.flush()
        else if (!this.flushQueued) {
          this.flushQueued = true
          setImmediate(() => this.flush())
        }
      }
      // stopped to be replaced: go on with the new consumer; stopped for good: done
      if (this.state !== 'following' || this.messages === messages) return
    }
  }

  /**
   * A chunked event's body from the companion stream: asked again while the stream does not answer
   * (undefined once following stopped meanwhile); a body that is missing or wrong is unreadable.
   */
  private async readChunked(seq: number, data: Uint8Array, hdrs: Parameters<typeof readEntry>[4]): Promise<StreamEntry | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await readEntry(this.jsm, this.engine, seq, data, hdrs)
      } catch (e) {
        if (e instanceof UnreadableStreamMessage || this.state !== 'following') throw e
        await new Promise((r) => setTimeout(r, backoffAt(BODY_RETRY_MS, attempt)))
        if (this.state !== 'following') return undefined
      }
    }
  }

  private async checkStalled(): Promise<void> {
    if (this.state !== 'following' || this.remaking) return
    const progressed = this.delivered !== this.deliveredAtCheck
    this.deliveredAtCheck = this.delivered
    if (progressed) return
    this.remaking = true
    try {
      let last: number
      try {
        last = await lastStreamSeq(this.jsm, this.engine)
      } catch (e) {
        // the stream this log follows is gone: nothing it held can come again from there
        if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)
          this.break(
            `the stream ${streamNameOf(this.engine)} no longer exists (deleted, or its server lost its store): this log holds seq 1 to ${this.log.lastSeq}`,
          )
        // out of reach: said, so the standby does not present a log it cannot bring up to date as following
        else if (this.delivered === this.deliveredAtCheck)
          this.unanswered = { since: this.unanswered?.since ?? new Date().toISOString(), why: e instanceof Error ? e.message : String(e) }
        return
      }
      this.unanswered = undefined
      if (this.state !== 'following') return
      if (last < this.log.lastSeq)
        return this.break(
          `the stream ${streamNameOf(this.engine)} holds ${last} events and this log ${this.log.lastSeq}: it was made anew, or lost its store; it is not the history this log follows`,
        )
      if (last <= this.lastTaken) return
      const next = await this.open(this.lastTaken + 1)
      if (this.state !== 'following') {
        next.stop()
        return
      }
      const old = this.messages
      this.messages = next
      old.stop()
    } catch {
      // the stream cannot answer yet: asked again at the next check
    } finally {
      this.remaking = false
    }
  }

  private flush(): void {
    this.flushQueued = false
    if (this.state !== 'following' || this.buffer.length === 0) return
    const rows = this.buffer
    this.buffer = []
    // a message already stored (the consumer redelivered after a reconnect) is skipped, not refused
    const fresh = rows.filter((r) => r.seq > this.log.lastSeq)
    try {
      this.store(fresh)
    } catch (e) {
      // the events before the one that broke the chain are sound: they are stored, then following stops
      if (e instanceof ReplicatedChainBroken) {
        const sound = fresh.filter((r) => r.seq < e.seq)
        try {
          this.store(sound)
        } catch {}
      }
      this.resolveWaiters()
      this.break(
        e instanceof ReplicatedChainBroken ? e.message : `the local log could not store the stream's events: ${e instanceof Error ? e.message : String(e)}`,
      )
      return
    }
    this.resolveWaiters()
  }

  private store(rows: readonly ReplicatedRow[]): void {
    for (const e of this.log.appendReplicated(rows)) {
      if (e.unreadable !== undefined && this.unknown.length < UNKNOWN_KEPT) this.unknown.push({ seq: e.seq, type: e.type, v: e.v, why: e.unreadable })
    }
  }

  private resolveWaiters(): void {
    const seq = this.log.lastSeq
    this.waiters = this.waiters.filter((w) => {
      if (w.seq > seq) return true
      clearTimeout(w.timer)
      w.resolve()
      return false
    })
  }

  private break(reason: string): void {
    if (this.state !== 'following') return
    this.state = 'broken'
    this.reason = reason
    clearInterval(this.stallCheck)
    this.messages.stop()
    this.onBroken?.(reason)
  }

  status(): FollowerStatus {
    return {
      state: this.state,
      seq: this.log.isClosed ? 0 : this.log.lastSeq,
      pending: this.pending,
      unknown: [...this.unknown],
      ...(this.reason !== undefined ? { reason: this.reason } : {}),
      ...(this.unanswered !== undefined && this.state === 'following' ? { unanswered: this.unanswered } : {}),
    }
  }

  waitForSeq(seq: number, timeoutMs: number): Promise<void> {
    if (this.log.lastSeq >= seq) return Promise.resolve()
    if (this.state !== 'following')
      return Promise.reject(new HaltdError('FOLLOWER_STOPPED', `the standby no longer follows the stream: ${this.reason ?? this.state}`))
    return new Promise((resolve, reject) => {
      const waiter = {
        seq,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter)
          reject(new HaltdError('FOLLOWER_BEHIND', `the standby holds seq ${this.log.lastSeq}, not ${seq}, after ${timeoutMs} ms`))
        }, timeoutMs),
      }
      this.waiters.push(waiter)
    })
  }

  async catchUp(timeoutMs: number): Promise<number> {
    // the whole catch-up within its budget, the stream's answer included: a link gone quiet is said
    // then, not after the client's own request timeout on top of it
    const until = performance.now() + timeoutMs
    let timer: NodeJS.Timeout | undefined
    const unanswered = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HaltdError('FOLLOWER_BEHIND', `the stream did not say how far it goes within ${timeoutMs} ms`)), timeoutMs)
    })
    const asked = lastStreamSeq(this.jsm, this.engine)
    asked.catch(() => {})
    let last: number
    try {
      last = await Promise.race([asked, unanswered])
    } finally {
      clearTimeout(timer)
    }
    await this.waitForSeq(last, Math.max(0, until - performance.now()))
    return last
  }

  fail(reason: string): void {
    this.break(reason)
    this.resolveWaiters()
  }

  async stop(): Promise<void> {
    if (this.state === 'following') this.state = 'stopped'
    clearInterval(this.stallCheck)
    this.messages.stop()
    await this.done.catch(() => {})
    // what arrived before the stop is stored: a standby taking over holds everything it was given
    if (this.buffer.length > 0 && !this.log.isClosed) {
      const rows = this.buffer.filter((r) => r.seq > this.log.lastSeq)
      this.buffer = []
      try {
        this.store(rows)
      } catch (e) {
        this.state = 'broken'
        this.reason = e instanceof Error ? e.message : String(e)
      }
    }
    for (const w of this.waiters.splice(0)) clearTimeout(w.timer)
  }
}
