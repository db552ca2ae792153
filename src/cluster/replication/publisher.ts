import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import type { EventLog, StoredRow } from '../../core/log/event-log.js'
import { ReplicationStopped, ReplicationTimeout, RowTooLarge, StreamAhead, StreamForked } from './errors.js'
import {
  bodyHeaderLines,
  bodyStreamNameOf,
  bodySubjectOf,
  chunkMsgIdOf,
  ensureBodyStream,
  ensureLogStream,
  lastStreamSeq,
  msgIdOf,
  RowHeaders,
  streamNameOf,
  streamRowAt,
  subjectOf,
  UnreadableStreamMessage,
} from './log-stream.js'
import { backoffAt } from './backoff.js'

const UNREACHABLE = 'the stream cannot be reached'
/** Why a wait ended while recovering: a failed ask's reason names the unreachable stream already. */
const unreachableWhy = (reason: string | undefined): string => (reason?.startsWith(UNREACHABLE) ? reason : `${UNREACHABLE}: ${reason}`)

/**
 * The leader's side of replication: every committed event of the log, in seq order, published to
 * the engine's stream with stream sequence = log seq. Each publish names the sequence it expects to
 * follow and carries a message id made of its seq and hash, so a retry is answered as a duplicate
 * and a second writer meets a stream that refuses it. Publishes are pipelined (up to `maxInFlight`
 * unconfirmed); since each expects its predecessor, the stream still stores them in order or not at all.
 * Only one publish in 64, and the last of each page sent, asks for the stream's answer (a reply
 * subject under one inbox of this publisher, by seq); the rest go out with no reply subject. An
 * answer confirms every publish before it: stream seq = log seq, and each publish whose predecessor
 * is not confirmed yet also names that predecessor's msg id, so the stream stored it only right
 * after this log's own event there, never after another writer's (a pipeline cannot fork around a
 * refused publish). So no request, timer or promise per event, and the stream answers a sixty-fourth
 * of them: the window stays full at tens of thousands of events a second. A refused or unanswered
 * ask stops the pipeline as any failure does. One timer ages the oldest
 * unanswered ask against a quarter of `ackTimeoutMs` (at least 250 ms), and a question to the
 * stream while recovering waits as long: a stream leader lost mid-publish is noticed and the stream
 * asked again while an order's write-ahead still waits, so a replicated stream's election delays
 * orders instead of halting trading.
 *
 * After any failed publish the pipeline stops, lets the asks in flight settle, then asks the stream
 * what it holds: events it holds that are this log's own are counted as acknowledged and publishing
 * resumes after them; anything else there (another writer's event, a stream ahead of or behind what
 * it acknowledged) fences this publisher for good and says why. A failure that comes again before
 * anything more is acknowledged is asked again later and later (up to a second apart), never in a loop.
 *
 * A row too large for one message (the server's max_payload, the stream's max_msg_size, less room
 * for headers) goes in two steps: its body in chunks to the engine's companion stream, all of them
 * acknowledged, then its message in the log stream at its seq, as any other, with headers naming
 * the chunks instead of a body. A crash or refusal between the two leaves chunks no log message
 * names: harmless, and the same ones again on the retry (same subjects, same msg ids). A row that
 * cannot fit even in chunks blocks publishing at its seq (state `blocked`, saying the seq, its size
 * and the limit) and is tried again every few seconds, so raising the server's limit lifts it.
 */

export type ReplicationMode = 'async' | 'sync'

export type PublisherState =
  /** Publishing as events commit. */
  | 'live'
  /** A publish failed; waiting for the stream to answer again. */
  | 'recovering'
  /** The stream refused this writer (or holds another history): nothing more is published. */
  | 'fenced'
  /** An event too large for the stream's messages, even in chunks: publishing waits at it until the limit is raised. */
  | 'blocked'
  | 'stopped'

