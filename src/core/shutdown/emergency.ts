import type { EmergencyStepName, HaltdEvent } from '../../events/index.js'
import type { ShutdownOptions } from './options.js'
import { outcomes, type ProcedureDef, type StepContext, type StepDef, type StepPlan } from './procedure.js'
import { engineNotSeenGone } from './report.js'
import { leftToTheLeader, reportLine, venuesOf } from './graceful.js'
import { settleCommands } from './settle.js'
import type { ShutdownCommand } from './types.js'

/**
 * The emergency path: halt, latch the kill switch, cancel everything everywhere (dead man's
 * switch armed first), quick checkpoint, stop. The gate itself is closed before any of this, in
 * the request (see `ShutdownController.requestShutdown`); step 1 records it.
 *
 * Budgets are shares of the deadline so a venue that never answers costs its phase, never the
 * deadline: 70 % for the cancels, 10 % for the checkpoint, 10 % to stop, 10 % left as slack.
 */
export const EMERGENCY_SHARES: Readonly<Record<EmergencyStepName, number>> = {
  halt: 0.02,
  'latch kill switch': 0.02,
  'cancel all orders': 0.7,
  'quick checkpoint': 0.08,
  stop: 0.08,
}

export function emergencyBudget(name: EmergencyStepName, o: { emergency: Pick<ShutdownOptions['emergency'], 'budgets' | 'deadlineMs'> }): number {
  return o.emergency.budgets[name] ?? Math.floor(o.emergency.deadlineMs * EMERGENCY_SHARES[name])
}

const budget =
  (name: EmergencyStepName) =>
  (o: ShutdownOptions): number =>
    emergencyBudget(name, o)
const why = (ctx: StepContext): string => `emergency shutdown: ${ctx.state.escalation?.reason ?? ctx.state.reason}`
const originOf = (ctx: StepContext) => ctx.state.escalation?.origin ?? ctx.state.origin ?? 'system'

function planCancelAll(ctx: StepContext): StepPlan {
  const venues = venuesOf(ctx)
  if (ctx.commands.length === 0 && venues.length > 0) {
    // Arm first (the venue then cancels even if haltd dies mid-way), cancel at once behind it:
    // both go out in the same batch, in this order, without one waiting for the other.
    const arm: ShutdownCommand[] = []
    const cancel: ShutdownCommand[] = []
    for (const venue of venues) {
      const info = ctx.options.venues.find((v) => v.name === venue)
      if (info && info.deadMansSwitch !== 'none') arm.push({ kind: 'arm-dead-mans-switch', venue, timeoutMs: ctx.options.emergency.deadMansSwitchMs })
      cancel.push({
        kind: 'cancel-all',
        venue,
        scope: ctx.options.emergency.cancelScope,
        orders: ctx.world.orders.filter((o) => o.venue === venue).length,
        round: 1,
      })
    }
    return { kind: 'issue', commands: [...arm, ...cancel] }
  }
  const cancels = ctx.commands.filter((c) => c.command.kind !== 'observe-venue' && c.command.kind !== 'settle-orders')
  const observations = ctx.commands.filter((c) => c.command.kind === 'observe-venue')
  const settles = ctx.commands.filter((c) => c.command.kind === 'settle-orders')
  if (ctx.options.emergency.observeAfterCancels && observations.length === 0 && venues.length > 0 && !outcomes.anyTimedOut(cancels)) {
    // The venues' own word on what is left (open orders, positions): the report and the audit
    // reconcile against it rather than against what startup saw. Skipped once a venue has run
    // out the budget: the others have said what they canceled, and the deadline comes first.
    const timeoutMs = ctx.options.emergency.observeTimeoutMs
    return { kind: 'issue', commands: venues.map((venue) => ({ kind: 'observe-venue', venue, what: ['open-orders', 'positions'], timeoutMs })) }
  }
  if (ctx.options.emergency.settleByObservation && settles.length === 0 && !outcomes.anyTimedOut([...cancels, ...observations])) {
    // Orders a venue did not confirm canceled (it said it did not know them, or never answered
    // for them): settled on what the venue shows after the cancels, its list just observed first.
    const settle = settleCommands(ctx.world.orders, 1)
    if (settle.length > 0) return { kind: 'issue', commands: settle }
  }
  const settledAt = ctx.commands.findIndex((c) => c.command.kind === 'settle-orders')
  const observedSince = settledAt >= 0 && ctx.commands.slice(settledAt).some((c) => c.command.kind === 'observe-venue')
  if (ctx.options.emergency.observeAfterSettles && settledAt >= 0 && !observedSince && !outcomes.anyTimedOut([...cancels, ...observations, ...settles])) {
    // A settle that cancelled again left the venue's last word older than its last order event (an
    // order the venue kept may have filled meanwhile): its open orders and positions once more, so
    // the report rests on the venue's word after the last cancel. A venue whose orders were settled
    // on what it showed is not asked again: that word still stands.
    const stale = new Set(ctx.world.reconciliation.venues.filter((v) => !v.newerThanLastOrder).map((v) => v.venue))
    const again = [...new Set(settles.map((c) => (c.command as { venue: string }).venue))].filter((venue) => stale.has(venue))
    if (again.length > 0) {
      const timeoutMs = ctx.options.emergency.observeTimeoutMs
      return { kind: 'issue', commands: again.map((venue) => ({ kind: 'observe-venue', venue, what: ['open-orders', 'positions'], timeoutMs })) }
    }
  }
  const remaining: Record<string, number> = {}
  for (const o of ctx.world.orders) remaining[o.venue] = (remaining[o.venue] ?? 0) + 1
  const left = Object.values(remaining).reduce((a, b) => a + b, 0)
  const perVenue = Object.fromEntries(
    cancels.filter((c) => c.command.kind === 'cancel-all').map((c) => [(c.command as { venue: string }).venue, c.outcome ?? 'pending']),
  )
  // a venue's last observation is what the report rests on
  const lastObserved = new Map(observations.map((c) => [(c.command as { venue: string }).venue, c.outcome]))
  const unobserved = [...lastObserved].filter(([, outcome]) => outcome !== 'ok').map(([venue]) => venue)
  const detail = {
    remaining: left,
    remainingByVenue: remaining,
    venues: perVenue,
    failures: outcomes.failures([...cancels, ...settles]),
    ...(observations.length > 0 ? { unobserved } : {}),
  }
  if (left === 0) return { kind: 'complete', detail }
  if (outcomes.anyTimedOut([...cancels, ...settles])) return { kind: 'time-out', remaining: detail }
  return { kind: 'fail', error: `${left} order(s) not confirmed canceled: ${JSON.stringify(remaining)}` }
}

