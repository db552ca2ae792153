import { describe, expect, it } from 'vitest'
import { decideShutdown, foldShutdown, ShutdownAlreadyStarted, ShutdownFinished } from '../../src/core/shutdown/decider.js'
import { resumePoint } from '../../src/core/shutdown/controller.js'
import { INTERRUPTED, shutdownStatus, type ShutdownFact } from '../../src/core/shutdown/procedure.js'
import { SERVICE_ORDER } from '../../src/core/shutdown/graceful.js'
import { InvalidShutdownOptions } from '../../src/core/shutdown/options.js'
import {
  advanceWith,
  answer,
  appended,
  commandsOf,
  commandsOfStep,
  driveTo,
  order,
  requested,
  SD,
  stepEvents,
  decided,
  world,
  positionsObserved,
} from './given.js'

const flat = world()

describe('graceful shutdown decider: the runbook in order', () => {
  it('records the request with its options and the venues it was told about', () => {
    const out = decideShutdown(
      { kind: 'start', shutdownId: SD, request: { mode: 'graceful', reason: 'deploy', origin: 'signal' }, options: { graceful: { flatten: 'aggressive' } } },
      foldShutdown([]),
    )
    expect(out).toHaveLength(1)
    expect(out[0]!.type).toBe('shutdown.requested')
    expect((out[0]!.data as unknown as { options: { graceful: { flatten: string; waitTimeoutMs: number } } }).options.graceful).toMatchObject({
      flatten: 'aggressive',
      waitTimeoutMs: 60_000,
    })
  })

  it('refuses a second start in the same stream and options it cannot use, naming the field', () => {
    expect(() => decided([requested()], { kind: 'start', shutdownId: SD, request: { mode: 'graceful', reason: 'x', origin: 'cli' }, options: {} })).toThrow(
      ShutdownAlreadyStarted,
    )
    expect(() =>
      decideShutdown(
        { kind: 'start', shutdownId: SD, request: { mode: 'graceful', reason: 'x', origin: 'cli' }, options: { graceful: { flatten: 'yolo' } } },
        foldShutdown([]),
      ),
    ).toThrow(/graceful\.flatten/)
    expect(() =>
      decideShutdown(
        { kind: 'start', shutdownId: SD, request: { mode: 'graceful', reason: 'x', origin: 'cli' }, options: { graceful: { waitTimeoutMs: -1 } } },
        foldShutdown([]),
      ),
    ).toThrow(InvalidShutdownOptions)
  })

  it('refuses a budget for a step that does not exist, and replays a stored request whose budgets name one as it ran', () => {
    expect(() =>
      decideShutdown(
        {
          kind: 'start',
          shutdownId: SD,
          request: { mode: 'graceful', reason: 'x', origin: 'cli' },
          options: { graceful: { budgets: { 'cancel-and-flatten': 5 } } },
        },
        foldShutdown([]),
      ),
    ).toThrow(/graceful\.budgets/)
    const stored = requested() as Extract<ShutdownFact, { type: 'shutdown.requested' }>
    const options = stored.data.options as { graceful: object }
    const old: ShutdownFact = {
      ...stored,
      data: { ...stored.data, options: { ...options, graceful: { ...options.graceful, budgets: { 'cancel-and-flatten': 5, reconcile: 7 } } } },
    }
    const state = foldShutdown([old])
    expect(state.options.graceful.budgets).toEqual({ reconcile: 7 })
    expect(stepEvents(decided([old], advanceWith(flat)))).toEqual(['step-started 1'])
  })

  it('step 1 announces: status SHUTTING_DOWN_SOON, one notification saying so, then ends on its outcome', () => {
    expect(shutdownStatus(foldShutdown([requested()]))).toBe('SHUTTING_DOWN_SOON')
    const out = decided([requested()], advanceWith(flat))
    expect(stepEvents(out)).toEqual(['step-started 1'])
    expect(commandsOf(out)).toEqual([
      {
        kind: 'notify',
        topic: 'shutdown.announce',
        severity: 'warning',
        message: 'status SHUTTING_DOWN_SOON: haltd is shutting down soon (graceful): maintenance',
      },
    ])
    expect((out[1]!.data as { commandId: string }).commandId).toBe('sd-1:graceful.1:1')
    expect(shutdownStatus(foldShutdown(answer([requested()], out)))).toBe('SHUTTING_DOWN_SOON')
  })

  it('the status turns SHUTTING_DOWN once step 4 closes the gate, SHUT_DOWN at the end, EMERGENCY_SHUTDOWN on the emergency path', () => {
    expect(shutdownStatus(foldShutdown(driveTo('disable strategies and close the gate', flat)))).toBe('SHUTTING_DOWN_SOON')
    expect(shutdownStatus(foldShutdown(driveTo('cancel orders and flatten', flat)))).toBe('SHUTTING_DOWN')
    expect(shutdownStatus(foldShutdown([requested({}, 'emergency')]))).toBe('EMERGENCY_SHUTDOWN')
    const escalated = decided([requested()], { kind: 'request', request: { mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' } })
    expect(shutdownStatus(foldShutdown(appended([requested()], escalated)))).toBe('EMERGENCY_SHUTDOWN')
    expect(
      shutdownStatus(
        foldShutdown([requested(), { type: 'shutdown.completed', data: { shutdownId: SD, outcome: 'clean', exitCode: 0, durationMs: 5 }, ts: 2_000 }]),
      ),
    ).toBe('SHUT_DOWN')
    expect(shutdownStatus(foldShutdown([]))).toBeUndefined()
  })

  it('steps 2–4 lock deployments, skip limits when none is configured, halt trading and close the gate', () => {
    const given = answer([requested()], decided([requested()], advanceWith(flat)))
    const out = decided(given, advanceWith(flat))
    expect(stepEvents(out)).toEqual(['step-completed 1', 'step-started 2', 'step-completed 2', 'step-skipped 3', 'step-started 4'])
    expect(out.find((e) => e.type === 'deployments.locked')?.data).toEqual({ reason: 'graceful shutdown: maintenance', origin: 'shutdown' })
    expect(out.find((e) => e.type === 'trading.state-changed')?.data).toMatchObject({ to: 'HALTED', origin: 'shutdown' })
    expect(commandsOf(out)).toEqual([{ kind: 'close-gate' }, { kind: 'disable-strategies' }])
  })

  it('step 3 cuts limits by the configured percentage', () => {
    const given = driveTo('reduce position limits', flat, { graceful: { reduceLimitsPct: 50 } })
    expect(commandsOf(decided(given, advanceWith(flat)))).toEqual([{ kind: 'reduce-limits', pct: 50 }])
  })

  it('does not record HALTED again when trading is halted already', () => {
    const halted = world({ tradingMode: 'HALTED' })
    const given = driveTo('disable strategies and close the gate', halted)
    expect(decided(given, advanceWith(halted)).some((e) => e.type === 'trading.state-changed')).toBe(false)
  })

  it('at step 4 stops the engine within the stop budget the shutdown recorded, and a shutdown recorded without one (an older log) with the step budget as it did', () => {
    const bounded = driveTo('disable strategies and close the gate', flat, { engine: { stopMs: 1_500 } })
    expect(commandsOf(decided(bounded, advanceWith(flat)))).toContainEqual({ kind: 'control-engine', action: 'stop', timeoutMs: 1_500 })
    const older = driveTo('disable strategies and close the gate', flat, { engine: {} })
    expect(commandsOf(decided(older, advanceWith(flat)))).toContainEqual({ kind: 'control-engine', action: 'stop' })
  })

  describe('step 5: cancel, then flatten', () => {
    const step5 = 'cancel orders and flatten'
    const a1 = order({ venue: 'alpha' })
    const b1 = order({ venue: 'bravo', side: 'sell', price: 110 })
    const b2 = order({ venue: 'bravo', venueOrderId: 'v-9' })

    const cases: { name: string; world: ReturnType<typeof world>; options?: object; observed?: boolean; expect: unknown[] }[] = [
      {
        name: 'one mass cancel where the venue has one, per-order cancels where it has none',
        world: world({ orders: [a1, b1, b2] }),
        expect: [
          { kind: 'cancel-all', venue: 'alpha', scope: 'own', orders: 1, round: 1 },
          { kind: 'cancel-order', venue: 'bravo', clientOrderId: b1.clientOrderId, symbol: b1.symbol, round: 1 },
          { kind: 'cancel-order', venue: 'bravo', clientOrderId: b2.clientOrderId, symbol: b2.symbol, venueOrderId: 'v-9', round: 1 },
        ],
      },
      {
        name: 'with flatten none and cancelOnlyAggressive, only orders that take liquidity (a passive one is kept)',
        world: world({
          orders: [
            order({ venue: 'bravo', clientOrderId: 'passive', price: 90 }),
            order({ venue: 'bravo', clientOrderId: 'through', price: 101 }),
            order({ venue: 'bravo', clientOrderId: 'ioc', timeInForce: 'IOC' }),
          ],
          marks: { 'bravo BTC/USDT:USDT': 100 },
        }),
        options: { graceful: { flatten: 'none', cancelOnlyAggressive: true } },
        expect: [
          { kind: 'cancel-order', venue: 'bravo', clientOrderId: 'through', symbol: 'BTC/USDT:USDT', round: 1 },
          { kind: 'cancel-order', venue: 'bravo', clientOrderId: 'ioc', symbol: 'BTC/USDT:USDT', round: 1 },
        ],
      },
      {
        name: 'aggressive: no orders left, a reduce-only market order against each open position',
        world: world({
          positions: [
            { venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 2 },
            { venue: 'bravo', symbol: 'ETH/USDT:USDT', qty: -0.5 },
          ],
        }),
        options: { graceful: { flatten: 'aggressive' } },
        observed: true,
        expect: [
          { kind: 'flatten', venue: 'alpha', symbol: 'BTC/USDT:USDT', side: 'sell', qty: 2, type: 'market', position: 2, round: 1 },
          { kind: 'flatten', venue: 'bravo', symbol: 'ETH/USDT:USDT', side: 'buy', qty: 0.5, type: 'market', position: -0.5, round: 1 },
        ],
      },
      {
        name: 'conservative: a limit IOC at mid first',
        world: world({ positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 2 }], marks: { 'alpha BTC/USDT:USDT': 101.5 } }),
        options: { graceful: { flatten: 'conservative' } },
        observed: true,
        expect: [{ kind: 'flatten', venue: 'alpha', symbol: 'BTC/USDT:USDT', side: 'sell', qty: 2, type: 'limit', price: 101.5, position: 2, round: 1 }],
      },
      {
        name: 'none: positions are kept, the step ends',
        world: world({ positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 2 }] }),
        options: { graceful: { flatten: 'none' } },
        expect: [],
      },
    ]
    for (const c of cases) {
      it(c.name, () => {
        const reached = driveTo(step5, c.world, c.options)
        const given = c.observed ? positionsObserved(reached, c.world) : reached
        expect(commandsOfStep(decided(given, advanceWith(c.world)), 5)).toEqual(c.expect)
      })
    }

    it('once the cancels are done, asks every venue what it holds before sizing any flatten, each question bounded', () => {
      const w = world({ positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 2 }] })
      const given = driveTo(step5, w, { graceful: { flatten: 'aggressive' } })
      expect(commandsOfStep(decided(given, advanceWith(w)), 5)).toEqual(
        ['alpha', 'bravo'].map((venue) => ({ kind: 'observe-venue', venue, what: ['positions'], timeoutMs: 15_000 })),
      )
      // a venue that could not say still gets its flatten, sized by what haltd knows
      const unanswered = answer(given, decided(given, advanceWith(w)), 'timed-out')
      expect(commandsOfStep(decided(unanswered, advanceWith(w)), 5)).toEqual([
        { kind: 'flatten', venue: 'alpha', symbol: 'BTC/USDT:USDT', side: 'sell', qty: 2, type: 'market', position: 2, round: 1 },
      ])
    })

    it('a shutdown recorded before step 5 asked for positions replays as it ran: straight to the flatten', () => {
      const w = world({ positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 2 }] })
      const given = driveTo(step5, w, { graceful: { flatten: 'aggressive', observePositions: false } })
      expect(commandsOfStep(decided(given, advanceWith(w)), 5)).toEqual([
        { kind: 'flatten', venue: 'alpha', symbol: 'BTC/USDT:USDT', side: 'sell', qty: 2, type: 'market', position: 2, round: 1 },
      ])
    })

    it('waits for fills racing the cancels to settle before the next round, then cancels what is left order by order', () => {
      const w = world({ orders: [a1] })
      const given = driveTo(step5, w)
      const round1 = decided(given, advanceWith(w))
      const after = answer(given, round1)
      expect(commandsOf(decided(after, advanceWith(w)))).toEqual([{ kind: 'await-orders', which: 'all', timeoutMs: 2_000 }])
      const settled = answer(after, decided(after, advanceWith(w)), 'timed-out')
      expect(commandsOf(decided(settled, advanceWith(w)))).toEqual([
        { kind: 'cancel-order', venue: 'alpha', clientOrderId: a1.clientOrderId, symbol: a1.symbol, round: 2 },
      ])
    })

    it('sizes the flatten from the projections after the cancels, not from before (a fill raced a cancel)', () => {
      const before = world({ orders: [a1], positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 1 }] })
      const opts = { graceful: { flatten: 'aggressive' as const } }
      const given = driveTo(step5, before, opts)
      const cancelled = answer(given, decided(given, advanceWith(before)))
      // the order filled instead of cancelling: the position grew by its quantity
      const afterFill = world({ positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 2 }] })
      expect(commandsOf(decided(positionsObserved(cancelled, afterFill), advanceWith(afterFill)))).toEqual([
        { kind: 'flatten', venue: 'alpha', symbol: 'BTC/USDT:USDT', side: 'sell', qty: 2, type: 'market', position: 2, round: 1 },
      ])
    })

    it('conservative escalates to market for what the limit IOC left', () => {
      const w = world({ positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 2 }], marks: { 'alpha BTC/USDT:USDT': 100 } })
      const opts = { graceful: { flatten: 'conservative' as const } }
      const given = positionsObserved(driveTo(step5, w, opts), w)
      const left = world({ positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 0.7 }], marks: { 'alpha BTC/USDT:USDT': 100 } })
      expect(commandsOf(decided(answer(given, decided(given, advanceWith(w))), advanceWith(left)))).toEqual([
        { kind: 'flatten', venue: 'alpha', symbol: 'BTC/USDT:USDT', side: 'sell', qty: 0.7, type: 'market', position: 0.7, round: 2 },
      ])
    })

    it('never tops up while a flatten order of its own is still live: it waits for it, then stops', () => {
      const w = world({ positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 2 }] })
      const opts = { graceful: { flatten: 'aggressive' as const } }
      const given = positionsObserved(driveTo(step5, w, opts), w)
      const sent = answer(given, decided(given, advanceWith(w)))
      const pending = world({
        positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 2 }],
        orders: [order({ origin: { kind: 'shutdown', id: SD }, side: 'sell', type: 'market', reduceOnly: true })],
      })
      const wait = decided(sent, advanceWith(pending))
      expect(commandsOf(wait)).toEqual([{ kind: 'await-orders', which: 'shutdown', timeoutMs: 2_000 }])
      const out = decided(answer(sent, wait, 'timed-out'), advanceWith(pending))
      expect(commandsOfStep(out, 5)).toEqual([])
      expect(out[0]).toMatchObject({ type: 'shutdown.step-timed-out', data: { step: 5 } })
    })

    it('gives up after the last flatten round and reports the residual position in the step', () => {
      const w = world({ positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 2 }] })
      const opts = { graceful: { flatten: 'aggressive' as const, maxFlattenRounds: 2 } }
      let given = positionsObserved(driveTo(step5, w, opts), w)
      for (let i = 0; i < 2; i++) given = answer(given, decided(given, advanceWith(w)), 'failed', { error: 'no liquidity' })
      const out = decided(given, advanceWith(w))
      expect(out[0]).toMatchObject({
        type: 'shutdown.step-completed',
        data: { step: 5, detail: { flattenRounds: 2, positions: [{ venue: 'alpha', qty: 2 }] } },
      })
    })
  })

  it('step 6 keeps asking about unconfirmed cancels while it waits, and times out with what remains', () => {
    const stuck = order({ status: 'cancel-unconfirmed' })
    const w = world({ orders: [stuck] })
    const given = driveTo('wait for order completion', w, { graceful: { maxCancelRounds: 1, waitTimeoutMs: 500 } })
    const out = decided(given, advanceWith(w))
    expect(commandsOf(out)).toEqual([
      { kind: 'cancel-order', venue: 'alpha', clientOrderId: stuck.clientOrderId, symbol: stuck.symbol, round: 1 },
      { kind: 'await-orders', which: 'all', timeoutMs: 500 },
    ])
    const end = decided(answer(given, out, 'timed-out'), advanceWith(w))
    expect(end[0]).toMatchObject({
      type: 'shutdown.step-timed-out',
      data: { step: 6, remaining: { count: 1, orders: [`alpha:${stuck.clientOrderId}:cancel-unconfirmed`] } },
    })
  })

  it('step 6 asks again every round until the wait timeout is spent, waiting twice as long each time, about every order not yet finished', () => {
    const stuck = order({ status: 'cancel-unconfirmed' })
    const rejected = order({ venue: 'bravo', status: 'open', venueOrderId: 'v-7' }) // its cancel was refused: still live
    const w = world({ orders: [stuck, rejected] })
    let given = driveTo('wait for order completion', w, { graceful: { maxCancelRounds: 1, settleMs: 100, waitTimeoutMs: 1_000 } })
    const slices: number[] = []
    for (let round = 1; round <= 10; round++) {
      const out = decided(given, advanceWith(w))
      if (out[0]?.type === 'shutdown.step-timed-out') break
      const cmds = commandsOf(out)
      expect(cmds.slice(0, 2)).toEqual([
        { kind: 'cancel-order', venue: 'alpha', clientOrderId: stuck.clientOrderId, symbol: stuck.symbol, round },
        { kind: 'cancel-order', venue: 'bravo', clientOrderId: rejected.clientOrderId, symbol: rejected.symbol, venueOrderId: 'v-7', round },
      ])
      slices.push((cmds[2] as { timeoutMs: number }).timeoutMs)
      given = answer(given, out, 'timed-out')
    }
    expect(slices).toEqual([100, 200, 400, 300])
    expect(decided(given, advanceWith(w))[0]).toMatchObject({ type: 'shutdown.step-timed-out', data: { step: 6, remaining: { count: 2 } } })
    // once the orders are gone the step completes, whatever round it is in
    expect(decided(given, advanceWith(flat))[0]).toMatchObject({ type: 'shutdown.step-completed', data: { step: 6, detail: { remaining: 0 } } })
  })

  it('step 7 observes every venue (those told about and those holding orders) and fails naming a venue that did not answer', () => {
    const w = world({ orders: [order({ venue: 'zulu' })] })
    const given = driveTo('reconcile', w, { graceful: { maxCancelRounds: 1 } })
    const out = decided(given, advanceWith(w))
    expect(commandsOf(out)).toEqual(['alpha', 'bravo', 'zulu'].map((venue) => ({ kind: 'observe-venue', venue })))
    const failed = decided(answer(given, out, 'failed'), advanceWith(w))
    expect(failed[0]).toMatchObject({ type: 'shutdown.step-failed', data: { step: 7, error: 'could not reconcile with alpha, bravo, zulu' } })
  })

  it('step 8 writes a verified checkpoint; when it fails the shutdown still runs every later step and ends failed (exit 1)', () => {
    let given = driveTo('checkpoint', flat)
    const out = decided(given, advanceWith(flat))
    expect(commandsOf(out)).toEqual([{ kind: 'write-checkpoint', verify: true }])
    given = answer(given, out, 'failed', { error: 'EACCES', recovery: 'replay the log' })
    const rest = decided(given, advanceWith(flat))
    expect(stepEvents(rest)).toEqual(['step-failed 8', 'step-started 9'])
    let log = answer(given, rest)
    for (let guard = 0; guard < 20; guard++) {
      const next = decided(log, advanceWith(flat))
      const done = next.find((e) => e.type === 'shutdown.completed')
      if (done) {
        expect(done.data).toMatchObject({ outcome: 'failed', exitCode: 1 })
        return
      }
      log = answer(log, next)
    }
    throw new Error('the shutdown never completed')
  })

  it('a final health check that fails (a socket left open, the log not flushed) ends the shutdown failed (exit 1), after the report', () => {
    let log = driveTo('health check', flat)
    const check = decided(log, advanceWith(flat))
    expect(commandsOf(check)).toEqual([{ kind: 'health-check' }])
    log = answer(log, check, 'failed', { error: '1 outbound socket(s) still open after the venues and services closed: 127.0.0.1:40000 -> 127.0.0.1:443' })
    for (let guard = 0; guard < 10; guard++) {
      const next = decided(log, advanceWith(flat))
      const notify = commandsOf(next).find((c) => c.kind === 'notify')
      if (notify)
        expect(notify).toMatchObject({
          severity: 'warning',
          message: expect.stringMatching(
            /^haltd shut down \(graceful, failed\): maintenance\. positions flat; 0 order\(s\) still live; P&L realized 0\.00, .*reconciliation OK$/,
          ),
        })
      const done = next.find((e) => e.type === 'shutdown.completed')
      if (done) return expect(done.data).toMatchObject({ outcome: 'failed', exitCode: 1 })
      log = answer(log, next)
    }
    throw new Error('the shutdown never completed')
  })

  it('step 11 stops services one at a time in order, monitoring last', () => {
    let given = driveTo('stop services', flat)
    const seen: unknown[] = []
    for (let i = 0; i < SERVICE_ORDER.length; i++) {
      const out = decided(given, advanceWith(flat))
      seen.push(...commandsOf(out))
      given = answer(given, out)
    }
    expect(seen).toEqual(SERVICE_ORDER.map((service) => ({ kind: 'stop-service', service })))
    expect(stepEvents(decided(given, advanceWith(flat)))[0]).toBe('step-completed 11')
  })

  it('step 13 reports, then notifies, then the shutdown completes clean when flat with no orders left', () => {
    let given = driveTo('report and notify', flat)
    const report = decided(given, advanceWith(flat))
    expect(commandsOf(report)).toEqual([{ kind: 'report' }])
    given = answer(given, report)
    expect(commandsOf(decided(given, advanceWith(flat)))).toEqual([
      {
        kind: 'notify',
        topic: 'shutdown.completed',
        severity: 'info',
        status: 'SHUT_DOWN',
        message:
          'haltd shut down (graceful, clean): maintenance. positions flat; 0 order(s) still live; P&L realized 0.00, unrealized 0.00, fees 0.00; reconciliation OK',
      },
    ])
    given = answer(given, decided(given, advanceWith(flat)))
    const end = decided(given, advanceWith(flat))
    expect(end.map((e) => e.type)).toEqual(['shutdown.step-completed', 'shutdown.completed'])
    expect(end[1]!.data).toMatchObject({ outcome: 'clean', exitCode: 0 })
  })

  it('ends with residual exposure (exit 2) when flattening was asked and a position is still open', () => {
    const w = world({ positions: [{ venue: 'alpha', symbol: 'BTC/USDT:USDT', qty: 1 }] })
    let log = driveTo('report and notify', w, { graceful: { flatten: 'aggressive' } })
    for (let guard = 0; guard < 5; guard++) {
      const next = decided(log, advanceWith(w))
      const done = next.find((e) => e.type === 'shutdown.completed')
      if (done) return expect(done.data).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
      log = answer(log, next)
    }
    throw new Error('the shutdown never completed')
  })

  it('decides nothing while a step still has commands out', () => {
    const given = appended([requested()], decided([requested()], advanceWith(flat)))
    expect(decided(given, advanceWith(flat))).toEqual([])
  })
})

