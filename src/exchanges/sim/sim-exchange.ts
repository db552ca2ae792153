import type { z } from 'zod'
import type { Side } from '../../events/primitives.js'
import { VenueError } from '../errors.js'
import {
  isOwnOrderId,
  type CancelAllResult,
  type CancelResult,
  type CancelScope,
  type Capabilities,
  type ExchangeGateway,
  type Fill,
  type MarketInfo,
  type OrderAck,
  type OrderRef,
  type OrderRequest,
  type ConnectionChange,
  type OrderUpdate,
  type VenueBalance,
  type VenueOrder,
  type VenueOrderStatus,
  type VenuePosition,
} from '../gateway.js'
import { deriveSeed, seededRng, type Rng } from '../rng.js'
import { SimAccount } from './account.js'
import { FaultInjector } from './fault-injector.js'
import type { Clock } from '../../events/clock.js'
import { CapabilitiesOverride, InvalidSimConfig, parseOrThrow, SimConfig, type FaultConfig } from './config.js'
import { Faults } from './faults.js'
import { SymbolMarket, type Ticker } from './market.js'
import { SimStateFile, type SavedAccount, type SavedOrder, type SavedSim } from './state-file.js'

/** Construction options; see SimConfig for every field. The clock stamps tickers and drives the 429 token bucket. */
export type SimExchangeOptions = z.input<typeof SimConfig> & {
  clock?: Clock
  /**
   * Told once when the state file falls behind the venue (a save failed), with why; again only
   * after a save has caught up and another fails. Without it the fall is seen only in `unsaved`.
   */
  onUnsaved?: (why: string) => void
}

type Tif = 'GTC' | 'IOC' | 'FOK' | 'PO'

type SimOrder = {
  venueOrderId: string
  clientOrderId: string
  market: SymbolMarket
  side: Side
  type: 'market' | 'limit'
  qty: number
  filled: number
  price: number | undefined
  tif: Tif
  reduceOnly: boolean
  status: VenueOrderStatus
  /** Spot: quote (buy) or base (sell) still held for the unfilled rest. */
  locked: number
}

const RESTING: ReadonlySet<VenueOrderStatus> = new Set(['open', 'partially-filled'])

function defaultCapabilities(mode: 'derivatives' | 'spot'): Capabilities {
  return mode === 'derivatives'
    ? { massCancel: 'per-symbol', batchCancel: 10, deadMansSwitch: 'countdown', reduceOnly: true, streamingUpdates: true, positions: true }
    : { massCancel: 'per-symbol', batchCancel: 0, deadMansSwitch: 'none', reduceOnly: false, streamingUpdates: true, positions: false }
}

/**
 * A deterministic in-process venue for the demo, the tests and the benchmarks. Same seed, same
 * calls, same ticks ⇒ same prices, fills and faults. Orders are indexed by client order id and
 * by symbol, so a call costs the same with 10 or 10,000 orders open.
 *
 * Matching: market orders fill at the touch (in seeded partial fills); limit orders that cross
 * the touch take at the touch, limit orders at or through the mid take a seeded part at their
 * price, and resting orders fill (possibly partially) at their price on ticks where the mid
 * crosses it. Reduce-only orders are trimmed to the position they close and refused when they
 * would only increase it.
 */
export class SimExchange implements ExchangeGateway {
  readonly venue: string
  readonly capabilities: Capabilities
  readonly mode: 'derivatives' | 'spot'
  /** Injected faults; change them at runtime with `faults.set({...})` / `faults.clear()`. */
  readonly faults: Faults

