import { describe, expect, it } from 'vitest'
import { auditFile } from '../../src/audit/audit.js'
import { renderText } from '../../src/audit/render/text.js'
import type { EventInput } from '../../src/events/index.js'
import { tempDb } from '../support/tmp.js'
import { tamper, tradingDay, writeLog } from './fixtures.js'

const SD = 'sd-1'
const order = (
  id: string,
  side: 'buy' | 'sell',
  qty: number,
  origin: { kind: 'strategy' | 'shutdown'; id?: string },
  extra: Record<string, unknown> = {},
): EventInput => ({
  type: 'order.submitted',
  data: { venue: 'binance', clientOrderId: id, symbol: 'BTC/USDT', side, type: 'market', qty, origin, ...extra },
})
const fill = (id: string, qty: number): EventInput => ({
  type: 'order.filled',
  data: { venue: 'binance', clientOrderId: id, tradeId: `t-${id}`, qty, price: 100 },
})
const step = (kind: 'started' | 'completed', n: number, name: string): EventInput => ({
  type: `shutdown.step-${kind}`,
  data: { shutdownId: SD, step: n, name },
})
const requested = (mode: 'graceful' | 'emergency', options: Record<string, unknown> = {}): EventInput => ({
  type: 'shutdown.requested',
  data: { shutdownId: SD, mode, reason: 'test', origin: 'admin', options },
})

/** Audit a log made of the given events (10 ms apart) and return its invariant findings. */
function invariantsOf(events: EventInput[], step = 10) {
  const path = tempDb()
  writeLog(path, events, step).log.close()
  return auditFile(path).findings.filter((f) => f.check === 'invariant')
}