export type ReplicationStatus = {
  state: PublisherState
  /** The newest log seq the stream acknowledged. */
  ackedSeq: number
  /** Committed events the stream has not acknowledged yet. */
  lagEvents: number
  /** Age of the oldest unacknowledged event (0 when none), by the log's timestamps. */
  lagMs: number
  /** Why the publisher is recovering, blocked or fenced. */
  reason?: string
  /** How long it has been in this state, in ms. */
  stateForMs: number
}

export type PublisherOptions = {
  nc: NatsConnection
  log: EventLog
  engine: string
  /** Copies the stream keeps when this publisher creates it. */
  replicas?: number
  /** Unanswered publishes at most; more committed events wait in the log. */
  maxInFlight?: number
  /** How long one publish waits for the stream's answer. */
  ackTimeoutMs?: number
  /** The leadership epoch each message is published under (0 without leadership). */
  epoch?: () => number
  /**
   * Why this instance may not publish now (it lost or could not renew its leadership), or undefined.
   * While it says so nothing is published: a leader whose lease may have passed to another must
   * not write to the stream the other now writes.
   */
  fence?: () => string | undefined
  /** Called once, when the stream refuses this writer: close the gate. */
  onFenced?: (reason: string) => void
  /** Called when publishing stops or resumes after a failure (for logs and status). */
  onState?: (state: PublisherState, reason?: string) => void
  /** Wall clock in ms, to age the oldest unacknowledged event against its log timestamp. */
  now?: () => number
  /**
   * The stream's last seq as the caller has just confirmed it holds this log up to there (a standby
   * that followed the stream link by link and took the lease): the checks at start are skipped, and
   * publishing starts after it at once. A stream that holds more refuses the first publish (its
   * expected last sequence), which fences this publisher as any other writer's events would.
   */
  streamSeq?: number
}

export type ReplicationPublisher = {
  readonly engine: string
  status(): ReplicationStatus
  /** Resolves once the stream acknowledged `seq`; rejects after `timeoutMs` or once fenced. */
  waitFor(seq: number, timeoutMs: number): Promise<void>
  /** Resolves once everything committed so far is acknowledged. */
  flush(timeoutMs: number): Promise<void>
  /** Stop publishing; resolves once what was in flight has been answered (or after `graceMs`). */
  stop(graceMs?: number): Promise<void>
}

type Waiter = { seq: number; resolve: () => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }

const RECOVERY_BACKOFF_MS = [50, 100, 250, 500, 1000] as const
/** How often a row that cannot be replicated is tried again (the server's limit may have been raised meanwhile). */
const BLOCKED_RETRY_MS = [1_000, 2_000, 5_000] as const
/** Room kept in a message for its headers: a row larger than the largest message less this goes in chunks. */
const HEADER_ROOM = 1_024
/** The smallest chunk worth sending: a limit that leaves less makes a row unreplicable. */
const MIN_CHUNK = 1_024
/** Chunks of one body awaiting the companion stream's answer at once. */
const CHUNKS_IN_FLIGHT = 16
const EMPTY = new Uint8Array(0)
/** One publish in this many asks for the stream's answer (besides the last of each page). */
const ACK_EVERY = 64
/** The stream's error code for a publish whose expected last msg id is not its last (nats-server's JSStreamWrongLastMsgIDErrF). */
const STREAM_WRONG_LAST_MSG_ID = 10070

const attemptTimeout = (ackTimeoutMs: number) => Math.max(250, Math.floor(ackTimeoutMs / 4))
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/**
 * Check that this log may write to the engine's stream, then publish its backlog (from the stream's
 * last seq + 1) and every event committed from now on. Throws `StreamAhead` or `StreamForked` when
 * the stream holds another history than this log.
 */
