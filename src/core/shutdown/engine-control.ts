import { randomUUID } from 'node:crypto'
import type { EventData, EventInput } from '../../events/index.js'
import type { EngineCommandAction } from '../../events/shutdown.js'
import type { EventLog } from '../log/event-log.js'
import type { Clock } from '../../events/clock.js'

/**
 * The trading engine's process as the shutdown acts on it: freeze it before the cancels, stop it,
 * kill it when it does not stop, and tell whether it is gone. How (signals to a pid, an HTTP call,
 * a command) is the daemon's (`daemon/engine-process.ts`); this module decides the order of the
 * actions within the time a command has and records each action and its result.
 */
export type EngineAct = 'freeze' | 'thaw' | 'stop' | 'kill'

export type EngineControl = {
  /** How an action is carried out, for the record (`SIGSTOP to pid 4242`); undefined when it is not configured. */
  how(action: EngineAct | 'check'): string | undefined
  /** Carry the action out within `timeoutMs`; `gone` when there was no engine left to act on. Throws on failure. */
  act(action: EngineAct, timeoutMs: number): Promise<'done' | 'gone'>
  /** Whether the engine is gone as far as haltd can tell, and how it knows. Throws when it cannot tell. */
  check(timeoutMs: number): Promise<{ gone: boolean; evidence: string }>
  /** Whether the action takes no time (a signal that is not waited on): then it is taken even with no time left. */
  instant?(action: EngineAct): boolean
}

export type EngineCommandResult = { outcome: 'ok' | 'failed' | 'timed-out'; detail: Record<string, unknown> }

type Ctx = {
  log: EventLog
  clock: Clock
  engine: EngineControl
  shutdownId: string
  /** Aborted when the shutdown no longer waits for this command (escalated to emergency): the action out ends `abandoned`, and no other is taken. */
  abandoned?: AbortSignal
  /** The shutdown command this is (its actions' ids are made from it); a fresh id where there is none. */
  commandId?: string
}

/** A command under way: each action it takes gets the next id, unique in the log (`<command id>:engine:<n>`). */
type Acting = Ctx & { nextActionId(): string }

function acting(ctx: Ctx): Acting {
  // an id the log takes whatever the command's (an Id is at most 200 characters)
  const base = `${ctx.commandId !== undefined && ctx.commandId.length <= 180 ? ctx.commandId : randomUUID()}:engine`
  let n = 0
  return { ...ctx, nextActionId: () => `${base}:${++n}` }
}

/**
 * How long the graceful shutdown's step 4 waits for its stop of the engine, unless told otherwise: a
 * signal takes no time and a local engine's stop endpoint answers well within it, so only a hung
 * stop spends it, and the cancels go out then whatever the engine does.
 */
export const ENGINE_STOP_MS = 2_000

/** How often a wait for the engine to be gone looks again. */
const POLL_MS = 25
/** What a wait leaves unspent, so the command reports before its own limit cuts it off. */
const MARGIN_MS = 30

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** Carry out one `control-engine` command within `limitMs`. Never throws, never runs past the limit. */
export async function controlEngine(action: EngineCommandAction, graceMs: number | undefined, limitMs: number, given: Ctx): Promise<EngineCommandResult> {
  const ctx = acting(given)
  const until = ctx.clock.now() + limitMs - MARGIN_MS
  switch (action) {
    case 'freeze':
    case 'stop': {
      const r = await recorded(ctx, action, until)
      return r.result === 'done' || r.result === 'gone'
        ? { outcome: 'ok', detail: { action, result: r.result, how: r.how } }
        : { outcome: r.result === 'timed-out' ? 'timed-out' : 'failed', detail: { action, how: r.how, error: r.error } }
    }
    case 'confirm-gone': {
      const c = await checked(ctx, until, until)
      if (c.gone) return { outcome: 'ok', detail: { gone: true, evidence: c.evidence } }
      return {
        outcome: 'failed',
        detail: {
          gone: false,
          evidence: c.evidence,
          ...(c.told ? { seenRunning: true } : {}),
          error: c.told ? `the engine is still running (${c.evidence})` : `the engine was not seen gone: ${c.evidence}`,
        },
      }
    }
    case 'terminate':
      return terminate(graceMs ?? 2_000, until, ctx)
  }
}

