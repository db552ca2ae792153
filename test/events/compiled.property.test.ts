import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { checkCompiled, compiledTypes, parseCompiled } from '../../src/events/compiled.js'
import { current, parseEvent, type EventType } from '../../src/events/index.js'

const RUNS = process.env.HALTD_SOAK ? 20_000 : 1500

// Strings that hit every branch of the text check: plain, needing JSON escapes, a well-formed
// pair, a lone surrogate, empty, and over every length bound.
const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    '',
    'a"b',
    'back\\slash',
    'tab\there',
    '\u0000',
    '😀',
    '\ud800',
    'x\udc00y',
    'x'.repeat(33),
    'y'.repeat(65),
    'z'.repeat(101),
    'w'.repeat(201),
  ),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
)
const number = fc.oneof(fc.double(), fc.constantFrom(0, -0, 1, -1, 2 ** 53, 2 ** 60, Number.NaN, Number.POSITIVE_INFINITY, 1e-300, 3), fc.integer())
const anyValue = fc.oneof(text, number, fc.boolean(), fc.constant(undefined), fc.constant(null), fc.anything())

/** Values a field of this schema might be given: the ones that fit and plenty that do not. */
function candidates(type: EventType): fc.Arbitrary<unknown> {
  const shape = (current[type].data as unknown as { shape: Record<string, unknown> }).shape
  const enums = [
    'buy',
    'sell',
    'market',
    'limit',
    'GTC',
    'IOC',
    'FOK',
    'PO',
    'maker',
    'taker',
    'trade',
    'order-total',
    'ack',
    'stream',
    'lookup',
    'open-orders',
    'mass-cancel',
    'risk',
    'shutdown',
    'strategy',
    'engine',
    'canceled',
    'absent',
    'bogus',
  ]
  const nested = fc.record(
    {
      kind: fc.oneof(fc.constantFrom(...enums), anyValue),
      id: text,
      seq: number,
      venueStatus: fc.oneof(fc.constantFrom(...enums), anyValue),
      extra: anyValue,
    },
    { requiredKeys: [] },
  )
  const field = fc.oneof(
    { weight: 4, arbitrary: text },
    { weight: 3, arbitrary: number },
    { weight: 3, arbitrary: fc.constantFrom(...enums) },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 2, arbitrary: nested },
    { weight: 1, arbitrary: anyValue },
  )
  const keys = Object.keys(shape)
  // a valid event with up to three fields given another value, or taken away
  const mutated = fc
    .tuple(fc.array(fc.tuple(fc.constantFrom(...keys), fc.option(field, { nil: undefined }), fc.boolean()), { maxLength: 3 }))
    .map(([changes]) => {
      const data: Record<string, unknown> = structuredClone(VALID[type]!)
      for (const [key, value, remove] of changes) {
        if (remove) delete data[key]
        else data[key] = value
      }
      return data
    })
  return fc.oneof(
    { weight: 10, arbitrary: mutated },
    { weight: 4, arbitrary: fc.record(Object.fromEntries(keys.map((k) => [k, field])), { requiredKeys: keys.slice(0, 2) }) },
    { weight: 1, arbitrary: fc.record({ ...Object.fromEntries(keys.map((k) => [k, field])), unknown: field }) },
    { weight: 1, arbitrary: anyValue },
  )
}

const order = { venue: 'binance', clientOrderId: 'c-1' }
const VALID: Record<string, Record<string, unknown>> = {
  'order.submitted': {
    ...order,
    symbol: 'BTC/USDT',
    side: 'buy',
    type: 'limit',
    qty: 0.5,
    price: 64000,
    timeInForce: 'IOC',
    reduceOnly: true,
    origin: { kind: 'strategy', id: 'mm' },
  },
  'order.accepted': { ...order, venueOrderId: 'v-1' },
  'order.rejected': { ...order, reason: 'insufficient margin', code: '-2019' },
  'order.filled': { ...order, tradeId: 't-1', qty: 0.5, price: 64000, fee: 0.1, feeCurrency: 'USDT', liquidity: 'maker', source: 'trade' },
  'order.cancel-requested': { ...order, reason: 'emergency', origin: 'shutdown' },
  'order.canceled': { ...order, confirmedBy: 'lookup', evidence: { kind: 'open-orders', seq: 7, venueStatus: 'absent' } },
  'order.cancel-rejected': { ...order, reason: 'unknown order' },
  'order.cancel-unconfirmed': { ...order, reason: 'budget spent' },
  'order.expired': { ...order },
  'order.status-unknown': { ...order, reason: 'timeout' },
  'market.mark': { venue: 'okx', symbol: 'ETH/USDT', price: 3000.5 },
}

