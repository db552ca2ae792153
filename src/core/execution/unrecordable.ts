import { current, Id, isEventType, MarketSymbol, type EventData, type EventInput, type OrderOrigin } from '../../events/index.js'
import { parseCompiled } from '../../events/compiled.js'
import type { Fill, VenueOrder } from '../../exchanges/gateway.js'
import { openOrdersObserved, orderTotalEvent, orderTotalOf } from './venue-recorder.js'

// What a venue reports that the catalogue refuses (a quantity of 0, a price that is not a
// number, an id too long): found before anything is appended, so one such order is recorded as
// what it is and never takes the orders reported with it down.

/** A `Reason` holds at most this many characters. */
const MAX_REASON = 2000
/** Characters of a value the venue gave quoted in a reason. */
const QUOTED = 60

/** The id an order goes by in the log: the engine's client order id, else the venue's id. */
export const logIdOf = (o: Pick<VenueOrder, 'clientOrderId' | 'venueOrderId'>): string => o.clientOrderId || `v${o.venueOrderId}`

/** The events that adopt an order the venue reported: its submission, as haltd saw it, and its acceptance. */
export function adoptionEvents(venue: string, o: VenueOrder, origin: OrderOrigin): EventInput[] {
  const clientOrderId = logIdOf(o)
  return [
    {
      type: 'order.submitted',
      data: {
        venue,
        clientOrderId,
        symbol: o.symbol,
        side: o.side,
        type: o.price === undefined ? 'market' : 'limit',
        qty: o.qty,
        ...(o.price !== undefined ? { price: o.price } : {}),
        reduceOnly: o.reduceOnly ?? false,
        origin,
      },
    },
    { type: 'order.accepted', data: { venue, clientOrderId, venueOrderId: o.venueOrderId } },
  ]
}

/**
 * Why an order the venue reported cannot be recorded (adopted, listed in an observation, its
 * filled total booked), naming each field and what is wrong with it; undefined when it can.
 */
export function whyOrderUnrecordable(venue: string, o: VenueOrder, origin: OrderOrigin): string | undefined {
  const total = orderTotalEvent(venue, orderTotalOf(logIdOf(o), o))
  return whyUnrecordable([...adoptionEvents(venue, o, origin), ...openOrdersObserved(venue, [o]), ...(total ? [total] : [])])
}

/**
 * Why one of `events` would be refused by the log, as the fields the catalogue refuses (`qty:
 * Too small: expected number to be >0 (the venue gave 0)`); undefined when all can be appended.
 * The first refused event speaks for them all: they are one report.
 */
export function whyUnrecordable(events: readonly EventInput[]): string | undefined {
  for (const e of events) {
    if (!isEventType(e.type)) return `'${e.type}' is not an event type`
    // the compiled check vouches only for what the catalogue accepts: zod is asked only otherwise
    if (parseCompiled(e) !== undefined) continue
    const parsed = current[e.type].data.safeParse(e.data)
    if (parsed.success) continue
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.filter((p) => typeof p === 'string' || typeof p === 'number')
      // an observation's one order is the order itself: its fields are named as the order's
      const field = (e.type === 'venue.open-orders-observed' && path[0] === 'orders' ? path.slice(2) : path).join('.')
      return `${field || 'the report'}: ${issue.message} (the venue gave ${quote(valueAt(e.data, path))})`
    })
    return clip(problems.join('; '))
  }
  return undefined
}

/** What a report of an order haltd cannot record is stored as: its ids and market where they are readable themselves. */
export function orderUnreadableData(
  venue: string,
  o: Partial<Pick<VenueOrder, 'clientOrderId' | 'venueOrderId' | 'symbol'>>,
  reason: string,
  /** Set when what cannot be recorded is one trade of the order. */
  trade?: { tradeId: string },
): EventData<'venue.order-unreadable'> {
  const clientOrderId = readable(Id, o.clientOrderId)
  const venueOrderId = readable(Id, o.venueOrderId)
  const symbol = readable(MarketSymbol, o.symbol)
  const tradeId = readable(Id, trade?.tradeId)
  return {
    venue,
    what: trade === undefined ? ('order' as const) : ('trade' as const),
    ...(clientOrderId !== undefined ? { clientOrderId } : {}),
    ...(venueOrderId !== undefined ? { venueOrderId } : {}),
    ...(symbol !== undefined ? { symbol } : {}),
    ...(tradeId !== undefined ? { tradeId } : {}),
    reason: clip(reason),
  }
}

/** A trade that could not be booked, as its order's report: its client order id is the order's. */
export const tradeRef = (f: Fill, order: { symbol?: string; venueOrderId?: string }) => ({
  clientOrderId: f.clientOrderId,
  ...(order.symbol !== undefined ? { symbol: order.symbol } : {}),
  ...(order.venueOrderId !== undefined ? { venueOrderId: order.venueOrderId } : {}),
})

/** The key a venue's order is remembered by: its ids as the venue gave them, cut short (a venue may send anything). */
export const rememberedKey = (o: Partial<Pick<VenueOrder, 'clientOrderId' | 'venueOrderId'>>): string =>
  `o\u0000${String(o.venueOrderId ?? '').slice(0, 256)}\u0000${String(o.clientOrderId ?? '').slice(0, 256)}`

function readable(schema: typeof Id, value: unknown): string | undefined {
  return schema.safeParse(value).success ? (value as string) : undefined
}

function valueAt(data: unknown, path: readonly (string | number)[]): unknown {
  let at = data
  for (const p of path) {
    if (typeof at !== 'object' || at === null) return undefined
    at = (at as Record<string | number, unknown>)[p]
  }
  return at
}

function quote(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') {
    const shown = JSON.stringify(value.length > QUOTED ? `${value.slice(0, QUOTED)}…` : value)
    return value.length > QUOTED ? `${shown}, ${value.length} characters` : shown
  }
  const json = JSON.stringify(value) ?? String(value)
  return json.length > QUOTED ? `${json.slice(0, QUOTED)}…` : json
}

const clip = (text: string): string => (text.length <= MAX_REASON ? text : `${text.slice(0, MAX_REASON - 1)}…`)