  private readonly cfg: SimConfig
  private readonly clock: Clock
  private readonly marketRng: Rng
  private readonly fillRng: Rng
  private readonly runner: FaultInjector
  private readonly account: SimAccount
  private readonly markets = new Map<string, SymbolMarket>()
  private readonly orders = new Map<string, SimOrder>()
  private readonly byVenueId = new Map<string, SimOrder>()
  private readonly openBySymbol = new Map<string, Set<SimOrder>>()
  private readonly updateHandlers = new Set<(u: OrderUpdate) => void>()
  private readonly connectionHandlers = new Set<(c: ConnectionChange) => void>()
  private readonly tickerHandlers = new Set<(t: Ticker) => void>()
  private readonly idEpoch: string
  private nextOrderNo = 1
  private nextTradeNo = 1
  private nextForeignNo = 1
  private feed: ReturnType<typeof setInterval> | undefined
  private countdown: ReturnType<typeof setTimeout> | undefined
  private countdownAt: number | undefined
  private cancelOnDisconnect = false
  private dropped = 0
  private readonly store: SimStateFile | undefined
  /** Orders changed since the last save. */
  private readonly touched = new Set<SimOrder>()
  /** Updates held until the change they report is saved: a venue reports only what it holds. */
  private outbox: OrderUpdate[] = []
  private depth = 0
  private saveProblem: string | undefined
  private readonly onUnsaved: ((why: string) => void) | undefined
  /** True when the venue came back from its state file, false when it started afresh. */
  readonly restored: boolean

  constructor(options: SimExchangeOptions) {
    const { clock, onUnsaved, ...rest } = options
    this.onUnsaved = onUnsaved
    this.cfg = parseOrThrow(SimConfig, rest)
    this.venue = this.cfg.venue
    this.mode = this.cfg.mode
    this.clock = clock ?? { now: () => Date.now() }
    this.idEpoch = this.cfg.idEpoch ?? Math.abs(Math.floor(this.clock.now())).toString(36)
    this.capabilities = { ...defaultCapabilities(this.mode), ...parseOrThrow(CapabilitiesOverride, this.cfg.capabilities ?? {}, 'capabilities') }
    if (this.mode === 'spot' && this.capabilities.positions) throw new InvalidSimConfig('capabilities.positions', 'a spot venue has no positions')
    if (this.mode === 'spot' && this.capabilities.reduceOnly)
      throw new InvalidSimConfig('capabilities.reduceOnly', 'reduce-only needs positions (derivatives mode)')

    this.marketRng = seededRng(deriveSeed(this.cfg.seed, 1))
    this.fillRng = seededRng(deriveSeed(this.cfg.seed, 2))
    this.faults = new Faults(seededRng(deriveSeed(this.cfg.seed, 3)), this.clock, this.cfg.faults ?? {})
    this.runner = new FaultInjector(this.venue, this.faults)

    const initial = new Map<string, number>()
    for (const [i, s] of this.cfg.symbols.entries()) {
      if (this.markets.has(s.symbol)) throw new InvalidSimConfig(`symbols.${i}.symbol`, `${s.symbol} is listed twice`)
      const m = new SymbolMarket(s)
      this.markets.set(s.symbol, m)
      this.openBySymbol.set(s.symbol, new Set())
      initial.set(m.quote, 1_000_000)
      if (this.mode === 'spot') initial.set(m.base, m.floorQty(1_000_000 / m.mid))
    }
    for (const [asset, amount] of Object.entries(this.cfg.balances ?? {})) initial.set(asset, amount)
    this.account = new SimAccount(this.mode, initial)

    this.store = this.cfg.stateFile === undefined ? undefined : SimStateFile.open(this.cfg.stateFile, this.venue)
    try {
      const saved = this.store?.load()
      this.restored = saved !== undefined
      if (saved) this.restore(saved)
      // saved at once: the file holds this venue from its first moment, and a restart finds it
      this.mutate(() => undefined)
    } catch (e) {
      this.store?.close()
      throw e
    }
  }

  // ── the port ──────────────────────────────────────────────────────────────

  connect(): Promise<void> {
    return this.runner.run('connect', () => undefined)
  }

  submit(order: OrderRequest): Promise<OrderAck> {
    return this.runner.run('submit', () =>
      this.mutate(() => {
        if (this.faults.rejectsSubmit()) throw this.rejected(`submit ${order.clientOrderId}: rejected by the venue`)
        const ack = this.accept(order, false)
        if (this.faults.losesResponse()) {
          throw new VenueError(this.venue, 'timeout', `submit ${order.clientOrderId}: no answer from the venue (it may have the order)`)
        }
        return ack
      }),
    )
  }