describe('requests during a shutdown', () => {
  it('an emergency request during a graceful shutdown ends the open step and escalates at once', () => {
    const given = appended([requested()], decided([requested()], advanceWith(flat)))
    const out = decided(given, { kind: 'request', request: { mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' } })
    expect(out.map((e) => e.type)).toEqual(['shutdown.step-failed', 'shutdown.escalated'])
    expect(out[0]!.data).toMatchObject({ step: 1, error: 'escalated to emergency: SIGUSR2' })
    const next = decided(appended(given, out), advanceWith(flat))
    expect(next[0]).toMatchObject({ type: 'shutdown.step-started', data: { step: 1, name: 'halt' } })
    expect((next.find((e) => e.type === 'shutdown.command-issued')!.data as { commandId: string }).commandId).toBe('sd-1:emergency.1:1')
  })

  it('a second graceful request is recorded and ignored; so is an emergency request during an emergency', () => {
    const graceful = decided([requested()], { kind: 'request', request: { mode: 'graceful', reason: 'second SIGTERM', origin: 'signal' } })
    expect(graceful).toEqual([{ type: 'shutdown.request-ignored', data: { shutdownId: SD, mode: 'graceful', reason: 'second SIGTERM', origin: 'signal' } }])
    const again = decided([requested({}, 'emergency')], { kind: 'request', request: { mode: 'emergency', reason: 'again', origin: 'admin' } })
    expect(again.map((e) => e.type)).toEqual(['shutdown.request-ignored'])
  })

  it('refuses requests to a shutdown that has completed', () => {
    const done = [
      requested(),
      { type: 'shutdown.completed' as const, data: { shutdownId: SD, outcome: 'clean' as const, exitCode: 0, durationMs: 5 }, ts: 2_000 },
    ]
    expect(() => decided(done, { kind: 'request', request: { mode: 'emergency', reason: 'late', origin: 'admin' } })).toThrow(ShutdownFinished)
  })
})

describe('resuming after a crash', () => {
  it('ends the interrupted step as interrupted and runs it again with fresh command ids', () => {
    const w = world({ orders: [order({ venue: 'bravo' })] })
    const given = driveTo('cancel orders and flatten', w)
    const first = decided(given, advanceWith(w))
    const crashed = appended(given, first)
    const interrupted = crashed.concat(
      commandsOf(first).map((_, i) => ({
        type: 'shutdown.command-completed' as const,
        data: { shutdownId: SD, commandId: `sd-1:graceful.5:${i + 1}`, outcome: 'failed' as const },
        ts: 5_000 + i,
      })),
    )
    const point = resumePoint(foldShutdown(interrupted))
    expect(point).toMatchObject({ shutdownId: SD, procedure: 'graceful', lastCompletedStep: 4, nextStep: { step: 5, name: 'cancel orders and flatten' } })
    const resume = decided(interrupted, { kind: 'resume' })
    expect(resume).toEqual([
      { type: 'shutdown.step-failed', data: { shutdownId: SD, step: 5, name: 'cancel orders and flatten', error: `${INTERRUPTED}; it runs again` } },
    ])
    const again = decided(appended(interrupted, resume), advanceWith(w))
    expect(stepEvents(again)).toEqual(['step-started 5'])
    expect(again.filter((e) => e.type === 'shutdown.command-issued').map((e) => (e.data as { commandId: string }).commandId)).toEqual(['sd-1:graceful.5:2'])
  })

  it('lists the commands that were out when haltd stopped', () => {
    const given = appended([requested()], decided([requested()], advanceWith(flat)))
    expect(resumePoint(foldShutdown(given))).toMatchObject({ nextStep: { step: 1 }, interruptedCommands: ['sd-1:graceful.1:1'], afterGateClosed: false })
  })
})

describe('a shutdown that began after this instance lost the lead', () => {
  const live = world({ orders: [order({ venue: 'alpha' }), order({ venue: 'bravo' })] })
  const deposed = { notLeading: "instance 'standby' holds it now (epoch 2)" }
  const why =
    "this instance no longer leads its engine (instance 'standby' holds it now (epoch 2)): its gate is fenced, and the orders and positions are its leader's"

  it('given a graceful one, it skips the cancels and the wait for the orders, naming why, and goes on to reconcile what it knows', () => {
    // given the shutdown recorded as not leading, its step 4 (the gate closed) answered
    const upTo4 = driveTo('disable strategies and close the gate', live, deposed)
    const given = answer(upTo4, decided(upTo4, advanceWith(live)))
    // when it decides on
    const out = decided(given, advanceWith(live))
    // then steps 5 and 6 are skipped with the reason, no venue command is issued, and step 7 asks the venues what they hold
    expect(stepEvents(out)).toEqual(['step-completed 4', 'step-skipped 5', 'step-skipped 6', 'step-started 7'])
    expect(out.filter((e) => e.type === 'shutdown.step-skipped').map((e) => (e.data as { reason: string }).reason)).toEqual([why, why])
    expect(commandsOf(out)).toEqual([
      { kind: 'observe-venue', venue: 'alpha' },
      { kind: 'observe-venue', venue: 'bravo' },
    ])
  })

  it('given an emergency, it halts and latches its kill switch, skips the cancels naming why, and checkpoints', () => {
    const start = answer([requested(deposed, 'emergency')], decided([requested(deposed, 'emergency')], advanceWith(live)))
    const out = decided(start, advanceWith(live))
    expect(stepEvents(out)).toEqual(['step-completed 1', 'step-started 2', 'step-completed 2', 'step-skipped 3', 'step-started 4'])
    expect(out.find((e) => e.type === 'shutdown.step-skipped')?.data).toMatchObject({ name: 'cancel all orders', reason: why })
    expect(commandsOf(out).map((c) => c.kind)).not.toContain('cancel-all')
  })

  it('given one recorded without it (a leader, or one only cut off from its lease), the cancels run', () => {
    const out = decided(driveTo('cancel orders and flatten', live), advanceWith(live))
    expect(stepEvents(out)).toEqual(['step-started 5'])
    expect(commandsOf(out).map((c) => c.kind)).toEqual(['cancel-all', 'cancel-order'])
  })
})

describe('emergency decider', () => {
  const w = world({ orders: [order({ venue: 'alpha' }), order({ venue: 'alpha' }), order({ venue: 'bravo' })] })

  it('halts, latches the kill switch with action EMERGENCY, then arms the dead man’s switch ahead of the cancels, all venues in one batch', () => {
    const start = decided([requested({}, 'emergency')], advanceWith(w))
    expect(start.find((e) => e.type === 'trading.state-changed')?.data).toMatchObject({ to: 'HALTED' })
    expect(commandsOf(start)).toEqual([{ kind: 'close-gate' }])
    const given = answer([requested({}, 'emergency')], start)
    const out = decided(given, advanceWith(w))
    expect(stepEvents(out)).toEqual(['step-completed 1', 'step-started 2', 'step-completed 2', 'step-started 3'])
    expect(out.find((e) => e.type === 'killswitch.activated')?.data).toMatchObject({ action: 'EMERGENCY', origin: 'signal' })
    expect(commandsOf(out)).toEqual([
      { kind: 'arm-dead-mans-switch', venue: 'alpha', timeoutMs: 10_000 },
      { kind: 'cancel-all', venue: 'alpha', scope: 'own', orders: 2, round: 1 },
      { kind: 'cancel-all', venue: 'bravo', scope: 'own', orders: 1, round: 1 },
    ])
  })

  it('skips latching when a risk trigger latched the kill switch already', () => {
    const latched = world({ killSwitchLatched: true })
    const given = answer([requested({}, 'emergency')], decided([requested({}, 'emergency')], advanceWith(latched)))
    expect(stepEvents(decided(given, advanceWith(latched)))).toContain('step-skipped 2')
  })

  it('a venue that never answered times the cancel phase out with what remains per venue, and the path goes on to checkpoint and stop', () => {
    let given = driveTo('cancel all orders', w, {}, 'emergency')
    given = answer(given, decided(given, advanceWith(w)), 'timed-out')
    const out = decided(given, advanceWith(w))
    expect(out[0]).toMatchObject({ type: 'shutdown.step-timed-out', data: { step: 3, remaining: { remaining: 3, remainingByVenue: { alpha: 2, bravo: 1 } } } })
    expect(commandsOf(out)).toEqual([{ kind: 'write-checkpoint', verify: false }])
  })

  it('ends with outcome emergency and exit code 3', () => {
    let log = driveTo('stop', flat, {}, 'emergency')
    const stop = decided(log, advanceWith(flat))
    expect(commandsOf(stop).map((c) => c.kind)).toEqual(['close-venue', 'close-venue', 'report', 'notify'])
    log = answer(log, stop)
    expect(decided(log, advanceWith(flat)).at(-1)).toMatchObject({ type: 'shutdown.completed', data: { outcome: 'emergency', exitCode: 3 } })
  })
})
