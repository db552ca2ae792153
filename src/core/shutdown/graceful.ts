import type { GracefulStepName, HaltdEvent } from '../../events/index.js'
import { reconciliationClaim, unseenBooksLine } from '../../projections/index.js'
import { money, quantityAt } from '../../projections/money.js'
import type { ShutdownOptions } from './options.js'
import { outcomes, type CommandRecord, type ProcedureDef, type ShutdownState, type StepContext, type StepDef, type StepPlan } from './procedure.js'
import { engineNotSeenGone, finalFillUnknown, unpricedNote } from './report.js'
import { settleCommands, UNCONFIRMED } from './settle.js'
import { markKey, type ServiceName, type ShutdownCommand, type ShutdownWorld, type WorldOrder, type WorldPosition } from './types.js'

/**
 * The graceful shutdown, the runbook's 13 steps in order (docs/ARCHITECTURE.md). Each step is a small pure
 * function from the state (its own commands so far, the projections) to what it wants next.
 */

export const GRACEFUL_BUDGETS: Readonly<Record<GracefulStepName, number>> = {
  announce: 5_000,
  'lock deployments and config': 1_000,
  'reduce position limits': 5_000,
  'disable strategies and close the gate': 10_000,
  'cancel orders and flatten': 60_000,
  'wait for order completion': 60_000, // replaced by waitTimeoutMs
  reconcile: 30_000,
  checkpoint: 15_000,
  'stop market data': 5_000,
  'close venue connections': 10_000,
  'stop services': 30_000,
  'health check': 5_000,
  'report and notify': 10_000,
}

const budget =
  (name: GracefulStepName) =>
  (o: ShutdownOptions): number =>
    o.graceful.budgets[name] ?? GRACEFUL_BUDGETS[name]

/** Services stop in this order; monitoring last, so the shutdown stays observable to the end. */
export const SERVICE_ORDER: readonly ServiceName[] = ['strategies', 'engine', 'risk', 'order-management', 'market-data', 'monitoring']

// ── reading the world ──────────────────────────────────────────────────────────────────────

/** Orders that take liquidity: market, IOC/FOK, or a limit priced through the mark. Passive ones rest. */
export function isAggressive(order: WorldOrder, marks: Readonly<Record<string, number>>): boolean {
  if (order.type === 'market' || order.timeInForce === 'IOC' || order.timeInForce === 'FOK') return true
  if (order.timeInForce === 'PO' || order.price === undefined) return false
  const mark = marks[markKey(order.venue, order.symbol)]
  if (mark === undefined) return false
  return order.side === 'buy' ? order.price >= mark : order.price <= mark
}

/** Whether the graceful shutdown leaves resting passive orders in place. */
export const keepsPassive = (o: ShutdownOptions): boolean => o.graceful.flatten === 'none' && o.graceful.cancelOnlyAggressive

/** Live orders the shutdown means to see finished (kept passive orders excluded). */
export function ordersToFinish(world: ShutdownWorld, options: ShutdownOptions): WorldOrder[] {
  if (!keepsPassive(options)) return [...world.orders]
  return world.orders.filter((o) => isAggressive(o, world.marks))
}

/** What an `await-orders` command waits for: true once no such order is live. Pure; the runner checks it on every event. */
export function awaitSatisfied(world: ShutdownWorld, which: 'all' | 'shutdown' | 'unkept'): boolean {
  switch (which) {
    case 'all':
      return world.orders.length === 0
    case 'shutdown':
      return !world.orders.some((o) => o.origin.kind === 'shutdown')
    case 'unkept':
      return !world.orders.some((o) => isAggressive(o, world.marks))
  }
}

const FLAT = 1e-9
export const openPositions = (world: ShutdownWorld): WorldPosition[] => world.positions.filter((p) => Math.abs(p.qty) > FLAT)

const lastRound = (commands: readonly CommandRecord[], kinds: readonly string[]): number =>
  commands.reduce((n, c) => (kinds.includes(c.command.kind) && 'round' in c.command ? Math.max(n, c.command.round) : n), 0)

const lastIndexOfKind = (commands: readonly CommandRecord[], kinds: readonly string[]): number => {
  for (let i = commands.length - 1; i >= 0; i--) if (kinds.includes(commands[i]!.command.kind)) return i
  return -1
}

const CANCELS = ['cancel-order', 'cancel-all', 'settle-orders']
const AWAIT = ['await-orders']
const FLATTENS = ['flatten']