  cancel(ref: OrderRef): Promise<CancelResult> {
    return this.runner.run('cancel', () =>
      this.mutate((): CancelResult => {
        const o = this.find(ref)
        if (!o || !RESTING.has(o.status)) return { clientOrderId: ref.clientOrderId, outcome: 'not-found' }
        if (this.faults.fillBeatsCancel() && this.fillRest(o)) return { clientOrderId: ref.clientOrderId, outcome: 'not-found' }
        this.setStatus(o, 'canceled')
        return { clientOrderId: ref.clientOrderId, outcome: 'canceled' }
      }),
    )
  }

  cancelAll(options: { scope: CancelScope; symbols?: readonly string[] }): Promise<CancelAllResult> {
    return this.runner.run('cancelAll', () =>
      this.mutate(() => {
        const symbols = options.symbols ?? [...this.markets.keys()]
        for (const s of symbols) this.market(s)
        const targets: SimOrder[] = []
        for (const s of symbols) {
          for (const o of this.openBySymbol.get(s)!) if (options.scope === 'account' || isOwnOrderId(o.clientOrderId)) targets.push(o)
        }
        const result: CancelAllResult = { scope: options.scope, method: this.cancelAllMethod(options.scope, symbols), canceled: [], failed: [] }
        for (const o of targets) {
          if (!RESTING.has(o.status)) continue
          if (this.faults.fillBeatsCancel() && this.fillRest(o)) {
            result.failed.push({ id: o.clientOrderId, reason: 'filled before the cancel arrived' })
            continue
          }
          this.setStatus(o, 'canceled')
          result.canceled.push(o.clientOrderId)
        }
        return result
      }),
    )
  }

  fetchOpenOrders(symbols?: readonly string[]): Promise<VenueOrder[]> {
    return this.runner.run('fetchOpenOrders', () => {
      const out: VenueOrder[] = []
      for (const s of symbols ?? this.markets.keys()) {
        this.market(s)
        for (const o of this.openBySymbol.get(s)!) out.push(view(o))
      }
      return out
    })
  }

  fetchOrder(ref: OrderRef): Promise<VenueOrder | undefined> {
    return this.runner.run('fetchOrder', () => {
      const o = this.find(ref)
      return o ? view(o) : undefined
    })
  }

  fetchPositions(): Promise<VenuePosition[]> {
    return this.runner.run('fetchPositions', () => (this.capabilities.positions ? this.account.listPositions() : []))
  }

  fetchBalances(): Promise<VenueBalance[]> {
    return this.runner.run('fetchBalances', () => this.account.listBalances())
  }

  fetchMarkets(): Promise<MarketInfo[]> {
    return this.runner.run('fetchMarkets', () => [...this.markets.values()].map((m) => ({ ...m.info })))
  }

  onUpdate(handler: (update: OrderUpdate) => void): () => void {
    this.updateHandlers.add(handler)
    return () => this.updateHandlers.delete(handler)
  }

  onConnectionChange(handler: (change: ConnectionChange) => void): () => void {
    this.connectionHandlers.add(handler)
    return () => this.connectionHandlers.delete(handler)
  }

  armDeadMansSwitch(ms: number): Promise<{ armed: boolean; method?: string }> {
    return this.runner.run('armDeadMansSwitch', () =>
      this.mutate(() => {
        if (!(Number.isFinite(ms) && ms > 0)) throw this.rejected(`armDeadMansSwitch: ms must be a positive number, got ${ms}`)
        switch (this.capabilities.deadMansSwitch) {
          case 'countdown':
            this.startCountdown(ms)
            return { armed: true, method: 'countdown' }
          case 'cancel-on-disconnect':
            this.cancelOnDisconnect = true
            return { armed: true, method: 'cancel-on-disconnect' }
          case 'none':
            return { armed: false }
        }
      }),
    )
  }

  disarmDeadMansSwitch(): Promise<void> {
    return this.runner.run('disarmDeadMansSwitch', () => this.mutate(() => this.disarm()))
  }

