import pTimeout, { TimeoutError } from 'p-timeout'
import type { EventData, EventInput } from '../../events/index.js'
import type { CancelAllResult, CancelScope, ExchangeGateway, VenueOrder } from '../../exchanges/gateway.js'
import { pool } from '../execution/pool.js'
import { observeVenue, orderTotalOf } from '../execution/venue-recorder.js'
import { anchorOf, formatAnchor } from '../log/anchor.js'
import { CheckpointFailed, verifyCheckpoint, type CheckpointContent } from './checkpoint.js'
import { openHandles } from './handles.js'
import { controlEngine } from './engine-control.js'
import { awaitSatisfied } from './graceful.js'
import { listAfterCancels, settleOrders, toSettle, UNCONFIRMED } from './settle.js'
import type { ShutdownPorts } from './ports.js'
import { shutdownStatus, type ShutdownState } from './procedure.js'
import { buildShutdownReport } from './report.js'
import type { CommandOutcome, ShutdownCommand, ShutdownWorld, WorldOrder } from './types.js'

/**
 * Carries out one decided command through the ports and says what came back. Never throws:
 * every failure becomes an outcome with a detail a person can act on. Facts the venues return
 * (cancels confirmed, fills, observations) are appended to the log here as they arrive.
 */
export type Result = { outcome: CommandOutcome; detail?: Record<string, unknown> }

export type ExecuteContext = {
  ports: ShutdownPorts
  shutdownId: string
  /** The command carried out (`shutdown.command-issued`'s id), for what it records under its own ids. */
  commandId?: string
  state: ShutdownState
  /** Milliseconds this command may take: the smaller of its step budget and the deadline. */
  limitMs: number
  /** Why the limit is what it is, for the timed-out detail. */
  limitBy: 'step budget' | 'deadline'
  /** Aborted when the runner no longer waits for the command (its graceful shutdown was escalated). */
  abandoned?: AbortSignal
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))
const ORIGIN = 'shutdown' as const

/** Calls that leave the process: they may never answer, so they get the deadline, not only the budget. */
export const VENUE_COMMANDS: ReadonlySet<ShutdownCommand['kind']> = new Set([
  'cancel-order',
  'cancel-all',
  'settle-orders',
  'arm-dead-mans-switch',
  'flatten',
  'await-orders',
  'observe-venue',
  'close-venue',
  'control-engine',
])

export async function execute(command: ShutdownCommand, ctx: ExecuteContext): Promise<Result> {
  // a wait, or the graceful stop of the engine, has a bound of its own within the step's
  const own = command.kind === 'await-orders' || command.kind === 'control-engine' ? command.timeoutMs : undefined
  const limit = own === undefined ? ctx.limitMs : Math.min(ctx.limitMs, own)
  const by = own !== undefined && own <= ctx.limitMs ? 'its own timeout' : ctx.limitBy
  if (limit <= 0) return { outcome: 'timed-out', detail: { error: `no time left (${by} spent)` } }
  const timer: { stop?: () => void } = {}
  try {
    // with power durability the projections hold an append once its group commits: a command reads
    // the world after every event appended before it
    if (ctx.ports.log.uncommitted) await ctx.ports.log.flush()
    return await pTimeout(run(command, ctx, limit, timer), { milliseconds: limit, message: `${by} of ${limit} ms spent` })
  } catch (e) {
    if (e instanceof TimeoutError) return { outcome: 'timed-out', detail: { error: e.message, ...(await lateDetail(command, ctx)) } }
    return { outcome: 'failed', detail: { error: messageOf(e) } }
  } finally {
    timer.stop?.()
  }
}

/** What a timed-out command leaves behind, recorded so nothing is silently dropped. */
async function lateDetail(command: ShutdownCommand, ctx: ExecuteContext): Promise<Record<string, unknown>> {
  if (command.kind === 'cancel-all') return { unconfirmed: markUnconfirmed(ctx, command.venue, `cancel-all at ${command.venue} had no answer in time`) }
  if (command.kind === 'await-orders') return { remaining: ctx.ports.world().orders.length }
  return {}
}

function markUnconfirmed(ctx: ExecuteContext, venue: string, reason: string, skip?: ReadonlySet<string>): number {
  const events: EventInput[] = []
  for (const o of ctx.ports.world().orders) {
    if (o.venue !== venue || skip?.has(o.clientOrderId) || o.status === 'cancel-unconfirmed') continue
    events.push({ type: 'order.cancel-unconfirmed', data: { venue, clientOrderId: o.clientOrderId, reason } })
  }
  appendInChunks(ctx, events)
  return events.length
}

function appendInChunks(ctx: ExecuteContext, events: EventInput[]): void {
  for (let i = 0; i < events.length; i += 2000) ctx.ports.log.appendBatch(events.slice(i, i + 2000))
}

function gatewayOf(ctx: ExecuteContext, venue: string): ExchangeGateway {
  const g = ctx.ports.venues.get(venue)
  if (!g) throw new Error(`no gateway for venue '${venue}'`)
  return g
}

const reasonOf = (ctx: ExecuteContext) => `${ctx.state.procedure} shutdown ${ctx.shutdownId}: ${ctx.state.escalation?.reason ?? ctx.state.reason}`