const summary = (orders: readonly WorldOrder[], max = 50) => ({
  count: orders.length,
  orders: orders.slice(0, max).map((o) => `${o.venue}:${o.clientOrderId}:${o.status}`),
})
/** Each position's size, and what haltd's own fills say of it where that differs (the venue's word sized it). */
const positionsOf = (positions: readonly WorldPosition[]) =>
  positions.map((p) => ({
    venue: p.venue,
    symbol: p.symbol,
    qty: p.qty,
    ...(p.fromFills !== undefined && Math.abs(p.fromFills - p.qty) > FLAT ? { fromFills: p.fromFills } : {}),
    ...(p.observedSeq !== undefined && p.fromFills !== undefined && Math.abs(p.fromFills - p.qty) > FLAT ? { observedSeq: p.observedSeq } : {}),
  }))

/** Every venue the shutdown must touch: those it was told about, and any the projections show orders or positions at. */
export function venuesOf(ctx: Pick<StepContext, 'options' | 'world'>): string[] {
  const names = new Set(ctx.options.venues.map((v) => v.name))
  for (const o of ctx.world.orders) names.add(o.venue)
  for (const p of ctx.world.positions) names.add(p.venue)
  return [...names].sort()
}

// ── step 5: cancel, then flatten ───────────────────────────────────────────────────────────

function cancelRound(ctx: StepContext, round: number, orders: readonly WorldOrder[]): ShutdownCommand[] {
  const commands: ShutdownCommand[] = []
  const kept = keepsPassive(ctx.options)
  const byVenue = new Map<string, WorldOrder[]>()
  for (const o of orders) byVenue.set(o.venue, [...(byVenue.get(o.venue) ?? []), o])
  // Account scope clears the whole account at every venue, orders of ours there or not: the
  // gateway mass-cancels where it can and lists and cancels each open order where it cannot.
  if (round === 1 && !kept && ctx.options.graceful.cancelScope === 'account') {
    return venuesOf(ctx).map((venue) => ({ kind: 'cancel-all', venue, scope: 'account', orders: byVenue.get(venue)?.length ?? 0, round }))
  }
  // From the second round on, an order whose cancel the venue did not confirm is settled on what
  // the venue shows of it (settle.ts) rather than cancelled blindly again.
  const settling = round > 1 && ctx.options.graceful.settleByObservation
  if (settling) commands.push(...settleCommands(orders, round))
  for (const venue of [...byVenue.keys()].sort()) {
    const list = settling ? byVenue.get(venue)!.filter((o) => o.status !== UNCONFIRMED) : byVenue.get(venue)!
    const info = ctx.options.venues.find((v) => v.name === venue)
    // One cancel-all per venue on the first round when everything there goes (a mass cancel; or,
    // recorded with the option, the venue's batch or single cancels, confirmed by its list read
    // after them); per order otherwise.
    if (round === 1 && !kept && info && (info.massCancel !== 'none' || ctx.options.graceful.cancelAllFirst)) {
      commands.push({ kind: 'cancel-all', venue, scope: ctx.options.graceful.cancelScope, orders: list.length, round })
      continue
    }
    for (const o of list) {
      const c: ShutdownCommand = { kind: 'cancel-order', venue, clientOrderId: o.clientOrderId, symbol: o.symbol, round }
      if (o.venueOrderId !== undefined) c.venueOrderId = o.venueOrderId
      commands.push(c)
    }
  }
  return commands
}

function flattenRound(ctx: StepContext, round: number, positions: readonly WorldPosition[]): ShutdownCommand[] {
  const { flatten } = ctx.options.graceful
  return positions.map((p) => {
    const side = p.qty > 0 ? 'sell' : 'buy'
    const qty = Math.abs(p.qty)
    const mark = ctx.world.marks[markKey(p.venue, p.symbol)]
    // Conservative: first a limit IOC at mid, then market for whatever is left (escalation).
    if (flatten === 'conservative' && round === 1 && mark !== undefined) {
      return { kind: 'flatten', venue: p.venue, symbol: p.symbol, side, qty, type: 'limit', price: mark, position: p.qty, round } as const
    }
    return { kind: 'flatten', venue: p.venue, symbol: p.symbol, side, qty, type: 'market', position: p.qty, round } as const
  })
}