  /** Stops the feed and the countdown and answers every call still waiting; idempotent. */
  close(): Promise<void> {
    if (!this.runner.closed) {
      // saved as it stands, its dead man's switch still armed: the venue a state file keeps outlives
      // this object, and a countdown (or a cancel on disconnect) goes on there, as at a real venue
      this.commit()
      this.store?.close()
      this.runner.closed = true
      this.stopFeed()
      this.disarm()
      this.runner.releaseAll(`${this.venue} closed before it answered`)
      this.updateHandlers.clear()
      this.connectionHandlers.clear()
      this.tickerHandlers.clear()
    }
    return Promise.resolve()
  }

  // ── the market ────────────────────────────────────────────────────────────

  onTicker(handler: (t: Ticker) => void): () => void {
    this.tickerHandlers.add(handler)
    return () => this.tickerHandlers.delete(handler)
  }

  /** Advances every symbol's mid one seeded step, fills resting orders it crossed, and returns the tickers. */
  tick(): Ticker[] {
    return this.mutate(() => {
      const out: Ticker[] = []
      for (const m of this.markets.values()) {
        m.walk(this.marketRng)
        out.push(this.afterMove(m))
      }
      return out
    })
  }

  /** Puts a symbol's mid at `mid` (tests: cross a resting order on purpose), then matches as a tick would. */
  setMid(symbol: string, mid: number): Ticker {
    const m = this.market(symbol)
    return this.mutate(() => {
      m.setMid(mid)
      return this.afterMove(m)
    })
  }

  ticker(symbol: string): Ticker {
    return this.market(symbol).ticker(this.clock.now())
  }

  /** Ticks on a real timer (the demo); stopFeed() clears it. */
  startFeed(intervalMs: number): void {
    if (!(Number.isFinite(intervalMs) && intervalMs > 0)) throw new InvalidSimConfig('intervalMs', `must be a positive number, got ${intervalMs}`)
    this.stopFeed()
    this.feed = setInterval(() => this.tick(), intervalMs)
  }

  stopFeed(): void {
    clearInterval(this.feed)
    this.feed = undefined
  }

  // ── test and demo controls ────────────────────────────────────────────────

  /** Network down: calls fail with kind `network` and pushed updates are lost until reconnect(). */
  disconnect(reason = 'connection to the venue lost'): void {
    if (this.runner.disconnected || this.runner.closed) return
    this.runner.disconnected = true
    if (this.cancelOnDisconnect) this.mutate(() => this.cancelEverything())
    this.announce({ connected: false, reason })
  }

  reconnect(): void {
    if (!this.runner.disconnected || this.runner.closed) return
    this.runner.disconnected = false
    this.announce({ connected: true })
  }

  private announce(change: ConnectionChange): void {
    for (const h of this.connectionHandlers) {
      try {
        h(change)
      } catch (e) {
        queueMicrotask(() => {
          throw e
        })
      }
    }
  }

  /**
   * A resting limit order placed on the account by someone other than haltd (no haltd tag),
   * for reconciliation and cancel-scope tests. Bypasses faults.
   */
  placeForeignOrder(order: { symbol: string; side: Side; qty: number; price: number; clientOrderId?: string }): VenueOrder {
    const clientOrderId = order.clientOrderId ?? `web_${this.idEpoch}_${this.nextForeignNo++}`
    this.mutate(() =>
      this.accept({ clientOrderId, symbol: order.symbol, side: order.side, type: 'limit', qty: order.qty, price: order.price, timeInForce: 'GTC' }, true),
    )
    return view(this.orders.get(clientOrderId)!)
  }

  /** Orders resting at the venue now (all symbols). */
  get openOrderCount(): number {
    let n = 0
    for (const set of this.openBySymbol.values()) n += set.size
    return n
  }

  /** Calls waiting on latency or hung; 0 after close(). */
  get pendingCalls(): number {
    return this.runner.pending
  }

  /** Updates lost because the stream was disconnected when they happened. */
  get droppedUpdates(): number {
    return this.dropped
  }

  get deadMansSwitchArmed(): boolean {
    return this.countdown !== undefined || this.cancelOnDisconnect
  }

  // ── matching ──────────────────────────────────────────────────────────────

