import type { KV } from '@nats-io/kv'
import { randomUUID } from 'node:crypto'
import type { Leadership } from '../cluster/leadership/keeper.js'
import { offerAnswerIn, offerLease, readLease, watchForTake, withdrawOffer } from '../cluster/leadership/lease.js'
import type { OrderGate } from '../core/execution/gate.js'
import {
  decideHandover,
  evolveHandover,
  initialHandoverState,
  LEADER_STEPS,
  stepBudget,
  type HandoverCommand,
  type HandoverFact,
  type HandoverState,
} from '../core/handover/decider.js'
import type { EventLog } from '../core/log/event-log.js'
import { HaltdError } from '../events/errors.js'
import type { Logger } from './logger.js'

/** A write asked of a haltd that handed its engine over: its log must stay a prefix of the stream. */
export class HandedOver extends HaltdError {
  constructor(to: string, types: readonly string[]) {
    super(
      'HANDED_OVER',
      `not recorded (${types.join(', ')}): this haltd handed its engine over to '${to}' and records nothing more, so its log stays a prefix of the stream; the new leader learns it from the venues`,
    )
  }
}

/** A write asked of a haltd while its handover offers the lease: the standby must find the log as offered. */
export class HandingOver extends HaltdError {
  constructor(handoverId: string, to: string, types: readonly string[]) {
    super(
      'HANDING_OVER',
      `not recorded (${types.join(', ')}): handover ${handoverId} is offering the lease to '${to}' with this log as it stands; recorded only should it roll back`,
    )
  }
}

/** Make every write of `log` throw `refuse(types)`; returns the undo. */
function sealLog(log: EventLog, refuse: (types: readonly string[]) => Error): () => void {
  const { append, appendBatch, appendSoon } = log
  log.append = (event) => {
    throw refuse([event.type])
  }
  log.appendBatch = (events) => {
    throw refuse(events.map((e) => e.type))
  }
  log.appendSoon = (event, onError) => onError(refuse([event.type]))
  return () => {
    log.append = append
    log.appendBatch = appendBatch
    log.appendSoon = appendSoon
  }
}

/**
 * From the moment the new leader holds the lease, this log takes no more writes: whatever the
 * closing daemon still hears (a venue's push, a cancel's answer) is the new leader's to record.
 */
export function sealAfterHandover(log: EventLog, to: string): void {
  sealLog(log, (types) => new HandedOver(to, types))
}

export type HandoverOutcome = { handoverId: string; outcome: 'handed-over' | 'rolled-back'; reason?: string }

/** A stop asked of a haltd whose engine a handover gave to another instance: nothing was run, sent or recorded here. */
export class EngineHandedOver extends HaltdError {
  constructor(
    readonly leader: string,
    readonly handoverId: string,
  ) {
    super(
      'HANDED_OVER',
      `handover ${handoverId} gave the engine to '${leader}', which leads it now: this haltd ran no shutdown, sent nothing and recorded nothing more, and exits 0`,
    )
  }
}

/**
 * A handover under way, or the one that handed the engine over (this haltd then leads no more).
 * A stop waits for its `outcome`; an emergency `abort`s it first.
 */
export type HandoverUnderWay = {
  readonly handoverId: string
  readonly to: string
  readonly outcome: Promise<HandoverOutcome>
  /**
   * Roll it back as soon as it can be: before the offer, at the next step; once offered, the offer
   * is withdrawn at its revision. A standby that took the lease first keeps it: the outcome says so.
   */
  abort(why: string): void
}

