import type { Side } from '../events/index.js'

/**
 * A position from fills, at average cost: adding to it moves the average entry, reducing it
 * realizes (exit − entry) × closed quantity, and a fill larger than the position flips it and
 * opens the rest at the fill price. Works the same for spot holdings and derivatives.
 */
export type Position = {
  venue: string
  symbol: string
  /** Signed: long > 0, short < 0. */
  qty: number
  /** 0 while flat. */
  avgEntry: number
  realized: number
  /** Fees as the venue reported them, summed without currency conversion. */
  fees: number
  /** At the last mark seen for this venue and symbol; 0 without a mark. */
  unrealized: number
  fills: number
  /** Set on per-strategy books only. */
  strategy?: string
  /**
   * A contract market's size where it is not 1, as it was when the position opened: a size learnt
   * later (a log from before sizes were recorded) applies from the next position on, so the equity
   * never jumps by a re-denomination.
   */
  contractSize?: number
}

// A remainder this small relative to the quantities involved is float noise from summing
// decimal fills (0.3 − 0.1 − 0.1 − 0.1), not a position: it snaps to flat.
const FLAT_EPS = 1e-12

export function emptyPosition(venue: string, symbol: string, strategy?: string): Position {
  return { venue, symbol, qty: 0, avgEntry: 0, realized: 0, fees: 0, unrealized: 0, fills: 0, strategy }
}

// One literal shape for every position (see copyOrder in orders.ts for why).
function copyPosition(p: Position, contractSize = p.contractSize ?? 1): Position {
  const copy: Position = {
    venue: p.venue,
    symbol: p.symbol,
    qty: p.qty,
    avgEntry: p.avgEntry,
    realized: p.realized,
    fees: p.fees,
    unrealized: p.unrealized,
    fills: p.fills,
    strategy: p.strategy,
  }
  if (contractSize !== 1) copy.contractSize = contractSize
  return copy
}

/**
 * Apply one fill; returns a new position. `mark` (if known) refreshes `unrealized`. `contractSize`
 * is the market's unit in the base asset now (see `contractSizeOf`): P&L scales by it, quantities
 * do not. A position keeps the size it opened with until it is flat.
 */
export function applyFill(pos: Position, side: Side, qty: number, price: number, fee: number, mark?: number, contractSize = 1): Position {
  const signed = side === 'buy' ? qty : -qty
  const size = pos.qty === 0 ? contractSize : (pos.contractSize ?? 1)
  const next = copyPosition(pos, size)
  next.fees = pos.fees + fee
  next.fills = pos.fills + 1
  const held = pos.qty
  if (held === 0 || held > 0 === signed > 0) {
    const size = Math.abs(held) + qty
    next.avgEntry = (Math.abs(held) * pos.avgEntry + qty * price) / size
    next.qty = held + signed
  } else {
    const open = Math.abs(held)
    const direction = held > 0 ? 1 : -1
    const closing = Math.min(open, qty)
    next.realized = pos.realized + closing * (price - pos.avgEntry) * direction * size
    const rest = qty - open
    if (Math.abs(rest) <= FLAT_EPS * Math.max(open, qty)) {
      next.qty = 0
      next.avgEntry = 0
    } else if (rest > 0) {
      next.qty = -direction * rest
      next.avgEntry = price
    } else {
      next.qty = held + signed
    }
  }
  next.unrealized = mark === undefined ? 0 : unrealizedAt(next, mark)
  return next
}

/** A position's P&L at `mark`, in contracts of the size it holds (1 unless it says otherwise). */
export function unrealizedAt(pos: Pick<Position, 'qty' | 'avgEntry' | 'contractSize'>, mark: number): number {
  return pos.qty === 0 ? 0 : pos.qty * (mark - pos.avgEntry) * (pos.contractSize ?? 1)
}

export function withUnrealized(pos: Position, unrealized: number): Position {
  const next = copyPosition(pos)
  next.unrealized = unrealized
  return next
}