  private accept(req: OrderRequest, foreign: boolean): OrderAck {
    const m = this.markets.get(req.symbol)
    const id = req.clientOrderId
    if (!m) throw this.rejected(`submit ${id}: unknown symbol ${req.symbol}`)
    if (typeof id !== 'string' || id.length === 0) throw this.rejected('submit: a client order id is required')
    if (this.orders.has(id)) throw this.rejected(`submit ${id}: duplicate client order id`)
    if (req.side !== 'buy' && req.side !== 'sell') throw this.rejected(`submit ${id}: side must be buy or sell`)
    let qty = m.floorQty(req.qty)
    if (!(qty > 0) || qty < m.info.minQty!) throw this.rejected(`submit ${id}: qty ${req.qty} is below the minimum ${m.info.minQty}`)
    const tif: Tif = req.timeInForce ?? 'GTC'
    let price: number | undefined
    if (req.type === 'limit') {
      if (!(typeof req.price === 'number' && Number.isFinite(req.price) && req.price > 0))
        throw this.rejected(`submit ${id}: a limit order needs a positive price`)
      price = m.snapPrice(req.price)
    } else if (req.type !== 'market') throw this.rejected(`submit ${id}: unknown order type ${String(req.type)}`)

    const reduceOnly = req.reduceOnly === true
    if (reduceOnly) {
      if (!this.capabilities.reduceOnly) throw this.rejected(`submit ${id}: reduce-only orders are not supported here`)
      const room = this.account.reducible(m.symbol, req.side)
      if (room <= 0) throw this.rejected(`submit ${id}: reduce-only order would increase the position`, '-2022')
      qty = Math.min(qty, room)
    }
    if (this.mode === 'spot') {
      if (req.side === 'buy') {
        const cost = qty * (price ?? m.ask) * (1 + Math.max(0, this.cfg.fees.takerBps) / 1e4)
        if (this.account.free(m.quote) < cost) throw this.rejected(`submit ${id}: insufficient ${m.quote} balance`, '-2010')
      } else if (this.account.free(m.base) < qty) throw this.rejected(`submit ${id}: insufficient ${m.base} balance`, '-2010')
    }

    const o: SimOrder = {
      venueOrderId: `${this.idEpoch}-${this.nextOrderNo++}`,
      clientOrderId: id,
      market: m,
      side: req.side,
      type: req.type,
      qty,
      filled: 0,
      price,
      tif: req.type === 'market' ? 'IOC' : tif,
      reduceOnly,
      status: 'open',
      locked: 0,
    }
    this.orders.set(id, o)
    this.byVenueId.set(o.venueOrderId, o)
    this.touched.add(o)
    const fills: Fill[] = []
    const final = foreign ? this.restRemainder(o) : this.matchOnArrival(o, fills)
    if (final !== 'open' || fills.length > 0) this.setStatus(o, final)
    else this.emit({ kind: 'status', clientOrderId: id, venueOrderId: o.venueOrderId, status: 'open' })
    const ack: OrderAck = { clientOrderId: id, venueOrderId: o.venueOrderId, status: o.status, filled: o.filled }
    if (fills.length > 0) ack.fills = fills
    return ack
  }

  /** Takes what the market offers on arrival and returns the status the order ends its submit in. */
  private matchOnArrival(o: SimOrder, fills: Fill[]): VenueOrderStatus {
    const m = o.market
    const buy = o.side === 'buy'
    const touch = buy ? m.ask : m.bid
    const crossesTouch = o.price === undefined || (buy ? o.price >= touch : o.price <= touch)
    const atMid = o.price !== undefined && (buy ? o.price >= m.mid : o.price <= m.mid)

    if (o.tif === 'PO') return crossesTouch ? 'expired' : this.restRemainder(o)
    let takeQty = 0
    let takePrice = touch
    if (crossesTouch) takeQty = o.qty
    else if (atMid) {
      takeQty = m.floorQty(o.qty * this.fillRng.next())
      takePrice = o.price!
    }
    if (o.tif === 'FOK' && takeQty < o.qty) return 'expired'
    if (takeQty > 0) {
      const parts = crossesTouch ? this.splitParts(m, takeQty) : [takeQty]
      for (const q of parts) fills.push(this.fill(o, q, takePrice, 'taker'))
    }
    if (o.filled >= o.qty) return 'filled'
    if (o.tif === 'IOC') return 'expired'
    return this.restRemainder(o)
  }