export function planCancelAndFlatten(ctx: StepContext): StepPlan {
  const g = ctx.options.graceful
  const cmds = ctx.commands
  const toCancel = ordersToFinish(ctx.world, ctx.options)
  const cancelRounds = lastRound(cmds, CANCELS)
  const flattenRounds = lastRound(cmds, FLATTENS)
  const lastAwait = lastIndexOfKind(cmds, AWAIT)
  const lastCancel = lastIndexOfKind(cmds, CANCELS)
  const lastFlatten = lastIndexOfKind(cmds, FLATTENS)

  // With account scope the first round goes out even when haltd has nothing open: it is the engine's orders it is for.
  const accountSweep = cancelRounds === 0 && g.cancelScope === 'account' && !keepsPassive(ctx.options) && venuesOf(ctx).length > 0
  if (flattenRounds === 0 && (toCancel.length > 0 || accountSweep)) {
    // Between rounds, let fills that raced the cancels land before asking again.
    if (lastCancel > lastAwait && g.settleMs > 0) {
      return { kind: 'issue', commands: [{ kind: 'await-orders', which: keepsPassive(ctx.options) ? 'unkept' : 'all', timeoutMs: g.settleMs }] }
    }
    if (cancelRounds < g.maxCancelRounds) return { kind: 'issue', commands: cancelRound(ctx, cancelRounds + 1, toCancel) }
  }

  // The venue's word on what it holds, asked once the cancels are done: the flatten's sizes
  // rest on it, not on fills a venue's stream may never have delivered.
  if (g.observePositions && g.flatten !== 'none' && flattenRounds === 0 && !cmds.some((c) => c.command.kind === 'observe-venue')) {
    const venues = venuesOf(ctx)
    const timeoutMs = Math.max(1, Math.floor(budget('cancel orders and flatten')(ctx.options) / 4))
    if (venues.length > 0) return { kind: 'issue', commands: venues.map((venue) => ({ kind: 'observe-venue', venue, what: ['positions'], timeoutMs })) }
  }

  const positions = openPositions(ctx.world)
  const detail = () => ({
    cancelRounds,
    flattenRounds,
    remainingOrders: summary(toCancel),
    positions: positionsOf(positions),
    flatten: g.flatten,
  })
  const end = (): StepPlan => {
    const unfinished = toCancel.length > 0 || (g.flatten !== 'none' && positions.length > 0)
    if (unfinished && outcomes.anyTimedOut(cmds)) return { kind: 'time-out', remaining: detail() }
    return { kind: 'complete', detail: detail() }
  }
  if (g.flatten === 'none' || positions.length === 0) return end()

  // Flatten sizes come from the projections after the cancels settled; an unsettled flatten
  // order from the previous round is waited for, never topped up (that could overshoot).
  if (ctx.world.orders.some((o) => o.origin.kind === 'shutdown')) {
    if (lastFlatten > lastAwait) return { kind: 'issue', commands: [{ kind: 'await-orders', which: 'shutdown', timeoutMs: Math.max(g.settleMs, 1) }] }
    return end()
  }
  if (flattenRounds >= g.maxFlattenRounds) return end()
  return { kind: 'issue', commands: flattenRound(ctx, flattenRounds + 1, positions) }
}

// ── the other steps ────────────────────────────────────────────────────────────────────────

/**
 * A step that acts on the venues, in a shutdown that began after this instance lost the lead:
 * its fenced gate would refuse every command, retried until the step's budget ran out.
 */
export const leftToTheLeader = (ctx: Pick<StepContext, 'options'>): string | undefined =>
  ctx.options.notLeading === undefined
    ? undefined
    : `this instance no longer leads its engine (${ctx.options.notLeading}): its gate is fenced, and the orders and positions are its leader's`

/** A step that issues its commands once, then ends on their outcomes. */
function once(
  commands: (ctx: StepContext) => ShutdownCommand[],
  done?: (ctx: StepContext) => Record<string, unknown> | undefined,
): (ctx: StepContext) => StepPlan {
  return (ctx) => {
    if (ctx.commands.length === 0) {
      const list = commands(ctx)
      if (list.length > 0) return { kind: 'issue', commands: list }
    }
    const failures = outcomes.failures(ctx.commands)
    if (failures.length === 0) {
      const detail = done?.(ctx)
      return detail ? { kind: 'complete', detail } : { kind: 'complete' }
    }
    if (outcomes.anyTimedOut(ctx.commands)) return { kind: 'time-out', remaining: { failures } }
    return { kind: 'fail', error: failures.join('; ') }
  }
}