/**
 * Stop, up to the grace for it to go, then kill: each within what is left, never past it. The time
 * is cut in quarters, and each action and each look has a share of its own, so an action that hangs
 * (a stop over HTTP that never answers, a kill command that never exits) spends its share and no
 * more: the look after it always runs, and the result says what that look found, never only that
 * the time ran out. The first look (gone already?) has at most a quarter; the stop ends by half
 * time where a kill follows, else by three quarters; the look after the stop has at least a quarter
 * (the grace where that is longer), until the kill's quarter; the kill leaves half of its quarter
 * to the last look.
 */
async function terminate(graceMs: number, until: number, ctx: Acting): Promise<EngineCommandResult> {
  const start = ctx.clock.now()
  const quarter = Math.floor((until - start) / 4)
  const canKill = ctx.engine.how('kill') !== undefined
  const beforeKill = canKill ? until - quarter : until
  const stopEnd = canKill ? start + 2 * quarter : until - quarter
  const first = await checked(ctx, start + quarter, start)
  if (first.gone) return { outcome: 'ok', detail: { gone: true, alreadyGone: true, evidence: first.evidence } }
  if (ctx.abandoned?.aborted) return abandonedResult(ctx.abandoned)
  // a stop that takes no time (a signal) is sent even when the first look overran its share: a
  // spawned look can block a loaded machine's event loop past a small budget's quarter
  const stop = await recorded(ctx, 'stop', stopEnd, ctx.engine.instant?.('stop') === true)
  if (ctx.abandoned?.aborted) return abandonedResult(ctx.abandoned)
  const graceEnd = Math.min(ctx.clock.now() + graceMs, beforeKill)
  let afterStop: Looked | undefined
  if (stop.result !== 'failed' || !canKill) {
    // looked at within the grace, and for at least a quarter whatever the stop spent
    const lookEnd = Math.min(beforeKill, Math.max(graceEnd, ctx.clock.now() + quarter))
    afterStop = await checked(ctx, lookEnd, graceEnd)
    if (afterStop.gone) return { outcome: 'ok', detail: { gone: true, stoppedBy: 'stop', evidence: afterStop.evidence } }
    if (ctx.abandoned?.aborted) return abandonedResult(ctx.abandoned)
  }
  if (!canKill) {
    // what is known: how the stop went, and what the look after it found (or that none was made)
    const stopWent =
      stop.result === 'failed' || stop.result === 'timed-out'
        ? `the stop ${stop.result === 'failed' ? 'failed' : 'had no answer in time'} (${stop.error})`
        : `the stop was ${stop.result === 'done' ? 'carried out' : 'not needed (no engine to act on)'}`
    return {
      outcome: 'failed',
      detail: { gone: false, ...seenRunning(afterStop), error: `${stopWent}; ${notGone(afterStop, 'after the stop')}; and no kill is configured` },
    }
  }
  // An engine the stop continued runs free unless the kill reaches it: a kill that takes no time (a
  // signal) is sent even when the looks before it overran their share (a look spawned on a loaded
  // machine can), so the terminate never ends on "no time left" with the engine running.
  const kill = await recorded(ctx, 'kill', until - Math.floor(quarter / 2), ctx.engine.instant?.('kill') === true)
  if (ctx.abandoned?.aborted) return abandonedResult(ctx.abandoned)
  const afterKill = await checked(ctx, until, until)
  if (afterKill.gone) return { outcome: 'ok', detail: { gone: true, stoppedBy: 'kill', evidence: afterKill.evidence } }
  const error = kill.error
    ? `kill ${kill.result === 'timed-out' ? 'had no answer in time' : 'failed'}: ${kill.error}; ${notGone(afterKill, 'after it')}`
    : `${notGone(afterKill, 'after the kill')}`
  return { outcome: 'failed', detail: { gone: false, ...seenRunning(afterKill), error } }
}