  private restRemainder(o: SimOrder): VenueOrderStatus {
    if (this.mode === 'spot') {
      const rest = o.qty - o.filled
      o.locked = o.side === 'buy' ? rest * o.price! : rest
      this.account.lock(o.side === 'buy' ? o.market.quote : o.market.base, o.locked)
    }
    this.openBySymbol.get(o.market.symbol)!.add(o)
    return o.filled > 0 ? 'partially-filled' : 'open'
  }

  private splitParts(m: SymbolMarket, qty: number): number[] {
    const n = this.cfg.maxFillParts > 1 ? this.fillRng.int(1, this.cfg.maxFillParts) : 1
    const parts: number[] = []
    let left = qty
    for (let i = 1; i < n && left > 0; i++) {
      const q = m.floorQty(left * (0.2 + 0.6 * this.fillRng.next()))
      if (q <= 0 || q >= left) continue
      parts.push(q)
      left = m.snapQty(left - q)
    }
    if (left > 0) parts.push(left)
    return parts
  }

  private fill(o: SimOrder, qty: number, price: number, liquidity: 'maker' | 'taker'): Fill {
    const m = o.market
    const bps = liquidity === 'maker' ? this.cfg.fees.makerBps : this.cfg.fees.takerBps
    const fee = (qty * price * bps) / 1e4
    const resting = this.mode === 'spot' && o.locked > 0
    this.account.applyFill(m, o.side, qty, price, fee, resting ? (o.side === 'buy' ? o.price! : price) : undefined)
    if (resting) o.locked -= o.side === 'buy' ? qty * o.price! : qty
    o.filled = m.snapQty(o.filled + qty)
    this.touched.add(o)
    const f: Fill = {
      clientOrderId: o.clientOrderId,
      tradeId: `${this.venue}-${this.idEpoch}-t${this.nextTradeNo++}`,
      qty,
      price,
      fee,
      feeCurrency: m.quote,
      liquidity,
    }
    this.emit({ kind: 'fill', ...f })
    return f
  }

  /** After a mid move: resting orders the mid crossed fill a seeded part (or all) at their price. */
  private afterMove(m: SymbolMarket): Ticker {
    const t = m.ticker(this.clock.now())
    for (const h of this.tickerHandlers) h(t)
    for (const o of this.openBySymbol.get(m.symbol)!) {
      if (!(o.side === 'buy' ? m.mid <= o.price! : m.mid >= o.price!)) continue
      const rest = m.snapQty(o.qty - o.filled)
      const part = this.fillRng.next() < 0.5 ? rest : Math.max(m.info.amountStep, m.floorQty(rest * (0.3 + 0.7 * this.fillRng.next())))
      this.fillResting(o, Math.min(part, rest))
    }
    return t
  }

  /** A maker fill of a resting order, trimmed so a reduce-only order never increases the position. */
  private fillResting(o: SimOrder, qty: number): boolean {
    if (o.reduceOnly) {
      const room = this.account.reducible(o.market.symbol, o.side)
      if (room <= 0) {
        this.setStatus(o, 'canceled', 'reduce-only: the position is already closed')
        return false
      }
      qty = Math.min(qty, room)
    }
    this.fill(o, qty, o.price!, 'maker')
    this.setStatus(o, o.filled >= o.qty ? 'filled' : 'partially-filled')
    return true
  }

  /** The race a cancel can lose: the whole rest fills first. */
  private fillRest(o: SimOrder): boolean {
    return this.fillResting(o, o.market.snapQty(o.qty - o.filled)) && o.status === 'filled'
  }

  private setStatus(o: SimOrder, status: VenueOrderStatus, reason?: string): void {
    if (o.status === status) return
    o.status = status
    this.touched.add(o)
    if (!RESTING.has(status)) {
      this.openBySymbol.get(o.market.symbol)!.delete(o)
      if (o.locked > 0) {
        this.account.release(o.side === 'buy' ? o.market.quote : o.market.base, o.locked)
        o.locked = 0
      }
    }
    const u: OrderUpdate = { kind: 'status', clientOrderId: o.clientOrderId, venueOrderId: o.venueOrderId, status }
    if (reason) u.reason = reason
    this.emit(u)
  }