const types = compiledTypes().map((t) => t.type)

describe('the compiled path for the events haltd writes most', () => {
  it('covers types whose fields are exactly their zod schema fields', () => {
    expect(types.length).toBeGreaterThan(0)
    for (const type of types) expect(parseEvent({ type, data: VALID[type] }).type, `a valid ${type} for the generator`).toBe(type)
    for (const t of compiledTypes()) expect(t, `${t.type}: fields differ from its schema`).toEqual({ type: t.type, matchesSchema: true })
  })

  it('given any input, accepts only what zod accepts, with the same data, and JSON.stringify of it as its JSON', () => {
    let vouched = 0
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.constantFrom(undefined, 1, 2, 3), fc.integer(), (type, v, seed) => {
        const data = fc.sample(candidates(type), { seed, numRuns: 1 })[0]
        const input = { type, v, data }
        const fast = parseCompiled(input)
        let slow: ReturnType<typeof parseEvent> | undefined
        try {
          slow = parseEvent(input)
        } catch {
          slow = undefined
        }
        // the check without the JSON (the audit's) vouches for exactly the same inputs at the current version
        const only = v === undefined || v === current[type].v ? checkCompiled(type, data) : undefined
        expect(only).toStrictEqual(fast?.data)
        if (fast === undefined) return
        vouched++
        expect(slow, 'the compiled path accepted what zod refuses').toBeDefined()
        expect(fast.type).toBe(slow!.type)
        expect(fast.data).toStrictEqual(slow!.data)
        expect(fast.json).toBe(JSON.stringify(slow!.data))
      }),
      { numRuns: RUNS },
    )
    // the generator must reach the accepting path, or the property says nothing
    expect(vouched).toBeGreaterThan(RUNS / 20)
  })

  it('given the events of an order life, vouches for each, so the log does not need zod for them', () => {
    const order = { venue: 'binance', clientOrderId: 'c-1' }
    const inputs = [
      {
        type: 'order.submitted',
        data: { ...order, symbol: 'BTC/USDT', side: 'buy', type: 'limit', qty: 0.5, price: 64000, origin: { kind: 'strategy', id: 'mm' } },
      },
      { type: 'order.accepted', data: { ...order, venueOrderId: 'v-1' } },
      { type: 'order.filled', data: { ...order, tradeId: 't-1', qty: 0.5, price: 64000, feeCurrency: 'USDT', liquidity: 'maker' } },
      { type: 'order.cancel-requested', data: { ...order, reason: 'emergency', origin: 'shutdown' } },
      { type: 'order.canceled', data: { ...order, confirmedBy: 'lookup', evidence: { kind: 'open-orders', seq: 7, venueStatus: 'absent' } } },
      { type: 'market.mark', data: { venue: 'binance', symbol: 'BTC/USDT', price: 64000 } },
    ]
    for (const input of inputs) {
      const fast = parseCompiled(input)
      expect(fast, input.type).toBeDefined()
      expect(fast!.data).toStrictEqual(parseEvent(input).data)
      expect(fast!.json).toBe(JSON.stringify(parseEvent(input).data))
    }
  })

  it('given what only zod can judge, leaves it to zod: a lone surrogate in free text, an unknown key, another version, a class instance', () => {
    const order = { venue: 'binance', clientOrderId: 'c-1' }
    class Mark {
      venue = 'okx'
      symbol = 'BTC/USDT'
      price = 1
    }
    const cases = [
      { type: 'order.rejected', data: { ...order, reason: 'cut \ud83d' } },
      { type: 'order.accepted', data: { ...order, venueOrderId: 'v', extra: 1 } },
      { type: 'order.submitted', v: 1, data: { ...order, symbol: 'BTC/USDT', side: 'buy', type: 'limit', qty: 1, origin: { kind: 'strategy' } } },
      { type: 'market.mark', data: new Mark() },
    ]
    for (const input of cases) expect(parseCompiled(input), input.type).toBeUndefined()
    for (const input of cases.filter((c) => c.v === undefined)) expect(checkCompiled(input.type, input.data), input.type).toBeUndefined()
    // and zod still decides: the free text is kept with U+FFFD, the unknown key refused
    expect(parseEvent(cases[0]!).data).toMatchObject({ reason: 'cut \ufffd' })
    expect(() => parseEvent(cases[1]!)).toThrow(/extra/)
  })
})