async function run(command: ShutdownCommand, ctx: ExecuteContext, limit: number, timer: { stop?: () => void }): Promise<Result> {
  const { ports } = ctx
  switch (command.kind) {
    case 'notify': {
      if (!ports.notifier) return { outcome: 'ok', detail: { sent: false, note: 'no notifier configured' } }
      const outcomes = await ports.notifier.notify({
        topic: command.topic,
        text: command.message,
        severity: command.severity,
        // the log's head as the message leaves: an anchor the receiver keeps outside the log
        fields: { shutdownId: ctx.shutdownId, status: command.status ?? shutdownStatus(ctx.state) ?? 'unknown', logHead: formatAnchor(anchorOf(ports.log)) },
      })
      const failed = outcomes.filter((o) => !o.ok)
      const detail = { sinks: outcomes.map((o) => ({ sink: o.sink, ok: o.ok, ...(o.error ? { error: o.error } : {}) })) }
      return failed.length === 0
        ? { outcome: 'ok', detail }
        : { outcome: 'failed', detail: { ...detail, error: failed.map((f) => `${f.sink}: ${f.error}`).join('; ') } }
    }
    case 'reduce-limits': {
      if (!ports.strategies) return { outcome: 'ok', detail: { note: 'no strategies in this process' } }
      const limits = ports.strategies.reduceLimits(command.pct, reasonOf(ctx), ORIGIN)
      return { outcome: 'ok', detail: { pct: command.pct, strategies: Object.keys((limits ?? {}) as object).length } }
    }
    case 'disable-strategies': {
      if (!ports.strategies) return { outcome: 'ok', detail: { note: 'no strategies in this process' } }
      const disabled = ports.strategies.disableAll(reasonOf(ctx), ORIGIN)
      return { outcome: 'ok', detail: { disabled: Array.isArray(disabled) ? disabled : [] } }
    }
    case 'close-gate':
      ports.gate.halt(reasonOf(ctx))
      return { outcome: 'ok', detail: { halted: ports.gate.halted } }
    case 'cancel-order': {
      const started = ports.clock.now()
      const answer = await ports.router.cancelAwaitingList(
        {
          venue: command.venue,
          clientOrderId: command.clientOrderId,
          symbol: command.symbol,
          ...(command.venueOrderId ? { venueOrderId: command.venueOrderId } : {}),
        },
        { reason: reasonOf(ctx), origin: ORIGIN, timeoutMs: Math.max(1, Math.floor(limit / 2)) },
      )
      let result: typeof answer | 'listed-open' = answer
      let fills: FinalFills | undefined
      if (answer === 'answered-canceled') {
        // "canceled" holds only if the venue's list, read after the answer, no longer shows the order
        const left = Math.max(1, limit - (ports.clock.now() - started) - CANCEL_MARGIN_MS)
        const confirmed = await confirmAnswers(command.venue, [command.clientOrderId], ctx, left)
        result = confirmed.gone.has(command.clientOrderId) ? 'canceled' : 'listed-open'
        fills = confirmed.fills
      }
      // 'unconfirmed' was recorded as such by the router: never taken for canceled.
      if (result === 'unconfirmed') return { outcome: 'timed-out', detail: { result } }
      if (result === 'listed-open') return { outcome: 'failed', detail: { result, error: listedOpen(command.venue) } }
      return { outcome: result === 'rejected' || result === 'open' ? 'failed' : 'ok', detail: { result, ...fills } }
    }
    case 'cancel-all':
      return cancelAllRound(command.venue, command.scope, ctx, limit)
    case 'settle-orders':
      return settleAt(command.venue, ctx, limit)
    case 'arm-dead-mans-switch': {
      // the venue's switch is the leading instance's, as its cancels are
      const fenced = ports.gate.cancelRefusal(ORIGIN)
      if (fenced !== undefined) return { outcome: 'failed', detail: { error: `not armed: ${fenced}` } }
      const armed = await gatewayOf(ctx, command.venue).armDeadMansSwitch(command.timeoutMs)
      if (!armed.armed) return { outcome: 'failed', detail: { error: `${command.venue} has no dead man's switch` } }
      const method = armed.method ?? 'unknown'
      ports.log.append({ type: 'venue.dead-mans-switch-armed', data: { venue: command.venue, timeoutMs: command.timeoutMs, method } })
      return { outcome: 'ok', detail: { method } }
    }
    case 'flatten':
      return flatten(command, ctx, limit)
    case 'await-orders':
      return awaitOrders(command.which, ctx, timer)
    case 'observe-venue': {
      const what = command.what ? { openOrders: command.what.includes('open-orders'), positions: command.what.includes('positions') } : {}
      const observing = observeVenue(ports.log, gatewayOf(ctx, command.venue), what)
      if (command.timeoutMs === undefined || command.timeoutMs >= limit) {
        await observing
        return { outcome: 'ok' }
      }
      observing.catch(() => {}) // a late answer after its bound is not waited for
      try {
        await pTimeout(observing, { milliseconds: command.timeoutMs })
        return { outcome: 'ok' }
      } catch (e) {
        if (e instanceof TimeoutError) return { outcome: 'timed-out', detail: { error: `${command.venue} did not answer within ${command.timeoutMs} ms` } }
        throw e
      }
    }
    case 'write-checkpoint':
      return writeCheckpoint(command.verify, ctx)
    case 'stop-market-data': {
      const world = ports.world()
      if (ports.marketData) await ports.marketData.stop()
      for (const [venue, symbols] of Object.entries(world.marketData)) {
        if (symbols.length) ports.log.append({ type: 'marketdata.unsubscribed', data: { venue, symbols: [...symbols] } })
      }
      return { outcome: 'ok', detail: { feeds: Object.keys(world.marketData).length, port: ports.marketData !== undefined } }
    }
    case 'close-venue': {
      const deadMansSwitch = ports.deadMansSwitches ? await releaseDeadMansSwitch(command.venue, ctx) : undefined
      await gatewayOf(ctx, command.venue).close()
      ports.log.append({ type: 'venue.disconnected', data: { venue: command.venue, reason: reasonOf(ctx) } })
      return { outcome: 'ok', ...(deadMansSwitch ? { detail: { deadMansSwitch } } : {}) }
    }
    case 'stop-service': {
      const stop = ports.services?.[command.service]
      if (!stop) return { outcome: 'ok', detail: { stopped: false, note: 'not running in this process' } }
      await stop()
      return { outcome: 'ok', detail: { stopped: true } }
    }
    case 'health-check':
      return healthCheck(ctx, limit)
    case 'control-engine': {
      if (!ports.engine) return { outcome: 'failed', detail: { error: 'no engine control in this process' } }
      return controlEngine(command.action, command.graceMs, limit, {
        log: ports.log,
        clock: ports.clock,
        engine: ports.engine,
        shutdownId: ctx.shutdownId,
        ...(ctx.commandId ? { commandId: ctx.commandId } : {}),
        ...(ctx.abandoned ? { abandoned: ctx.abandoned } : {}),
      })
    }
    case 'report': {
      const report = { ...buildShutdownReport(ctx.state, ports.world()), head: anchorOf(ports.log) }
      ports.onReport?.(report)
      return {
        outcome: 'ok',
        detail: {
          positions: report.positions.length,
          openOrders: report.openOrders.count,
          cancelUnconfirmed: report.cancelUnconfirmedCount,
          reconciliationOk: report.reconciliation.ok,
        },
      }
    }
  }
}