/** `seenRunning` in a result's detail only where the last look answered that the engine is there: what the audit may call running. */
const seenRunning = (look: Looked | undefined) => (look?.looked && look.told ? { seenRunning: true } : {})

const abandonedWhy = (signal: AbortSignal) => `abandoned: ${messageOf(signal.reason)}`

/** A command no longer waited for: what it says, should anyone still read its answer. */
function abandonedResult(signal: AbortSignal): EngineCommandResult {
  return { outcome: 'failed', detail: { error: abandonedWhy(signal) } }
}

/** What a look that did not see the engine gone found: the engine seen running, no answer either way, or no look made. */
function notGone(look: Looked | undefined, when: string): string {
  if (look === undefined || !look.looked) return `the engine was not seen gone ${when} (${look?.evidence ?? 'not looked at'})`
  if (look.told) return `the engine is still running ${when} (${look.evidence})`
  return `the engine was not seen gone ${when}: haltd could not tell (${look.evidence})`
}

/**
 * What a look at the engine found; `looked` false when no time was left for one, `told` false when
 * the look had no answer either way (it failed or was cut off): only a look that told says running.
 */
type Looked = { gone: boolean; evidence: string; looked: boolean; told: boolean }

type Recorded = { result: 'done' | 'gone' | 'failed' | 'timed-out' | 'abandoned'; how: string; error?: string }

/**
 * One action on the engine, recorded before it is taken and with what came of it: an action out when
 * its shutdown is escalated ends `abandoned` at once (it is no longer waited for), so the log never
 * holds an action started and not ended.
 */
async function recorded(ctx: Acting, action: EngineAct, until: number, evenWithNoTime = false): Promise<Recorded> {
  const how = ctx.engine.how(action) ?? 'not configured'
  // an action not started once its shutdown has moved on is not started at all
  if (ctx.abandoned?.aborted) return { result: 'abandoned', how, error: abandonedWhy(ctx.abandoned) }
  const started = ctx.clock.now()
  const actionId = ctx.nextActionId()
  append(ctx, { type: 'engine.action-requested', data: { actionId, action, how, shutdownId: ctx.shutdownId } })
  const end = endOnce(ctx, started, (r: Recorded) => ({ actionId, action, result: r.result, ...(r.error ? { error: r.error } : {}) }))
  const onAbandoned = inListener(() => end({ result: 'abandoned', how, error: abandonedWhy(ctx.abandoned!) }))
  ctx.abandoned?.addEventListener('abort', onAbandoned, { once: true })
  let result: Recorded
  const budget = until - started
  if (ctx.engine.how(action) === undefined) result = { result: 'failed', how, error: `no ${action} is configured for the engine` }
  else if (budget <= 0 && !evenWithNoTime) result = { result: 'timed-out', how, error: 'no time left' }
  else {
    const ms = Math.max(1, budget)
    try {
      result = { result: await withDeadline(ctx.engine.act(action, ms), ms, `${action} had no answer within ${ms} ms`, ctx.abandoned), how }
    } catch (e) {
      result = { result: e instanceof DeadlinePassed ? 'timed-out' : e instanceof Abandoned ? 'abandoned' : 'failed', how, error: messageOf(e) }
    }
  }
  ctx.abandoned?.removeEventListener('abort', onAbandoned)
  end(result)
  return result
}

/**
 * `f` as an abort listener: what it throws (the log taking no write, a full disk) is dropped. An
 * AbortSignal hands a listener's throw to the process as an uncaught exception, past the try of
 * whoever aborted, and that ends haltd in the middle of its emergency; the runner's own record of
 * the abandonment meets the same fault in its try, and the shutdown reports it there.
 */
function inListener(f: () => void): () => void {
  return () => {
    try {
      f()
    } catch {
      // reported by the runner, whose append of the same abandonment fails the same way
    }
  }
}

