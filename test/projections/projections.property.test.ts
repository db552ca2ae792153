import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { openEventLog, manualClock, sequentialIds, type EventInput } from '../../src/index.js'
import { createProjectionRunner, readFacts, replayLog } from '../../src/core/log/projection-runner.js'
import { openSnapshotStore } from '../../src/core/log/snapshots.js'
import { deserializeState, evolve, type Fact, initialState, position, positions, serializeState, stateHash } from '../../src/projections/index.js'
import { tempDb } from '../support/tmp.js'

const RUNS = process.env.HALTD_SOAK ? 300 : 30

const VENUES = ['sim-a', 'sim-b'] as const
const SYMBOLS = ['BTC/USDT', 'ETH/USDT:USDT'] as const
const CIDS = ['o0', 'o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7'] as const
const tenths = (lo: number, hi: number) => fc.integer({ min: lo, max: hi }).map((n) => n / 10)

/** One step of a small trading model: orders of a few ids, their venue reports in any order, and everything around them. */
const op = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('submit' as const),
      c: fc.nat(7),
      v: fc.nat(1),
      s: fc.nat(1),
      buy: fc.boolean(),
      qty: tenths(1, 30),
      strat: fc.constantFrom('mm', 'trend', 'shutdown'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('accept' as const), c: fc.nat(7) }) },
  {
    weight: 5,
    arbitrary: fc.record({ k: fc.constant('fill' as const), c: fc.nat(7), qty: tenths(1, 20), price: fc.integer({ min: 90, max: 110 }), fee: tenths(0, 3) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constantFrom(
        'cancel-requested' as const,
        'canceled' as const,
        'rejected' as const,
        'expired' as const,
        'cancel-rejected' as const,
        'cancel-unconfirmed' as const,
        'status-unknown' as const,
      ),
      c: fc.nat(7),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('repeat' as const), back: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('mark' as const), v: fc.nat(1), s: fc.nat(1), price: fc.integer({ min: 80, max: 120 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('observe' as const), v: fc.nat(1), qty: tenths(-30, 30), open: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('shutdown' as const),
      step: fc.integer({ min: 1, max: 13 }),
      phase: fc.constantFrom('started', 'completed', 'failed', 'command'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('kill' as const), action: fc.constantFrom('REDUCING' as const, 'HALTED' as const), reset: fc.boolean() }),
  },
)
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never

/** The events a run of ops stands for. Repeats re-send an earlier venue report under a fresh key, as a venue that replays its stream would. */
function toEvents(ops: Op[]): EventInput[] {
  const out: EventInput[] = []
  const where = new Map<string, { venue: string }>()
  let trade = 0
  let cmd = 0
  for (const o of ops) {
    const cid = 'c' in o ? CIDS[o.c]! : ''
    const venue = where.get(cid)?.venue ?? 'sim-a'
    switch (o.k) {
      case 'submit':
        where.set(cid, { venue: VENUES[o.v]! })
        out.push({
          type: 'order.submitted',
          data: {
            venue: VENUES[o.v],
            clientOrderId: cid,
            symbol: SYMBOLS[o.s],
            side: o.buy ? 'buy' : 'sell',
            type: 'limit',
            qty: o.qty,
            price: 100,
            origin: o.strat === 'shutdown' ? { kind: 'shutdown', id: 'sd' } : { kind: 'strategy', id: o.strat },
            reduceOnly: o.strat === 'shutdown',
          },
        })
        break
      case 'accept':
        out.push({ type: 'order.accepted', data: { venue, clientOrderId: cid, venueOrderId: `V${cid}` } })
        break
      case 'fill':
        out.push({ type: 'order.filled', data: { venue, clientOrderId: cid, tradeId: `T${++trade}`, qty: o.qty, price: o.price, fee: o.fee } })
        break
      case 'repeat': {
        const reports = out.filter((e) => e.type !== 'order.submitted' && e.type.startsWith('order.'))
        const again = reports[reports.length - 1 - (o.back % Math.max(1, reports.length))]
        if (again) out.push({ ...again, idempotencyKey: `repeat-${out.length}` })
        break
      }
      case 'mark':
        out.push({ type: 'market.mark', data: { venue: VENUES[o.v], symbol: SYMBOLS[o.s], price: o.price } })
        break
      case 'observe':
        out.push({ type: 'venue.positions-observed', data: { venue: VENUES[o.v], positions: [{ symbol: 'BTC/USDT', qty: o.qty }] } })
        if (o.open) {
          out.push({
            type: 'venue.open-orders-observed',
            data: { venue: VENUES[o.v], orders: [{ symbol: 'BTC/USDT', venueOrderId: 'Vo1', clientOrderId: 'o1', side: 'buy', qty: 1 }] },
          })
        }
        break
      case 'shutdown':
        if (o.phase === 'command') {
          out.push({ type: 'shutdown.command-issued', data: { shutdownId: 'sd', commandId: `k${++cmd}`, step: o.step, command: { kind: 'cancel' } } })
          out.push({ type: 'shutdown.command-completed', data: { shutdownId: 'sd', commandId: `k${cmd}`, outcome: 'ok' } })
        } else if (o.phase === 'failed') {
          out.push({ type: 'shutdown.step-failed', data: { shutdownId: 'sd', step: o.step, name: `step ${o.step}`, error: 'boom' } })
        } else {
          out.push({ type: `shutdown.step-${o.phase}`, data: { shutdownId: 'sd', step: o.step, name: `step ${o.step}` } })
        }
        break
      case 'kill':
        out.push(
          o.reset
            ? { type: 'killswitch.reset', data: { reason: 'operator', origin: 'operator' } }
            : { type: 'killswitch.activated', data: { reason: 'drawdown', origin: 'risk', action: o.action } },
        )
        break
      default:
        out.push({
          type: `order.${o.k}`,
          data: {
            venue,
            clientOrderId: cid,
            ...(o.k === 'canceled' ? { confirmedBy: 'stream' } : o.k === 'cancel-requested' || o.k === 'expired' ? {} : { reason: 'r' }),
          },
        })
    }
  }
  return out
}

function writeLog(events: EventInput[]) {
  const log = openEventLog({ path: tempDb(), clock: manualClock(1_000), ids: sequentialIds() })
  const runner = createProjectionRunner({ log })
  for (const e of events) log.append(e)
  return { log, runner }
}

/** An independent average-cost book over the fills the log holds for submitted orders, each trade counted once. */
function expectedBooks(events: EventInput[]) {
  const orders = new Map<string, { venue: string; symbol: string; side: string }>()
  const seen = new Set<string>()
  const books = new Map<string, { qty: number; cost: number; realized: number; fees: number }>()
  for (const e of events) {
    // biome-ignore lint/suspicious/noExplicitAny: the generator's events are read field by field whatever their type
    const d = e.data as Record<string, any>
    const key = `${d.venue}/${d.clientOrderId}`
    if (e.type === 'order.submitted' && !orders.has(key)) orders.set(key, { venue: d.venue, symbol: d.symbol, side: d.side })
    if (e.type !== 'order.filled') continue
    const o = orders.get(key)
    if (!o || seen.has(`${key}/${d.tradeId}`)) continue
    seen.add(`${key}/${d.tradeId}`)
    const bk = `${o.venue}|${o.symbol}`
    const b = books.get(bk) ?? { qty: 0, cost: 0, realized: 0, fees: 0 }
    const s = o.side === 'buy' ? d.qty : -d.qty
    b.fees += d.fee
    if (Math.abs(b.qty) < 1e-9 || Math.sign(b.qty) === Math.sign(s)) {
      b.qty += s
      b.cost += s * d.price
    } else {
      const avg = b.cost / b.qty
      const closing = Math.min(Math.abs(s), Math.abs(b.qty))
      b.realized += closing * (d.price - avg) * Math.sign(b.qty)
      b.cost -= avg * closing * Math.sign(b.qty)
      b.qty -= closing * Math.sign(b.qty)
      const rest = Math.abs(s) - closing
      if (rest > 1e-9) {
        b.qty = Math.sign(s) * rest
        b.cost = b.qty * d.price
      }
    }
    books.set(bk, b)
  }
  return books
}

// Long enough that most orders are submitted before their reports arrive, and positions flip many times.
const history = fc.array(op, { minLength: 1, maxLength: 160, size: 'max' }).map(toEvents)

describe('projections over random order and fill histories', () => {
  it('give one state hash live, replayed whole, replayed in chunks, and from a snapshot at any seq plus the tail', () => {
    fc.assert(
      fc.property(history, fc.array(fc.nat(), { maxLength: 6 }), fc.nat(), (events, cuts, at) => {
        const { log, runner } = writeLog(events)
        try {
          const live = stateHash(runner.state)
          expect(stateHash(replayLog(log, { fromSnapshot: false }).state)).toBe(live)

          const last = log.lastSeq
          const bounds = [...new Set(cuts.map((c) => 1 + (c % Math.max(1, last))))].sort((a, b) => a - b)
          const chunked = initialState()
          let from = 1
          for (const to of [...bounds, last]) {
            for (const f of readFacts(log, { from, to })) evolve(chunked, f)
            from = Math.max(from, to + 1)
          }
          expect(stateHash(chunked)).toBe(live)

          if (last > 0) {
            const k = 1 + (at % last)
            const partial = replayLog(log, { until: k, fromSnapshot: false }).state
            // a snapshot round trip through text, then the tail
            const thawed = deserializeState(serializeState(partial))
            for (const f of readFacts(log, { from: k + 1 })) evolve(thawed, f)
            expect(stateHash(thawed)).toBe(live)
            // the same through the store and a restart
            openSnapshotStore(log).write(replayLog(log, { until: k, fromSnapshot: false }).state)
            const restarted = replayLog(log, {
              warn: (m) => {
                throw new Error(m)
              },
            })
            expect(restarted.snapshot?.seq).toBe(k)
            expect(stateHash(restarted.state)).toBe(live)
          }
        } finally {
          log.close()
        }
      }),
      { numRuns: RUNS },
    )
  })

  it('hold a net position equal to the signed sum of fills and realized P&L equal to an independent average-cost book, and never throw', () => {
    fc.assert(
      fc.property(history, (events) => {
        const state = initialState()
        const ts = 1_000
        events.forEach((e, i) => {
          // through the log's own validation, as stored events are
          const { type, data } = JSON.parse(JSON.stringify({ type: e.type, data: e.data }))
          evolve(state, { seq: i + 1, ts: ts + i, type, data: withDefaults(type, data) } as Fact)
        })
        expect(state.anomalies.filter((a) => a.kind === 'projection-error')).toEqual([])
        const books = expectedBooks(events)
        for (const [key, b] of books) {
          const [venue, symbol] = key.split('|') as [string, string]
          const p = position(state, venue, symbol)!
          expect(p.qty).toBeCloseTo(b.qty, 9)
          expect(p.realized).toBeCloseTo(b.realized, 6)
          expect(p.fees).toBeCloseTo(b.fees, 9)
        }
        expect(positions(state).length).toBe(books.size)
        const totalRealized = [...books.values()].reduce((s, b) => s + b.realized, 0)
        expect(state.pnl.realized).toBeCloseTo(totalRealized, 6)
        expect(state.inFlight).toBe([...state.orders.values()].filter((o) => !['filled', 'canceled', 'rejected', 'expired'].includes(o.status)).length)
        expect(state.pnl.drawdown).toBeGreaterThanOrEqual(0)
      }),
      { numRuns: RUNS * 3 },
    )
  })
})

/** The defaults zod fills in on append (fees, time in force, reduce-only) for events fed without a log. */
function withDefaults(type: string, data: Record<string, unknown>) {
  if (type === 'order.filled') return { fee: 0, ...data }
  if (type === 'order.submitted') return { timeInForce: 'GTC', reduceOnly: false, ...data }
  return data
}
