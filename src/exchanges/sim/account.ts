import type { Side } from '../../events/primitives.js'
import type { VenueBalance, VenuePosition } from '../gateway.js'
import type { SymbolMarket } from './market.js'
import type { SavedAccount } from './state-file.js'

type Balance = { free: number; used: number }
type Position = { qty: number; entryPrice: number }

/**
 * What the simulated account holds. Derivatives: a signed position per symbol and a quote
 * balance that takes fees and realized P&L. Spot: base and quote balances, with the part
 * promised to resting orders held as `used`.
 */
export class SimAccount {
  private readonly balances = new Map<string, Balance>()
  private readonly positions = new Map<string, Position>()

  constructor(
    readonly mode: 'derivatives' | 'spot',
    initial: Iterable<[string, number]>,
  ) {
    for (const [asset, amount] of initial) this.balances.set(asset, { free: amount, used: 0 })
  }

  /** Puts back what a state file saved: these balances and positions, nothing else. */
  restore(saved: Pick<SavedAccount, 'balances' | 'positions'>): void {
    this.balances.clear()
    this.positions.clear()
    for (const b of saved.balances) this.balances.set(b.asset, { free: b.free, used: b.used })
    for (const p of saved.positions) if (p.qty !== 0) this.positions.set(p.symbol, { qty: p.qty, entryPrice: p.entryPrice })
  }

  position(symbol: string): number {
    return this.positions.get(symbol)?.qty ?? 0
  }

  /** How much an order on `side` can trade without increasing |position|. */
  reducible(symbol: string, side: Side): number {
    const q = this.position(symbol)
    return side === 'sell' ? Math.max(0, q) : Math.max(0, -q)
  }

  free(asset: string): number {
    return this.balances.get(asset)?.free ?? 0
  }

  lock(asset: string, amount: number): void {
    const b = this.balance(asset)
    b.free -= amount
    b.used += amount
  }

  release(asset: string, amount: number): void {
    const b = this.balance(asset)
    b.used -= amount
    b.free += amount
  }

  /**
   * Books one fill. `fromLocked` is true when the spot asset it pays with was locked by a
   * resting order (then it comes out of `used`, at the order's limit price for a buy).
   */
  applyFill(m: SymbolMarket, side: Side, qty: number, price: number, fee: number, lockedPrice?: number): void {
    const quote = this.balance(m.quote)
    quote.free -= fee
    if (this.mode === 'spot') {
      const base = this.balance(m.base)
      if (side === 'buy') {
        base.free += qty
        if (lockedPrice !== undefined) {
          quote.used -= qty * lockedPrice
          quote.free += qty * (lockedPrice - price)
        } else quote.free -= qty * price
      } else {
        if (lockedPrice !== undefined) base.used -= qty
        else base.free -= qty
        quote.free += qty * price
      }
      return
    }
    const signed = side === 'buy' ? qty : -qty
    const pos = this.positions.get(m.symbol) ?? { qty: 0, entryPrice: 0 }
    const next = m.snapQty(pos.qty + signed)
    if (pos.qty === 0 || Math.sign(pos.qty) === Math.sign(signed)) {
      pos.entryPrice = (pos.entryPrice * Math.abs(pos.qty) + price * qty) / Math.abs(next)
    } else {
      const closed = Math.min(qty, Math.abs(pos.qty))
      quote.free += closed * (price - pos.entryPrice) * Math.sign(pos.qty)
      if (next !== 0 && Math.sign(next) !== Math.sign(pos.qty)) pos.entryPrice = price
    }
    pos.qty = next
    if (next === 0) this.positions.delete(m.symbol)
    else this.positions.set(m.symbol, pos)
  }

  listPositions(): VenuePosition[] {
    return [...this.positions].map(([symbol, p]) => ({ symbol, qty: p.qty, entryPrice: p.entryPrice }))
  }

  listBalances(): VenueBalance[] {
    return [...this.balances].map(([asset, b]) => ({ asset, free: b.free, used: b.used, total: b.free + b.used }))
  }

  private balance(asset: string): Balance {
    let b = this.balances.get(asset)
    if (!b) {
      b = { free: 0, used: 0 }
      this.balances.set(asset, b)
    }
    return b
  }
}
