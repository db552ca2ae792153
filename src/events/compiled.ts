import { CancelConfirmation, current, type EventType, type HaltdEvent } from './catalogue.js'
import { Origin, OrderType, Side, TimeInForce } from './primitives.js'

/**
 * A compiled path for the events haltd writes most (an order's life, mark prices): the same
 * checks as the catalogue's zod schemas, written out for these known shapes, and the canonical
 * JSON of the data built in the same pass, so the log neither runs zod's generic machinery nor
 * serialises the data a second time. Zod stays the source of truth: this path only ever says
 * "valid, and here is exactly what zod would return" or "ask zod" (`undefined`), never "invalid".
 * Anything unusual (a lone surrogate, a non-plain object, an unknown key, a version other than
 * the current one) is left to zod, which refuses it with its own words or accepts it. The tests
 * hold the two to agreement over generated inputs, and a type whose fields differ from its
 * schema's is not compiled at all.
 */

/** What a field holds, as the catalogue's primitives check it. */
type Kind =
  | { kind: 'text'; min: number; max: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'number'; test: 'positive' | 'finite' | 'positive-int' }
  | { kind: 'boolean' }
  | { kind: 'object'; fields: Field[] }

/** When the value is undefined: required (ask zod), optional (left out), or a default. */
type Field = Kind & { key: string; absent: 'required' | 'optional' | { value: string | number | boolean } }