/** Step 4's stop of the engine, bounded by `stopMs` where the shutdown recorded it: the cancels never wait on a hung stop past it. */
const engineStop = (engine: NonNullable<ShutdownOptions['engine']>): ShutdownCommand =>
  engine.stopMs === undefined ? { kind: 'control-engine', action: 'stop' } : { kind: 'control-engine', action: 'stop', timeoutMs: engine.stopMs }

const shutdownFact = (ctx: StepContext) => ({ reason: `graceful shutdown: ${ctx.state.reason}`, origin: 'shutdown' as const })

export function planWait(ctx: StepContext): StepPlan {
  const remaining = ordersToFinish(ctx.world, ctx.options)
  if (remaining.length === 0) return { kind: 'complete', detail: { remaining: 0 } }
  const { waitTimeoutMs, settleMs } = ctx.options.graceful
  // The time waited so far is the sum of the await slices issued (each ends early once nothing is left).
  const waits = ctx.commands.filter((c) => c.command.kind === 'await-orders')
  const waited = waits.reduce((n, c) => n + (c.command as { timeoutMs: number }).timeoutMs, 0)
  if (waits.length > 0 && waited >= waitTimeoutMs) return { kind: 'time-out', remaining: summary(remaining) }
  // Keep asking about every order no venue has confirmed finished, never assuming it canceled:
  // each round cancels again, then waits a slice twice the last (settleMs, 2×, 4×…) until the
  // wait timeout is spent, so a venue that answers late is still heard within the timeout.
  const slice = settleMs > 0 ? Math.min(settleMs * 2 ** waits.length, waitTimeoutMs - waited) : waitTimeoutMs - waited
  const round = waits.length + 1
  // an order whose cancel the venue did not confirm is settled on what the venue shows, as in step 5
  const settling = ctx.options.graceful.settleByObservation
  const requery: ShutdownCommand[] = settling ? settleCommands(remaining, round) : []
  for (const o of remaining) {
    if (settling && o.status === UNCONFIRMED) continue
    const c: ShutdownCommand = { kind: 'cancel-order', venue: o.venue, clientOrderId: o.clientOrderId, symbol: o.symbol, round }
    if (o.venueOrderId !== undefined) c.venueOrderId = o.venueOrderId
    requery.push(c)
  }
  const which = keepsPassive(ctx.options) ? 'unkept' : 'all'
  return { kind: 'issue', commands: [...requery, { kind: 'await-orders', which, timeoutMs: Math.max(0, slice) }] }
}

export function planReconcile(ctx: StepContext): StepPlan {
  if (ctx.commands.length === 0) {
    const venues = venuesOf(ctx)
    if (venues.length > 0) return { kind: 'issue', commands: venues.map((venue) => ({ kind: 'observe-venue', venue })) }
  }
  const r = ctx.world.reconciliation
  const unobserved = ctx.commands.filter((c) => c.outcome !== 'ok').map((c) => (c.command.kind === 'observe-venue' ? c.command.venue : c.command.kind))
  const detail = {
    ok: r.ok && unobserved.length === 0,
    verdict: r.verdict,
    ...(r.unverified.length > 0 ? { unverified: r.unverified.slice(0, 50) } : {}),
    counts: r.counts,
    problems: r.problems.slice(0, 50),
    unobserved,
    positions: positionsOf(openPositions(ctx.world)),
    liveOrders: ctx.world.orders.length,
  }
  if (unobserved.length === 0) return { kind: 'complete', detail }
  if (outcomes.anyTimedOut(ctx.commands)) return { kind: 'time-out', remaining: detail }
  return { kind: 'fail', error: `could not reconcile with ${unobserved.join(', ')}` }
}

export function planStopServices(ctx: StepContext): StepPlan {
  // One at a time, in order: the next service stops only once the previous one has.
  const next = SERVICE_ORDER[ctx.commands.length]
  // The engine haltd controls was asked to stop at step 4: here it is seen gone, or stopped for good (TERM, grace, KILL).
  const engine = ctx.options.engine
  if (next === 'engine' && engine) return { kind: 'issue', commands: [{ kind: 'control-engine', action: 'terminate', graceMs: engine.graceMs }] }
  if (next) return { kind: 'issue', commands: [{ kind: 'stop-service', service: next }] }
  const failures = outcomes.failures(ctx.commands)
  if (failures.length === 0) return { kind: 'complete', detail: { stopped: [...SERVICE_ORDER] } }
  return { kind: 'fail', error: failures.join('; ') }
}

