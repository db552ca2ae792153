/**
 * The matching engine behind the fake Binance server: one spot account and one USD-M futures
 * account. Market orders fill at the symbol's fixed mid; limit orders fill at mid when they cross
 * it, otherwise they rest (GTC) or expire (IOC/FOK). Tests move prices and fill resting orders
 * through `fillResting`. Deliberately small: only what ccxt's binance classes read back.
 */

export type Segment = 'spot' | 'futures'
export type BinanceSide = 'BUY' | 'SELL'
export type BinanceStatus = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'EXPIRED'

export type SymbolSpec = {
  id: string
  base: string
  quote: string
  stepSize: number
  tickSize: number
  minQty: number
  mid: number
}

export type FakeOrder = {
  segment: Segment
  orderId: number
  clientOrderId: string
  symbol: string
  side: BinanceSide
  type: 'LIMIT' | 'MARKET'
  timeInForce: 'GTC' | 'IOC' | 'FOK' | 'GTX'
  qty: number
  price: number
  executed: number
  cumQuote: number
  status: BinanceStatus
  reduceOnly: boolean
  time: number
  updateTime: number
}

export type FakeTrade = {
  segment: Segment
  id: number
  orderId: number
  clientOrderId: string
  symbol: string
  side: BinanceSide
  price: number
  qty: number
  commission: number
  commissionAsset: string
  time: number
  maker: boolean
}

export type Position = { amt: number; entryPrice: number }

/** A refusal in Binance's own terms: HTTP status, error code and message. */
export class BinanceReject extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly msg: string,
  ) {
    super(`${code} ${msg}`)
  }
}

export const UNKNOWN_ORDER = (): BinanceReject => new BinanceReject(400, -2011, 'Unknown order sent.')
export const NO_SUCH_ORDER = (): BinanceReject => new BinanceReject(400, -2013, 'Order does not exist.')

export type ExecutionListener = (order: FakeOrder, trade: FakeTrade | undefined) => void

const round = (x: number): number => Math.round(x * 1e8) / 1e8
const isMultiple = (x: number, step: number): boolean => Math.abs(Math.round(x / step) * step - x) < step * 1e-6

export const DEFAULT_SYMBOLS: SymbolSpec[] = [
  { id: 'BTCUSDT', base: 'BTC', quote: 'USDT', stepSize: 0.001, tickSize: 0.1, minQty: 0.001, mid: 50_000 },
  { id: 'ETHUSDT', base: 'ETH', quote: 'USDT', stepSize: 0.01, tickSize: 0.01, minQty: 0.01, mid: 3_000 },
]

export class FakeExchangeEngine {
  readonly symbols = new Map<string, SymbolSpec>()
  readonly orders: Record<Segment, Map<number, FakeOrder>> = { spot: new Map(), futures: new Map() }
  readonly trades: FakeTrade[] = []
  readonly spotBalances = new Map<string, { free: number; locked: number }>()
  futuresWallet: number
  readonly positions = new Map<string, Position>()
  private nextOrderId = 4_000_000
  private nextTradeId = 900_000
  private readonly listeners = new Set<ExecutionListener>()
  private readonly countdowns = new Map<string, NodeJS.Timeout>()

  constructor(
    symbols: SymbolSpec[] = DEFAULT_SYMBOLS,
    balances: Record<string, number> = { USDT: 1_000_000, BTC: 10, ETH: 100 },
    futuresWallet = 1_000_000,
    private readonly now: () => number = Date.now,
  ) {
    for (const s of symbols) this.symbols.set(s.id, { ...s })
    for (const [asset, free] of Object.entries(balances)) this.spotBalances.set(asset, { free, locked: 0 })
    this.futuresWallet = futuresWallet
  }

