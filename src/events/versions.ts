import { z } from 'zod'
import { Id, Venue, MarketSymbol, Side, Qty, Price, OrderType, SignedQty, Reason, ShutdownMode, Origin } from './primitives.js'
import { current, EngineAction, ObservedOpenOrder, type EventType } from './catalogue.js'
import { UnreadableEvent } from './errors.js'

/**
 * Superseded versions of event types, each with the upcaster that lifts it one version up.
 * The log is never rewritten: a stored v1 stays v1 on disk and is read as the current version.
 */
// biome-ignore lint/suspicious/noExplicitAny: each upcaster reads the older shape its own schema just checked
type Upcaster = (data: any) => unknown
type OldVersion = { data: z.ZodTypeAny; up: Upcaster }

/** The kill switch's v1 events knew of one engine only: each was this engine's own switch. */
const killSwitchV1 = { by: z.string().optional() }
const localScope = (d: Record<string, unknown>) => ({ ...d, scope: 'local' })

const superseded: Partial<Record<EventType, Record<number, OldVersion>>> = {
  'killswitch.activated': {
    1: {
      data: z.strictObject({
        reason: z.string(),
        origin: z.string(),
        ...killSwitchV1,
        trigger: z.string().optional(),
        reading: z.number().finite().optional(),
        threshold: z.number().finite().optional(),
        action: z.enum(['REDUCING', 'HALTED', 'EMERGENCY']),
      }),
      up: localScope,
    },
  },
  'killswitch.reset': {
    1: {
      data: z.strictObject({
        reason: z.string(),
        origin: z.string(),
        ...killSwitchV1,
        equity: z.number().finite().optional(),
        peakEquity: z.number().finite().optional(),
      }),
      up: localScope,
    },
  },
  'order.canceled': {
    // v1 knew no lookup confirmation and carried no evidence; every v1 is a valid v2 as it is.
    1: {
      data: z.strictObject({ venue: Venue, clientOrderId: Id, confirmedBy: z.enum(['ack', 'stream', 'open-orders', 'mass-cancel']) }),
      up: (d: { venue: string; clientOrderId: string; confirmedBy: string }) => ({
        venue: d.venue,
        clientOrderId: d.clientOrderId,
        confirmedBy: d.confirmedBy,
      }),
    },
  },
  'venue.markets-observed': {
    // v1 knew no contract size: every market of a v1 counts one unit as one, as it did
    1: {
      data: z.strictObject({
        venue: Venue,
        markets: z.array(
          z.strictObject({ symbol: MarketSymbol, amountStep: z.number().finite().positive(), priceStep: z.number().finite().positive().optional() }),
        ),
      }),
      up: (d: unknown) => d,
    },
  },
  'venue.positions-observed': {
    // v1 knew nothing of books left unseen: every v1 is a valid v2 as it is, and claims what it did
    1: {
      data: z.strictObject({
        venue: Venue,
        positions: z.array(z.strictObject({ symbol: MarketSymbol, qty: SignedQty, entryPrice: Price.optional() })),
      }),
      up: (d: unknown) => d,
    },
  },
  'venue.open-orders-observed': {
    // v2 knew nothing of books left unseen: every v2 is a valid v3 as it is, and claims what it did
    2: {
      data: z.strictObject({
        venue: Venue,
        orders: z.array(ObservedOpenOrder),
        part: z
          .strictObject({ index: z.number().int().positive(), of: z.number().int().min(2) })
          .refine((p) => p.index <= p.of, 'index is past of')
          .optional(),
      }),
      up: (d: unknown) => d,
    },
    // v1 knew only whole lists; every v1 is a valid v2 as it is.
    1: {
      data: z.strictObject({
        venue: Venue,
        orders: z.array(
          z.strictObject({
            symbol: MarketSymbol,
            venueOrderId: Id,
            clientOrderId: Id.optional(),
            side: Side,
            qty: Qty,
            filled: z.number().finite().nonnegative().default(0),
            price: Price.optional(),
          }),
        ),
      }),
      up: (d: unknown) => d,
    },
  },
  'shutdown.request-ignored': {
    // v1 recorded each request on its own: every v1 is a valid v2 as it is, one request
    1: { data: z.strictObject({ shutdownId: Id, mode: ShutdownMode, reason: Reason, origin: Origin }), up: (d: unknown) => d },
  },
  'engine.action-requested': {
    // v1 had no id for the action: every v1 is a valid v2 as it is, and pairs with its end by action
    1: { data: z.strictObject({ action: EngineAction, how: Reason, shutdownId: Id.optional() }), up: (d: unknown) => d },
  },
  'engine.action-completed': {
    // v1 named no request: every v1 is a valid v2 as it is, and pairs with its request by action
    1: {
      data: z.strictObject({
        action: EngineAction,
        result: z.enum(['done', 'failed', 'timed-out', 'gone', 'abandoned']),
        gone: z.boolean().optional(),
        evidence: Reason.optional(),
        error: Reason.optional(),
        durationMs: z.number().finite().nonnegative(),
        shutdownId: Id.optional(),
      }),
      up: (d: unknown) => d,
    },
  },
  'order.submitted': {
    // v1 used ccxt's word `amount`, knew nothing of reduce-only orders or time in force, and
    // named the strategy directly. v2 carries the origin, so shutdown orders can be told apart.
    1: {
      data: z.strictObject({
        venue: Venue,
        clientOrderId: Id,
        symbol: MarketSymbol,
        side: Side,
        type: OrderType,
        amount: Qty,
        price: Price.optional(),
        strategyId: Id.optional(),
      }),
      up: (d: { venue: string; clientOrderId: string; symbol: string; side: string; type: string; amount: number; price?: number; strategyId?: string }) => ({
        venue: d.venue,
        clientOrderId: d.clientOrderId,
        symbol: d.symbol,
        side: d.side,
        type: d.type,
        qty: d.amount,
        ...(d.price === undefined ? {} : { price: d.price }),
        timeInForce: 'GTC',
        reduceOnly: false,
        origin: d.strategyId === undefined ? { kind: 'manual' } : { kind: 'strategy', id: d.strategyId },
      }),
    },
  },
}