export function planReport(ctx: StepContext): StepPlan {
  const report = ctx.commands.find((c) => c.command.kind === 'report')
  if (!report) return { kind: 'issue', commands: [{ kind: 'report' }] }
  if (ctx.commands.length === 1) {
    const outcome = finishGraceful(ctx)
    // Anything left that is not verified flat is the message that must arrive: critical, awaited, retried.
    const severity = outcome === 'clean' ? 'info' : outcome === 'residual-exposure' ? 'critical' : 'warning'
    return {
      kind: 'issue',
      commands: [
        {
          kind: 'notify',
          topic: 'shutdown.completed',
          severity,
          status: 'SHUT_DOWN',
          message: `haltd shut down (graceful, ${outcome}): ${ctx.state.reason}. ${reportLine(ctx.world, ctx.state, ctx.options)}${engineLine(ctx.state)}`,
        },
      ],
    }
  }
  const failures = outcomes.failures(ctx.commands)
  return failures.length === 0 ? { kind: 'complete' } : { kind: 'fail', error: failures.join('; ') }
}

/** The closing notification's word on an engine not seen gone (nothing where it was, or none is controlled). */
export function engineLine(state: Pick<ShutdownState, 'commands'>): string {
  const running = engineNotSeenGone(state)
  return running === undefined ? '' : `; ENGINE MAY STILL TRADE: ${running}`
}

/**
 * The post-shutdown report in one line, for the closing notification: positions, orders left, P&L,
 * reconciliation, and the canceled orders whose final fill the shutdown could not learn (from its
 * commands' outcomes: a shutdown recorded before there were any says what it said).
 */
export function reportLine(world: ShutdownWorld, state?: Pick<ShutdownState, 'commands'>, options?: Pick<ShutdownOptions, 'reportNamesUnpriced'>): string {
  const open = openPositions(world)
  const unseen = unseenBooksLine(world.reconciliation.venues)
  const ofListed = unseen === '' ? '' : ` on the books listed (not seen: ${unseen})`
  const positions =
    open.length === 0
      ? `positions flat${unseen === '' ? '' : ' on the books listed'}`
      : `${open.length} position(s) open (${open
          .slice(0, 5)
          .map((p) => `${p.venue} ${p.symbol} ${quantityAt(p.qty, p.amountStep)}`)
          .join(', ')}${open.length > 5 ? ', …' : ''})`
  const r = world.reconciliation
  const claim = reconciliationClaim({ verdict: r.verdict, unverified: r.unverified, problems: r.problems.length, venues: r.venues })
  const unknown = state === undefined ? 0 : finalFillUnknown(state, 0).count
  // "flat" and the P&L are short of whatever those orders filled
  const fills = unknown > 0 ? `; FINAL FILL UNKNOWN for ${unknown} canceled order(s): positions and P&L may lack their fills` : ''
  return `${positions}; ${world.orders.length} order(s) still live${ofListed}; P&L realized ${money(world.pnl.realized)}, unrealized ${money(world.pnl.unrealized)}${options?.reportNamesUnpriced ? unpricedNote(world.positions) : ''}, fees ${money(world.pnl.fees)}; reconciliation ${claim}${fills}`
}

export function finishGraceful(ctx: Pick<StepContext, 'state' | 'world' | 'options' | 'ended'>): 'clean' | 'residual-exposure' | 'failed' {
  // An engine that may still trade is exposure whatever else failed: exit 2 tells a supervisor to
  // look at the account, where 1 (a crash) would read as haltd's own fault. (Recorded with the
  // shutdown: one recorded before the rule replays as it ran.)
  if (ctx.options.graceful.engineRunningIsExposure && engineNotSeenGone(ctx.state) !== undefined) return 'residual-exposure'
  const unfinished = ordersToFinish(ctx.world, ctx.options).length > 0
  const residual = ctx.options.graceful.flatten !== 'none' && openPositions(ctx.world).length > 0
  // A venue with no observation since its last order event may hold what haltd does not know of,
  // and one that disagrees with the log holds what haltd did not expect: not verified clean, so
  // exposure is not ruled out (the outcome enum is stored; UNVERIFIED and MISMATCH map here).
  const notOk = ctx.world.reconciliation.verdict !== 'OK'
  // A canceled order whose final fill no lookup told may have filled: the positions and P&L the
  // report states may lack it, whatever the venue's observation agreed with
  const fillUnknown = ctx.options.graceful.fillUnknownIsExposure && finalFillUnknown(ctx.state, 0).count > 0
  const exposed = unfinished || residual || notOk || fillUnknown
  if (exposed && ctx.options.graceful.exposureOutranksFailure) return 'residual-exposure'
  // Not verified clean: no valid checkpoint, or the final health check found something left open.
  for (const name of ['checkpoint', 'health check']) {
    const step = ctx.ended(name)
    if (step && step.status !== 'completed') return 'failed'
  }
  return exposed ? 'residual-exposure' : 'clean'
}

