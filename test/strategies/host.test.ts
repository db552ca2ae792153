import { afterEach, describe, expect, it } from 'vitest'
import type { OrderRouter } from '../../src/core/execution/order-router.js'
import {
  DuplicateStrategy,
  InvalidStrategyCheckpoint,
  InvalidStrategyConfig,
  InvalidTick,
  StrategyRestoreFailed,
  UnknownStrategy,
  type OrderIntent,
  type OrderSink,
  type OwnOrderUpdate,
  type Strategy,
  type StrategyContext,
  type Tick,
} from '../../src/strategies/index.js'
import { BTC, ETH, rig, type Rig } from './rig.js'

// The router is passed to the host as its sink as it is: this line fails to compile if the shapes drift apart.
const routerIsASink = (router: OrderRouter): OrderSink => router
void routerIsASink

const limits = { maxPosition: 1, maxOpenOrders: 3, maxOrdersPerSecond: 10 }

/** A strategy that answers each BTC tick with what `decide` says, and keeps a log of what it was told. */
function scripted(id: string, decide: (tick: Tick, ctx: StrategyContext) => OrderIntent[]): Strategy & { updates: OwnOrderUpdate[]; state: { n: number } } {
  return {
    id,
    updates: [],
    state: { n: 0 },
    onTick(tick, ctx) {
      if (tick.symbol !== BTC) return []
      this.state.n++
      return decide(tick, ctx)
    },
    onOrderUpdate(update) {
      this.updates.push(update)
      return []
    },
    snapshot() {
      return { n: this.state.n }
    },
    restore(s) {
      const n = (s as { n?: unknown }).n
      if (typeof n !== 'number') throw new Error('n must be a number')
      this.state.n = n
    },
  }
}

const bid = (venue: string, symbol: string, qty: number, price: number): OrderIntent => ({
  kind: 'place',
  venue,
  symbol,
  side: 'buy',
  type: 'limit',
  qty,
  price,
})
const once = (intents: OrderIntent[]) => {
  let done = false
  return () => {
    if (done) return []
    done = true
    return intents
  }
}

const rigs: Rig[] = []
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close()
})
function make(...args: Parameters<typeof rig>): Rig {
  const r = rig(...args)
  rigs.push(r)
  return r
}

const submittedBy = (r: Rig, id: string) =>
  [...r.log.read({ types: ['order.submitted'] })].filter((e) => e.type === 'order.submitted' && e.data.origin.kind === 'strategy' && e.data.origin.id === id)

