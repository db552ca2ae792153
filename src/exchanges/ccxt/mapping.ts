import { BadResponse, type Balances, type Market, type Order, type Position, type Trade } from 'ccxt'
import type { Side } from '../../events/primitives.js'
import { isOwnOrderId } from '../client-order-id.js'
import type { Fill, MarketInfo, OrderAck, UnreadableVenueOrder, VenueBalance, VenueOrder, VenueOrderStatus, VenuePosition } from '../gateway.js'

// ccxt's unified structures onto the port's shapes. Anything a shutdown would act on (an id, a
// side, a quantity) that is missing raises BadResponse rather than becoming a made-up order.

const TICK_SIZE = 4
const DECIMAL_PLACES = 2

function statusOf(o: Pick<Order, 'status' | 'filled'>): VenueOrderStatus {
  switch (o.status) {
    case 'open':
    case 'canceling':
      return (o.filled ?? 0) > 0 ? 'partially-filled' : 'open'
    case 'closed':
      return 'filled'
    case 'canceled':
      return 'canceled'
    case 'expired':
      return 'expired'
    case 'rejected':
      return 'rejected'
    default:
      throw new BadResponse(`order status '${String(o.status)}' is not one ccxt defines`)
  }
}

/**
 * Prefixes a venue puts before the client order id it was sent, and reports it back with: Gate's
 * `text` must start with `t-`, and ccxt adds it. Taken off only where what follows is an id haltd
 * made, so another program's `t-…` stays as the venue shows it.
 */
const VENUE_ID_PREFIXES = ['t-'] as const

/**
 * The order's own client id. Binance spot cancel answers put the cancel request's id in
 * `clientOrderId` and the order's in `origClientOrderId`; prefer the latter when present.
 */
export function clientIdOf(o: Pick<Order, 'clientOrderId' | 'info'>): string | undefined {
  const info = (o.info ?? {}) as Record<string, unknown>
  const orig = info.origClientOrderId
  const id = typeof orig === 'string' && orig !== '' ? orig : (o.clientOrderId ?? undefined)
  return id === undefined ? undefined : withoutVenuePrefix(id)
}

/** A client order id as haltd sent it, without the prefix its venue added (see `VENUE_ID_PREFIXES`). */
export function withoutVenuePrefix(id: string): string {
  for (const prefix of VENUE_ID_PREFIXES) if (id.startsWith(prefix) && isOwnOrderId(id.slice(prefix.length))) return id.slice(prefix.length)
  return id
}

const sideOf = (side: unknown, what: string): Side => {
  if (side === 'buy' || side === 'sell') return side
  throw new BadResponse(`${what} has no side (got ${JSON.stringify(side)})`)
}

export function toVenueOrder(o: Order): VenueOrder {
  if (!o.id) throw new BadResponse(`an order without an id: ${JSON.stringify(o.info)?.slice(0, 200)}`)
  if (!o.symbol) throw new BadResponse(`order ${o.id} has no symbol`)
  if (o.amount === undefined || o.amount === null || !Number.isFinite(o.amount)) throw new BadResponse(`order ${o.id} has no amount`)
  const clientOrderId = clientIdOf(o)
  // ccxt leaves it undefined where the venue gave neither a filled nor a remaining amount
  const filled = typeof o.filled === 'number' && Number.isFinite(o.filled) ? o.filled : undefined
  return {
    venueOrderId: String(o.id),
    ...(clientOrderId !== undefined ? { clientOrderId } : {}),
    symbol: o.symbol,
    side: sideOf(o.side, `order ${o.id}`),
    qty: o.amount,
    filled: filled ?? 0,
    ...(filled === undefined ? { filledUnknown: true as const } : {}),
    ...(o.price ? { price: o.price } : {}),
    ...(o.average ? { average: o.average } : {}),
    status: statusOf(o),
    ...(typeof o.reduceOnly === 'boolean' ? { reduceOnly: o.reduceOnly } : {}),
  }
}

/**
 * A list of orders. Without `unreadable`, one that cannot be read fails the list (BadResponse);
 * with it, that order is handed to it, with what can be told of it, and left out.
 */
export function toVenueOrders(list: readonly Order[], unreadable?: (order: UnreadableVenueOrder) => void): VenueOrder[] {
  if (!unreadable) return list.map(toVenueOrder)
  const out: VenueOrder[] = []
  for (const o of list) {
    try {
      out.push(toVenueOrder(o))
    } catch (e) {
      if (!(e instanceof BadResponse)) throw e
      const clientOrderId = clientIdOf(o)
      unreadable({
        ...(o.id ? { venueOrderId: String(o.id) } : {}),
        ...(clientOrderId ? { clientOrderId } : {}),
        ...(o.symbol ? { symbol: o.symbol } : {}),
        reason: e.message,
      })
    }
  }
  return out
}

