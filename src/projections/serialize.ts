import { createHash } from 'node:crypto'
import type { HaltdState } from './state.js'

/**
 * Canonical form of the state: JSON with object keys sorted, each Map written as
 * `{"$map":[[key,value],…]}` with entries sorted by key, and undefined fields left out. Two
 * states that hold the same facts serialize to the same bytes, whatever order their maps were
 * filled in; that is what makes the state hash comparable between a live run and a replay.
 * User keys starting with `$` (free-form detail records) are escaped with one more `$`.
 */
export function serializeState(state: HaltdState): string {
  const normal: HaltdState = { ...state, closedOrders: state.closedOrders.slice(state.closedHead), closedHead: 0 }
  return canonical(normal)
}

/** sha256 (hex) of the canonical serialization. Same log ⇒ same hash. */
export function stateHash(state: HaltdState): string {
  return createHash('sha256').update(serializeState(state)).digest('hex')
}

/** The inverse of `serializeState`. Throws on text that is not a serialized state. */
export function deserializeState(text: string): HaltdState {
  const value = revive(JSON.parse(text))
  if (!isStateShape(value)) throw new Error('not a serialized haltd state')
  return value
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

function canonical(value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      // JSON has no -0, NaN or Infinity: -0 reads back as 0, the others as null
      return Number.isFinite(value) ? JSON.stringify(value) : 'null'
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      break
    default:
      return 'null'
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonical(v))).join(',')}]`
  if (value instanceof Map) {
    const entries = [...value.entries()].map(([k, v]) => [String(k), v] as const).sort((a, b) => compare(a[0], b[0]))
    return `{"$map":[${entries.map(([k, v]) => `[${JSON.stringify(k)},${canonical(v)}]`).join(',')}]}`
  }
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compare)
  return `{${keys.map((k) => `${JSON.stringify(k.startsWith('$') ? `$${k}` : k)}:${canonical(obj[k])}`).join(',')}}`
}

function revive(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i])
    return value
  }
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj)
  if (keys.length === 1 && keys[0] === '$map' && Array.isArray(obj.$map)) {
    return new Map((obj.$map as [string, unknown][]).map(([k, v]) => [k, revive(v)]))
  }
  const out: Record<string, unknown> = {}
  for (const k of keys) {
    // defineProperty, so a user key named __proto__ stays data and never becomes a prototype
    Object.defineProperty(out, k.startsWith('$$') ? k.slice(1) : k, { value: revive(obj[k]), enumerable: true, writable: true, configurable: true })
  }
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
