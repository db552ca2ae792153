import type { CheckpointContent } from '../core/shutdown/checkpoint.js'
import type { ShutdownWorld } from '../core/shutdown/types.js'

/** At most this many differences are named; the rest are counted. */
const NAMED = 5

/** Quantities and prices the same fold computed twice agree to the last bits; a tolerance absorbs only float noise. */
const same = (a: number | undefined, b: number | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)))

const text = (v: unknown): string => (v === undefined ? 'nothing' : typeof v === 'string' ? v : JSON.stringify(v))

const amounts = (b: { free: number; used: number; total: number }) => `free ${b.free} used ${b.used} total ${b.total}`

/** The fields of an order a checkpoint holds that the log decides: what it is and where it stood. */
const ORDER_FIELDS = ['symbol', 'side', 'type', 'qty', 'price', 'filledQty', 'status', 'venueOrderId'] as const

/**
 * Where a checkpoint's positions, live orders and balances differ from the world the log itself
 * gives at the checkpoint's seq (`haltd checkpoint verify FILE --db LOG`). Its checksum proves
 * only that the file is whole, and anyone can recompute one; this proves what it says is what the
 * log held. Empty when they agree. The strategies' states and the config are not in the log, so
 * they are not compared.
 */
export function checkpointDisagreements(content: CheckpointContent, world: ShutdownWorld): string[] {
  const found: string[] = []

  const logPositions = new Map(world.positions.map((p) => [`${p.venue} ${p.symbol}`, p]))
  const keptPositions = new Map(content.positions.map((p) => [`${p.venue} ${p.symbol}`, p]))
  for (const [key, kept] of keptPositions) {
    const held = logPositions.get(key)
    if (!held) found.push(`position ${key}: ${kept.qty} in the checkpoint, flat in the log`)
    else if (!same(kept.qty, held.qty)) found.push(`position ${key}: ${kept.qty} in the checkpoint, ${held.qty} in the log`)
    else if (!same(kept.avgEntry, held.avgEntry))
      found.push(`position ${key}: entry ${text(kept.avgEntry)} in the checkpoint, ${text(held.avgEntry)} in the log`)
  }
  for (const [key, held] of logPositions) if (!keptPositions.has(key)) found.push(`position ${key}: ${held.qty} in the log, absent from the checkpoint`)

  const orderKey = (o: { venue?: unknown; clientOrderId?: unknown }) => `${String(o.venue)} ${String(o.clientOrderId)}`
  const logOrders = new Map(world.orders.map((o) => [orderKey(o), o]))
  const keptOrders = new Map(content.orders.map((o) => [orderKey(o), o]))
  for (const [key, kept] of keptOrders) {
    const held = logOrders.get(key)
    if (!held) {
      found.push(`order ${key}: live in the checkpoint, not live in the log`)
      continue
    }
    for (const field of ORDER_FIELDS) {
      const a = kept[field]
      const b = held[field]
      const agree = typeof a === 'number' && typeof b === 'number' ? same(a, b) : a === b
      if (!agree) found.push(`order ${key}: ${field} ${text(a)} in the checkpoint, ${text(b)} in the log`)
    }
  }
  for (const key of logOrders.keys()) if (!keptOrders.has(key)) found.push(`order ${key}: live in the log, absent from the checkpoint`)

  const venues = new Set([...Object.keys(content.balances), ...Object.keys(world.balances)])
  for (const venue of [...venues].sort()) {
    const kept = new Map((content.balances[venue] ?? []).map((b) => [b.asset, b]))
    const held = new Map((world.balances[venue] ?? []).map((b) => [b.asset, b]))
    for (const asset of new Set([...kept.keys(), ...held.keys()])) {
      const k = kept.get(asset)
      const h = held.get(asset)
      if (!k || !h || !same(k.total, h.total) || !same(k.free, h.free) || !same(k.used, h.used)) {
        found.push(`balance ${venue} ${asset}: ${k ? amounts(k) : 'absent'} in the checkpoint, ${h ? amounts(h) : 'absent'} in the log`)
      }
    }
  }

  return found.length > NAMED ? [...found.slice(0, NAMED), `and ${found.length - NAMED} more`] : found
}
