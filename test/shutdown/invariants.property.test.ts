import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Envelope } from '../../src/events/index.js'
import { evolve, initialState, position, stateHash } from '../../src/projections/index.js'
import { readFacts } from '../../src/core/log/projection-runner.js'
import { replayShutdownDecisions } from '../../src/audit/decision-replay.js'
import { decideShutdown, foldShutdown } from '../../src/core/shutdown/decider.js'
import type { ShutdownFact } from '../../src/core/shutdown/procedure.js'
import type { ShutdownCommand, WorldOrder, WorldPosition } from '../../src/core/shutdown/types.js'
import { order, requested, SD, world } from './given.js'
import { rig, SYMBOL } from './rig.js'

// `npm test` runs each live case in about 0.4 s, so it draws 25 of them (a fresh seed each run); `npm run soak` (HALTD_SOAK=1) 1,000
const SOAK = process.env.HALTD_SOAK === '1'
const PURE_RUNS = SOAK ? 2_000 : 200
const LIVE_RUNS = SOAK ? 1_000 : 25

/**
 * The decider alone, against a small model of the venues: each command's outcome is drawn at
 * random, cancels and flattens change the model world the way a venue might (or not at all).
 */
describe('shutdown decider invariants over random worlds (pure)', () => {
  const scenario = fc.record({
    mode: fc.constantFrom('graceful' as const, 'emergency' as const),
    flatten: fc.constantFrom('aggressive' as const, 'conservative' as const, 'none' as const),
    cancelOnlyAggressive: fc.boolean(),
    orders: fc.array(
      fc.record({ venue: fc.constantFrom('alpha', 'bravo'), side: fc.constantFrom('buy' as const, 'sell' as const), price: fc.integer({ min: 80, max: 120 }) }),
      { maxLength: 8 },
    ),
    positions: fc.array(
      fc.record({
        venue: fc.constantFrom('alpha', 'bravo'),
        symbol: fc.constantFrom('BTC/USDT:USDT', 'ETH/USDT:USDT'),
        qty: fc.double({ min: -5, max: 5, noNaN: true }),
      }),
      { maxLength: 3 },
    ),
    outcomes: fc.array(fc.constantFrom('ok' as const, 'ok' as const, 'ok' as const, 'failed' as const, 'timed-out' as const), {
      minLength: 200,
      maxLength: 200,
    }),
    effects: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 200, maxLength: 200 }),
    escalateAt: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
  })

  it(`every step started ends, every flatten reduces, ids are unique and decisions are deterministic (${PURE_RUNS} runs)`, () => {
    fc.assert(
      fc.property(scenario, (s) => {
        let orders: WorldOrder[] = s.orders.map((o) => order({ venue: o.venue, side: o.side, price: o.price }))
        const merged = new Map<string, WorldPosition>()
        for (const p of s.positions) if (Math.abs(p.qty) > 1e-6) merged.set(`${p.venue} ${p.symbol}`, { ...p })
        let positions = [...merged.values()]
        const options = { graceful: { flatten: s.flatten, cancelOnlyAggressive: s.cancelOnlyAggressive } }
        const log: ShutdownFact[] = [requested(options, s.mode)]
        const marks = { 'alpha BTC/USDT:USDT': 100, 'bravo BTC/USDT:USDT': 100 }
        let draw = 0
        let ts = 2_000
        const ids = new Set<string>()
        for (let turn = 0; turn < 400; turn++) {
          if (s.escalateAt === turn && s.mode === 'graceful') {
            const esc = decideShutdown({ kind: 'request', request: { mode: 'emergency', reason: 'x', origin: 'signal' } }, foldShutdown(log))
            log.push(...esc.map((e) => ({ ...(e as ShutdownFact), ts: ++ts })))
          }
          const w = world({ orders, positions, marks })
          const state = foldShutdown(log)
          const out = decideShutdown({ kind: 'advance', world: w }, state)
          // deterministic: the same state and world give the same decision, byte for byte
          expect(JSON.stringify(decideShutdown({ kind: 'advance', world: w }, foldShutdown(log)))).toBe(JSON.stringify(out))
          if (out.length === 0) {
            // everything out must be answered before the decider moves
            const open = [...state.commands.values()].filter((c) => c.outcome === undefined)
            expect(open.length).toBeGreaterThan(0)
            for (const c of open)
              log.push({ type: 'shutdown.command-completed', data: { shutdownId: SD, commandId: c.commandId, outcome: 'failed' }, ts: ++ts })
            continue
          }
          for (const e of out) {
            if (e.type.startsWith('shutdown.')) log.push({ ...(e as ShutdownFact), ts: ++ts })
            if (e.type !== 'shutdown.command-issued') continue
            expect(ids.has(e.data.commandId)).toBe(false)
            ids.add(e.data.commandId)
            const c = e.data.command as ShutdownCommand
            const outcome = s.outcomes[draw % s.outcomes.length]!
            const effect = s.effects[draw++ % s.effects.length]!
            if (c.kind === 'flatten') {
              const p = positions.find((x) => x.venue === c.venue && x.symbol === c.symbol)!
              expect(p).toBeDefined()
              expect(c.side).toBe(p.qty > 0 ? 'sell' : 'buy')
              expect(c.qty).toBeLessThanOrEqual(Math.abs(p.qty) + 1e-12)
              if (outcome === 'ok') {
                const left = p.qty - Math.sign(p.qty) * c.qty * effect
                positions = positions.map((x) => (x === p ? { ...x, qty: left } : x)).filter((x) => Math.abs(x.qty) > 1e-9)
              }
            }
            if ((c.kind === 'cancel-order' || c.kind === 'cancel-all') && outcome === 'ok' && effect > 0.2) {
              orders = c.kind === 'cancel-all' ? orders.filter((o) => o.venue !== c.venue) : orders.filter((o) => o.clientOrderId !== c.clientOrderId)
            }
            log.push({ type: 'shutdown.command-completed', data: { shutdownId: SD, commandId: e.data.commandId, outcome }, ts: ++ts })
          }
          if (out.some((e) => e.type === 'shutdown.completed')) break
        }
        const final = foldShutdown(log)
        expect(final.completed).toBeDefined()
        for (const step of final.steps) expect(step.status).not.toBe('running')
        expect(final.completed!.exitCode).toBe(
          final.procedure === 'emergency' ? 3 : final.completed!.outcome === 'clean' ? 0 : final.completed!.outcome === 'failed' ? 1 : 2,
        )
      }),
      { numRuns: PURE_RUNS },
    )
  })
})