export function toFill(t: Trade, clientOrderId: string): Fill {
  if (!t.id) throw new BadResponse(`a trade without an id for order ${clientOrderId}`)
  if (!(t.amount && t.amount > 0) || !(t.price && t.price > 0)) throw new BadResponse(`trade ${t.id} has no amount or price`)
  return {
    clientOrderId,
    tradeId: String(t.id),
    qty: t.amount,
    price: t.price,
    fee: t.fee?.cost ?? 0,
    ...(t.fee?.currency ? { feeCurrency: t.fee.currency } : {}),
    ...(t.takerOrMaker === 'maker' || t.takerOrMaker === 'taker' ? { liquidity: t.takerOrMaker } : {}),
  }
}

/**
 * An accepted order. Some venues answer a create with little more than an id, so only the id
 * is required here; a missing status means "accepted, not yet matched".
 */
export function toAck(o: Order, clientOrderId: string): OrderAck {
  if (!o.id) throw new BadResponse(`the venue accepted order ${clientOrderId} without giving an id: ${JSON.stringify(o.info)?.slice(0, 200)}`)
  const status = o.status === undefined || o.status === null ? 'open' : statusOf(o)
  const fills = (o.trades ?? []).filter((t) => t.id && t.amount && t.price).map((t) => toFill(t, clientOrderId))
  return {
    clientOrderId,
    venueOrderId: String(o.id),
    status,
    filled: o.filled ?? 0,
    ...(o.average ? { average: o.average } : {}),
    ...(fills.length > 0 ? { fills } : {}),
  }
}

/**
 * One signed position per market, in the unit orders use (contracts), so a flatten can send it
 * back as is. An account in hedge mode holds a long and a short leg of one
 * market at once: haltd keeps one net position per market and flattens it with reduce-only orders,
 * which in hedge mode close one leg and leave the other, so such a report is refused, saying so,
 * rather than shown as one of its legs or as a net that no flatten could reach.
 */
export function toPositions(list: Position[]): VenuePosition[] {
  const out = new Map<string, VenuePosition>()
  for (const p of list) {
    if (!p.symbol) throw new BadResponse('a position without a symbol')
    const contracts = Math.abs(p.contracts ?? 0)
    if (contracts === 0) continue
    if (p.side !== 'long' && p.side !== 'short') throw new BadResponse(`position ${p.symbol} has no side`)
    const qty = p.side === 'short' ? -contracts : contracts
    const other = out.get(p.symbol)
    if (other)
      throw new BadResponse(
        `the account holds ${p.symbol} twice (${other.qty} and ${qty}): it is in hedge (two-way) position mode, which haltd does not manage; set it to one-way mode`,
      )
    out.set(p.symbol, { symbol: p.symbol, qty, ...(p.entryPrice ? { entryPrice: p.entryPrice } : {}) })
  }
  return [...out.values()]
}

export function toBalances(b: Balances): VenueBalance[] {
  const totals = (b.total ?? {}) as unknown as Record<string, number | undefined>
  const frees = (b.free ?? {}) as unknown as Record<string, number | undefined>
  const useds = (b.used ?? {}) as unknown as Record<string, number | undefined>
  const out: VenueBalance[] = []
  for (const [asset, rawTotal] of Object.entries(totals)) {
    const free = frees[asset] ?? 0
    const used = useds[asset] ?? 0
    const total = rawTotal ?? free + used
    if (total === 0 && used === 0) continue
    out.push({ asset, free, used, total })
  }
  return out
}

export function toMarketInfo(m: Market, precisionMode: number): MarketInfo | undefined {
  if (!m) return undefined
  const step = (p: number | undefined): number | undefined =>
    p === undefined ? undefined : precisionMode === TICK_SIZE ? p : precisionMode === DECIMAL_PLACES ? 10 ** -p : undefined
  const amountStep = step(m.precision.amount ?? undefined) ?? m.limits.amount?.min ?? undefined
  if (!amountStep || !(amountStep > 0)) return undefined
  const priceStep = step(m.precision.price ?? undefined)
  const minQty = m.limits.amount?.min ?? undefined
  // ccxt's amounts on a linear contract market are contracts of `contractSize` base each: it scales
  // every notional and P&L. An inverse contract's size is in the quote currency and its P&L in the
  // base: another formula, which haltd does not apply, so it records no size for one
  const contractSize =
    m.contract && m.linear === true && typeof m.contractSize === 'number' && Number.isFinite(m.contractSize) && m.contractSize > 0 && m.contractSize !== 1
      ? m.contractSize
      : undefined
  return { symbol: m.symbol, amountStep, ...(priceStep ? { priceStep } : {}), ...(minQty ? { minQty } : {}), ...(contractSize ? { contractSize } : {}) }
}
