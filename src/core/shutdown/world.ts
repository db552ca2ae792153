import { exposures, isLive, isPriced, reconciliation, type HaltdState, type Order } from '../../projections/index.js'
import type { ShutdownWorld, WorldOrder, WorldPosition } from './types.js'

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const FLAT = 1e-12

/**
 * The shutdown's read-only view of the projections at one seq. The live runner and the audit's
 * replay both build it with this one function, so both hand `decide` the same world. The
 * reconciliation table is built only when a step reads it (it walks every order).
 */
export function worldOf(state: HaltdState): ShutdownWorld {
  // the state is folded in place and every event moves its seq: one world per state and seq
  const made = built.get(state)
  if (made?.seq === state.seq) return made.world
  const world = buildWorld(state)
  built.set(state, { seq: state.seq, world })
  return world
}

const built = new WeakMap<HaltdState, { seq: number; world: ShutdownWorld }>()

/**
 * The live orders as the world lists them, sorted by venue and client order id. An order is
 * replaced in the state when an event changes it, never changed in place (`evolveOrder`), so a
 * state whose live orders are the very objects the last list was made from still has that list:
 * the shutdown's own events move the seq without touching an order, and at desk scale each new
 * list cost tens of milliseconds of the emergency.
 */
function liveOrders(state: HaltdState): readonly WorldOrder[] {
  const from: Order[] = []
  for (const o of state.orders.values()) if (isLive(o.status)) from.push(o)
  const last = listed.get(state)
  if (last !== undefined && last.from.length === from.length && last.from.every((o, i) => o === from[i])) return last.orders
  const orders: WorldOrder[] = from.map((o) => ({
    // one literal, every field set (undefined where absent): one hidden class for all of them
    venue: o.venue,
    clientOrderId: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    qty: o.qty,
    filledQty: o.filledQty,
    price: o.price,
    timeInForce: o.timeInForce,
    status: o.status,
    origin: o.origin,
    reduceOnly: o.reduceOnly,
    venueOrderId: o.venueOrderId,
  }))
  orders.sort((a, b) => cmp(a.venue, b.venue) || cmp(a.clientOrderId, b.clientOrderId))
  listed.set(state, { from, orders })
  return orders
}

const listed = new WeakMap<HaltdState, { from: readonly Order[]; orders: readonly WorldOrder[] }>()

function buildWorld(state: HaltdState): ShutdownWorld {
  const orders = liveOrders(state)

  // sized by the venue's word where it has reported (see `exposures`), so a fill the venue's
  // stream never delivered neither hides a position nor invents one
  const positions: WorldPosition[] = []
  for (const p of exposures(state)) {
    if (Math.abs(p.qty) <= FLAT) continue
    const w: WorldPosition = { venue: p.venue, symbol: p.symbol, qty: p.qty, avgEntry: p.avgEntry, realized: p.realized, unrealized: p.unrealized }
    if (!isPriced(state, p.venue, p.symbol)) w.unpriced = true
    const amountStep = state.venues.get(p.venue)?.markets.get(p.symbol)?.amountStep
    if (amountStep !== undefined) w.amountStep = amountStep
    w.fromFills = p.fromFills
    w.basis = p.basis
    if (p.observedSeq !== undefined) w.observedSeq = p.observedSeq
    positions.push(w)
  }

  const marks: Record<string, number> = {}
  for (const [key, price] of state.marks) marks[key.replace('\u001f', ' ')] = price

  const marketData: Record<string, readonly string[]> = {}
  const balances: Record<string, ShutdownWorld['balances'][string]> = {}
  for (const v of [...state.venues.values()].sort((a, b) => cmp(a.venue, b.venue))) {
    if (v.marketData.length > 0) marketData[v.venue] = v.marketData
    if (v.balances) balances[v.venue] = v.balances.balances
  }

  let table: ShutdownWorld['reconciliation'] | undefined
  const { realized, fees, unrealized, equity, drawdown } = state.pnl
  return {
    seq: state.seq,
    orders,
    positions,
    marks,
    tradingMode: state.trading.mode,
    killSwitchLatched: state.trading.killSwitch.latched,
    marketData,
    balances,
    pnl: { realized, fees, unrealized, equity, drawdown },
    get reconciliation() {
      if (!table) {
        const r = reconciliation(state)
        table = {
          ok: r.ok,
          verdict: r.verdict,
          counts: { ...r.counts },
          unverified: r.unverified,
          venues: r.perVenue,
          problems: r.rows
            .filter((row) => row.status !== 'OK')
            .map((row) => ({
              kind: row.kind,
              venue: row.venue,
              symbol: row.symbol,
              internal: row.internal,
              observed: row.observed,
              status: row.status,
              ...(row.clientOrderId !== undefined ? { clientOrderId: row.clientOrderId } : {}),
            })),
        }
      }
      return table
    },
  }
}
