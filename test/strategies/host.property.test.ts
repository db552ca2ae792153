import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { bookKey, isLive } from '../../src/projections/index.js'
import type { OrderSink, SinkOrder, Strategy } from '../../src/strategies/index.js'
import { BTC, ETH, rig, type Rig } from './rig.js'

const VENUES = ['binance-sim', 'okx-sim']
const IDS = ['a', 'b'] as const
const EPS = 1e-9

/** What a puppet strategy says on its next tick: an intent, or an index into its open orders to cancel. */
type Said = { place: Record<string, unknown> } | { cancelOpen: number } | { cancelForeign: string } | { junk: unknown }

type Command =
  | { kind: 'say'; id: (typeof IDS)[number]; said: Said[] }
  | { kind: 'disable' | 'enable'; id: (typeof IDS)[number] }
  | { kind: 'halt' }
  | { kind: 'release' }
  | { kind: 'mode'; to: 'ACTIVE' | 'REDUCING' }
  | { kind: 'advance'; ms: number }
  | { kind: 'reduce'; pct: number }
  | { kind: 'market' }

const place = fc
  .record({
    venue: fc.constantFrom(...VENUES),
    symbol: fc.constantFrom(BTC, ETH),
    side: fc.constantFrom('buy', 'sell'),
    type: fc.constantFrom('market', 'limit'),
    qty: fc.constantFrom(0.01, 0.1, 0.25, 0.5, 1, 2),
    // limits well away from the touch rest; near it they take
    away: fc.constantFrom(-0.02, -0.001, 0, 0.001, 0.02),
    reduceOnly: fc.boolean(),
  })
  .map(({ away, ...p }) => ({
    kind: 'place',
    ...p,
    ...(p.type === 'limit' ? { price: (p.symbol === BTC ? 64000 : 3000) * (1 + (p.side === 'buy' ? -away : away)) } : {}),
  }))

const said: fc.Arbitrary<Said> = fc.oneof(
  { weight: 6, arbitrary: place.map((p) => ({ place: p })) },
  { weight: 2, arbitrary: fc.nat(20).map((i) => ({ cancelOpen: i })) },
  { weight: 1, arbitrary: fc.constantFrom('hd-x-1', 'nope').map((c) => ({ cancelForeign: c })) },
  { weight: 1, arbitrary: fc.oneof(fc.constant(null), fc.constant({ kind: 'place', qty: -1 }), fc.anything()).map((j) => ({ junk: j })) },
)

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({ kind: fc.constant('say' as const), id: fc.constantFrom(...IDS), said: fc.array(said, { minLength: 1, maxLength: 5 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('disable' as const, 'enable' as const), id: fc.constantFrom(...IDS) }) },
  { weight: 1, arbitrary: fc.constantFrom<Command>({ kind: 'halt' }, { kind: 'release' }) },
  { weight: 1, arbitrary: fc.constantFrom('ACTIVE' as const, 'REDUCING' as const).map((to) => ({ kind: 'mode' as const, to })) },
  { weight: 2, arbitrary: fc.constantFrom(100, 400, 1_000).map((ms) => ({ kind: 'advance' as const, ms })) },
  { weight: 1, arbitrary: fc.constantFrom(10, 50, 100).map((pct) => ({ kind: 'reduce' as const, pct })) },
  { weight: 2, arbitrary: fc.constant<Command>({ kind: 'market' }) },
)

/** A strategy that says on its next tick whatever the test queued for it. */
function puppet(id: string): Strategy & { queue: Said[] } {
  return {
    id,
    queue: [],
    onTick(_tick, ctx) {
      if (_tick.symbol !== BTC || _tick.venue !== VENUES[0]) return []
      const open = ctx.openOrders()
      return this.queue.splice(0).map((s) => {
        if ('place' in s) return s.place
        if ('cancelOpen' in s) {
          const o = open[s.cancelOpen % Math.max(1, open.length)]
          return o ? { kind: 'cancel', venue: o.venue, clientOrderId: o.clientOrderId } : { kind: 'cancel', venue: VENUES[0], clientOrderId: 'none-open' }
        }
        if ('cancelForeign' in s) return { kind: 'cancel', venue: VENUES[1], clientOrderId: s.cancelForeign }
        return s.junk
      }) as never
    },
    snapshot: () => null,
    restore: () => undefined,
  }
}

const rigs: Rig[] = []
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close()
})