/**
 * One cancel-all round at a venue, then no re-check: every order of ours still live there that
 * the venue did not confirm canceled is recorded `cancel-unconfirmed` before the round ends,
 * whichever way the round went (a per-order cancel the venue rejected or answered `open`, an
 * order it says filled whose fills are not in the log yet, a missing gateway), so a shutdown
 * never ends with an order silently left in flight.
 */
async function cancelAllRound(venue: string, scope: CancelScope, ctx: ExecuteContext, limit: number): Promise<Result> {
  let result: Result
  try {
    result = await cancelAll(venue, scope, ctx, limit)
  } catch (e) {
    result = { outcome: 'failed', detail: { error: messageOf(e) } }
  }
  const left = markUnconfirmed(ctx, venue, `no cancel confirmation from ${venue} after its cancel-all round`)
  if (left === 0) return result
  const detail = result.detail ?? {}
  const unconfirmed = (typeof detail.unconfirmed === 'number' ? detail.unconfirmed : 0) + left
  return {
    outcome: 'failed',
    detail: { ...detail, unconfirmed, error: typeof detail.error === 'string' ? detail.error : `${unconfirmed} order(s) not confirmed canceled` },
  }
}

/**
 * One venue's orders, all at once: the venue's cancel-all where it has a mass or batch cancel,
 * our own per-order cancels (a few in flight at a time, their answers checked against the venue's
 * list read after them: `confirmAnswers`) where it has neither. With `account`
 * scope the gateway takes everything on the account (its mass cancel, or each open order it
 * lists). Only what the venue confirmed is recorded canceled; the rest is cancel-unconfirmed.
 */