export async function startPublisher(options: PublisherOptions): Promise<ReplicationPublisher> {
  const { nc, log, engine } = options
  const timeout = options.ackTimeoutMs ?? 5_000
  const recovering = { timeout: attemptTimeout(timeout), checkAPI: false }
  if (options.streamSeq !== undefined) return new Publisher(options, await jetstreamManager(nc, recovering), options.streamSeq, 0)
  const jsm = await jetstreamManager(nc, { timeout })
  const info = await ensureLogStream(jsm, { engine, replicas: options.replicas ?? 1 })
  const streamLast = await lastStreamSeq(jsm, engine)
  await checkSameHistory(jsm, log, engine, streamLast)
  return new Publisher(options, await jetstreamManager(nc, recovering), streamLast, info.config.max_msg_size)
}

/** Refuse, before anything is written, a log that may not write to the engine's stream (`StreamAhead`, `StreamForked`). */
export async function checkStreamHistory(nc: NatsConnection, log: EventLog, engine: string, replicas = 1): Promise<void> {
  const jsm = await jetstreamManager(nc)
  await ensureLogStream(jsm, { engine, replicas })
  await checkSameHistory(jsm, log, engine, await lastStreamSeq(jsm, engine))
}

/** The stream may hold no more than this log, and its last event must be this log's event at that seq. */
async function checkSameHistory(jsm: JetStreamManager, log: EventLog, engine: string, streamLast: number): Promise<void> {
  if (streamLast > log.committedSeq) throw new StreamAhead(engine, streamLast, log.committedSeq)
  if (streamLast === 0) return
  const theirs = await streamRowAt(jsm, engine, streamLast)
  const ours = rowAt(log, streamLast)
  if (!theirs) throw new StreamForked(engine, streamLast, 'the stream reports it but cannot return it')
  if (!ours || theirs.row.hash !== ours.hash)
    throw new StreamForked(engine, streamLast, `stream hash ${theirs.row.hash.slice(0, 12)}…, log hash ${ours?.hash.slice(0, 12) ?? 'none'}…`)
}

function rowAt(log: EventLog, seq: number): StoredRow | undefined {
  for (const row of log.readRaw(seq, seq)) return row
  return undefined
}

/** What the stream answers a publish: its ack, or its error. */
type StreamReply = { seq?: number; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } }

class PublishFailed extends Error {}

/** Asks in a row that find the stream gone before the publisher takes it for gone (50, 100, 250, 500 ms apart: about a second). */
const STREAM_GONE_CONFIRMATIONS = 5

const decoder = new TextDecoder()

class Publisher implements ReplicationPublisher {
  readonly engine: string
  private state: PublisherState = 'live'
  private stateSince = 0
  /** Why the last publish failed, until one is acknowledged: a timeout names it, not only "no answer". */
  private lastFailure: string | undefined
  private reason: string | undefined
  private acked: number
  private next: number
  /** The asks not answered yet: seq → when it was sent, oldest first. */
  private readonly pending = new Map<number, number>()
  /** Publishes since the last that asked for an answer. */
  private sinceAsk = 0
  /** The msg id of the last publish (seq `next - 1`), named by the next one while it is unconfirmed. */
  private lastMsgId: string | undefined
  private readonly headers = new RowHeaders()
  private readonly inbox: string
  private readonly replies: Subscription
  private readonly ager: NodeJS.Timeout
  /** Fill the window again only once this much of it is free (or nothing is unconfirmed), so rows are read from the log in pages. */
  private readonly refill: number
  private pumpQueued = false
  private fenceTimer: NodeJS.Timeout | undefined
  /** Failures since the stream last acknowledged something new: the next recovery waits longer with each. */
  private failures = 0
  /** The log stream's max_msg_size as last read (0 or less: none). */
  private streamMaxMsg: number
  private readonly js: JetStreamClient
  /** The row whose body is being put in the companion stream, if any. */
  private uploading: number | undefined
  /** The last row whose chunks the companion stream acknowledged: its log message carries these header lines. */
  private body: { seq: number; hash: string; lines: string } | undefined
  private blockedTimer: NodeJS.Timeout | undefined
  private blockedRetries = 0
  private waiters: Waiter[] = []
  private settledWaiters: (() => void)[] = []
  private readonly subject: string
  private readonly maxInFlight: number
  /** How long one publish waits for its acknowledgement before it counts as failed. */
  private readonly attemptMs: number
  private readonly epoch: () => number
  private readonly now: () => number
  private readonly offEvent: () => void