  private cancelEverything(): void {
    for (const set of this.openBySymbol.values()) for (const o of [...set]) this.setStatus(o, 'canceled', 'dead man switch')
  }

  private disarm(): void {
    clearTimeout(this.countdown)
    this.countdown = undefined
    this.countdownAt = undefined
    this.cancelOnDisconnect = false
  }

  private startCountdown(ms: number): void {
    clearTimeout(this.countdown)
    this.countdownAt = this.clock.now() + ms
    this.countdown = setTimeout(() => {
      this.countdown = undefined
      this.countdownAt = undefined
      this.mutate(() => this.cancelEverything())
    }, ms)
  }

  // ── the state file ────────────────────────────────────────────────────────

  /**
   * Runs a change to the venue, then saves it and only then reports its updates: what a caller or
   * a listener hears of, the file already holds. Nested changes save once, at the outermost.
   */
  private mutate<T>(work: () => T): T {
    this.depth++
    try {
      return work()
    } finally {
      if (--this.depth === 0) this.commit()
    }
  }

  /**
   * A save that fails (a full disk) does not fail the venue: a venue's storage is not its
   * client's, and the client must still be able to cancel there. The venue answers from memory,
   * `unsaved` says why the file is behind, and the next change saves everything changed since.
   */
  private commit(): void {
    // once closed, the file holds what the venue held at its close
    if (this.store && !this.runner.closed) {
      try {
        this.store.save(this.savedAccount(), [...this.touched].map(saved))
        this.touched.clear()
        this.saveProblem = undefined
      } catch (e) {
        const behind = this.saveProblem === undefined
        this.saveProblem = `${this.venue}: its state could not be saved to ${this.store.file} (${e instanceof Error ? e.message : String(e)}): a restart now would find it as it was before`
        if (behind) this.tellUnsaved(this.saveProblem)
      }
    }
    const out = this.outbox
    this.outbox = []
    for (const u of out) this.deliver(u)
  }

  private tellUnsaved(why: string): void {
    try {
      this.onUnsaved?.(why)
    } catch {
      // the listener's trouble: the venue answers on either way
    }
  }

  /** Why the state file is behind the venue, while it is; undefined when it holds all (or there is none). */
  get unsaved(): string | undefined {
    return this.saveProblem
  }

  private savedAccount(): SavedAccount {
    return {
      mode: this.mode,
      positions: this.account.listPositions().map((p) => ({ symbol: p.symbol, qty: p.qty, entryPrice: p.entryPrice ?? 0 })),
      balances: this.account.listBalances().map((b) => ({ asset: b.asset, free: b.free, used: b.used })),
      mids: [...this.markets.values()].map((m) => ({ symbol: m.symbol, mid: m.mid })),
      counters: { order: this.nextOrderNo, trade: this.nextTradeNo, foreign: this.nextForeignNo },
      deadMansSwitch: {
        ...(this.countdownAt !== undefined ? { firesAt: this.countdownAt } : {}),
        ...(this.cancelOnDisconnect ? { onDisconnect: true } : {}),
      },
    }
  }

