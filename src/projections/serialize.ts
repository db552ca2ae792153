import { createHash } from 'node:crypto'
import type { HaltdState } from './state.js'

/**
 * Canonical form of the state: JSON with object keys in sorted order, each Map written as
 * `{"$map":[[key,value],…]}` with entries sorted by key, and undefined fields left out. Two
 * states that hold the same facts serialize to the same bytes, whatever order their maps were
 * filled in; that is what makes the state hash comparable between a live run and a replay.
 * User keys starting with `$` (free-form detail records) are escaped with one more `$`.
 * (JSON.stringify puts integer-like keys first, ascending: still one fixed order per key set.)
 */
export function serializeState(state: HaltdState): string {
  const normal: HaltdState = { ...state, closedOrders: state.closedOrders.slice(state.closedHead), closedHead: 0 }
  return JSON.stringify(canonical(normal))
}

/** sha256 (hex) of the canonical serialization. Same log ⇒ same hash. */
export function stateHash(state: HaltdState): string {
  return createHash('sha256').update(serializeState(state)).digest('hex')
}

/** The inverse of `serializeState`. Throws on text that is not a serialized state. */
export function deserializeState(text: string): HaltdState {
  const value = revive(JSON.parse(text))
  if (!isStateShape(value)) throw new Error('not a serialized haltd state')
  // a snapshot written before the state kept venue evidence: rebuilt from the events after it
  if (!(value.venueEvidence instanceof Map)) value.venueEvidence = new Map()
  // nor what changed since each venue's positions report: the next report starts it again
  if (!(value.sinceObserved instanceof Map)) value.sinceObserved = new Map()
  return value
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const DOLLAR = 36

function put(obj: Record<string, unknown>, key: string, value: unknown): void {
  // a key named __proto__ must stay data, never become the object's prototype
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
  else obj[key] = value
}

/** A plain JSON-ready copy with keys inserted in sorted order, so JSON.stringify writes them so. */
function canonical(value: unknown): unknown {
  if (value === null || typeof value !== 'object') {
    // JSON has no NaN or Infinity (they read back as null); -0 is written as 0
    return typeof value === 'number' && !Number.isFinite(value) ? null : value
  }
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : canonical(v)))
  if (value instanceof Map) {
    const keys = [...value.keys()].map(String).sort(compare)
    return { $map: keys.map((k) => [k, canonical(value.get(k))]) }
  }
  const obj = value as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(obj).sort(compare)) {
    const v = obj[k]
    if (v !== undefined) put(out, k.charCodeAt(0) === DOLLAR ? `$${k}` : k, canonical(v))
  }
  return out
}

/** Turn tagged maps back into Maps and unescape `$$` keys, reusing the parsed objects. */
function revive(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i]
      if (v !== null && typeof v === 'object') value[i] = revive(v)
    }
    return value
  }
  const obj = value as Record<string, unknown>
  const tagged = obj.$map
  if (Array.isArray(tagged) && Object.keys(obj).length === 1) {
    const map = new Map<string, unknown>()
    for (const [k, v] of tagged as [string, unknown][]) map.set(k, revive(v))
    return map
  }
  let escaped = false
  for (const k of Object.keys(obj)) {
    const v = obj[k]
    if (v !== null && typeof v === 'object') {
      const r = revive(v)
      if (r !== v) put(obj, k, r)
    }
    if (k.charCodeAt(0) === DOLLAR) escaped = true
  }
  if (!escaped) return obj
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(obj)) put(out, k.startsWith('$$') ? k.slice(1) : k, obj[k])
  return out
}

function isStateShape(v: unknown): v is HaltdState {
  if (typeof v !== 'object' || v === null) return false
  const s = v as Record<string, unknown>
  return (
    typeof s.seq === 'number' &&
    s.orders instanceof Map &&
    s.positions instanceof Map &&
    s.books instanceof Map &&
    s.marks instanceof Map &&
    s.venues instanceof Map &&
    s.strategies instanceof Map &&
    s.shutdowns instanceof Map &&
    Array.isArray(s.anomalies) &&
    Array.isArray(s.closedOrders) &&
    typeof s.pnl === 'object' &&
    typeof s.trading === 'object' &&
    typeof s.retention === 'object'
  )
}