  constructor(
    private readonly options: PublisherOptions,
    private readonly jsm: JetStreamManager,
    streamLast: number,
    streamMaxMsg: number,
  ) {
    this.engine = options.engine
    this.streamMaxMsg = streamMaxMsg
    this.subject = subjectOf(options.engine)
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 1024)
    this.attemptMs = attemptTimeout(options.ackTimeoutMs ?? 5_000)
    this.js = jetstream(options.nc, { timeout: this.attemptMs })
    this.epoch = options.epoch ?? (() => 0)
    this.now = options.now ?? Date.now
    this.stateSince = this.now()
    this.refill = Math.max(1, Math.min(256, Math.floor(this.maxInFlight / 4)))
    this.acked = streamLast
    this.next = streamLast + 1
    this.inbox = createInbox()
    this.replies = options.nc.subscribe(`${this.inbox}.*`, { callback: (_e, m) => this.reply(m) })
    this.ager = setInterval(() => this.ageOut(), Math.max(10, Math.min(250, Math.floor(this.attemptMs / 4))))
    this.ager.unref()
    this.offEvent = options.log.on('event', () => this.schedulePump())
    this.pump()
  }

  status(): ReplicationStatus {
    const committed = this.options.log.isClosed ? this.acked : this.options.log.committedSeq
    const lagEvents = Math.max(0, committed - this.acked)
    let lagMs = 0
    if (lagEvents > 0 && !this.options.log.isClosed) {
      const oldest = rowAt(this.options.log, this.acked + 1)
      if (oldest) lagMs = Math.max(0, this.now() - oldest.ts)
    }
    return {
      state: this.state,
      ackedSeq: this.acked,
      lagEvents,
      lagMs,
      ...(this.reason !== undefined ? { reason: this.reason } : {}),
      stateForMs: Math.max(0, this.now() - this.stateSince),
    }
  }

  waitFor(seq: number, timeoutMs: number): Promise<void> {
    if (this.acked >= seq) return Promise.resolve()
    if (this.state === 'fenced' || this.state === 'stopped') return Promise.reject(new ReplicationStopped(this.reason ?? this.state))
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        seq,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter)
          const why =
            this.state === 'recovering'
              ? unreachableWhy(this.reason)
              : this.state === 'blocked'
                ? `${this.reason}`
                : this.lastFailure !== undefined
                  ? `no answer yet; the last publish that failed: ${this.lastFailure}`
                  : 'no answer yet'
          reject(new ReplicationTimeout(seq, timeoutMs, why))
        }, timeoutMs),
      }
      this.waiters.push(waiter)
    })
  }

  flush(timeoutMs: number): Promise<void> {
    return this.waitFor(this.options.log.committedSeq, timeoutMs)
  }

  async stop(graceMs = 2_000): Promise<void> {
    if (this.state === 'stopped') return
    this.offEvent()
    if (this.fenceTimer) clearTimeout(this.fenceTimer)
    if (this.blockedTimer) clearTimeout(this.blockedTimer)
    const wasFenced = this.state === 'fenced'
    this.setState('stopped', wasFenced ? this.reason : 'stopped')
    this.rejectWaiters(new ReplicationStopped(this.reason ?? 'stopped'))
    if (this.pending.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs)
        this.settledWaiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    clearInterval(this.ager)
    this.replies.unsubscribe()
  }

  private setState(state: PublisherState, reason?: string): void {
    if (state !== this.state) this.stateSince = this.now()
    this.state = state
    this.reason = reason
    this.options.onState?.(state, reason)
  }

  private schedulePump(): void {
    if (this.pumpQueued) return
    this.pumpQueued = true
    queueMicrotask(() => {
      this.pumpQueued = false
      this.pump()
    })
  }

  /** Publish committed events from `next` on, as far as the window allows. */
  private pump(): void {
    if (this.state !== 'live') return
    const log = this.options.log
    if (log.isClosed) return
    const unconfirmed = this.next - 1 - this.acked
    const room = this.maxInFlight - unconfirmed
    if (room <= 0 || (room < this.refill && unconfirmed > 0)) return
    if (this.options.fence?.() !== undefined) {
      // asked again shortly: a renewal may lift the fence, and nothing else would wake the pump
      this.fenceTimer ??= setTimeout(() => {
        this.fenceTimer = undefined
        this.pump()
      }, 50)
      return
    }
    const count = Math.min(log.committedSeq - this.next + 1, room)
    if (count <= 0) return
    const epoch = String(this.epoch())
    const { nc } = this.options
    const { subject, headers } = this
    const sentAt = performance.now()
    try {
      // each row's JSON as SQLite wrote it (the same message `encodeRow` makes)
      const rows = log.replicableMessages(this.next, count)
      const whole = this.wholeLimit()
      let last = rows.length - 1
      for (let i = 0; i <= last; i++) {
        const [seq, hash, payload] = rows[i]!
        if (payload.length > whole && !(this.body?.seq === seq && this.body.hash === hash)) {
          // its body goes to the companion stream first: the rows before it go now, it once its chunks are stored
          last = i - 1
          if (i === 0) this.upload(seq)
        }
      }
      for (let i = 0; i <= last; i++) {
        const [seq, hash, payload] = rows[i]!
        const msgId = msgIdOf({ seq, hash })
        const chunked = payload.length > whole ? this.body?.lines : undefined
        // a predecessor not confirmed yet is named: stored only right after this log's own event there
        headers.fill(msgId, seq - 1, epoch, seq - 1 > this.acked ? this.lastMsgId : undefined, chunked)
        this.lastMsgId = msgId
        this.next = seq + 1
        const data = chunked === undefined ? payload : EMPTY
        if (i === last || ++this.sinceAsk >= ACK_EVERY) {
          this.sinceAsk = 0
          this.pending.set(seq, sentAt)
          nc.publish(subject, data, { reply: `${this.inbox}.${seq}`, headers })
        } else nc.publish(subject, data, { headers })
      }
    } catch (e) {
      // the connection is closed or draining: the asks sent are aged out, then recovered
      if (this.state === 'live') this.failed(`publish of seq ${this.next} failed: ${messageOf(e)}`)
    }
  }

  /** The largest row a message carries whole: the server's and the stream's limit, less room for headers. */
  private wholeLimit(): number {
    return this.messageLimit(this.streamMaxMsg) - HEADER_ROOM
  }

  private messageLimit(streamMaxMsg: number): number {
    const payload = this.options.nc.info?.max_payload ?? 1_048_576
    return streamMaxMsg > 0 ? Math.min(payload, streamMaxMsg) : payload
  }

  /** Put the body of the row at `seq` in the companion stream, then publish on (its log message now carries the chunking). */
  private upload(seq: number): void {
    if (this.uploading !== undefined) return
    this.uploading = seq
    this.putBody(seq).then(
      (body) => {
        this.uploading = undefined
        this.body = body
        this.blockedRetries = 0
        if (this.state === 'blocked') this.setState('live')
        this.pump()
      },
      (e: unknown) => {
        this.uploading = undefined
        if (this.state === 'fenced' || this.state === 'stopped') return
        if (e instanceof RowTooLarge || this.state === 'blocked') {
          if (e instanceof RowTooLarge && this.state === 'blocked') this.reason = e.message
          else if (e instanceof RowTooLarge) this.setState('blocked', e.message)
          const wait = backoffAt(BLOCKED_RETRY_MS, this.blockedRetries++)
          this.blockedTimer = setTimeout(() => {
            this.blockedTimer = undefined
            if (this.state === 'blocked') this.upload(seq)
          }, wait)
          this.blockedTimer.unref()
        } else if (this.state === 'live') this.failed(`the body of seq ${seq} could not be stored in chunks: ${messageOf(e)}`)
      },
    )
  }

  private async putBody(seq: number): Promise<{ seq: number; hash: string; lines: string }> {
    const [row] = this.options.log.replicableMessages(seq, 1)
    if (!row) throw new Error(`the log holds no event at seq ${seq}`)
    const [, hash, payload] = row
    const bodies = await ensureBodyStream(this.jsm, this.engine)
    const limit = Math.min(this.messageLimit(this.streamMaxMsg), this.messageLimit(bodies.config.max_msg_size))
    const chunkSize = limit - HEADER_ROOM
    if (chunkSize < MIN_CHUNK) throw new RowTooLarge(seq, payload.length, limit)
    const chunks = Math.ceil(payload.length / chunkSize)
    const name = bodyStreamNameOf(this.engine)
    for (let from = 0; from < chunks; from += CHUNKS_IN_FLIGHT) {
      const acks: Promise<void>[] = []
      for (let n = from; n < Math.min(chunks, from + CHUNKS_IN_FLIGHT); n++) {
        const chunk = payload.subarray(n * chunkSize, (n + 1) * chunkSize)
        acks.push(
          this.js
            .publish(bodySubjectOf(this.engine, seq, hash, n), chunk, { msgID: chunkMsgIdOf(seq, hash, chunkSize, n), timeout: this.attemptMs })
            .then((ack) => {
              if (ack.stream !== name) throw new Error(`stream ${ack.stream} took chunk ${n} of seq ${seq}, not ${name}`)
            }),
        )
      }
      await Promise.all(acks)
    }
    return { seq, hash, lines: bodyHeaderLines(chunks, payload.length, hash) }
  }

  /** Publishing stops for a failure; recovery starts once nothing is in flight. */
  private failed(reason: string): void {
    this.setState('recovering', reason)
    this.failures++
    if (this.pending.size === 0) this.recover()
  }

  /** The stream's answer to the publish of the seq the reply subject names. */
  private reply(m: Msg): void {
    const seq = Number(m.subject.slice(this.inbox.length + 1))
    if (!this.pending.delete(seq)) return
    let answer: StreamReply | undefined
    try {
      if (m.data.length > 0) answer = JSON.parse(decoder.decode(m.data)) as StreamReply
    } catch {}
    if (answer?.error === undefined && typeof answer?.seq === 'number') {
      this.answered(seq, answer.seq, undefined)
      return
    }
    const status = m.headers?.code ? `status ${m.headers.code} ${m.headers.description}` : 'no answer it could read'
    const err = answer?.error
    const refused = err?.err_code === JetStreamApiCodes.StreamWrongLastSequence || err?.err_code === STREAM_WRONG_LAST_MSG_ID
    this.answered(seq, undefined, new PublishFailed(err ? `${err.description ?? 'error'} (${err.err_code ?? err.code ?? '?'})` : status), refused)
  }

  /** Publishes unanswered for longer than the ack timeout count as failed. */
  private ageOut(): void {
    if (this.pending.size === 0) return
    const oldest = performance.now() - this.attemptMs
    for (const [seq, sentAt] of this.pending) {
      if (sentAt > oldest) break
      this.pending.delete(seq)
      this.answered(seq, undefined, new PublishFailed(`no acknowledgement within ${this.attemptMs} ms`))
    }
  }

  private answered(seq: number, ackSeq: number | undefined, error: unknown, refused = false): void {
    if (ackSeq !== undefined && this.state !== 'fenced') {
      if (ackSeq !== seq) this.fence(`the stream stored log seq ${seq} at stream seq ${ackSeq}`)
      else {
        // the stream stored every publish before this one too: earlier asks still unanswered are moot
        for (const asked of this.pending.keys()) {
          if (asked > seq) break
          this.pending.delete(asked)
        }
        this.acknowledge(seq)
      }
    } else if (error !== undefined && this.state === 'live') {
      this.lastFailure = refused ? `the stream refused seq ${seq}: ${messageOf(error)}` : `publish of seq ${seq} failed: ${messageOf(error)}`
      this.setState('recovering', this.lastFailure)
      this.failures++
    }
    if (this.pending.size === 0) {
      for (const settled of this.settledWaiters.splice(0)) settled()
      if (this.state === 'recovering') this.recover()
    }
    if (this.state === 'live') this.pump()
  }

  private acknowledge(seq: number): void {
    if (seq <= this.acked) return
    this.acked = seq
    this.failures = 0
    this.lastFailure = undefined
    if (this.waiters.length === 0) return
    const still: Waiter[] = []
    for (const w of this.waiters) {
      if (w.seq <= seq) {
        clearTimeout(w.timer)
        w.resolve()
      } else still.push(w)
    }
    this.waiters = still
  }

  /**
   * Nothing is in flight: ask the stream what it holds beyond what it acknowledged. Our own events
   * there count as acknowledged; anything else fences. A stream that cannot answer is asked again.
   */
  private recover(): void {
    let unreachable = 0
    let gone = 0
    const attempt = async () => {
      if (this.state !== 'recovering') return
      const log = this.options.log
      try {
        const info = await this.jsm.streams.info(streamNameOf(this.engine))
        const last = info.state.last_seq
        this.streamMaxMsg = info.config.max_msg_size
        if (this.state !== 'recovering') return
        if (last < this.acked) return this.fence(`the stream holds ${last} events but had acknowledged ${this.acked}`)
        if (last > log.committedSeq) return this.fence(new StreamAhead(this.engine, last, log.committedSeq).message)
        for (let seq = this.acked + 1; seq <= last; seq++) {
          let theirs: Awaited<ReturnType<typeof streamRowAt>>
          try {
            theirs = await streamRowAt(this.jsm, this.engine, seq)
          } catch (e) {
            // a message that is no row of any haltd log: another writer's, for good
            if (e instanceof UnreadableStreamMessage)
              return this.fence(new StreamForked(this.engine, seq, `another writer appended there: ${e.message}`).message)
            throw e
          }
          const ours = rowAt(log, seq)
          if (!theirs || !ours || theirs.row.hash !== ours.hash) return this.fence(new StreamForked(this.engine, seq, 'another writer appended there').message)
          this.acknowledge(seq)
        }
        this.next = this.acked + 1
        this.lastMsgId = undefined
        this.sinceAsk = 0
        this.setState('live')
        this.pump()
      } catch (e) {
        if (this.state !== 'recovering') return
        // the stream it acknowledged events to is gone (deleted, or its server lost its store): what
        // it held cannot be taken back from here, and a new empty one would read as another history.
        // Said on a few asks in a row: a clustered stream being restored says it for a moment.
        const missing = e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound && this.acked > 0
        gone = missing ? gone + 1 : 0
        if (gone >= STREAM_GONE_CONFIRMATIONS)
          return this.fence(
            `the stream ${streamNameOf(this.engine)} no longer exists, and it had acknowledged seq 1 to ${this.acked}: deleted, or its server lost its store`,
          )
        this.reason = `${UNREACHABLE}: ${messageOf(e)}`
        const wait = backoffAt(RECOVERY_BACKOFF_MS, unreachable++)
        setTimeout(() => void attempt(), wait).unref()
      }
    }
    // the first failure is asked about at once; one that comes again with nothing acknowledged since waits
    if (this.failures <= 1) void attempt()
    else setTimeout(() => void attempt(), backoffAt(RECOVERY_BACKOFF_MS, this.failures - 2)).unref()
  }

  private fence(reason: string): void {
    if (this.state === 'fenced' || this.state === 'stopped') return
    this.setState('fenced', reason)
    this.rejectWaiters(new ReplicationStopped(reason))
    this.options.onFenced?.(reason)
  }

  private rejectWaiters(error: Error): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer)
      w.reject(error)
    }
  }
}