/**
 * The whole engine on real SQLite and three simulated venues with random faults, while a
 * strategy keeps trying to trade. Checked on the log afterwards, the way the audit does.
 */
describe('shutdown invariants on the live engine with faults', () => {
  const live = fc.record({
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    mode: fc.constantFrom('graceful' as const, 'emergency' as const, 'escalated' as const),
    flatten: fc.constantFrom('aggressive' as const, 'conservative' as const, 'none' as const),
    resting: fc.integer({ min: 0, max: 4 }),
    positions: fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 3, maxLength: 3 }),
    hung: fc.option(fc.constantFrom('alpha', 'bravo', 'charlie'), { nil: undefined }),
    latencyMs: fc.integer({ min: 0, max: 15 }),
    fillRacesCancel: fc.constantFrom(0, 0.5, 1),
    rejectRate: fc.constantFrom(0, 0, 0.5),
    noMassCancel: fc.boolean(),
    cancelScope: fc.constantFrom('own' as const, 'account' as const),
  })

  it(
    `no strategy order passes a closed gate, flattens never increase |position|, canceled means the venue canceled, every step ends, deadlines hold, replay decides alike (${LIVE_RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(live, async (s) => {
          const deadlineMs = 400
          const r = rig({
            seed: s.seed,
            capabilities: s.noMassCancel ? { bravo: { massCancel: 'none', batchCancel: 0 } } : {},
            options: {
              graceful: {
                flatten: s.flatten,
                cancelScope: s.cancelScope,
                settleMs: 20,
                waitTimeoutMs: 100,
                maxCancelRounds: 2,
                maxFlattenRounds: 2,
                deadlineMs: 1_500,
                budgets: { 'cancel orders and flatten': 300, 'wait for order completion': 150, reconcile: 120, 'close venue connections': 120 },
              },
              emergency: { deadlineMs, cancelScope: s.cancelScope },
            },
          })
          await r.rest(s.resting)
          for (const [i, qty] of s.positions.entries()) if (qty !== 0) await r.take(r.sims[i]!.venue, qty)
          for (const sim of r.sims) {
            sim.faults.set({
              latency: s.latencyMs,
              fillRacesCancel: s.fillRacesCancel,
              ...(sim.venue === s.hung ? { hang: ['cancel', 'cancelAll', 'fetchOrder', 'armDeadMansSwitch'] } : {}),
            })
          }
          // a strategy that keeps sending orders throughout
          let trading = true
          const attempts = (async () => {
            while (trading) {
              await r.router
                .submit({ venue: 'alpha', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: { kind: 'strategy', id: 'mm' } })
                .catch(() => {})
              await new Promise((resolve) => setTimeout(resolve, 3))
            }
          })()
          await new Promise((resolve) => setTimeout(resolve, 5))
          for (const sim of r.sims) if (s.rejectRate) sim.faults.set({ rejectRate: s.rejectRate })
          const first = r.controller.requestShutdown({ mode: s.mode === 'emergency' ? 'emergency' : 'graceful', reason: 'property', origin: 'signal' })
          if (s.mode === 'escalated') {
            await new Promise((resolve) => setTimeout(resolve, 10))
            r.controller.requestShutdown({ mode: 'emergency', reason: 'escalate', origin: 'signal' })
          }
          const report = await first.done
          trading = false
          await attempts

          const events: Envelope[] = r.events()
          // 1. after the gate closed, no strategy order was written (let alone sent)
          const closedAt = events.find(
            (e) => (e.type === 'trading.state-changed' && (e.data as { to: string }).to === 'HALTED') || e.type === 'shutdown.escalated',
          )?.seq
          expect(closedAt).toBeDefined()
          const lateStrategy = events.filter(
            (e) => e.seq > closedAt! && e.type === 'order.submitted' && (e.data as { origin: { kind: string } }).origin.kind === 'strategy',
          )
          expect(lateStrategy).toEqual([])
          // 2. each flatten order is reduce-only, against the position, never larger than it, as projected when it was written
          const state = initialState()
          for (const fact of readFacts(r.log)) {
            if (fact.type === 'order.submitted' && fact.data.origin.kind === 'shutdown') {
              const held = position(state, fact.data.venue, fact.data.symbol)?.qty ?? 0
              expect(fact.data.reduceOnly).toBe(true)
              expect(fact.data.side).toBe(held > 0 ? 'sell' : 'buy')
              expect(fact.data.qty).toBeLessThanOrEqual(Math.abs(held) + 1e-9)
            }
            evolve(state, fact)
          }
          // replaying the log gives the live state, hash for hash
          expect(stateHash(state)).toBe(stateHash(r.projections.state))
          // 3. an order is canceled in the log only where the venue has it canceled
          for (const e of events.filter((x) => x.type === 'order.canceled')) {
            const { venue, clientOrderId } = e.data as { venue: string; clientOrderId: string }
            const atVenue = await r
              .sim(venue)
              .fetchOrder({ clientOrderId, symbol: SYMBOL })
              .catch(() => undefined)
            if (atVenue) expect(['canceled', 'filled']).toContain(atVenue.status) // filled: a fill after the cancel, reported as an anomaly
          }
          for (const o of r.world().orders)
            expect(['cancel-unconfirmed', 'open', 'partially-filled', 'cancel-pending', 'pending-new', 'unknown']).toContain(o.status)
          // after the emergency path's one cancel-all round, whatever is still live is on record as unconfirmed, never dropped
          if (s.mode !== 'graceful')
            for (const o of r.world().orders) expect(`${o.venue} ${o.clientOrderId} ${o.status}`).toBe(`${o.venue} ${o.clientOrderId} cancel-unconfirmed`)
          // 4. every started step ended
          const open = new Map<string, number>()
          for (const e of events) {
            if (!e.type.startsWith('shutdown.step-') || e.type === 'shutdown.step-skipped') continue
            const { step, name } = e.data as { step: number; name: string }
            open.set(`${step}/${name}`, (open.get(`${step}/${name}`) ?? 0) + (e.type === 'shutdown.step-started' ? 1 : -1))
          }
          expect([...open.values()].every((n) => n === 0)).toBe(true)
          // 5. the emergency path ends by its deadline (log timestamps; wide allowance for a loaded machine)
          const done = events.find((e) => e.type === 'shutdown.completed')!.data as { outcome: string; durationMs: number }
          if (s.mode === 'emergency') expect(done.durationMs).toBeLessThanOrEqual(deadlineMs + 1_000)
          if (s.mode === 'escalated') {
            const escalatedAt = events.find((e) => e.type === 'shutdown.escalated')?.ts
            if (escalatedAt !== undefined) expect(events.at(-1)!.ts - escalatedAt).toBeLessThanOrEqual(deadlineMs + 1_000)
          }
          expect(report.outcome).toBe(done.outcome)
          // 6. re-running every decision on the replayed log gives the logged commands
          expect(replayShutdownDecisions(r.log).divergences).toEqual([])
          await r.close()
        }),
        { numRuns: LIVE_RUNS },
      )
    },
    SOAK ? 1_800_000 : 400_000,
  )
})
