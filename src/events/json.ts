import { z } from 'zod'
import { wellFormed } from './text.js'

/**
 * Free-form records (a step's detail, a shutdown's options, a command's arguments) are stored as
 * JSON text and published as the value validation returns. Only values JSON carries faithfully
 * may enter: null, booleans, finite numbers, strings, arrays, and plain objects with string keys,
 * nested at most MAX_JSON_DEPTH deep. Anything else (a Date or an object with `toJSON`, stored
 * as something else; a Map, Set or class instance, stored as `{}`; a function or an `undefined`
 * in an array, dropped or turned into null; NaN and Infinity, stored as null; a BigInt or a
 * cycle, which JSON.stringify cannot write at all) is refused as `InvalidEvent` naming the field,
 * rather than stored unlike what was published or failing later as if the disk had.
 *
 * What passes is copied into its canonical form, so that what is published is what is stored and
 * read back: strings well-formed (see text.ts), -0 as 0, and object keys whose value is
 * `undefined` left out (as JSON leaves them out; an optional field left unset is not an error).
 */

export const MAX_JSON_DEPTH = 32
/** Values in one record at most; a bound on the walk for shared references nested deep. */
const MAX_JSON_VALUES = 1_000_000
/** Problems reported per record at most; the walk stops there. */
const MAX_PROBLEMS = 10

type Problem = { path: PropertyKey[]; message: string }

function kindOf(value: object): string {
  if (value instanceof Date) return 'a Date'
  if (value instanceof Map) return 'a Map'
  if (value instanceof Set) return 'a Set'
  if (value instanceof RegExp) return 'a RegExp'
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return 'binary data'
  const ctor = (Object.getPrototypeOf(value) as { constructor?: unknown } | null)?.constructor
  return typeof ctor === 'function' && ctor.name ? `an instance of ${ctor.name}` : 'an object that is not a plain object'
}

class Walk {
  readonly problems: Problem[] = []
  private readonly ancestors = new Set<object>()
  private values = 0

  private fail(path: PropertyKey[], message: string): undefined {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ path: [...path], message })
    return undefined
  }

  get stopped(): boolean {
    return this.problems.length >= MAX_PROBLEMS || this.values > MAX_JSON_VALUES
  }

  /** The canonical copy of `value` at `path`, or undefined after recording why it cannot be stored. */
  copy(value: unknown, path: PropertyKey[]): unknown {
    if (++this.values > MAX_JSON_VALUES) return this.fail([], `has more than ${MAX_JSON_VALUES} values`)
    switch (typeof value) {
      case 'string':
        return wellFormed(value)
      case 'boolean':
        return value
      case 'number':
        if (!Number.isFinite(value)) return this.fail(path, `must be a finite number, got ${value} (JSON would store null)`)
        return value === 0 ? 0 : value
      case 'bigint':
        return this.fail(path, 'must be a JSON value, got a BigInt')
      case 'function':
        return this.fail(path, 'must be a JSON value, got a function')
      case 'symbol':
        return this.fail(path, 'must be a JSON value, got a symbol')
      case 'undefined':
        return this.fail(path, 'must be a JSON value, got undefined (JSON would store null)')
    }
    if (value === null) return null
    const object = value as object
    if (path.length >= MAX_JSON_DEPTH) return this.fail(path, `nests deeper than ${MAX_JSON_DEPTH} levels`)
    if (this.ancestors.has(object)) return this.fail(path, 'refers to itself (a cycle JSON cannot write)')
    this.ancestors.add(object)
    try {
      return Array.isArray(object) ? this.array(object, path) : this.record(object, path)
    } finally {
      this.ancestors.delete(object)
    }
  }

  private array(array: unknown[], path: PropertyKey[]): unknown[] | undefined {
    if (Object.getPrototypeOf(array) !== Array.prototype) return this.fail(path, `must be a JSON value, got ${kindOf(array)}`)
    const out = new Array<unknown>(array.length)
    for (let i = 0; i < array.length && !this.stopped; i++) {
      path.push(i)
      out[i] = this.copy(array[i], path)
      path.pop()
    }
    return out
  }

  private record(object: object, path: PropertyKey[]): Record<string, unknown> | undefined {
    const proto = Object.getPrototypeOf(object)
    if (proto !== Object.prototype && proto !== null) return this.fail(path, `must be a JSON value, got ${kindOf(object)}`)
    if (typeof (object as { toJSON?: unknown }).toJSON === 'function') {
      return this.fail(path, 'must be a JSON value, got an object with a toJSON method (stored as what it returns)')
    }
    if (Object.getOwnPropertySymbols(object).length > 0) return this.fail(path, 'must have string keys only (JSON drops symbol keys)')
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(object)) {
      if (this.stopped) break
      const value = (object as Record<string, unknown>)[key]
      if (value === undefined) continue
      path.push(key)
      const copied = this.copy(value, path)
      const name = wellFormed(key)
      if (Object.hasOwn(out, name)) this.fail(path, `is the same key as another once made well-formed ('${name}')`)
      // defineProperty keeps a '__proto__' key an own property, as JSON.parse reads it back
      else Object.defineProperty(out, name, { value: copied, enumerable: true, writable: true, configurable: true })
      path.pop()
    }
    return out
  }
}

/**
 * Check `value` is a plain record of JSON values and return its canonical copy, or the problems
 * (each with its path below `value`). Never throws, whatever `value` is (a getter that throws is
 * reported as a problem).
 */
function plainJsonRecord(value: unknown): { ok: true; value: Record<string, unknown> } | { ok: false; problems: Problem[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {
      ok: false,
      problems: [{ path: [], message: `must be a record of JSON values, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}` }],
    }
  }
  const walk = new Walk()
  let out: Record<string, unknown> | undefined
  try {
    out = walk.copy(value, []) as Record<string, unknown> | undefined
  } catch (e) {
    return { ok: false, problems: [...walk.problems, { path: [], message: `could not be read (${e instanceof Error ? e.message : String(e)})` }] }
  }
  if (walk.problems.length > 0 || out === undefined) return { ok: false, problems: walk.problems }
  return { ok: true, value: out }
}

/** A free-form record of JSON values (see above); parses to its canonical copy. */
export const JsonRecord = z.unknown().transform((value, ctx): Record<string, unknown> => {
  const checked = plainJsonRecord(value)
  if (checked.ok) return checked.value
  for (const problem of checked.problems) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path as (string | number)[], input: value })
  return z.NEVER
})