async function cancelAll(venue: string, scope: CancelScope, ctx: ExecuteContext, limit: number): Promise<Result> {
  const { ports } = ctx
  const gateway = gatewayOf(ctx, venue)
  const reason = reasonOf(ctx)
  // a fence on cancels (this instance no longer leads its engine) holds the venue's cancel-all too
  const refused = ports.gate.cancelRefusal(ORIGIN)
  if (refused !== undefined) return { outcome: 'failed', detail: { error: `not sent: ${refused}` } }
  ports.log.append({ type: 'venue.cancel-all-requested', data: { venue, scope, reason } })
  const caps = gateway.capabilities
  if (scope === 'own' && caps.massCancel === 'none' && caps.batchCancel === 0) return cancelEachKnown(venue, ctx, limit, reason)
  const started = ports.clock.now()
  let result: CancelAllResult
  try {
    // the gateway's own retries (a book of the account asked again) end before this wait does
    result = await withinMs(
      gateway.cancelAll({ scope }, { timeoutMs: Math.max(1, Math.floor(limit / 2) - Math.max(CANCEL_MARGIN_MS, Math.floor(limit / 20))) }),
      Math.floor(limit / 2),
      `${venue}'s cancel-all had no answer within ${Math.floor(limit / 2)} ms`,
    )
  } catch (e) {
    // The cancel-all (or the list it starts from) failed or hangs: the orders haltd knows there are
    // cancelled by their ids, one by one, with the time left, rather than left to the deadline.
    const left = Math.max(1, limit - (ports.clock.now() - started))
    const each = await cancelEachKnown(venue, ctx, left, reason)
    const error = `cancel-all failed: ${messageOf(e)}; cancelled one by one instead`
    return {
      outcome: 'failed',
      detail: { ...each.detail, method: 'per-order after cancel-all failed', error: each.outcome === 'ok' ? error : `${error}: ${each.detail?.error}` },
    }
  }
  const confirmedBy = result.method === 'mass-cancel' ? 'mass-cancel' : 'ack'
  const canceled = new Set(result.canceled)
  const failed = new Map(result.failed.map((f) => [f.id, f.reason]))
  // a book of the account whose cancel-all failed: its orders are unknown, whatever the others did
  const failedBooks = (result.books ?? []).filter((b) => b.outcome === 'failed')
  const booksWord = failedBooks.map((b) => `${venue}'s ${b.book} book: ${b.detail ?? 'failed'}`).join('; ')
  // no clear answer from the venue is not a confirmation: these stay unconfirmed until looked up
  for (const id of result.unanswered ?? []) failed.set(id, `${venue} gave no answer of its own for it in the batch cancel`)
  const events: EventInput[] = []
  const live = ports.world().orders.filter((o) => o.venue === venue)
  const left: WorldOrder[] = []
  const gone: WorldOrder[] = []
  for (const o of live) {
    if (canceled.has(o.clientOrderId) || (o.venueOrderId !== undefined && canceled.has(o.venueOrderId))) {
      events.push({ type: 'order.canceled', data: { venue, clientOrderId: o.clientOrderId, confirmedBy } })
      gone.push(o)
    } else {
      left.push(o)
    }
  }
  appendInChunks(ctx, events)
  // the orders haltd knows in a book whose cancel-all failed are cancelled by their ids with half
  // the time left, as after a failed cancel-all: that book's list or cancel-all failing need not
  // mean its cancels do
  const failedBookNames = new Set(failedBooks.map((b) => b.book))
  const byId = new Set(failedBookNames.size === 0 ? [] : left.filter((o) => failedBookNames.has(gateway.bookOf?.(o.symbol) ?? '')).map((o) => o.clientOrderId))
  const perOrder =
    byId.size === 0 ? undefined : await cancelEachKnown(venue, ctx, Math.max(1, Math.floor((limit - (ports.clock.now() - started)) / 2)), reason, byId)
  const fills = await learnFinalFills(venue, gone, ctx, Math.floor((limit - (ports.clock.now() - started)) / 2))
  if (ports.log.uncommitted) await ports.log.flush()
  // Orders the venue did not confirm: a fill that beat the cancel lands on its own; the rest is unconfirmed.
  const stillLive = new Map(
    ports
      .world()
      .orders.filter((o) => o.venue === venue)
      .map((o) => [o.clientOrderId, o.status]),
  )
  // one cancelled by id and left unconfirmed by its cancel already says why; the others live still
  // are named unconfirmed with their book's failure
  const unconfirmed = left.filter((o) => stillLive.has(o.clientOrderId) && !(byId.has(o.clientOrderId) && stillLive.get(o.clientOrderId) === UNCONFIRMED))
  appendInChunks(
    ctx,
    unconfirmed.map((o) => ({
      type: 'order.cancel-unconfirmed',
      data: {
        venue,
        clientOrderId: o.clientOrderId,
        reason:
          failed.get(o.clientOrderId) ??
          (o.venueOrderId !== undefined ? failed.get(o.venueOrderId) : undefined) ??
          `not in ${venue}'s cancel-all answer${booksWord === '' ? '' : ` (${booksWord})`}`,
      },
    })),
  )
  const detail = {
    scope: result.scope,
    method: result.method,
    canceled: result.canceled.length,
    failed: result.failed.length,
    ...(result.unanswered?.length ? { unanswered: result.unanswered.length } : {}),
    unconfirmed: unconfirmed.length,
    ...(result.books ? { books: result.books } : {}),
    ...(perOrder ? { inFailedBooks: perOrder.detail } : {}),
    ...fills,
  }
  const errors = [
    ...(unconfirmed.length > 0 ? [`${unconfirmed.length} order(s) not confirmed canceled`] : []),
    ...(perOrder?.outcome === 'failed' ? [`in the failed book(s), cancelled by id: ${String(perOrder.detail?.error ?? 'not all confirmed')}`] : []),
    ...(failedBooks.length > 0 ? [`the cancel-all of ${failedBooks.length} book(s) failed, their orders unknown: ${booksWord}`] : []),
  ]
  return errors.length === 0 ? { outcome: 'ok', detail } : { outcome: 'failed', detail: { ...detail, error: errors.join('; ') } }
}

/** What a cancel leaves of its command's time, to be answered and recorded in. */
const CANCEL_MARGIN_MS = 50

/**
 * Each order haltd knows live at `venue`, cancelled by its ids through the router (a few in flight
 * at a time); those the venue answered canceled are canceled only as its list read after all the
 * answers confirms (`confirmAnswers`).
 */
async function cancelEachKnown(venue: string, ctx: ExecuteContext, limit: number, reason: string, only?: ReadonlySet<string>): Promise<Result> {
  const { ports } = ctx
  const mine = ports.world().orders.filter((o) => o.venue === venue && (only === undefined || only.has(o.clientOrderId)))
  // every cancel ends before the command's limit: one that could not is not sent, and its order
  // is left for the round to name unconfirmed rather than to a cancel still out when time is up
  const until = ports.clock.now() + limit - CANCEL_MARGIN_MS
  const answers = await pool(mine, ports.cancelConcurrency ?? 64, (o) => {
    const left = until - ports.clock.now()
    if (left < CANCEL_MARGIN_MS) return Promise.resolve('not sent: no time left' as const)
    return ports.router.cancelAwaitingList(
      { venue, clientOrderId: o.clientOrderId, symbol: o.symbol, ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}) },
      { reason, origin: ORIGIN, timeoutMs: Math.max(1, Math.min(Math.floor(limit / 2), left)) },
    )
  })
  // the answers "canceled" hold only for the orders the venue's list, read after them all, no longer shows
  const answered = mine.filter((_, i) => answers[i] === 'answered-canceled').map((o) => o.clientOrderId)
  const { gone: confirmed, fills } =
    answered.length > 0 ? await confirmAnswers(venue, answered, ctx, Math.max(1, until - ports.clock.now())) : { gone: new Set<string>(), fills: undefined }
  const outcomes = answers.map((r, i) => (r === 'answered-canceled' ? (confirmed.has(mine[i]!.clientOrderId) ? 'canceled' : 'listed-open') : r))
  const counts: Record<string, number> = {}
  for (const r of outcomes) counts[r] = (counts[r] ?? 0) + 1
  const bad = outcomes.filter((r) => r !== 'canceled' && r !== 'filled').length
  return {
    outcome: bad === 0 ? 'ok' : 'failed',
    detail: { method: 'per-order', ...counts, ...fills, ...(bad ? { error: `${bad} order(s) not confirmed canceled` } : {}) },
  }
}