// JSON escapes quotes, backslashes and control characters; surrogates are looked at apart. A
// string free of all of these is quoted as is, with exactly JSON.stringify's bytes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are exactly what JSON must escape
const NEEDS_LOOK = /["\\\u0000-\u001f\ud800-\udfff]/
const LONE_SURROGATE = /\p{Cs}/u

/** `s` as a JSON string, the same bytes as JSON.stringify(s). */
export function quote(s: string): string {
  return NEEDS_LOOK.test(s) ? JSON.stringify(s) : `"${s}"`
}

/**
 * A string of `min`..`max` UTF-16 units with no lone surrogate: an identifier as `idString` checks
 * it, and free text that `wellFormed` leaves as it is (text it would change goes to zod).
 */
const text = (min: number, max: number): Kind => ({ kind: 'text', min, max })
const enumOf = (values: readonly string[]): Kind => {
  for (const v of values) if (NEEDS_LOOK.test(v)) throw new Error(`enum value '${v}' needs escaping`)
  return { kind: 'enum', values }
}
const number = (test: 'positive' | 'finite' | 'positive-int'): Kind => ({ kind: 'number', test })
const object = (shape: Record<string, Omit<Field, 'key'>>): Kind & { kind: 'object' } => ({
  kind: 'object',
  fields: Object.entries(shape).map(([key, f]) => ({ ...f, key }) as Field),
})
const required = (k: Kind) => ({ ...k, absent: 'required' as const })
const optional = (k: Kind) => ({ ...k, absent: 'optional' as const })
const withDefault = (k: Kind, value: string | number | boolean) => ({ ...k, absent: { value } })

// The catalogue's primitives (primitives.ts), field for field.
const Id = text(1, 200)
const Venue = text(1, 64)
const MarketSymbol = text(1, 64)
const Reason = text(0, 2000)
const Text = (max: number) => text(0, max)
const Qty = number('positive')
const Price = number('positive')
const Money = number('finite')

const OrderRef = { venue: required(Venue), clientOrderId: required(Id) }
const OrderOrigin = object({ kind: required(enumOf(['strategy', 'shutdown', 'manual', 'adopted', 'engine'])), id: optional(text(0, 200)) })
const SettleEvidence = object({
  kind: required(enumOf(['lookup', 'open-orders'])),
  seq: optional(number('positive-int')),
  venueStatus: required(enumOf(['canceled', 'absent'])),
})

const specs: Partial<Record<EventType, Kind & { kind: 'object' }>> = {
  'order.submitted': object({
    ...OrderRef,
    symbol: required(MarketSymbol),
    side: required(enumOf(Side.options)),
    type: required(enumOf(OrderType.options)),
    qty: required(Qty),
    price: optional(Price),
    timeInForce: withDefault(enumOf(TimeInForce.options), 'GTC'),
    reduceOnly: withDefault({ kind: 'boolean' }, false),
    origin: required(OrderOrigin),
  }),
  'order.accepted': object({ ...OrderRef, venueOrderId: required(Id) }),
  'order.rejected': object({ ...OrderRef, reason: required(Reason), code: optional(Text(100)) }),
  'order.filled': object({
    ...OrderRef,
    tradeId: required(Id),
    qty: required(Qty),
    price: required(Price),
    fee: withDefault(Money, 0),
    feeCurrency: optional(Text(32)),
    liquidity: optional(enumOf(['maker', 'taker'])),
    source: optional(enumOf(['trade', 'order-total'])),
  }),
  'order.cancel-requested': object({ ...OrderRef, reason: optional(Reason), origin: optional(enumOf(Origin.options)) }),
  'order.canceled': object({ ...OrderRef, confirmedBy: required(enumOf(CancelConfirmation.options)), evidence: optional(SettleEvidence) }),
  'order.cancel-rejected': object({ ...OrderRef, reason: required(Reason) }),
  'order.cancel-unconfirmed': object({ ...OrderRef, reason: required(Reason) }),
  'order.expired': object({ ...OrderRef }),
  'order.status-unknown': object({ ...OrderRef, reason: required(Reason) }),
  'market.mark': object({ venue: required(Venue), symbol: required(MarketSymbol), price: required(Price) }),
}

/**
 * The source of one object's check: statements that read the object in `src`, leave the canonical
 * copy in `out` and its JSON in `json`, and `return` (undefined: ask zod) at the first value this
 * path does not vouch for. Generated once per type so each check is straight-line code, as zod's
 * own object parser is. Each field's JSON is added with as few strings made per event as can be:
 * the comma, key, quotes and any known value (an enum's, a boolean's, a default) are one literal.
 */
function objectSource(fields: Field[], src: string, out: string | undefined, json: string | undefined, fresh: () => string): string {
  const lines = [
    `if (typeof ${src} !== 'object' || ${src} === null || getPrototypeOf(${src}) !== objectPrototype) return undefined;`,
    `for (const key in ${src}) switch (key) { ${fields.map((f) => `case ${JSON.stringify(f.key)}:`).join(' ')} break; default: return undefined; }`,
    ...(out === undefined ? [] : [`const ${out} = {};`]),
    ...(json === undefined ? [] : [`let ${json} = '{';`]),
  ]
  // Whether a comma comes before a field: none before the first, one after a field always
  // written; after only optional fields, the JSON may still be just '{', so it is decided at run time.
  let before: 'nothing' | 'optional fields' | 'a field' = 'nothing'
  for (const field of fields) {
    const key = JSON.stringify(field.key)
    const v = fresh()
    const comma = before
    /** An expression for the field's text up to its value, with `tail` (literal JSON) after it. */
    const lead = (tail: string) => {
      const text = `${key}:${tail}`
      if (comma === 'nothing') return JSON.stringify(text)
      if (comma === 'a field') return JSON.stringify(`,${text}`)
      return `(${json}.length === 1 ? ${JSON.stringify(text)} : ${JSON.stringify(`,${text}`)})`
    }
    lines.push(`const ${v} = ${src}[${key}];`)
    const copy = out === undefined ? undefined : field.kind === 'object' ? fresh() : v
    const check = [...checkSource(field, v, copy, json, lead, fresh), ...(out === undefined ? [] : [`${out}[${key}] = ${copy};`])]
    const absent = field.absent
    if (absent === 'required') lines.push(`if (${v} === undefined) return undefined;`, ...check)
    else if (out === undefined)
      // checked in place: a default to fill in means the object is not yet what zod returns
      lines.push(`if (${v} !== undefined) {`, ...check, absent === 'optional' ? '}' : '} else return needsCopy;')
    else if (absent === 'optional')
      // zod keeps a key that is present with an undefined value; JSON leaves it out
      lines.push(`if (${v} === undefined) { if (hasOwn(${src}, ${key})) ${out}[${key}] = undefined; } else {`, ...check, '}')
    else {
      const value = JSON.stringify(absent.value)
      lines.push(`if (${v} === undefined) { ${out}[${key}] = ${value};${json === undefined ? '' : ` ${json} += ${lead(value)};`} } else {`, ...check, '}')
    }
    if (absent !== 'optional') before = 'a field'
    else if (before === 'nothing') before = 'optional fields'
  }
  if (json !== undefined) lines.push(`${json} += '}';`)
  return lines.join('\n')
}

/**
 * Statements that check the value in `v` and add its field to `json` (`lead(tail)` is the
 * field's text before its value, with the literal JSON `tail` after it), leaving a nested
 * object's copy in `copy`.
 */
function checkSource(
  field: Field,
  v: string,
  copy: string | undefined,
  json: string | undefined,
  lead: (tail: string) => string,
  fresh: () => string,
): string[] {
  // without `json`, the same checks with nothing written (and no field text built)
  const add = (text: () => string) => (json === undefined ? '' : `${json} += ${text()};`)
  switch (field.kind) {
    case 'text':
      return [
        `if (typeof ${v} !== 'string' || ${v}.length < ${field.min} || ${v}.length > ${field.max}) return undefined;`,
        // with nothing to escape, only a lone surrogate matters, and a one-byte string cannot hold one
        json === undefined
          ? `if (!${v}.isWellFormed()) return undefined;`
          : `if (!needsLook.test(${v})) ${add(() => `${lead('"')} + ${v} + '"'`)}
else if (loneSurrogate.test(${v})) return undefined;
else ${add(() => `${lead('')} + JSON.stringify(${v})`)}`,
      ]
    case 'enum':
      return [
        `switch (${v}) {`,
        ...field.values.map((x) => `case ${JSON.stringify(x)}: ${add(() => lead(JSON.stringify(x)))} break;`),
        'default: return undefined; }',
      ]
    case 'number': {
      // JSON writes a finite number as String(n) (-0 as 0, as String does); NaN fails every test
      const test = {
        positive: `${v} > 0 && ${v} < Infinity`,
        finite: `Number.isFinite(${v})`,
        'positive-int': `Number.isSafeInteger(${v}) && ${v} > 0`,
      }[field.test]
      return [`if (typeof ${v} !== 'number' || !(${test})) return undefined;`, add(() => `${lead('')} + String(${v})`)]
    }
    case 'boolean':
      return [`if (typeof ${v} !== 'boolean') return undefined;`, add(() => `${v} ? ${lead('true')} : ${lead('false')}`)]
    case 'object': {
      const enc = json === undefined ? undefined : fresh()
      return [objectSource(field.fields, v, copy, enc, fresh), add(() => `${lead('')} + ${enc}`)]
    }
  }
}

type Check = (type: EventType, data: unknown) => CompiledEvent | undefined
/** The same check without the JSON: the data as zod would return it, or undefined (ask zod). */
type CheckOnly = (data: unknown) => HaltdEvent['data'] | undefined
/** The check in place: the data itself when it is already what zod would return, `needsCopy` when a default is to be filled in. */
type CheckInPlace = (data: unknown) => HaltdEvent['data'] | typeof needsCopy | undefined

/** What the in-place check answers for data that lacks a field with a default. */
const needsCopy = Symbol('needs a copy')

function compile(spec: Kind & { kind: 'object' }): { check: Check; checkOnly: CheckOnly; inPlace: CheckInPlace } {
  const build = (out: string | undefined, json: string | undefined, returns: string, params: string) => {
    let n = 0
    const fresh = () => `_${n++}`
    const body = `${objectSource(spec.fields, 'data', out, json, fresh)}\nreturn ${returns};`
    const make = new Function(
      'getPrototypeOf',
      'objectPrototype',
      'hasOwn',
      'needsLook',
      'loneSurrogate',
      'needsCopy',
      `return function check(${params}) {\n${body}\n}`,
    )
    return make(Object.getPrototypeOf, Object.prototype, Object.hasOwn, NEEDS_LOOK, LONE_SURROGATE, needsCopy)
  }
  return {
    check: build('out', 'json', '{ type, data: out, json }', 'type, data') as Check,
    checkOnly: build('out', undefined, 'out', 'data') as CheckOnly,
    inPlace: build(undefined, undefined, 'data', 'data') as CheckInPlace,
  }
}

/** The zod object schema's field names, in order (a strict object's `shape`). */
function schemaKeys(type: EventType): string[] {
  const shape = (current[type].data as unknown as { shape?: Record<string, unknown> }).shape
  return shape ? Object.keys(shape) : []
}

/**
 * The types compiled: those whose compiled fields are the schema's, in the schema's order (the
 * order zod writes them in, and so the JSON's). A schema changed without this file is left to zod.
 */
const compiled = new Map<string, { check: Check; checkOnly: CheckOnly; inPlace: CheckInPlace }>()
for (const [type, spec] of Object.entries(specs) as [EventType, Kind & { kind: 'object' }][]) {
  if (schemaKeys(type).join() === spec.fields.map((f) => f.key).join()) compiled.set(type, compile(spec))
}

/** The types this path handles, and whether each matches its schema: for the tests. */
export function compiledTypes(): { type: EventType; matchesSchema: boolean }[] {
  return (Object.keys(specs) as EventType[]).map((type) => ({ type, matchesSchema: compiled.has(type) }))
}

/** An event checked on the compiled path, with its data's JSON as the log stores it. */
export type CompiledEvent = HaltdEvent & { json: string }

/**
 * The event as `parseEvent` would return it, with its data's canonical JSON, when the compiled
 * path can vouch for it; undefined means "ask zod" (which may still accept it), never "invalid".
 */
export function parseCompiled(input: { type: unknown; v?: unknown; data: unknown }): CompiledEvent | undefined {
  if (typeof input !== 'object' || input === null) return undefined
  try {
    const spec = compiled.get(input.type as string)
    if (spec === undefined) return undefined
    const type = input.type as EventType
    if (input.v !== undefined && input.v !== current[type].v) return undefined
    return spec.check(type, input.data)
  } catch {
    // a getter that throws, a proxy: zod reports it in its own words
    return undefined
  }
}

/**
 * The data of a `type` event at the current version as zod would return it, when the compiled
 * path can vouch for it, without building its JSON (a reader that has the stored JSON already:
 * the audit); undefined means "ask zod", never "invalid".
 */
export function checkCompiled(type: string, data: unknown): HaltdEvent['data'] | undefined {
  const spec = compiled.get(type)
  if (spec === undefined) return undefined
  try {
    // parsed JSON holds its defaults as written, so it is nearly always returned as it is, uncopied
    const same = spec.inPlace(data)
    return same === needsCopy ? spec.checkOnly(data) : same
  } catch {
    return undefined
  }
}