/**
 * The one `engine.action-completed` of an action: the first end wins. An action abandoned ends when
 * its shutdown is escalated, in the log right behind the escalation and before the emergency acts,
 * and whatever the action answers later is not recorded over it.
 */
function endOnce<R>(ctx: Ctx, started: number, data: (r: R) => Omit<EventData<'engine.action-completed'>, 'durationMs' | 'shutdownId'>): (r: R) => void {
  let ended = false
  return (r) => {
    if (ended) return
    ended = true
    append(ctx, { type: 'engine.action-completed', data: { ...data(r), durationMs: Math.max(0, ctx.clock.now() - started), shutdownId: ctx.shutdownId } })
  }
}

/**
 * Look whether the engine is gone, again every few milliseconds until it is or `waitUntil` comes
 * (each look within `until`), and record the last answer. A look that fails, or has no answer by
 * `until`, counts as not gone.
 */
async function checked(ctx: Acting, until: number, waitUntil: number): Promise<Looked> {
  if (ctx.abandoned?.aborted) return { gone: false, evidence: abandonedWhy(ctx.abandoned), looked: false, told: false }
  const started = ctx.clock.now()
  const actionId = ctx.nextActionId()
  append(ctx, {
    type: 'engine.action-requested',
    data: { actionId, action: 'check', how: ctx.engine.how('check') ?? 'not configured', shutdownId: ctx.shutdownId },
  })
  let last: Looked = { gone: false, evidence: 'no time was left to look', looked: false, told: false }
  // a look that never happened is recorded as such, never as one that saw the engine running
  const end = endOnce(ctx, started, (l: Looked & { abandoned?: boolean }) =>
    l.abandoned
      ? { actionId, action: 'check', result: 'abandoned', error: l.evidence }
      : !l.looked
        ? { actionId, action: 'check', result: 'timed-out', error: l.evidence }
        : { actionId, action: 'check', result: l.gone ? 'gone' : 'done', gone: l.gone, evidence: l.evidence },
  )
  const onAbandoned = inListener(() => end({ gone: false, evidence: abandonedWhy(ctx.abandoned!), looked: false, told: false, abandoned: true }))
  ctx.abandoned?.addEventListener('abort', onAbandoned, { once: true })
  try {
    for (;;) {
      const budget = until - ctx.clock.now()
      if (budget <= 0 || ctx.abandoned?.aborted) break
      try {
        last = {
          ...(await withDeadline(ctx.engine.check(budget), budget, `the check had no answer within ${budget} ms`, ctx.abandoned)),
          looked: true,
          told: true,
        }
      } catch (e) {
        if (e instanceof Abandoned) break
        last = { gone: false, evidence: `could not tell: ${messageOf(e)}`, looked: true, told: false }
      }
      if (last.gone || ctx.clock.now() + POLL_MS > waitUntil) break
      await sleep(POLL_MS)
    }
  } finally {
    ctx.abandoned?.removeEventListener('abort', onAbandoned)
  }
  if (ctx.abandoned?.aborted) return { gone: false, evidence: abandonedWhy(ctx.abandoned), looked: false, told: false }
  end(last)
  return last
}

class DeadlinePassed extends Error {}
class Abandoned extends Error {}

/** `p`, or a rejection at `ms` (DeadlinePassed) or when `abandoned` aborts (Abandoned), whichever comes first. */
function withDeadline<T>(p: Promise<T>, ms: number, message: string, abandoned?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlinePassed(message)), ms)
    if (abandoned) {
      onAbort = () => reject(new Abandoned(abandonedWhy(abandoned)))
      if (abandoned.aborted) onAbort()
      else abandoned.addEventListener('abort', onAbort, { once: true })
    }
  })
  p.catch(() => {}) // a late failure after the deadline is not waited for
  return Promise.race([p, deadline]).finally(() => {
    clearTimeout(timer)
    if (onAbort) abandoned?.removeEventListener('abort', onAbort)
  })
}

function append(ctx: Ctx, event: EventInput): void {
  ctx.log.append(event)
}