/** Step 1: close the gate and, where haltd controls the engine, freeze it (or stop it) before any cancel goes out. */
function planHalt(ctx: StepContext): StepPlan {
  const engine = ctx.options.engine
  if (ctx.commands.length === 0) {
    const commands: ShutdownCommand[] = [{ kind: 'close-gate' }]
    if (engine) commands.push({ kind: 'control-engine', action: engine.firstPhase })
    return { kind: 'issue', commands }
  }
  const failures = outcomes.failures(ctx.commands)
  if (failures.length === 0) return { kind: 'complete' }
  return outcomes.anyTimedOut(ctx.commands) ? { kind: 'time-out', remaining: { failures } } : { kind: 'fail', error: failures.join('; ') }
}

function planStop(ctx: StepContext): StepPlan {
  if (ctx.commands.length === 0) {
    const engine = ctx.options.engine
    return {
      kind: 'issue',
      commands: [
        // the runbook's last line: TERM, a grace, then KILL; an engine gone already is left alone
        ...(engine ? [{ kind: 'control-engine', action: 'terminate', graceMs: engine.graceMs } as const] : []),
        ...venuesOf(ctx).map((venue) => ({ kind: 'close-venue', venue }) as const),
        { kind: 'report' },
        { kind: 'notify', topic: 'shutdown.emergency', severity: 'critical', message: `haltd ${why(ctx)}. ${reportLine(ctx.world, ctx.state, ctx.options)}` },
      ],
    }
  }
  // The notification above leaves with the TERM, so it goes out whatever the engine does; an engine
  // the terminate did not see go is worth a second one: it may still be trading.
  const running = engineNotSeenGone(ctx.state)
  if (running !== undefined && !ctx.commands.some((c) => c.command.kind === 'notify' && c.command.topic === ENGINE_RUNNING_TOPIC)) {
    return {
      kind: 'issue',
      commands: [{ kind: 'notify', topic: ENGINE_RUNNING_TOPIC, severity: 'critical', message: `haltd ${why(ctx)}, and ${running}: it may still trade` }],
    }
  }
  const failures = outcomes.failures(ctx.commands)
  return failures.length === 0 ? { kind: 'complete' } : { kind: 'fail', error: failures.join('; ') }
}

const ENGINE_RUNNING_TOPIC = 'shutdown.engine-running'

export const EMERGENCY_STEPS: readonly (StepDef & { name: EmergencyStepName })[] = [
  {
    step: 1,
    name: 'halt',
    budgetMs: budget('halt'),
    start: (ctx): HaltdEvent[] =>
      ctx.world.tradingMode === 'HALTED' ? [] : [{ type: 'trading.state-changed', data: { to: 'HALTED', reason: why(ctx), origin: 'shutdown' } }],
    plan: planHalt,
  },
  {
    step: 2,
    name: 'latch kill switch',
    budgetMs: budget('latch kill switch'),
    skip: (ctx) => (ctx.world.killSwitchLatched ? 'the kill switch is latched already' : undefined),
    start: (ctx): HaltdEvent[] => [{ type: 'killswitch.activated', data: { reason: why(ctx), origin: originOf(ctx), action: 'EMERGENCY', scope: 'local' } }],
    plan: () => ({ kind: 'complete' }),
  },
  { step: 3, name: 'cancel all orders', budgetMs: budget('cancel all orders'), skip: leftToTheLeader, plan: planCancelAll },
  {
    step: 4,
    name: 'quick checkpoint',
    budgetMs: budget('quick checkpoint'),
    plan: (ctx) => {
      if (ctx.commands.length === 0) return { kind: 'issue', commands: [{ kind: 'write-checkpoint', verify: false }] }
      const c = ctx.commands[0]!
      if (c.outcome === 'ok') return c.detail ? { kind: 'complete', detail: c.detail } : { kind: 'complete' }
      return c.outcome === 'timed-out' ? { kind: 'time-out' } : { kind: 'fail', error: String(c.detail?.error ?? 'checkpoint failed') }
    },
  },
  { step: 5, name: 'stop', budgetMs: budget('stop'), plan: planStop },
]

export const emergency: ProcedureDef = {
  procedure: 'emergency',
  steps: EMERGENCY_STEPS,
  deadlineMs: (o) => o.emergency.deadlineMs,
  strictDeadline: true,
  finish: () => 'emergency',
}