export const GRACEFUL_STEPS: readonly (StepDef & { name: GracefulStepName })[] = [
  {
    step: 1,
    name: 'announce',
    budgetMs: budget('announce'),
    // The status is SHUTTING_DOWN_SOON from the request on (see `shutdownStatus`); this tells everyone.
    plan: once((ctx) => [
      {
        kind: 'notify',
        topic: 'shutdown.announce',
        severity: 'warning',
        message: `status SHUTTING_DOWN_SOON: haltd is shutting down soon (graceful): ${ctx.state.reason}`,
      },
    ]),
  },
  {
    step: 2,
    name: 'lock deployments and config',
    budgetMs: budget('lock deployments and config'),
    start: (ctx): HaltdEvent[] => [{ type: 'deployments.locked', data: shutdownFact(ctx) }],
    plan: () => ({ kind: 'complete' }),
  },
  {
    step: 3,
    name: 'reduce position limits',
    budgetMs: budget('reduce position limits'),
    skip: (ctx) => (ctx.options.graceful.reduceLimitsPct ? undefined : 'no limit reduction configured'),
    plan: once((ctx) => [{ kind: 'reduce-limits', pct: ctx.options.graceful.reduceLimitsPct ?? 0 }]),
  },
  {
    step: 4,
    name: 'disable strategies and close the gate',
    budgetMs: budget('disable strategies and close the gate'),
    start: (ctx): HaltdEvent[] => (ctx.world.tradingMode === 'HALTED' ? [] : [{ type: 'trading.state-changed', data: { to: 'HALTED', ...shutdownFact(ctx) } }]),
    // the engine haltd controls is asked to stop with the strategies; step 11 sees it gone
    plan: once((ctx) => [{ kind: 'close-gate' }, { kind: 'disable-strategies' }, ...(ctx.options.engine ? [engineStop(ctx.options.engine)] : [])]),
  },
  { step: 5, name: 'cancel orders and flatten', budgetMs: budget('cancel orders and flatten'), skip: leftToTheLeader, plan: planCancelAndFlatten },
  {
    step: 6,
    name: 'wait for order completion',
    budgetMs: (o) => o.graceful.budgets['wait for order completion'] ?? o.graceful.waitTimeoutMs + 5_000,
    skip: leftToTheLeader,
    plan: planWait,
  },
  { step: 7, name: 'reconcile', budgetMs: budget('reconcile'), plan: planReconcile },
  {
    step: 8,
    name: 'checkpoint',
    budgetMs: budget('checkpoint'),
    plan: once(
      () => [{ kind: 'write-checkpoint', verify: true }],
      (ctx) => ctx.commands[0]?.detail,
    ),
  },
  { step: 9, name: 'stop market data', budgetMs: budget('stop market data'), plan: once(() => [{ kind: 'stop-market-data' }]) },
  {
    step: 10,
    name: 'close venue connections',
    budgetMs: budget('close venue connections'),
    plan: once((ctx) => venuesOf(ctx).map((venue) => ({ kind: 'close-venue', venue }) as const)),
  },
  { step: 11, name: 'stop services', budgetMs: budget('stop services'), plan: planStopServices },
  {
    step: 12,
    name: 'health check',
    budgetMs: budget('health check'),
    plan: once(
      () => [{ kind: 'health-check' }],
      (ctx) => ctx.commands[0]?.detail,
    ),
  },
  { step: 13, name: 'report and notify', budgetMs: budget('report and notify'), plan: planReport },
]

export const graceful: ProcedureDef = {
  procedure: 'graceful',
  steps: GRACEFUL_STEPS,
  deadlineMs: (o) => o.graceful.deadlineMs,
  strictDeadline: false,
  finish: finishGraceful,
}