describe('strategy host', () => {
  it('sends a strategy’s intents through the gated router, tagged with the strategy as origin', async () => {
    const r = make()
    r.host.register(scripted('mm', once([bid('binance-sim', BTC, 0.01, 60000)])), { limits })
    await r.tick()
    const sent = submittedBy(r, 'mm')
    expect(sent).toHaveLength(1)
    expect(sent[0]!.data).toMatchObject({ venue: 'binance-sim', symbol: BTC, side: 'buy', qty: 0.01, origin: { kind: 'strategy', id: 'mm' } })
    expect(r.results.map((x) => x.status)).toEqual(['submitted'])
    expect(r.sims[0]!.openOrderCount).toBe(1)
  })

  it('records registration, enabling, disabling and limit changes as events', () => {
    const r = make()
    r.host.register(
      scripted('a', () => []),
      { limits },
    )
    r.host.register(
      scripted('b', () => []),
      { limits, enabled: false },
    )
    expect(r.host.disable('a', 'operator pulled it')).toBe(true)
    expect(r.host.disable('a', 'again')).toBe(false)
    expect(r.host.enable('b', 'checked', 'admin')).toBe(true)
    const types = [...r.log.read()].filter((e) => e.type.startsWith('strategy.')).map((e) => `${e.type}:${(e.data as { strategyId: string }).strategyId}`)
    expect(types).toEqual([
      'strategy.limits-changed:a',
      'strategy.enabled:a',
      'strategy.limits-changed:b',
      'strategy.disabled:b',
      'strategy.disabled:a',
      'strategy.enabled:b',
    ])
    // the projection agrees with the host
    expect(r.state().strategies.get('a')).toMatchObject({ enabled: false, reason: 'operator pulled it' })
    expect(r.state().strategies.get('b')).toMatchObject({ enabled: true, limits })
  })

  it('refuses and counts a disabled strategy’s orders, and sends none of them', async () => {
    const r = make()
    r.host.register(
      scripted('mm', () => [bid('binance-sim', BTC, 0.01, 60000)]),
      { limits },
    )
    r.host.disable('mm', 'maintenance')
    await r.tick()
    await r.tick()
    expect(submittedBy(r, 'mm')).toHaveLength(0)
    expect(r.host.refusals('mm')).toMatchObject({ total: 2, disabled: 2 })
    expect(r.results.every((x) => x.status === 'refused' && x.refusal === 'disabled')).toBe(true)
  })

  it('refuses and counts every strategy’s orders while the gate is halted', async () => {
    const r = make()
    r.host.register(
      scripted('a', () => [bid('binance-sim', BTC, 0.01, 60000)]),
      { limits },
    )
    r.host.register(
      scripted('b', () => [bid('binance-sim', ETH, 0.1, 2900)]),
      { limits },
    )
    r.gate.halt('operator test')
    await r.tick()
    expect(submittedBy(r, 'a')).toHaveLength(0)
    expect(submittedBy(r, 'b')).toHaveLength(0)
    expect(r.host.refusals('a')).toMatchObject({ total: 1, gate: 1 })
    expect(r.host.refusals('b')).toMatchObject({ total: 1, gate: 1 })
    expect(r.router.refusedCount).toBe(2)
  })

  it('refuses strategy orders once the projected mode is REDUCING, unless they only reduce', async () => {
    const r = make()
    const intents: OrderIntent[][] = [
      [{ kind: 'place', venue: 'binance-sim', symbol: BTC, side: 'buy', type: 'market', qty: 0.5 }],
      [{ kind: 'place', venue: 'binance-sim', symbol: BTC, side: 'buy', type: 'market', qty: 0.1 }],
      [{ kind: 'place', venue: 'binance-sim', symbol: BTC, side: 'sell', type: 'market', qty: 0.2, reduceOnly: true }],
    ]
    r.host.register(
      scripted('t', () => intents.shift() ?? []),
      { limits },
    )
    await r.tick()
    r.log.append({ type: 'trading.state-changed', data: { to: 'REDUCING', reason: 'test', origin: 'operator' } })
    await r.tick()
    await r.tick()
    expect(r.results.map((x) => (x.status === 'refused' ? x.refusal : x.status))).toEqual(['submitted', 'gate', 'submitted'])
    expect(r.state().positions.get(['binance-sim', BTC].join('\u001f'))?.qty).toBeCloseTo(0.3)
  })

  it('knows open orders from the projections: a new host on the same log counts the orders the old one left resting', async () => {
    const r = make()
    r.host.register(scripted('mm', once([bid('binance-sim', BTC, 0.01, 60000), bid('binance-sim', BTC, 0.01, 59000), bid('binance-sim', BTC, 0.01, 58000)])), {
      limits,
    })
    await r.tick()
    expect(r.sims[0]!.openOrderCount).toBe(3)
    // a second host (as after a restart) has sent nothing itself, yet sees three open orders
    const { StrategyHost } = await import('../../src/strategies/index.js')
    const { strategyBook } = await import('./rig.js')
    const results: string[] = []
    const fresh = new StrategyHost({
      sink: r.router,
      book: strategyBook(r.state),
      recorder: r.log,
      clock: r.clock,
      onIntent: (x) => results.push(x.status === 'refused' ? x.refusal : x.status),
    })
    fresh.register(
      scripted('mm', () => [bid('binance-sim', BTC, 0.01, 57000)]),
      { limits },
    )
    await fresh.onTick({ venue: 'binance-sim', symbol: BTC, bid: 60000, ask: 60001, ts: 1 })
    expect(results).toEqual(['maxOpenOrders'])
    expect(r.sims[0]!.openOrderCount).toBe(3)
  })

  it('knows positions from the projections: fills count toward the position limit', async () => {
    const r = make()
    const buyMarket: OrderIntent = { kind: 'place', venue: 'binance-sim', symbol: ETH, side: 'buy', type: 'market', qty: 0.6 }
    r.host.register(
      scripted('t', () => [buyMarket]),
      { limits },
    )
    await r.tick()
    expect(r.state().books.get(['binance-sim', ETH, 't'].join('\u001f'))?.qty).toBeCloseTo(0.6)
    await r.tick()
    expect(r.results.map((x) => (x.status === 'refused' ? x.refusal : x.status))).toEqual(['submitted', 'maxPosition'])
  })

  it('limits the order rate per second on the injected clock', async () => {
    const r = make()
    const cancelFirst = (ctx: StrategyContext): OrderIntent[] =>
      ctx.openOrders().map((o) => ({ kind: 'cancel', venue: o.venue, clientOrderId: o.clientOrderId }))
    r.host.register(
      scripted('q', (_t, ctx) => [...cancelFirst(ctx), bid('binance-sim', BTC, 0.01, 50000)]),
      { limits: { ...limits, maxOrdersPerSecond: 2 } },
    )
    for (let i = 0; i < 4; i++) await r.tick()
    expect(r.results.filter((x) => x.status === 'submitted')).toHaveLength(2)
    expect(r.host.refusals('q').maxOrdersPerSecond).toBe(2)
    r.clock.advance(1_000)
    await r.tick()
    expect(r.results.filter((x) => x.status === 'submitted')).toHaveLength(3)
  })

  it('cuts every strategy’s limits by a percentage and records it (graceful step 3)', () => {
    const r = make()
    r.host.register(
      scripted('a', () => []),
      { limits: { maxPosition: 10, maxOpenOrders: 5, maxOrdersPerSecond: 4 } },
    )
    r.host.register(
      scripted('b', () => []),
      { limits },
    )
    const cut = r.host.reduceLimits(50, 'graceful shutdown step 3')
    expect(cut).toEqual({ a: { maxPosition: 5, maxOpenOrders: 2, maxOrdersPerSecond: 2 }, b: { maxPosition: 0.5, maxOpenOrders: 1, maxOrdersPerSecond: 5 } })
    const changes = [...r.log.read({ types: ['strategy.limits-changed'] })].slice(2)
    expect(changes.map((e) => e.data)).toEqual([
      { strategyId: 'a', limits: cut.a, reason: 'graceful shutdown step 3', origin: 'shutdown' },
      { strategyId: 'b', limits: cut.b, reason: 'graceful shutdown step 3', origin: 'shutdown' },
    ])
    expect(r.host.limits('a')).toEqual(cut.a)
  })

  it('disables every strategy at once, recording each, and refuses a disable without a reason', () => {
    const r = make()
    r.host.register(
      scripted('a', () => []),
      { limits },
    )
    r.host.register(
      scripted('b', () => []),
      { limits, enabled: false },
    )
    expect(() => r.host.disableAll('  ')).toThrow(InvalidStrategyConfig)
    expect(r.host.disableAll('graceful shutdown step 4')).toEqual(['a'])
    expect(r.host.status().map((s) => [s.id, s.enabled])).toEqual([
      ['a', false],
      ['b', false],
    ])
    expect([...r.log.read({ types: ['strategy.disabled'] })].map((e) => e.data)).toContainEqual({
      strategyId: 'a',
      reason: 'graceful shutdown step 4',
      origin: 'shutdown',
    })
  })

  it('disables a strategy whose code throws, and records why', async () => {
    const r = make()
    r.host.register(
      scripted('bad', () => {
        throw new Error('division by zero')
      }),
      { limits },
    )
    await r.tick()
    expect(r.host.isEnabled('bad')).toBe(false)
    expect(r.host.status()[0]).toMatchObject({ errors: 1, disabledReason: 'strategy threw in onTick: division by zero' })
    expect(r.state().strategies.get('bad')).toMatchObject({ enabled: false, reason: 'strategy threw in onTick: division by zero' })
  })

  it('refuses and counts invalid intents and cancels of orders the strategy does not own', async () => {
    const r = make()
    r.host.register(scripted('a', once([bid('binance-sim', BTC, 0.01, 50000)])), { limits })
    await r.tick()
    const theirs = r.results[0]!.status === 'submitted' ? (r.results[0] as { outcome: { clientOrderId: string } }).outcome.clientOrderId : ''
    r.host.register(
      scripted(
        'b',
        once([
          { kind: 'cancel', venue: 'binance-sim', clientOrderId: theirs },
          { kind: 'place', venue: 'binance-sim', symbol: BTC, side: 'buy', type: 'limit', qty: 1 } as OrderIntent,
          { kind: 'place', venue: 'binance-sim', symbol: BTC, side: 'up', type: 'market', qty: -1 } as unknown as OrderIntent,
        ]),
      ),
      { limits },
    )
    await r.tick()
    expect(r.host.refusals('b')).toMatchObject({ total: 3, 'not-own-order': 1, invalid: 2 })
    expect(r.sims[0]!.openOrderCount).toBe(1)
  })

  it('lets a disabled strategy cancel its own resting orders, which only removes exposure', async () => {
    const r = make()
    let step = 0
    r.host.register(
      scripted('mm', (_t, ctx) =>
        step++ === 0
          ? [bid('binance-sim', BTC, 0.01, 50000)]
          : ctx.openOrders().map((o) => ({ kind: 'cancel' as const, venue: o.venue, clientOrderId: o.clientOrderId })),
      ),
      { limits },
    )
    await r.tick()
    r.host.disable('mm', 'winding down')
    await r.tick()
    expect(r.sims[0]!.openOrderCount).toBe(0)
    expect(r.results.map((x) => x.status)).toEqual(['submitted', 'cancel-sent'])
  })

  it('given the gate refusing cancels (a handover under way), a strategy’s cancel is a gate refusal naming it: nothing sent, nothing recorded, the strategy keeps running', async () => {
    const r = make()
    let step = 0
    r.host.register(
      scripted('mm', (_t, ctx) =>
        step++ === 0
          ? [bid('binance-sim', BTC, 0.01, 50000)]
          : ctx.openOrders().map((o) => ({ kind: 'cancel' as const, venue: o.venue, clientOrderId: o.clientOrderId })),
      ),
      { limits },
    )
    await r.tick()
    const lift = r.gate.fenceCancels(() => "handover h-1 to 'b' is under way")
    await r.tick()
    expect(r.sims[0]!.openOrderCount).toBe(1)
    expect([...r.log.read({ types: ['order.cancel-requested'] })]).toHaveLength(0)
    expect(r.results.at(-1)).toMatchObject({
      status: 'refused',
      refusal: 'gate',
      reason: expect.stringMatching(/refused, nothing sent or recorded: handover h-1 to 'b' is under way$/),
    })
    expect(r.host.status().find((s) => s.id === 'mm')).toMatchObject({ enabled: true })
    // once the handover ended (here: rolled back), the same cancel goes out
    lift()
    await r.tick()
    expect(r.sims[0]!.openOrderCount).toBe(0)
  })

  it('tells each strategy about its own orders only', async () => {
    const r = make()
    const a = scripted('a', once([{ kind: 'place', venue: 'binance-sim', symbol: ETH, side: 'buy', type: 'market', qty: 0.1 }]))
    const b = scripted('b', () => [])
    r.host.register(a, { limits })
    r.host.register(b, { limits })
    await r.tick()
    await r.host.idle()
    expect(a.updates.map((u) => u.kind)).toContain('filled')
    expect(a.updates.filter((u) => u.kind === 'filled').reduce((s, u) => s + (u.kind === 'filled' ? u.qty : 0), 0)).toBeCloseTo(0.1)
    expect(b.updates).toEqual([])
  })

  it('checkpoints every strategy’s state and limits and restores the state', async () => {
    const r = make()
    const a = scripted('a', () => [])
    r.host.register(a, { limits })
    await r.tick()
    await r.tick()
    r.host.reduceLimits(50, 'step 3')
    r.host.disable('a', 'step 4')
    const saved = JSON.parse(JSON.stringify(r.host.checkpointState()))
    expect(saved).toEqual({ strategies: { a: { enabled: false, limits: { maxPosition: 0.5, maxOpenOrders: 1, maxOrdersPerSecond: 5 }, state: { n: 2 } } } })

    const r2 = make()
    const a2 = scripted('a', () => [])
    r2.host.register(a2, { limits })
    expect(r2.host.restoreState({ strategies: { ...saved.strategies, gone: { enabled: true, limits, state: null } } })).toEqual({
      restored: ['a'],
      unknown: ['gone'],
    })
    expect(a2.state.n).toBe(2)
    // limits come from config unless asked; enabling is decided at startup, not by the checkpoint
    expect(r2.host.limits('a')).toEqual(limits)
    expect(r2.host.isEnabled('a')).toBe(true)
    r2.host.restoreState(saved, { limits: true })
    expect(r2.host.limits('a')).toEqual(saved.strategies.a.limits)
  })

  it('rejects a malformed checkpoint or state with a typed error naming what is wrong', () => {
    const r = make()
    r.host.register(
      scripted('a', () => []),
      { limits },
    )
    expect(() => r.host.restoreState({ strategies: { a: { enabled: 'yes', limits, state: {} } } })).toThrow(InvalidStrategyCheckpoint)
    expect(() => r.host.restoreState({ strategies: { a: { enabled: true, limits, state: {} } } })).toThrow(StrategyRestoreFailed)
    expect(() => r.host.restoreState({ strategies: { a: { enabled: true, limits, state: {} } } })).toThrow(/'a'.*n must be a number/)
  })

  it('rejects a malformed tick with a typed error naming the field, and hands it to no strategy', async () => {
    const r = make()
    const a = scripted('a', () => [])
    r.host.register(a, { limits })
    await expect(r.host.onTick({ venue: 'binance-sim', symbol: BTC, bid: 0, ask: 1, ts: 1 })).rejects.toThrow(InvalidTick)
    await expect(r.host.onTick({ venue: 'binance-sim', symbol: BTC, bid: 0, ask: 1, ts: 1 })).rejects.toThrow(/invalid tick: bid/)
    expect(a.state.n).toBe(0)
  })

  it('names unknown and duplicate strategies', () => {
    const r = make()
    r.host.register(
      scripted('a', () => []),
      { limits },
    )
    expect(() =>
      r.host.register(
        scripted('a', () => []),
        { limits },
      ),
    ).toThrow(DuplicateStrategy)
    expect(() => r.host.disable('zz', 'x')).toThrow(UnknownStrategy)
    expect(() => r.host.disable('zz', 'x')).toThrow(/'zz'.*registered: a/)
    expect(() =>
      r.host.register(
        scripted('c', () => []),
        { limits: { ...limits, maxOpenOrders: -1 } },
      ),
    ).toThrow(/limits\.maxOpenOrders/)
  })
})