/** `p`, or a rejection naming `what` once `ms` have passed (`p` runs on; a late rejection of it is dropped). */
function withinMs<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), Math.max(1, ms))
  })
  p.catch(() => undefined)
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

/**
 * Settle by observation the orders still live at a venue whose cancel it did not confirm (see
 * settle.ts), and cancel again those the venue shows live. The venue's answers get half the time
 * left, as a cancel does, so a hung venue leaves time for the cancels and another round.
 */
async function settleAt(venue: string, ctx: ExecuteContext, limit: number): Promise<Result> {
  const { ports } = ctx
  const started = ports.clock.now()
  const orders = toSettle(ports.world().orders, venue)
  const { summary, events } = await settleOrders({
    log: ports.log,
    gateway: gatewayOf(ctx, venue),
    orders,
    concurrency: ports.cancelConcurrency ?? 64,
    timeoutMs: Math.max(1, Math.floor(limit / 2)),
    since: ctx.state.steps[0]?.startedSeq ?? 1,
  })
  appendInChunks(ctx, events)
  const left = Math.max(1, limit - (ports.clock.now() - started))
  // The venue listed these open after a cancel: its "canceled" again is not proof, its list is.
  const answers = await pool(summary.open, ports.cancelConcurrency ?? 64, (o) =>
    ports.router.cancelAwaitingList(
      { venue, clientOrderId: o.clientOrderId, symbol: o.symbol, ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}) },
      { reason: `${reasonOf(ctx)} (still live at the venue after the cancel)`, origin: ORIGIN, timeoutMs: Math.max(1, Math.floor(left / 3)) },
    ),
  )
  const answered = summary.open.filter((_, i) => answers[i] === 'answered-canceled')
  const { gone: confirmed, fillUnknown: unknownAgain } = await confirmByList(venue, answered, ctx, Math.max(1, limit - (ports.clock.now() - started)))
  const again = answers.map((r, i) => (r === 'answered-canceled' ? (confirmed.has(summary.open[i]!.clientOrderId) ? 'canceled' : 'unconfirmed') : r))
  const notCanceled = again.filter((r) => r !== 'canceled' && r !== 'filled').length
  const fillUnknown = [...summary.fillUnknown, ...unknownAgain]
  const detail = {
    orders: orders.length,
    settled: summary.settled,
    ...(fillUnknown.length > 0 ? { fillUnknown: fillUnknown.slice(0, FILL_UNKNOWN_LISTED), fillUnknownCount: fillUnknown.length } : {}),
    ...(summary.open.length > 0 ? { canceledAgain: summary.open.length, notCanceled } : {}),
    unsettled: summary.unsettled.length,
    ...(summary.list ? { list: summary.list } : {}),
    ...(summary.listError ? { listError: summary.listError } : {}),
    ...(summary.unsettled.length > 0 ? { reasons: summary.unsettled.slice(0, 20) } : {}),
  }
  if (summary.unsettled.length === 0 && notCanceled === 0) return { outcome: 'ok', detail }
  const error = [
    summary.unsettled.length > 0 ? `${summary.unsettled.length} order(s) not shown gone by ${venue} (${summary.unsettled[0]!.reason})` : '',
    notCanceled > 0 ? `${notCanceled} order(s) still live at ${venue} and not confirmed canceled when cancelled again` : '',
  ]
    .filter(Boolean)
    .join('; ')
  return { outcome: 'failed', detail: { ...detail, error } }
}

const listedOpen = (venue: string) => `${venue} answered the cancel canceled and still lists it open`

/** Of the orders answered at `venue`, those still live now and the ids of the rest: the venue's own stream may have confirmed some meanwhile. */
function stillLive(venue: string, answered: readonly string[], ctx: ExecuteContext): { still: WorldOrder[]; gone: Set<string> } {
  const asked = new Set(answered)
  const still = ctx.ports.world().orders.filter((o) => o.venue === venue && asked.has(o.clientOrderId))
  const live = new Set(still.map((o) => o.clientOrderId))
  return { still, gone: new Set(answered.filter((id) => !live.has(id))) }
}

/**
 * Orders whose cancel the venue answered canceled (`router.cancelAwaitingList`): the answer is a
 * confirmation only if the venue's open-order list, asked for once the answers are in
 * (`listAfterCancels`, fresh; recorded, its seq the evidence), no longer holds the order, as the gateway's cancel-all does (`notStillListed`). One it still lists
 * is recorded cancel-unconfirmed, to be settled by observation and cancelled again; where no list
 * can be read, nothing contradicts the answer and it stands. Returns the client order ids no
 * longer live.
 */
