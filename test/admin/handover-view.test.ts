import { describe, expect, it } from 'vitest'
import { evolveHandoverView, type HandoverView } from '../../src/admin/dashboard/handover-view.js'
import type { Envelope } from '../../src/events/envelope.js'

let seq = 0
const at = (ts: number, type: string, data: object) => ({ seq: ++seq, ts, type, data }) as unknown as Envelope
const fold = (events: Envelope[]) => events.reduce<HandoverView | undefined>(evolveHandoverView, undefined)
const statuses = (v: HandoverView | undefined) => Object.fromEntries((v?.steps ?? []).map((s) => [s.step, s.status]))

const requested = at(1_000, 'handover.requested', { handoverId: 'h1', from: 'a', to: 'b', budgetMs: 5_000, reason: 'patch', by: 'adam (admin)' })
const step = (ts: number, name: string, phase: string, budgetMs = 0, detail?: string) =>
  at(ts, 'handover.step', { handoverId: 'h1', step: name, phase, budgetMs, ...(detail ? { detail } : {}) })

describe('the handover timeline the page shows', () => {
  it('given no handover requested, shows none, whatever else the log holds', () => {
    expect(fold([at(1, 'order.accepted', {}), step(2, 'close-gate', 'started')])).toBeUndefined()
  })

  it('given a request and the first step running, lists all eight steps in order with times and budgets', () => {
    const v = fold([
      requested,
      step(1_010, 'close-gate', 'started', 100),
      step(1_012, 'close-gate', 'completed', 0, 'no new order passes'),
      step(1_013, 'settle-in-flight', 'started', 2_000),
    ])
    expect(v).toMatchObject({ handoverId: 'h1', from: 'a', to: 'b', reason: 'patch', by: 'adam (admin)', budgetMs: 5_000, requestedAt: 1_000, outcome: null })
    expect(v!.steps.map((s) => s.step)).toEqual([
      'close-gate',
      'settle-in-flight',
      'flush-replication',
      'release-lease',
      'confirm-last-seq',
      'take-lease',
      'adopt-orders',
      'open-gate',
    ])
    expect(v!.steps[0]).toEqual({ step: 'close-gate', status: 'completed', budgetMs: 100, startedAt: 1_010, endedAt: 1_012, detail: 'no new order passes' })
    expect(v!.steps[1]).toEqual({ step: 'settle-in-flight', status: 'running', budgetMs: 2_000, startedAt: 1_013, endedAt: null })
  })

  it('given a failed step and a roll-back, marks the failure, adds the roll-back, and the steps never reached as not run', () => {
    const v = fold([
      requested,
      step(1_010, 'close-gate', 'started', 100),
      step(1_011, 'close-gate', 'completed'),
      step(1_012, 'settle-in-flight', 'started', 2_000),
      step(3_012, 'settle-in-flight', 'failed', 0, '2 submits unanswered after 2000 ms'),
      step(3_013, 'roll-back', 'started', 0, 'settle-in-flight failed'),
      step(3_014, 'roll-back', 'completed'),
      at(3_015, 'handover.completed', { handoverId: 'h1', outcome: 'rolled-back', reason: 'settle-in-flight failed' }),
    ])
    expect(statuses(v)).toEqual({
      'close-gate': 'completed',
      'settle-in-flight': 'failed',
      'flush-replication': 'not run',
      'release-lease': 'not run',
      'confirm-last-seq': 'not run',
      'take-lease': 'not run',
      'adopt-orders': 'not run',
      'open-gate': 'not run',
      'roll-back': 'completed',
    })
    expect(v).toMatchObject({ outcome: 'rolled-back', completedAt: 3_015 })
  })

  it('given a newer handover, shows only the newer one; events of another handover change nothing', () => {
    const other = at(5_000, 'handover.requested', { handoverId: 'h2', from: 'b', to: 'a', budgetMs: 4_000, reason: 'back' })
    const v = fold([requested, step(1_010, 'close-gate', 'started', 100), other, step(5_001, 'close-gate', 'completed')])
    expect(v).toMatchObject({ handoverId: 'h2', to: 'a' })
    expect(statuses(v)['close-gate']).toBe('pending')
  })
})
