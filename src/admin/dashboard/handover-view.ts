import { LEADER_STEPS, STANDBY_STEPS, type HandoverStep } from '../../core/handover/decider.js'
import type { EventLog } from '../../core/log/event-log.js'
import type { Envelope } from '../../events/envelope.js'
import type { EventData } from '../../events/catalogue.js'

type StepRow = {
  step: HandoverStep
  status: 'pending' | 'running' | 'completed' | 'failed' | 'not run'
  budgetMs: number
  startedAt: number | null
  endedAt: number | null
  detail?: string
}

/** The page's timeline of the latest handover: its steps in order (the leader's, then the new leader's), each with its times. */
export type HandoverView = {
  handoverId: string
  from: string
  to: string
  reason: string
  by: string | null
  budgetMs: number
  requestedAt: number
  outcome: 'handed-over' | 'rolled-back' | null
  completedAt: number | null
  steps: StepRow[]
}

const ORDER: readonly HandoverStep[] = [...LEADER_STEPS.map((s) => s.step), ...STANDBY_STEPS]

/** One handover event folded into its timeline; `undefined` starts none. Pure. */
export function evolveHandoverView(view: HandoverView | undefined, e: Envelope): HandoverView | undefined {
  if (e.type === 'handover.requested') {
    const d = e.data as EventData<'handover.requested'>
    return {
      handoverId: d.handoverId,
      from: d.from,
      to: d.to,
      reason: d.reason,
      by: d.by ?? null,
      budgetMs: d.budgetMs,
      requestedAt: e.ts,
      outcome: null,
      completedAt: null,
      steps: ORDER.map((step) => ({ step, status: 'pending', budgetMs: 0, startedAt: null, endedAt: null })),
    }
  }
  if (!view) return view
  if (e.type === 'handover.step') {
    const d = e.data as EventData<'handover.step'>
    if (d.handoverId !== view.handoverId) return view
    const steps = view.steps.some((s) => s.step === d.step)
      ? view.steps
      : [...view.steps, { step: d.step, status: 'pending' as const, budgetMs: 0, startedAt: null, endedAt: null }]
    return {
      ...view,
      steps: steps.map((s) =>
        s.step !== d.step
          ? s
          : d.phase === 'started'
            ? { ...s, status: 'running', budgetMs: d.budgetMs, startedAt: e.ts }
            : {
                ...s,
                status: d.phase,
                startedAt: s.startedAt ?? e.ts,
                endedAt: e.ts,
                ...(d.detail !== undefined ? { detail: d.detail } : {}),
              },
      ),
    }
  }
  if (e.type === 'handover.completed') {
    const d = e.data as EventData<'handover.completed'>
    if (d.handoverId !== view.handoverId) return view
    // rolled back: the steps it never reached will not run
    const steps = d.outcome === 'rolled-back' ? view.steps.map((s) => (s.status === 'pending' ? { ...s, status: 'not run' as const } : s)) : view.steps
    return { ...view, outcome: d.outcome, completedAt: e.ts, steps }
  }
  return view
}

/**
 * The latest handover this log holds from `since` on (a promoted standby passes the one that made
 * it leader, read by its stream), kept up to date by one subscriber that looks only at handover events.
 */
export function watchHandovers(log: EventLog, since?: { handoverId: string }): { current(): HandoverView | null; stop(): void } {
  let view: HandoverView | undefined
  if (since) for (const e of log.read({ stream: `handover:${since.handoverId}` })) view = evolveHandoverView(view, e)
  const stop = log.subscribe(log.lastSeq + 1, (e) => {
    if (e.type.startsWith('handover.')) view = evolveHandoverView(view, e)
  })
  return { current: () => view ?? null, stop }
}