async function confirmAnswers(
  venue: string,
  answered: readonly string[],
  ctx: ExecuteContext,
  limit: number,
): Promise<{ gone: Set<string>; fills: FinalFills | undefined }> {
  const { ports } = ctx
  const started = ports.clock.now()
  const { still, gone } = stillLive(venue, answered, ctx)
  if (still.length === 0) return { gone, fills: undefined }
  // a list asked for once these answers are in: one recorded earlier may predate the venue's work on them
  const seen = await listAfterCancels({
    log: ports.log,
    gateway: gatewayOf(ctx, venue),
    orders: still,
    timeoutMs: limit,
    since: ctx.state.steps[0]?.startedSeq ?? 1,
    fresh: true,
  })
  const events: EventInput[] = []
  const canceled: WorldOrder[] = []
  for (const o of still) {
    const key = { venue, clientOrderId: o.clientOrderId }
    if (seen.list && seen.listed(o)) {
      events.push({ type: 'order.cancel-unconfirmed', data: { ...key, reason: `${listedOpen(venue)} (observation at seq ${seen.list.seq})` } })
      continue
    }
    events.push({ type: 'order.canceled', data: { ...key, confirmedBy: 'ack' } })
    gone.add(o.clientOrderId)
    canceled.push(o)
  }
  appendInChunks(ctx, events)
  const fills = await learnFinalFills(venue, canceled, ctx, limit - (ports.clock.now() - started) - CANCEL_MARGIN_MS)
  return { gone, fills }
}

/** What the lookups after cancels answered without fills learned: fills recorded, and the orders whose final fill stays unknown. */
export type FinalFills = { lookedUp: number; fillsLearned: number; fillUnknown?: string[]; fillUnknownCount?: number }

/** Lookups of canceled orders in flight at once. */
const LOOKUPS_AT_ONCE = 8

/** How many orders whose final fill is unknown a command's detail names (the count stays exact). */
const FILL_UNKNOWN_LISTED = 200

/**
 * Orders a venue confirmed canceled with an answer that says nothing of what they had filled
 * (`cancelAnswersOmitFills`: OKX, Bybit): a partial fill that beat the cancel would otherwise stay
 * unbooked, positions and P&L short of it. Each is looked up by id within `ms` (a few at a time),
 * and a filled total beyond what the log has is recorded as an `order-total` fill, once (its trade
 * id is the total's, and the order's trades count against it). An order no lookup answered for in
 * time is named in the result: its final fill is unknown, never taken for none.
 */
async function learnFinalFills(venue: string, orders: readonly WorldOrder[], ctx: ExecuteContext, ms: number): Promise<FinalFills | undefined> {
  const { ports } = ctx
  const gateway = gatewayOf(ctx, venue)
  if (!gateway.capabilities.cancelAnswersOmitFills || orders.length === 0) return undefined
  // the orders are gone at the venue already: an emergency asks no longer than it waits for the
  // venue's word after its cancels, so that its observation, checkpoint and exit are not held up
  const bound = ctx.state.procedure === 'emergency' ? Math.min(ms, ctx.state.options.emergency.observeTimeoutMs) : ms
  const until = ports.clock.now() + Math.max(0, bound)
  // a few at a time: a lookup still out at the bound keeps its place in the venue's rate limit
  const answers = await pool(orders, Math.min(LOOKUPS_AT_ONCE, ports.cancelConcurrency ?? LOOKUPS_AT_ONCE), async (o): Promise<VenueOrder | string> => {
    const left = until - ports.clock.now()
    if (left < 1) return 'no time left to ask'
    try {
      const found = await withinMs(
        gateway.fetchOrder({ clientOrderId: o.clientOrderId, symbol: o.symbol, ...(o.venueOrderId ? { venueOrderId: o.venueOrderId } : {}) }),
        left,
        `no answer within ${left} ms`,
      )
      return found ?? 'the venue does not know the order'
    } catch (e) {
      return messageOf(e)
    }
  })
  let fillsLearned = 0
  const unknown: string[] = []
  orders.forEach((o, i) => {
    const found = answers[i]!
    if (typeof found === 'string' || found.filledUnknown) unknown.push(o.clientOrderId)
    else if (ports.router.recordTotal(venue, orderTotalOf(o.clientOrderId, found))) fillsLearned++
  })
  return {
    lookedUp: orders.length,
    fillsLearned,
    ...(unknown.length > 0 ? { fillUnknown: unknown.slice(0, FILL_UNKNOWN_LISTED), fillUnknownCount: unknown.length } : {}),
  }
}

/**
 * Orders the venue answered canceled after it had listed them open past an earlier cancel: settled
 * by observation again (`settleOrders`: a lookup, and an open-order list recorded after these
 * cancels, its seq the evidence), not on the answer. One the venue still shows live, or that
 * nothing settles, is recorded cancel-unconfirmed saying why. Returns the client order ids no
 * longer live.
 */
async function confirmByList(
  venue: string,
  answered: readonly WorldOrder[],
  ctx: ExecuteContext,
  limit: number,
): Promise<{ gone: Set<string>; fillUnknown: string[] }> {
  const { ports } = ctx
  const { still, gone } = stillLive(
    venue,
    answered.map((o) => o.clientOrderId),
    ctx,
  )
  if (still.length === 0) return { gone, fillUnknown: [] }
  const { summary, events } = await settleOrders({
    log: ports.log,
    gateway: gatewayOf(ctx, venue),
    orders: still,
    concurrency: ports.cancelConcurrency ?? 64,
    timeoutMs: limit,
    since: ctx.state.steps[0]?.startedSeq ?? 1,
  })
  const open = new Set(summary.open.map((o) => o.clientOrderId))
  const unsettled = new Map(summary.unsettled.map((u) => [u.clientOrderId, u.reason]))
  for (const o of still) {
    const why = open.has(o.clientOrderId)
      ? `${venue} answered the cancel canceled again and still lists it open`
      : unsettled.has(o.clientOrderId)
        ? `${venue} answered the cancel canceled again, and nothing showed it gone: ${unsettled.get(o.clientOrderId)}`
        : undefined
    if (why === undefined) gone.add(o.clientOrderId)
    else events.push({ type: 'order.cancel-unconfirmed', data: { venue, clientOrderId: o.clientOrderId, reason: why } })
  }
  appendInChunks(ctx, events)
  return { gone, fillUnknown: summary.fillUnknown }
}