/** The schema of `type` at version `v`, or undefined when haltd does not know that version. */
export function schemaAt(type: EventType, v: number): z.ZodTypeAny | undefined {
  const now = current[type]
  if (v === now.v) return now.data
  return superseded[type]?.[v]?.data
}

/** Lift stored data of version `v` to the current version. Data already current is returned as is. */
export function upcast(type: EventType, v: number, data: unknown): unknown {
  const target = current[type].v
  let out = data
  for (let at = v; at < target; at++) {
    const step = superseded[type]?.[at]
    if (!step) throw new UnreadableEvent(type, v, `no upcaster from v${at}`)
    out = step.up(out)
  }
  return out
}

/** A stored event's data as readers see it; `unreadable` says why it is not at the current version. */
export type StoredData = { v: number; data: unknown; unreadable?: string }

/**
 * Parse a stored row's data and lift it to the current version of its type. Never throws: a
 * row written by a newer haltd (a type or version this build does not know), or one that cannot
 * be parsed or upcast, comes back as stored with `unreadable` set, so a reader can skip it and
 * say so instead of crashing or misreading its fields. Current rows are not re-validated: the
 * hash chain, not the reader, vouches for what was written.
 */
export function readStored(type: string, v: number, text: string): StoredData {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (e) {
    return { v, data: null, unreadable: `its data is not JSON (${e instanceof Error ? e.message : String(e)})` }
  }
  const latest = (current as Record<string, { v: number } | undefined>)[type]?.v
  if (latest === undefined) return { v, data, unreadable: `'${type}' is not an event type this build knows (written by a newer haltd?)` }
  if (v === latest) return { v, data }
  if (v > latest) return { v, data, unreadable: `version ${v} is newer than this build reads (v${latest}); written by a newer haltd?` }
  try {
    return { v: latest, data: upcast(type as EventType, v, data) }
  } catch (e) {
    return { v, data, unreadable: `it cannot be upcast from v${v} (${e instanceof Error ? e.message : String(e)})` }
  }
}
