import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type PubAck } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { EventLog, StoredRow } from '../../core/log/event-log.js'
import { ReplicationStopped, ReplicationTimeout, StreamAhead, StreamForked } from './errors.js'
import { encodeRow, ensureLogStream, epochHeaders, lastStreamSeq, msgIdOf, streamRowAt, subjectOf } from './log-stream.js'

/**
 * The leader's side of replication: every committed event of the log, in seq order, published to
 * the engine's stream with stream sequence = log seq. Each publish names the sequence it expects to
 * follow and carries a message id made of its seq and hash, so a retry is answered as a duplicate
 * and a second writer meets a stream that refuses it. Publishes are pipelined (up to `maxInFlight`
 * unanswered); since each expects its predecessor, the stream still stores them in order or not at all.
 *
 * After any failed publish the pipeline stops, lets what is in flight settle, then asks the stream
 * what it holds: events it holds that are this log's own are counted as acknowledged and publishing
 * resumes after them; anything else there (another writer's event, a stream ahead of or behind what
 * it acknowledged) fences this publisher for good and says why.
 */

export type ReplicationMode = 'async' | 'sync'

export type PublisherState =
  /** Publishing as events commit. */
  | 'live'
  /** A publish failed; waiting for the stream to answer again. */
  | 'recovering'
  /** The stream refused this writer (or holds another history): nothing more is published. */
  | 'fenced'
  | 'stopped'

export type ReplicationStatus = {
  state: PublisherState
  /** The newest log seq the stream acknowledged. */
  ackedSeq: number
  /** Committed events the stream has not acknowledged yet. */
  lagEvents: number
  /** Age of the oldest unacknowledged event (0 when none), by the log's timestamps. */
  lagMs: number
  /** Why the publisher is recovering or fenced. */
  reason?: string
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
  const jsm = await jetstreamManager(nc, { timeout })
  const js = jetstream(nc, { timeout })
  await ensureLogStream(jsm, { engine, replicas: options.replicas ?? 1 })
  const streamLast = await lastStreamSeq(jsm, engine)
  await checkSameHistory(jsm, log, engine, streamLast)
  // a publish, or a question to the stream while recovering, waits a quarter of the ack budget: a
  // stream leader lost mid-publish is noticed and the stream asked again while an order's write-ahead
  // still waits, so a replicated stream's election delays orders instead of halting trading
  return new Publisher(options, js, await jetstreamManager(nc, { timeout: attemptTimeout(timeout) }), streamLast)
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

class Publisher implements ReplicationPublisher {
  readonly engine: string
  private state: PublisherState = 'live'
  private reason: string | undefined
  private acked: number
  private next: number
  private inFlight = 0
  private pumpQueued = false
  private fenceTimer: NodeJS.Timeout | undefined
  private recoveries = 0
  private waiters: Waiter[] = []
  private settledWaiters: (() => void)[] = []
  private readonly subject: string
  private readonly maxInFlight: number
  private readonly ackTimeoutMs: number
  private readonly epoch: () => number
  private readonly now: () => number
  private readonly offEvent: () => void

  constructor(
    private readonly options: PublisherOptions,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    streamLast: number,
  ) {
    this.engine = options.engine
    this.subject = subjectOf(options.engine)
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 1024)
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5_000
    this.epoch = options.epoch ?? (() => 0)
    this.now = options.now ?? Date.now
    this.acked = streamLast
    this.next = streamLast + 1
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
    return { state: this.state, ackedSeq: this.acked, lagEvents, lagMs, ...(this.reason !== undefined ? { reason: this.reason } : {}) }
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
          reject(new ReplicationTimeout(seq, timeoutMs, this.state === 'recovering' ? `the stream cannot be reached: ${this.reason}` : 'no answer yet'))
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
    const wasFenced = this.state === 'fenced'
    this.setState('stopped', wasFenced ? this.reason : 'stopped')
    this.rejectWaiters(new ReplicationStopped(this.reason ?? 'stopped'))
    if (this.inFlight === 0) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs)
      this.settledWaiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  private setState(state: PublisherState, reason?: string): void {
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
    if (this.options.fence?.() !== undefined) {
      // asked again shortly: a renewal may lift the fence, and nothing else would wake the pump
      this.fenceTimer ??= setTimeout(() => {
        this.fenceTimer = undefined
        this.pump()
      }, 50)
      return
    }
    const room = this.maxInFlight - this.inFlight
    if (room <= 0) return
    const to = Math.min(log.committedSeq, this.next + room - 1)
    if (to < this.next) return
    const epoch = this.epoch()
    const hdrs = epochHeaders(epoch)
    for (const row of log.readReplicable(this.next, to)) {
      this.next = row.seq + 1
      this.inFlight++
      this.js
        .publish(this.subject, encodeRow(row), {
          msgID: msgIdOf(row),
          expect: { lastSequence: row.seq - 1 },
          headers: hdrs,
          timeout: attemptTimeout(this.ackTimeoutMs),
        })
        .then(
          (ack) => this.answered(row, ack, undefined),
          (e: unknown) => this.answered(row, undefined, e),
        )
    }
  }

  private answered(row: StoredRow, ack: PubAck | undefined, error: unknown): void {
    this.inFlight--
    if (ack && this.state !== 'fenced') {
      if (ack.seq !== row.seq) this.fence(`the stream stored log seq ${row.seq} at stream seq ${ack.seq}`)
      else this.acknowledge(row.seq)
    } else if (error !== undefined && this.state === 'live') {
      const refused = error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamWrongLastSequence
      this.setState('recovering', refused ? `the stream refused seq ${row.seq}: ${messageOf(error)}` : `publish of seq ${row.seq} failed: ${messageOf(error)}`)
      this.recoveries = 0
    }
    if (this.inFlight === 0) {
      for (const settled of this.settledWaiters.splice(0)) settled()
      if (this.state === 'recovering') this.recover()
    }
    if (this.state === 'live') this.pump()
  }

  private acknowledge(seq: number): void {
    if (seq <= this.acked) return
    this.acked = seq
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
    const attempt = async () => {
      if (this.state !== 'recovering') return
      const log = this.options.log
      try {
        const last = await lastStreamSeq(this.jsm, this.engine)
        if (this.state !== 'recovering') return
        if (last < this.acked) return this.fence(`the stream holds ${last} events but had acknowledged ${this.acked}`)
        if (last > log.committedSeq) return this.fence(new StreamAhead(this.engine, last, log.committedSeq).message)
        for (let seq = this.acked + 1; seq <= last; seq++) {
          const theirs = await streamRowAt(this.jsm, this.engine, seq)
          const ours = rowAt(log, seq)
          if (!theirs || !ours || theirs.row.hash !== ours.hash) return this.fence(new StreamForked(this.engine, seq, 'another writer appended there').message)
          this.acknowledge(seq)
        }
        this.next = this.acked + 1
        this.setState('live')
        this.pump()
      } catch (e) {
        if (this.state !== 'recovering') return
        this.reason = `the stream cannot be reached: ${messageOf(e)}`
        const wait = RECOVERY_BACKOFF_MS[Math.min(this.recoveries++, RECOVERY_BACKOFF_MS.length - 1)]
        setTimeout(() => void attempt(), wait).unref()
      }
    }
    void attempt()
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