/**
 * A reduce-only order closing at most the position the projections show now: if the position
 * shrank or flipped since the decision (a late fill), the order shrinks or is not sent.
 */
/** How long a flatten waits for the venue's positions before it sizes by what the log has. */
const FLATTEN_LOOK_MS = 3_000

async function flatten(command: Extract<ShutdownCommand, { kind: 'flatten' }>, ctx: ExecuteContext, limit: number): Promise<Result> {
  const { ports } = ctx
  // After a round of flatten orders, the venue's positions are asked again before the next order:
  // a fill recorded after a positions report that already held it would otherwise be counted twice
  // and the next order sent the wrong way (reduce-only stops it only where the venue has it).
  const looked = command.round > 1 ? await lookAtPositions(command.venue, ctx, Math.min(FLATTEN_LOOK_MS, Math.floor(limit / 2))) : undefined
  const now = ports.world().positions.find((p) => p.venue === command.venue && p.symbol === command.symbol)?.qty ?? 0
  const closes = command.side === 'sell' ? now > 0 : now < 0
  if (!closes)
    return {
      outcome: 'ok',
      detail: {
        sent: false,
        note: `position is ${now} now${looked === 'observed' ? ' (the venue asked just now)' : ''}: nothing to close with a ${command.side}`,
      },
    }
  const qty = Math.min(command.qty, Math.abs(now))
  const outcome = await ports.router.submit({
    venue: command.venue,
    symbol: command.symbol,
    side: command.side,
    type: command.type,
    qty,
    ...(command.price !== undefined ? { price: command.price } : {}),
    timeInForce: 'IOC',
    reduceOnly: true,
    origin: { kind: 'shutdown', id: ctx.shutdownId },
  })
  const detail: Record<string, unknown> = {
    status: outcome.status,
    qty,
    ...(outcome.clientOrderId ? { clientOrderId: outcome.clientOrderId } : {}),
    ...(looked !== undefined ? { positions: looked } : {}),
  }
  if (outcome.status === 'accepted') return { outcome: 'ok', detail }
  return { outcome: outcome.status === 'unknown' ? 'timed-out' : 'failed', detail: { ...detail, error: outcome.reason } }
}

/** The venue's positions, recorded; what came of asking (a venue without positions is not asked). */
async function lookAtPositions(venue: string, ctx: ExecuteContext, ms: number): Promise<'observed' | 'not-reported' | string> {
  const gateway = gatewayOf(ctx, venue)
  if (!gateway.capabilities.positions) return 'not-reported'
  const observing = observeVenue(ctx.ports.log, gateway, { positions: true })
  observing.catch(() => {}) // a late answer after its bound is not waited for
  try {
    await pTimeout(observing, { milliseconds: Math.max(1, ms), message: `${venue} did not report its positions within ${ms} ms` })
    return 'observed'
  } catch (e) {
    return `not observed: ${messageOf(e)}`
  }
}

function awaitOrders(which: 'all' | 'shutdown' | 'unkept', ctx: ExecuteContext, timer: { stop?: () => void }): Promise<Result> {
  const { ports } = ctx
  if (awaitSatisfied(ports.world(), which)) return Promise.resolve({ outcome: 'ok' })
  return new Promise((resolve) => {
    let queued = false
    const check = () => {
      queued = false
      if (!awaitSatisfied(ports.world(), which)) return
      off()
      resolve({ outcome: 'ok' })
    }
    // One check per event-loop turn, however many events a turn appends.
    const off = ports.log.on('event', () => {
      if (queued) return
      queued = true
      setImmediate(check)
    })
    timer.stop = off
  })
}

function checkpointContent(ctx: ExecuteContext, world: ShutdownWorld): CheckpointContent {
  const { ports } = ctx
  return {
    shutdownId: ctx.shutdownId,
    createdAt: ports.clock.now(),
    atSeq: ports.log.lastSeq,
    logPath: ports.log.path,
    head: anchorOf(ports.log),
    positions: world.positions.map((p) => ({ venue: p.venue, symbol: p.symbol, qty: p.qty, ...(p.avgEntry !== undefined ? { avgEntry: p.avgEntry } : {}) })),
    orders: world.orders.map((o) => ({ ...o })),
    balances: Object.fromEntries(Object.entries(world.balances).map(([v, b]) => [v, [...b]])),
    strategies: ports.strategies ? ports.strategies.checkpointState() : null,
    config: ports.config ?? null,
  }
}