export type Handover = {
  run(request: { to: string; reason: string; by?: string }): Promise<HandoverOutcome>
  /** The handover under way, or the one that handed the engine over; undefined otherwise. */
  readonly current: HandoverUnderWay | undefined
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** How long a daemon that handed over lingers, sealed and fenced, before it ends. */
const AFTER_HANDOVER_MS = 100
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/**
 * The leader's side of a planned handover: the decider's steps run as effects, each outcome
 * recorded. The gate closes to new orders, in-flight submits are waited for, replication is
 * flushed, then the lease is offered to the named standby and this leader stops renewing and
 * publishing. Taken within the budget: `afterHandover` ends this daemon without a shutdown (the
 * orders stay at the venues for the new leader). Not taken, or a step failed: the offer is
 * withdrawn, the lease renewed again and the gate reopened.
 */
export function createHandover(input: {
  log: EventLog
  gate: OrderGate
  submitsInFlight: () => number
  flush: (timeoutMs: number) => Promise<void>
  leadership: Leadership
  kv: KV
  budgetMs: number
  /** How long an offer may wait for the standby: well inside the lease, so the offered key cannot age out of the bucket before it is withdrawn. */
  maxOfferMs: number
  logger: Logger
  /**
   * Record that this run hands over, before the offer, so the new leader finds it ended, not
   * crashed; rolled back, the run records its real end when it exits.
   */
  recordHandedOver: (handover: { handoverId: string; to: string }) => void
  /**
   * Stop what appends on its own (market data, and the strategies' reactions to it) as the gate
   * closes, so nothing of this run follows the release into the local log, which must stay a prefix
   * of the stream to follow it as a standby; returns the restart, for a roll-back.
   */
  quiesceWriters: () => () => void
  /**
   * Hold back what the venues push from the release on: recorded should the handover roll back
   * (the returned function), never recorded once the lease is taken (the new leader reads the venues).
   */
  holdVenueFacts: () => () => void
  afterHandover: () => void
}): Handover {
  const { log, gate, leadership, kv, logger } = input
  let state: HandoverState = initialHandoverState()
  let current: HandoverUnderWay | undefined
  const apply = (command: HandoverCommand) => {
    for (const event of decideHandover(command, state)) state = evolveHandover(state, log.append(event) as HandoverFact)
  }

  const run = async (request: { to: string; reason: string; by?: string }, handoverId: string, stop: AbortSignal): Promise<HandoverOutcome> => {
    const stoppedBy = () => (stop.aborted ? String(stop.reason) : undefined)
    // resolves (never rejects) when the stop comes, so a wait on the network can be cut short
    const stopped = new Promise<void>((r) => stop.addEventListener('abort', () => r(), { once: true }))
    apply({
      kind: 'start',
      handoverId,
      from: leadership.instance,
      to: request.to,
      budgetMs: input.budgetMs,
      reason: request.reason,
      ...(request.by ? { by: request.by } : {}),
    })
    const offFence = gate.fence(() => `handing the engine over to '${request.to}'`)
    // cancels pass a closed gate: from here they are refused too, so nothing this leader sends or
    // records escapes the flush, and nothing reaches a venue once the lease is offered
    let handedOver = false
    const offCancels = gate.fenceCancels(() =>
      handedOver
        ? `handover ${handoverId} handed the engine to '${request.to}': send it to the new leader`
        : `handover ${handoverId} to '${request.to}' is under way: cancels are refused until it ends; send it again to whoever leads then`,
    )
    let unseal: (() => void) | undefined
    let restartWriters: (() => void) | undefined
    let releaseFacts: (() => void) | undefined
    const rollBack = (why?: string): HandoverOutcome => {
      unseal?.()
      offFence()
      offCancels()
      releaseFacts?.()
      restartWriters?.()
      apply({
        kind: 'step-ended',
        step: 'roll-back',
        ok: true,
        detail: stop.aborted ? 'the lease stays here, for the shutdown asked for' : 'the lease stays here; the gate is open again',
      })
      logger.warn({ handoverId, to: request.to }, 'handover rolled back')
      return { handoverId, outcome: 'rolled-back', reason: why ?? state.ended.find((e) => e.phase === 'failed')?.detail ?? 'the lease was not taken in time' }
    }
    const end = (step: HandoverCommand & { kind: 'step-ended' }) => {
      apply(step)
      return step.ok
    }
    for (const { step } of LEADER_STEPS) {
      const budget = stepBudget(state, step)
      const until = performance.now() + budget
      const stoppedBefore = stoppedBy()
      if (stoppedBefore !== undefined && step !== 'close-gate') {
        end({ kind: 'step-ended', step, ok: false, detail: stoppedBefore })
        return rollBack(stoppedBefore)
      }
      if (step === 'close-gate') {
        restartWriters = input.quiesceWriters()
        end({ kind: 'step-ended', step, ok: true, detail: 'no new order passes; market data stopped' })
      } else if (step === 'settle-in-flight') {
        while (input.submitsInFlight() > 0 && performance.now() < until && !stop.aborted) await sleep(1)
        const left = input.submitsInFlight()
        const why = stoppedBy()
        if (why !== undefined && left > 0) {
          end({ kind: 'step-ended', step, ok: false, detail: `${why} (${left} submits or cancels still unanswered)` })
          return rollBack(why)
        }
        if (
          !end({
            kind: 'step-ended',
            step,
            ok: left === 0,
            detail: left === 0 ? 'every submit and cancel answered' : `${left} submits or cancels unanswered after ${budget} ms`,
          })
        )
          return rollBack()
      } else if (step === 'flush-replication') {
        const flushed = await Promise.race([
          input.flush(budget).then(
            () => undefined,
            (e: unknown) => messageOf(e),
          ),
          stopped.then(() => stoppedBy()),
        ])
        const ok = stoppedBy() ?? flushed
        if (!end({ kind: 'step-ended', step, ok: ok === undefined, detail: ok ?? `the stream holds seq ${log.committedSeq}` })) return rollBack()
      } else {
        releaseFacts = input.holdVenueFacts()
        log.append({
          type: 'leadership.released',
          data: { engine: leadership.engine, instance: leadership.instance, epoch: leadership.epoch, reason: request.reason, to: request.to },
        })
        end({ kind: 'step-ended', step, ok: true, detail: `offered to '${request.to}'` })
        input.recordHandedOver({ handoverId, to: request.to })
        // nothing more is recorded while the offer stands: the standby takes the log as offered
        unseal = sealLog(log, (types) => new HandingOver(handoverId, request.to, types))
        // an open group (power durability) commits first, so the offered seq is the log's last
        await log.flush().catch(() => undefined)
        // the standby must hold everything up to here before it may take the lease
        const lastSeq = log.committedSeq
        const flushed = await Promise.race([
          input.flush(Math.max(1, until - performance.now())).then(
            () => true,
            () => false,
          ),
          stopped.then(() => false),
        ])
        await leadership.stop()
        const offered = flushed && !stop.aborted ? await offerLease(kv, leadership.lease(), request.to, handoverId, lastSeq).catch(() => undefined) : undefined
        // a standby that refuses says so in the key at the offer's revision: no need to wait the offer out
        const offer = { to: request.to, handoverId }
        const answer =
          offered === undefined ? undefined : await watchForTake(kv, leadership.engine, offer, Math.min(until - performance.now(), input.maxOfferMs), stop)
        let taken = answer?.taken === true
        let declined = answer?.taken === false ? answer.declined : undefined
        if (!taken && offered !== undefined) {
          try {
            leadership.resume(await withdrawOffer(kv, leadership.lease(), declined?.revision ?? offered))
          } catch {
            // the offer could not be taken back at its revision: the standby took it, or declined it, meanwhile
            const now = await readLease(kv, leadership.engine).catch(() => undefined)
            const late = offerAnswerIn(now, offer)
            taken = late?.taken === true
            if (!taken) {
              declined ??= late?.taken === false ? late.declined : undefined
              // a decline that came after the last look, or our own offer still there (the first try failed on the way)
              const at = declined?.revision ?? (now?.value.instance === leadership.instance ? now.revision : undefined)
              const back = at !== undefined ? await withdrawOffer(kv, leadership.lease(), at).catch(() => undefined) : undefined
              // not taken back: the first renewal writes over the offer still standing, or finds the lease taken and halts this run
              leadership.resume(back ?? leadership.lease())
            }
          }
        } else if (!taken) leadership.resume(leadership.lease())
        if (taken) {
          handedOver = true
          sealAfterHandover(log, request.to)
          logger.info({ handoverId, to: request.to }, 'handed over: this haltd stops without a shutdown; its orders stay for the new leader')
          // ended a little later, not at once: the new leader is opening its gate now, and this
          // daemon's teardown (venues, NATS, the log) would compete with it for the same cores
          setTimeout(input.afterHandover, AFTER_HANDOVER_MS)
          return { handoverId, outcome: 'handed-over' }
        }
        const why =
          stoppedBy() ??
          (offered === undefined
            ? 'the lease could not be offered'
            : declined
              ? `'${request.to}' declined the lease: ${declined.reason}`
              : `'${request.to}' did not take the lease within ${Math.round(Math.min(budget, input.maxOfferMs))} ms`)
        unseal()
        unseal = undefined
        apply({ kind: 'not-taken', detail: why })
        return rollBack(why)
      }
    }
    return rollBack()
  }

  return {
    get current() {
      return current
    },
    run(request) {
      const handoverId = randomUUID()
      const stop = new AbortController()
      const outcome = run(request, handoverId, stop.signal).then(
        (o) => {
          // a roll-back leaves this haltd leading as before; a handover that handed over stays, for a stop asked after it
          if (o.outcome === 'rolled-back' && current?.handoverId === handoverId) current = undefined
          return o
        },
        (e: unknown) => {
          if (current?.handoverId === handoverId) current = undefined
          throw e
        },
      )
      // a refused start (one under way already) throws before anything is recorded: nothing to wait for
      if (state.handoverId === handoverId) current = { handoverId, to: request.to, outcome, abort: (why) => stop.abort(why) }
      return outcome
    },
  }
}