  /**
   * Back as it was saved. What the venue would have done while the process was gone is done now:
   * a cancel-all-after whose time passed fires, and a cancel-on-disconnect fires (the process that
   * held the connection is gone).
   */
  private restore(saved: SavedSim): void {
    const file = this.cfg.stateFile
    const { account } = saved
    if (account.mode !== this.mode)
      throw new InvalidSimConfig('stateFile', `${file}: ${this.venue} was saved as a ${account.mode} venue, configured as ${this.mode}`)
    const unlisted = (symbol: string, what: string) =>
      new InvalidSimConfig(
        'stateFile',
        `${file}: ${this.venue} holds ${what} on ${symbol}, which its config no longer lists (list it again, or remove the file)`,
      )
    for (const p of account.positions) if (p.qty !== 0 && !this.markets.has(p.symbol)) throw unlisted(p.symbol, 'a position')
    this.account.restore(account)
    for (const { symbol, mid } of account.mids) this.markets.get(symbol)?.setMid(mid)
    this.nextOrderNo = Math.max(this.nextOrderNo, account.counters.order)
    this.nextTradeNo = Math.max(this.nextTradeNo, account.counters.trade)
    this.nextForeignNo = Math.max(this.nextForeignNo, account.counters.foreign)
    for (const s of saved.orders) {
      const market = this.markets.get(s.symbol)
      const resting = RESTING.has(s.status)
      if (!market) {
        if (resting) throw unlisted(s.symbol, `the resting order ${s.clientOrderId}`)
        continue
      }
      const { symbol: _s, ...rest } = s
      const o: SimOrder = { ...rest, market, price: s.price }
      this.orders.set(o.clientOrderId, o)
      this.byVenueId.set(o.venueOrderId, o)
      if (resting) this.openBySymbol.get(market.symbol)!.add(o)
    }
    const dms = account.deadMansSwitch
    const now = this.clock.now()
    if (dms.onDisconnect || (dms.firesAt !== undefined && dms.firesAt <= now)) this.mutate(() => this.cancelEverything())
    else if (dms.firesAt !== undefined) this.startCountdown(dms.firesAt - now)
  }

  private cancelAllMethod(scope: CancelScope, symbols: readonly string[]): CancelAllResult['method'] {
    const batchedOrSingle = this.capabilities.batchCancel > 0 ? 'batched' : 'per-order'
    // A venue's mass cancel would also take orders haltd does not own, so `own` never uses it.
    if (scope === 'own' || this.capabilities.massCancel === 'none') return batchedOrSingle
    if (this.capabilities.massCancel === 'per-symbol') return 'mass-cancel'
    for (const [s, set] of this.openBySymbol) if (set.size > 0 && !symbols.includes(s)) return batchedOrSingle
    return 'mass-cancel'
  }

  private emit(u: OrderUpdate): void {
    if (this.runner.disconnected) {
      this.dropped++
      return
    }
    if (this.depth > 0) this.outbox.push(u)
    else this.deliver(u)
  }

  private deliver(u: OrderUpdate): void {
    for (const h of this.updateHandlers) {
      try {
        h(u)
      } catch (e) {
        // A failing listener must not corrupt the venue's state; surface it outside this call.
        queueMicrotask(() => {
          throw e
        })
      }
    }
  }

  private find(ref: OrderRef): SimOrder | undefined {
    const o = this.orders.get(ref.clientOrderId) ?? (ref.venueOrderId !== undefined ? this.byVenueId.get(ref.venueOrderId) : undefined)
    return o && o.market.symbol === ref.symbol ? o : undefined
  }

  private market(symbol: string): SymbolMarket {
    const m = this.markets.get(symbol)
    if (!m) throw this.rejected(`unknown symbol ${symbol}`)
    return m
  }

  private rejected(message: string, venueCode?: string): VenueError {
    return new VenueError(this.venue, 'rejected', message, venueCode ? { venueCode } : undefined)
  }
}

function saved(o: SimOrder): SavedOrder {
  const s: SavedOrder = {
    venueOrderId: o.venueOrderId,
    clientOrderId: o.clientOrderId,
    symbol: o.market.symbol,
    side: o.side,
    type: o.type,
    qty: o.qty,
    filled: o.filled,
    tif: o.tif,
    reduceOnly: o.reduceOnly,
    status: o.status,
    locked: o.locked,
  }
  if (o.price !== undefined) s.price = o.price
  return s
}

function view(o: SimOrder): VenueOrder {
  const v: VenueOrder = {
    venueOrderId: o.venueOrderId,
    clientOrderId: o.clientOrderId,
    symbol: o.market.symbol,
    side: o.side,
    qty: o.qty,
    filled: o.filled,
    status: o.status,
    reduceOnly: o.reduceOnly,
  }
  if (o.price !== undefined) v.price = o.price
  return v
}

export type { FaultConfig, Ticker }