  onExecution(listener: ExecutionListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  spec(symbol: string | undefined): SymbolSpec {
    const spec = symbol === undefined ? undefined : this.symbols.get(symbol)
    if (!spec) throw new BinanceReject(400, -1121, 'Invalid symbol.')
    return spec
  }

  setMid(symbol: string, mid: number): void {
    this.spec(symbol).mid = mid
  }

  find(segment: Segment, ref: { orderId?: number; clientOrderId?: string }, symbol?: string): FakeOrder | undefined {
    if (ref.orderId !== undefined) {
      const o = this.orders[segment].get(ref.orderId)
      return o && (symbol === undefined || o.symbol === symbol) ? o : undefined
    }
    // the newest order with that client id, as Binance answers
    let found: FakeOrder | undefined
    for (const o of this.orders[segment].values()) {
      if (o.clientOrderId === ref.clientOrderId && (symbol === undefined || o.symbol === symbol)) found = o
    }
    return found
  }

  open(segment: Segment, symbol?: string): FakeOrder[] {
    return [...this.orders[segment].values()].filter(
      (o) => (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED') && (symbol === undefined || o.symbol === symbol),
    )
  }

  position(symbol: string): Position {
    return this.positions.get(symbol) ?? { amt: 0, entryPrice: 0 }
  }

  place(
    segment: Segment,
    req: {
      symbol: string
      side: string
      type: string
      quantity: number
      price?: number
      timeInForce?: string
      clientOrderId: string
      reduceOnly?: boolean
    },
  ): FakeOrder {
    const spec = this.spec(req.symbol)
    if (req.side !== 'BUY' && req.side !== 'SELL') throw new BinanceReject(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
    if (req.type !== 'LIMIT' && req.type !== 'MARKET') throw new BinanceReject(400, -1116, 'Invalid orderType.')
    if (!Number.isFinite(req.quantity) || req.quantity <= 0)
      throw new BinanceReject(400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
    if (!isMultiple(req.quantity, spec.stepSize) || req.quantity < spec.minQty) throw new BinanceReject(400, -1013, 'Filter failure: LOT_SIZE')
    if (req.type === 'LIMIT') {
      if (req.price === undefined || !(req.price > 0))
        throw new BinanceReject(400, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
      if (!isMultiple(req.price, spec.tickSize)) throw new BinanceReject(400, -1013, 'Filter failure: PRICE_FILTER')
    }
    if (this.open(segment).some((o) => o.clientOrderId === req.clientOrderId)) throw new BinanceReject(400, -2010, 'Duplicate order sent.')
    if (req.reduceOnly && segment === 'spot') throw new BinanceReject(400, -1104, "Not all sent parameters were read; read '9' parameter(s) but was sent '10'.")

    let qty = req.quantity
    if (req.reduceOnly) {
      const pos = this.position(req.symbol).amt
      const reduces = (req.side === 'SELL' && pos > 0) || (req.side === 'BUY' && pos < 0)
      if (!reduces) throw new BinanceReject(400, -2022, 'ReduceOnly Order is rejected.')
      qty = Math.min(qty, Math.abs(pos))
    }
    const t = this.now()
    const order: FakeOrder = {
      segment,
      orderId: this.nextOrderId++,
      clientOrderId: req.clientOrderId,
      symbol: req.symbol,
      side: req.side,
      type: req.type,
      timeInForce: (req.timeInForce as FakeOrder['timeInForce'] | undefined) ?? 'GTC',
      qty,
      price: req.type === 'LIMIT' ? req.price! : 0,
      executed: 0,
      cumQuote: 0,
      status: 'NEW',
      reduceOnly: !!req.reduceOnly,
      time: t,
      updateTime: t,
    }
    const crosses = order.type === 'MARKET' || (order.side === 'BUY' ? order.price >= spec.mid : order.price <= spec.mid)
    if (segment === 'spot') this.reserveSpot(order, spec)
    this.orders[segment].set(order.orderId, order)
    if (crosses) {
      this.emit(order, undefined)
      this.execute(order, order.qty, spec.mid, false)
    } else if (order.timeInForce === 'IOC' || order.timeInForce === 'FOK') {
      this.finish(order, 'EXPIRED')
    } else {
      this.emit(order, undefined)
    }
    return order
  }

  cancel(segment: Segment, symbol: string, ref: { orderId?: number; clientOrderId?: string }): FakeOrder {
    this.spec(symbol)
    const order = this.find(segment, ref, symbol)
    if (!order || (order.status !== 'NEW' && order.status !== 'PARTIALLY_FILLED')) throw UNKNOWN_ORDER()
    this.finish(order, 'CANCELED')
    return order
  }

  cancelAll(segment: Segment, symbol: string): FakeOrder[] {
    this.spec(symbol)
    const open = this.open(segment, symbol)
    for (const o of open) this.finish(o, 'CANCELED')
    return open
  }

  /** Fill a resting order (all of it by default) at its limit price, as if the market traded through it. */
  fillResting(segment: Segment, clientOrderId: string, qty?: number): FakeOrder {
    const order = this.open(segment).find((o) => o.clientOrderId === clientOrderId)
    if (!order) throw new Error(`no open ${segment} order ${clientOrderId}`)
    this.execute(order, qty ?? round(order.qty - order.executed), order.price, true)
    return order
  }

  /** Arm (ms > 0) or disarm (0) the futures countdown that cancels every order on the symbol. */
  countdown(symbol: string, ms: number): void {
    this.spec(symbol)
    const prior = this.countdowns.get(symbol)
    if (prior) clearTimeout(prior)
    this.countdowns.delete(symbol)
    if (ms > 0) {
      this.countdowns.set(
        symbol,
        setTimeout(() => {
          this.countdowns.delete(symbol)
          this.cancelAll('futures', symbol)
        }, ms),
      )
    }
  }

  armedCountdowns(): string[] {
    return [...this.countdowns.keys()]
  }

  stop(): void {
    for (const t of this.countdowns.values()) clearTimeout(t)
    this.countdowns.clear()
    this.listeners.clear()
  }

  private execute(order: FakeOrder, qty: number, price: number, maker: boolean): void {
    const spec = this.spec(order.symbol)
    const fillQty = round(Math.min(qty, order.qty - order.executed))
    if (fillQty <= 0) return
    order.executed = round(order.executed + fillQty)
    order.cumQuote = round(order.cumQuote + fillQty * price)
    order.status = order.executed >= order.qty ? 'FILLED' : 'PARTIALLY_FILLED'
    order.updateTime = this.now()
    if (order.segment === 'spot') this.settleSpot(order, spec, fillQty, price)
    else this.settleFutures(order, fillQty, price)
    const trade: FakeTrade = {
      segment: order.segment,
      id: this.nextTradeId++,
      orderId: order.orderId,
      clientOrderId: order.clientOrderId,
      symbol: order.symbol,
      side: order.side,
      price,
      qty: fillQty,
      commission: 0,
      commissionAsset: spec.quote,
      time: order.updateTime,
      maker,
    }
    this.trades.push(trade)
    this.emit(order, trade)
  }

  private finish(order: FakeOrder, status: 'CANCELED' | 'EXPIRED'): void {
    order.status = status
    order.updateTime = this.now()
    if (order.segment === 'spot') this.releaseSpot(order, this.spec(order.symbol))
    this.emit(order, undefined)
  }

  private emit(order: FakeOrder, trade: FakeTrade | undefined): void {
    const snapshot = { ...order }
    for (const l of this.listeners) l(snapshot, trade)
  }

  private balance(asset: string): { free: number; locked: number } {
    let b = this.spotBalances.get(asset)
    if (!b) {
      b = { free: 0, locked: 0 }
      this.spotBalances.set(asset, b)
    }
    return b
  }

  /** What an order holds back: quote at its limit (or mid) for a buy, base for a sell. */
  private reservation(order: FakeOrder, spec: SymbolSpec): { asset: string; amount: number } {
    const remaining = order.qty - order.executed
    return order.side === 'BUY'
      ? { asset: spec.quote, amount: round(remaining * (order.type === 'LIMIT' ? order.price : spec.mid)) }
      : { asset: spec.base, amount: round(remaining) }
  }

  private reserveSpot(order: FakeOrder, spec: SymbolSpec): void {
    const { asset, amount } = this.reservation(order, spec)
    const b = this.balance(asset)
    if (b.free < amount) throw new BinanceReject(400, -2010, 'Account has insufficient balance for requested action.')
    b.free = round(b.free - amount)
    b.locked = round(b.locked + amount)
  }

  private releaseSpot(order: FakeOrder, spec: SymbolSpec): void {
    const { asset, amount } = this.reservation(order, spec)
    const b = this.balance(asset)
    b.locked = round(b.locked - amount)
    b.free = round(b.free + amount)
  }

  private settleSpot(order: FakeOrder, spec: SymbolSpec, qty: number, price: number): void {
    const base = this.balance(spec.base)
    const quote = this.balance(spec.quote)
    if (order.side === 'BUY') {
      const reservedPrice = order.type === 'LIMIT' ? order.price : spec.mid
      quote.locked = round(quote.locked - qty * reservedPrice)
      quote.free = round(quote.free + qty * (reservedPrice - price))
      base.free = round(base.free + qty)
    } else {
      base.locked = round(base.locked - qty)
      quote.free = round(quote.free + qty * price)
    }
  }

  private settleFutures(order: FakeOrder, qty: number, price: number): void {
    const pos = this.position(order.symbol)
    const signed = order.side === 'BUY' ? qty : -qty
    const next = round(pos.amt + signed)
    let entry = pos.entryPrice
    if (pos.amt === 0 || Math.sign(pos.amt) === Math.sign(signed)) {
      entry = (Math.abs(pos.amt) * pos.entryPrice + qty * price) / Math.abs(next)
    } else {
      const closed = Math.min(Math.abs(pos.amt), qty)
      this.futuresWallet = round(this.futuresWallet + closed * (price - pos.entryPrice) * Math.sign(pos.amt))
      if (Math.sign(next) !== Math.sign(pos.amt) && next !== 0) entry = price
    }
    if (next === 0) this.positions.delete(order.symbol)
    else this.positions.set(order.symbol, { amt: next, entryPrice: round(entry) })
  }
}