async function writeCheckpoint(verify: boolean, ctx: ExecuteContext): Promise<Result> {
  const { ports } = ctx
  const checkpointer = ports.checkpointer
  if (!checkpointer) {
    const error = 'no checkpoint location configured'
    ports.log.append({ type: 'checkpoint.failed', data: { path: '', error } })
    return { outcome: 'failed', detail: { error } }
  }
  try {
    const written = checkpointer.write(checkpointContent(ctx, ports.world()), { verify })
    ports.log.append({
      type: 'checkpoint.written',
      data: { path: written.path, checksum: written.checksum, atSeq: written.atSeq, verified: written.verified, fallback: written.fallback },
    })
    return {
      outcome: 'ok',
      detail: {
        path: written.path,
        checksum: written.checksum,
        verified: written.verified,
        fallback: written.fallback,
        ...(written.attempts.length ? { attempts: written.attempts } : {}),
      },
    }
  } catch (e) {
    const recovery = e instanceof CheckpointFailed ? e.recovery : undefined
    ports.log.append({ type: 'checkpoint.failed', data: { path: checkpointer.primary, error: messageOf(e).slice(0, 2000), ...(recovery ? { recovery } : {}) } })
    return { outcome: 'failed', detail: { error: messageOf(e), ...(recovery ? { recovery } : {}) } }
  }
}

/** The newest checkpoint this shutdown recorded written (`checkpoint.written` since its first step), if any. */
function recordedCheckpointPath(ctx: ExecuteContext): string | undefined {
  let path: string | undefined
  for (const e of ctx.ports.log.read({ types: ['checkpoint.written'], from: ctx.state.steps[0]?.startedSeq ?? 1 }))
    path = (e.data as EventData<'checkpoint.written'>).path
  return path
}

/** How long step 12 lets an outbound socket that is closing finish before it counts as left open. */
const SOCKET_GRACE_MS = 1_000

async function healthCheck(ctx: ExecuteContext, limit: number): Promise<Result> {
  const { ports } = ctx
  const problems: string[] = []
  // this process's checkpoint, else the one this shutdown recorded before a crash it resumed from
  const path = ports.checkpointer?.last?.path ?? recordedCheckpointPath(ctx)
  const checkpoint = path !== undefined ? verifyCheckpoint(path) : undefined
  if (!checkpoint) problems.push('no checkpoint was written')
  else if (!checkpoint.ok) problems.push(`checkpoint ${checkpoint.path}: ${checkpoint.problem}`)
  let flushed = true
  try {
    await ports.log.flush()
  } catch (e) {
    flushed = false
    problems.push(`event log flush failed: ${messageOf(e)}`)
  }
  if (ports.engine && ctx.state.options.engine) {
    // the engine haltd controls was stopped at step 11: it is still gone now
    try {
      const seen = await ports.engine.check(Math.max(1, Math.floor(limit / 4)))
      if (!seen.gone) problems.push(`engine: still running (${seen.evidence})`)
    } catch (e) {
      problems.push(`engine: cannot tell whether it is gone: ${messageOf(e)}`)
    }
  }
  for (const [name, check] of Object.entries(ports.healthChecks ?? {})) {
    try {
      const problem = await check()
      if (problem) problems.push(`${name}: ${problem}`)
    } catch (e) {
      problems.push(`${name}: ${messageOf(e)}`)
    }
  }
  // Sockets: venues and services are closed by now, so a connection this process opened is a
  // leak and fails the check; one closing this very moment gets a short grace to finish.
  // Counted in real waits, not by the injected clock: it is real sockets that are closing.
  const kept = ports.keepsSocket ?? (() => false)
  let handles = openHandles()
  let leaked = handles.outbound.filter((x) => !kept(x))
  for (let wait = Math.min(SOCKET_GRACE_MS, Math.floor(limit / 2)); leaked.length > 0 && wait > 0; wait -= 20) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    handles = openHandles()
    leaked = handles.outbound.filter((x) => !kept(x))
  }
  if (leaked.length > 0) {
    problems.push(
      `${leaked.length} outbound socket(s) still open after the venues and services closed: ${leaked
        .slice(0, 10)
        .map((x) => `${x.local} -> ${x.remote}`)
        .join(', ')}`,
    )
  }
  const sockets = { leaked: leaked.slice(0, 50), kept: handles.outbound.length - leaked.length, inbound: handles.inbound.length, servers: handles.servers }
  const detail = { checkpointValid: checkpoint?.ok ?? false, logFlushed: flushed, sockets, resources: handles.resources, problems }
  return problems.length === 0 ? { outcome: 'ok', detail } : { outcome: 'failed', detail: { ...detail, error: problems.join('; ') } }
}

/** Orders whose state at the venue haltd does not know for sure. */
const IN_DOUBT: ReadonlySet<string> = new Set(['pending-new', 'cancel-pending', 'cancel-unconfirmed'])

/**
 * A kept dead man's switch is disarmed only where a graceful shutdown left nothing in doubt at
 * the venue (orders kept on purpose then survive haltd); anywhere else it stays armed, and the
 * venue cancels what haltd could not confirm. A disarm that fails leaves it armed: the safe side.
 */
async function releaseDeadMansSwitch(venue: string, ctx: ExecuteContext): Promise<string> {
  // An instance that no longer leads its engine leaves the venue's switch to the one that does:
  // disarming it would take away the new leader's protection on the same account.
  const fenced = ctx.ports.gate.cancelRefusal(ORIGIN)
  if (fenced !== undefined) return `left as it is (${fenced})`
  const world = ctx.ports.world()
  const verified =
    ctx.state.procedure === 'graceful' &&
    !world.orders.some((o) => o.venue === venue && IN_DOUBT.has(o.status)) &&
    !world.reconciliation.problems.some((p) => p.venue === venue) &&
    // no observation since its last order event: an order haltd does not know of may rest there
    !world.reconciliation.unverified.some((u) => u.venue === venue)
  try {
    return await ctx.ports.deadMansSwitches!.release(venue, verified)
  } catch (e) {
    return `left-armed (disarm failed: ${messageOf(e)})`
  }
}