describe('audit: the shutdown invariants', () => {
  it("a strategy order after trading went HALTED is flagged at its seq; the shutdown's own orders are not", () => {
    const found = invariantsOf([
      order('s-1', 'buy', 2, { kind: 'strategy', id: 'mm' }),
      fill('s-1', 2),
      { type: 'trading.state-changed', data: { to: 'HALTED', reason: 'shutdown', origin: 'shutdown' } },
      order('f-1', 'sell', 2, { kind: 'shutdown', id: SD }, { reduceOnly: true }),
      order('s-2', 'buy', 1, { kind: 'strategy', id: 'mm' }),
    ])
    expect(found).toEqual([expect.objectContaining({ kind: 'invariant.order-after-gate-closed', seq: 5 })])
    expect(found[0]!.message).toContain('strategy mm')
    expect(found[0]!.message).toContain('trading HALTED at seq 3')
  })

  it('a strategy order after an emergency request is flagged even before any trading state change', () => {
    const found = invariantsOf([requested('emergency'), order('s-1', 'buy', 1, { kind: 'strategy', id: 'mm' })])
    expect(found).toContainEqual(expect.objectContaining({ kind: 'invariant.order-after-gate-closed', seq: 2 }))
  })

  it('a strategy order is fine again after a reset back to ACTIVE', () => {
    const found = invariantsOf([
      { type: 'trading.state-changed', data: { to: 'HALTED', reason: 'x', origin: 'admin' } },
      { type: 'trading.state-changed', data: { to: 'ACTIVE', reason: 'reset', origin: 'operator' } },
      order('s-1', 'buy', 1, { kind: 'strategy', id: 'mm' }),
    ])
    expect(found).toEqual([])
  })

  it('after a completed shutdown left trading HALTED, a new run trades again once it sets ACTIVE; an order before that is flagged, as the live gate would refuse it', () => {
    const shutdownThenNewRun = (reopen: boolean): EventInput[] => [
      requested('graceful'),
      step('started', 4, 'disable strategies and close the gate'),
      { type: 'trading.state-changed', data: { to: 'HALTED', reason: 'graceful shutdown: test', origin: 'shutdown' } },
      step('completed', 4, 'disable strategies and close the gate'),
      { type: 'shutdown.completed', data: { shutdownId: SD, outcome: 'clean', exitCode: 0, durationMs: 30 } },
      { type: 'run.started', data: { runId: 'run-2', version: '0.1.0', configHash: 'c0ffee', host: 'test', pid: 2 } },
      ...(reopen
        ? [{ type: 'trading.state-changed', data: { to: 'ACTIVE', reason: 'new run run-2 after a completed shutdown', origin: 'restart' } } as EventInput]
        : []),
      order('s-1', 'buy', 1, { kind: 'strategy', id: 'mm' }),
    ]
    expect(invariantsOf(shutdownThenNewRun(true))).toEqual([])
    const found = invariantsOf(shutdownThenNewRun(false))
    expect(found).toEqual([expect.objectContaining({ kind: 'invariant.order-after-gate-closed', seq: 7 })])
    expect(found[0]!.message).toContain('trading HALTED at seq 3')
  })

  it('a flatten order on the side that grows the position, and its fill, are flagged', () => {
    const found = invariantsOf([
      order('s-1', 'buy', 2, { kind: 'strategy', id: 'mm' }),
      fill('s-1', 2),
      order('f-1', 'buy', 1, { kind: 'shutdown', id: SD }),
      fill('f-1', 1),
      order('f-2', 'sell', 3, { kind: 'shutdown', id: SD }),
    ])
    expect(found.map((f) => [f.kind, f.seq])).toEqual([
      ['invariant.flatten-increases-exposure', 3],
      ['invariant.flatten-increased-exposure', 4],
    ])
    // selling 3 against a long 3 flattens exactly: no finding for f-2
  })

  it('given a positions report taken after a flatten order was sent, its fill is judged under both readings (the report held it or not): flagged where both grow the position, and named as not judged where they disagree', () => {
    const observed = (qty: number): EventInput => ({ type: 'venue.positions-observed', data: { venue: 'binance', positions: [{ symbol: 'BTC/USDT', qty }] } })
    // a buy against a long 2, the report after it still saying 2: the fill grows |position| whichever the report held
    const grows = tempDb()
    writeLog(grows, [
      order('s-1', 'buy', 2, { kind: 'strategy', id: 'mm' }),
      fill('s-1', 2),
      order('f-1', 'buy', 1, { kind: 'shutdown', id: SD }),
      observed(2),
      fill('f-1', 1),
    ]).log.close()
    const grown = auditFile(grows)
    expect(grown.findings.filter((f) => f.check === 'invariant').map((f) => [f.kind, f.seq])).toEqual([
      ['invariant.flatten-increases-exposure', 3],
      ['invariant.flatten-increased-exposure', 5],
    ])
    expect(grown.findings.find((f) => f.seq === 5)!.message).toContain('whether or not the positions report at seq 4')
    expect(grown.coverage.flattenFills).toEqual({ judged: 1, unjudged: 0, unjudgedSeqs: [] })

    // a sell of 3 against a long 2, the report after it saying -1: right if it held the fill (2 to -1), wrong if not (-1 to -4)
    const unsure = tempDb()
    writeLog(unsure, [
      order('s-1', 'buy', 2, { kind: 'strategy', id: 'mm' }),
      fill('s-1', 2),
      order('f-2', 'sell', 3, { kind: 'shutdown', id: SD }),
      observed(-1),
      fill('f-2', 3),
    ]).log.close()
    const report = auditFile(unsure)
    expect(report.findings.filter((f) => f.check === 'invariant')).toEqual([])
    expect(report.coverage.flattenFills).toEqual({ judged: 0, unjudged: 1, unjudgedSeqs: [5] })
    expect(renderText(report)).toContain('1 flatten fill(s) NOT judged (seq 5)')
  })

  it('an order recorded canceled without a venue confirmation is an invariant finding as well as a schema one', () => {
    const path = tempDb()
    writeLog(path, [
      order('s-1', 'buy', 1, { kind: 'strategy', id: 'mm' }),
      { type: 'order.canceled', data: { venue: 'binance', clientOrderId: 's-1', confirmedBy: 'ack' } },
    ]).log.close()
    tamper(path, (db) => db.prepare(`UPDATE events SET data = replace(data, ',"confirmedBy":"ack"', '') WHERE seq = 2`).run())
    const report = auditFile(path)
    expect(report.findings.map((f) => [f.check, f.kind, f.seq])).toEqual(
      expect.arrayContaining([
        ['schema', 'schema.invalid', 2],
        ['invariant', 'invariant.canceled-without-confirmation', 2],
      ]),
    )
  })

  it('a shutdown that completes with a cancel still pending has dropped it silently', () => {
    const found = invariantsOf([
      order('s-1', 'buy', 1, { kind: 'strategy', id: 'mm' }, { type: 'limit', price: 90 }),
      { type: 'order.accepted', data: { venue: 'binance', clientOrderId: 's-1', venueOrderId: 'V1' } },
      requested('graceful'),
      { type: 'order.cancel-requested', data: { venue: 'binance', clientOrderId: 's-1', origin: 'shutdown' } },
      { type: 'shutdown.completed', data: { shutdownId: SD, outcome: 'clean', exitCode: 0, durationMs: 20 } },
    ])
    expect(found).toEqual([expect.objectContaining({ kind: 'invariant.cancel-dropped', seq: 5 })])
  })

  it('given a shutdown that completed with an engine action requested and never ended, it is flagged; one ended (abandoned included) is not, nor one the process took with it when it died', () => {
    const asked = (action: string): EventInput => ({ type: 'engine.action-requested', data: { action, how: 'command stop-engine', shutdownId: SD } })
    const ended = (action: string, result: string): EventInput => ({
      type: 'engine.action-completed',
      data: {
        action,
        result,
        durationMs: 5,
        shutdownId: SD,
        ...(result === 'abandoned' ? { error: 'abandoned: the shutdown was escalated to emergency' } : {}),
      },
    })
    const completed: EventInput = { type: 'shutdown.completed', data: { shutdownId: SD, outcome: 'emergency', exitCode: 3, durationMs: 20 } }
    const found = invariantsOf([requested('graceful'), asked('stop'), asked('freeze'), ended('freeze', 'done'), completed])
    expect(found.map((f) => [f.kind, f.seq])).toEqual([['invariant.engine-action-never-ended', 2]])
    expect(found[0]!.message).toBe(
      "seq 2: the engine action 'stop' of shutdown sd-1 was requested and never ended (the shutdown completed at seq 5 without its outcome)",
    )
    expect(invariantsOf([requested('graceful'), asked('stop'), ended('stop', 'abandoned'), asked('freeze'), ended('freeze', 'done'), completed])).toEqual([])
    const crashed: EventInput = { type: 'run.started', data: { runId: 'r-2', version: 'x', configHash: 'h', host: 'h', pid: 2 } }
    expect(invariantsOf([requested('graceful'), asked('stop'), crashed, completed]).map((f) => f.kind)).not.toContain('invariant.engine-action-never-ended')
  })

  it('given engine actions that carry ids, each end pairs with the request of its id: the one left open is flagged at its own seq, an end no request has is flagged, and v1 actions without ids still pair by action', () => {
    const asked = (actionId: string | undefined, action: string): EventInput => ({
      type: 'engine.action-requested',
      data: { action, how: 'command is-engine-gone', shutdownId: SD, ...(actionId ? { actionId } : {}) },
    })
    const ended = (actionId: string | undefined, action: string): EventInput => ({
      type: 'engine.action-completed',
      data: { action, result: 'done', gone: false, evidence: 'exit 1', durationMs: 5, shutdownId: SD, ...(actionId ? { actionId } : {}) },
    })
    const completed: EventInput = { type: 'shutdown.completed', data: { shutdownId: SD, outcome: 'failed', exitCode: 1, durationMs: 20 } }
    // given two looks out at once, when only the second ends, then the first is the one never ended
    const found = invariantsOf([requested('graceful'), asked('c:engine:1', 'check'), asked('c:engine:2', 'check'), ended('c:engine:2', 'check'), completed])
    expect(found.map((f) => [f.kind, f.seq])).toEqual([['invariant.engine-action-never-ended', 2]])
    // an end whose id no request carries (or a second end of one) is flagged where it stands
    const stray = invariantsOf([requested('graceful'), asked('c:engine:1', 'stop'), ended('c:engine:1', 'stop'), ended('c:engine:1', 'stop'), completed])
    expect(stray.map((f) => [f.kind, f.seq])).toEqual([['invariant.engine-action-end-without-request', 4]])
    // an end that names its request but another action is flagged
    const mismatched = invariantsOf([requested('graceful'), asked('c:engine:1', 'stop'), ended('c:engine:1', 'kill'), completed])
    expect(mismatched.map((f) => [f.kind, f.seq])).toEqual([['invariant.engine-action-mismatched', 3]])
    // actions recorded before ids (v1) pair by action, oldest first, as they did
    expect(
      invariantsOf([
        requested('graceful'),
        asked(undefined, 'check'),
        asked(undefined, 'check'),
        ended(undefined, 'check'),
        ended(undefined, 'check'),
        completed,
      ]),
    ).toEqual([])
  })

  it('a started step without an end, and an end without a start, are both flagged', () => {
    const found = invariantsOf([requested('graceful'), step('started', 1, 'announce'), step('completed', 2, 'lock deployments and config')])
    expect(found.map((f) => [f.kind, f.seq])).toEqual([
      ['invariant.step-end-without-start', 3],
      ['invariant.step-never-ended', 2],
    ])
  })

  it('a step started again while still open is one open step, flagged at its newest start; open steps are listed in the order they opened', () => {
    const found = invariantsOf([
      requested('graceful'),
      step('started', 1, 'announce'),
      step('started', 2, 'lock deployments and config'),
      step('started', 1, 'announce'),
      { type: 'shutdown.completed', data: { shutdownId: SD, outcome: 'failed', exitCode: 1, durationMs: 20 } },
    ])
    expect(found.map((f) => [f.kind, f.seq])).toEqual([
      ['invariant.step-never-ended', 4],
      ['invariant.step-never-ended', 3],
    ])
    expect(found[0]!.message).toBe('seq 4: step 1 (announce) of shutdown sd-1 started and never ended (the shutdown completed without it)')
  })

  it('given a log that ends in the middle of a shutdown’s step (kill -9), that step is unfinished, not a finding; an earlier step left open still is', () => {
    expect(
      invariantsOf([
        requested('graceful'),
        step('started', 1, 'announce'),
        step('completed', 1, 'announce'),
        step('started', 2, 'lock deployments and config'),
      ]),
    ).toEqual([])
    const found = invariantsOf([requested('graceful'), step('started', 1, 'announce'), step('started', 2, 'lock deployments and config')])
    expect(found.map((f) => [f.kind, f.seq])).toEqual([['invariant.step-never-ended', 2]])
  })

  it('an end closes the newest start of its step: a second end without a start between is flagged', () => {
    const found = invariantsOf([
      requested('graceful'),
      step('started', 1, 'announce'),
      step('started', 1, 'announce'),
      step('completed', 1, 'announce'),
      step('completed', 1, 'announce'),
    ])
    expect(found.map((f) => [f.kind, f.seq])).toEqual([['invariant.step-end-without-start', 5]])
  })

  it('an emergency path that took longer than the deadline it was started with is flagged at its completion', () => {
    const events: EventInput[] = [requested('emergency', { emergency: { deadlineMs: 1_000 } }), step('started', 1, 'halt'), step('completed', 1, 'halt')]
    events.push({ type: 'shutdown.completed', data: { shutdownId: SD, outcome: 'emergency', exitCode: 3, durationMs: 1_500 } })
    const late = invariantsOf(events, 500)
    expect(late).toEqual([expect.objectContaining({ kind: 'invariant.deadline-missed', seq: 4 })])
    expect(late[0]!.message).toContain('1500 ms, past its 1000 ms deadline')
    expect(invariantsOf(events, 100)).toEqual([])
  })

  it('a day of ordinary trading holds every invariant', () => {
    expect(invariantsOf([...tradingDay(30)])).toEqual([])
  })
})