describe('strategies cannot bypass the gate or their limits', () => {
  it('every order that reaches the router passed the host’s checks, every order that reaches a venue passed the gate, and every refusal is counted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 1_000 }), async (commands, seed) => {
        const violations: string[] = []
        let gateOpenCalls = 0
        let host!: Rig['host']
        let r!: Rig
        // The router, watched: at each call it checks independently what the host should have checked.
        const watched = (router: Rig['router']): OrderSink => ({
          cancel: (ref, options) => router.cancel(ref, options),
          async submit(order: SinkOrder) {
            const id = order.origin.id!
            const state = r.state()
            if (order.origin.kind !== 'strategy') violations.push(`origin ${order.origin.kind}`)
            if (!host.isEnabled(id)) violations.push(`${id} is disabled but sent an order`)
            const lim = host.limits(id)
            const live = [...state.orders.values()].filter((o) => isLive(o.status) && o.origin.kind === 'strategy' && o.origin.id === id)
            if (live.length + 1 > lim.maxOpenOrders) violations.push(`${id}: ${live.length} open, limit ${lim.maxOpenOrders}`)
            const now = r.clock.now()
            const recent = [...r.log.read({ types: ['order.submitted'] })].filter(
              (e) => e.type === 'order.submitted' && e.data.origin.id === id && e.ts > now - 1_000,
            ).length
            if (recent + 1 > lim.maxOrdersPerSecond + EPS) violations.push(`${id}: ${recent} sent in the last second, limit ${lim.maxOrdersPerSecond}`)
            const pos = state.books.get(bookKey(order.venue, order.symbol, id))?.qty ?? 0
            const sign = order.side === 'buy' ? 1 : -1
            const resting = live
              .filter((o) => o.venue === order.venue && o.symbol === order.symbol && o.side === order.side)
              .reduce((s, o) => s + o.qty - o.filledQty, 0)
            const worst = pos + sign * (resting + order.qty)
            if (sign * worst > lim.maxPosition + EPS) violations.push(`${id}: worst position ${worst}, limit ${lim.maxPosition}`)

            const gateSays = router.refusal(order)
            const before = r.log.lastSeq
            const outcome = await router.submit(order)
            if (gateSays !== undefined) {
              if (outcome.status !== 'refused') violations.push(`gate said '${gateSays}' but the order went out (${outcome.status})`)
              if (r.log.lastSeq !== before) violations.push('a refused order was logged')
            } else {
              gateOpenCalls++
            }
            return outcome
          },
        })
        r = rig({ venues: VENUES, seed, sink: watched })
        rigs.push(r)
        host = r.host
        const puppets = Object.fromEntries(IDS.map((id) => [id, puppet(id)]))
        for (const id of IDS) host.register(puppets[id]!, { limits: { maxPosition: 1, maxOpenOrders: 4, maxOrdersPerSecond: 3 } })
        const spoken = { n: 0 }
        const tick = () => host.onTick({ venue: VENUES[0]!, symbol: BTC, bid: 63999, ask: 64001, ts: r.clock.now() })

        for (const c of commands) {
          switch (c.kind) {
            case 'say':
              puppets[c.id]!.queue.push(...c.said)
              spoken.n += c.said.length
              await tick()
              break
            case 'disable':
              host.disable(c.id, 'property test')
              break
            case 'enable':
              host.enable(c.id, 'property test')
              break
            case 'halt':
              r.gate.halt('property test')
              break
            case 'release':
              r.gate.release()
              break
            case 'mode':
              r.log.append({ type: 'trading.state-changed', data: { to: c.to, reason: 'property test', origin: 'operator' } })
              break
            case 'advance':
              r.clock.advance(c.ms)
              break
            case 'reduce':
              host.reduceLimits(c.pct, 'property test')
              break
            case 'market':
              for (const s of r.sims) s.tick()
              break
          }
          await host.idle()
        }

        expect(violations).toEqual([])
        // every intent has exactly one result, and every refusal is counted per strategy
        expect(r.results).toHaveLength(spoken.n)
        const refused = r.results.filter((x) => x.status === 'refused')
        expect(IDS.reduce((s, id) => s + host.refusals(id).total, 0)).toBe(refused.length)
        for (const id of IDS) {
          const counts = host.refusals(id)
          const mine = refused.filter((x) => x.strategyId === id)
          expect(counts.total).toBe(mine.length)
          for (const kind of ['disabled', 'invalid', 'not-own-order', 'maxPosition', 'maxOpenOrders', 'maxOrdersPerSecond', 'gate'] as const) {
            expect(counts[kind]).toBe(mine.filter((x) => x.status === 'refused' && x.refusal === kind).length)
          }
        }
        // what reached a venue is exactly what the gate let through
        const atVenues = [...r.log.read({ types: ['order.submitted'] })].length
        expect(atVenues).toBe(gateOpenCalls)
        expect(r.results.filter((x) => x.status === 'submitted')).toHaveLength(gateOpenCalls)
      }),
      { numRuns: 60 },
    )
  })
})
