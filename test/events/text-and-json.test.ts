import { describe, expect, it } from 'vitest'
import { InvalidEvent, checkEnvelopeInput, parseEvent } from '../../src/events/index.js'
import { MAX_JSON_DEPTH } from '../../src/events/json.js'

const LONE_HIGH = 'a\ud800b'
const LONE_LOW = 'a\udc00b'
const PAIR = 'a\u{1F600}b'

function problemOf(attempt: () => unknown): { field: string | undefined; message: string } {
  try {
    attempt()
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidEvent)
    return { field: (e as InvalidEvent).field, message: (e as InvalidEvent).message }
  }
  throw new Error('expected InvalidEvent')
}

const order = (over: Record<string, unknown>) => ({
  type: 'order.submitted',
  data: { venue: 'v', clientOrderId: 'c', symbol: 'BTC/USDT', side: 'buy', type: 'market', qty: 1, origin: { kind: 'strategy', id: 's' }, ...over },
})
const stepDone = (detail: unknown) => ({ type: 'shutdown.step-completed', data: { shutdownId: 'sd', step: 1, name: 'announce', detail } })

describe('identifiers and text with lone UTF-16 surrogates', () => {
  it.each([
    ['venue', order({ venue: LONE_HIGH })],
    ['clientOrderId', order({ clientOrderId: LONE_LOW })],
    ['symbol', order({ symbol: LONE_HIGH })],
    ['origin.id', order({ origin: { kind: 'strategy', id: LONE_HIGH } })],
    ['tradeId', { type: 'order.filled', data: { venue: 'v', clientOrderId: 'c', tradeId: LONE_HIGH, qty: 1, price: 1 } }],
    ['venueOrderId', { type: 'order.accepted', data: { venue: 'v', clientOrderId: 'c', venueOrderId: LONE_LOW } }],
    ['strategyId', { type: 'strategy.enabled', data: { strategyId: LONE_HIGH } }],
    ['shutdownId', { type: 'shutdown.step-started', data: { shutdownId: LONE_LOW, step: 1, name: 'announce' } }],
    ['runId', { type: 'run.ended', data: { runId: LONE_HIGH, exitCode: 0 } }],
  ])('refuses a lone surrogate in the identifier %s, naming it', (field, input) => {
    const { field: named, message } = problemOf(() => parseEvent(input))
    expect(named).toBe(`data.${field}`)
    expect(message).toMatch(/lone UTF-16 surrogate/)
  })

  it('accepts identifiers with well-formed surrogate pairs as they are', () => {
    const e = parseEvent(order({ clientOrderId: PAIR, venue: PAIR }))
    expect(e.data).toMatchObject({ clientOrderId: PAIR, venue: PAIR })
  })

  it.each(['stream', 'causationId', 'correlationId', 'idempotencyKey'])('refuses a lone surrogate in the envelope field %s, naming it', (field) => {
    const { field: named, message } = problemOf(() => checkEnvelopeInput({ type: 'market.mark', [field]: LONE_HIGH }))
    expect(named).toBe(field)
    expect(message).toMatch(/lone UTF-16 surrogate/)
  })

  it('stores free text (reasons, codes, names, free-form strings and keys) with each lone surrogate as U+FFFD', () => {
    const rejected = parseEvent({ type: 'order.rejected', data: { venue: 'v', clientOrderId: 'c', reason: `${LONE_HIGH}${PAIR}`, code: LONE_LOW } })
    expect(rejected.data).toMatchObject({ reason: `a\ufffdb${PAIR}`, code: 'a\ufffdb' })
    const done = parseEvent(stepDone({ [LONE_HIGH]: [LONE_LOW, { note: PAIR }] }))
    expect(done.data).toMatchObject({ detail: { 'a\ufffdb': ['a\ufffdb', { note: PAIR }] } })
    const reset = parseEvent({ type: 'killswitch.reset', data: { reason: '\udfff', origin: 'admin' } })
    expect(reset.data).toMatchObject({ reason: '\ufffd' })
  })

  it('refuses two free-form keys that become one once made well-formed', () => {
    const { field, message } = problemOf(() => parseEvent(stepDone({ '\ud800': 1, '\ud801': 2 })))
    expect(field).toMatch(/^data\.detail\./)
    expect(message).toMatch(/same key/)
  })
})

class Point {
  x = 1
}
const circular: Record<string, unknown> = { a: 1 }
circular.self = circular
const holey = new Array<number>(3)
holey[0] = 1
holey[2] = 3
let deep: Record<string, unknown> = { leaf: true }
for (let i = 0; i < MAX_JSON_DEPTH + 1; i++) deep = { deep }

describe('free-form records take plain JSON values only', () => {
  it.each<[string, unknown, string, RegExp]>([
    ['a Date', { when: new Date(0) }, 'data.detail.when', /a Date/],
    ['an object with toJSON', { v: { toJSON: () => 'other' } }, 'data.detail.v', /toJSON/],
    ['a Map', { m: new Map([['a', 1]]) }, 'data.detail.m', /a Map/],
    ['a Set', { s: new Set([1]) }, 'data.detail.s', /a Set/],
    ['a BigInt', { n: 10n }, 'data.detail.n', /BigInt/],
    ['a function', { f: () => 1 }, 'data.detail.f', /function/],
    ['a symbol', { s: Symbol('x') }, 'data.detail.s', /symbol/],
    ['undefined in an array', { list: [1, undefined, 3] }, 'data.detail.list[1]', /undefined/],
    ['a hole in an array', { list: holey }, 'data.detail.list[1]', /undefined/],
    ['NaN', { x: Number.NaN }, 'data.detail.x', /finite/],
    ['Infinity', { x: [Number.POSITIVE_INFINITY] }, 'data.detail.x[0]', /finite/],
    ['-Infinity', { x: Number.NEGATIVE_INFINITY }, 'data.detail.x', /finite/],
    ['a class instance', { p: new Point() }, 'data.detail.p', /instance of Point/],
    ['an Error', { e: new Error('boom') }, 'data.detail.e', /instance of Error/],
    ['a boxed string', { s: new String('x') }, 'data.detail.s', /instance of String/],
    ['binary data', { b: new Uint8Array(2) }, 'data.detail.b', /binary/],
    ['a symbol key', { [Symbol('k')]: 1 }, 'data.detail', /symbol keys/],
    ['a cycle', circular, 'data.detail.self', /cycle/],
    ['too deep a nesting', deep, 'data.detail', /deeper than/],
    [
      'a getter that throws',
      Object.defineProperty({}, 'x', {
        enumerable: true,
        get: () => {
          throw new Error('no')
        },
      }),
      'data.detail',
      /could not be read/,
    ],
  ])('refuses %s, naming the field', (_kind, detail, field, message) => {
    const problem = problemOf(() => parseEvent(stepDone(detail)))
    expect(problem.field?.startsWith(field)).toBe(true)
    expect(problem.message).toMatch(message)
  })

  it('refuses a record that is not a plain object at all', () => {
    expect(problemOf(() => parseEvent(stepDone(new Date(0)))).message).toMatch(/data\.detail: .*a Date/)
    expect(problemOf(() => parseEvent(stepDone([1]))).message).toMatch(/data\.detail: .*array/)
  })

  it('checks shutdown options and command arguments alike', () => {
    const options = problemOf(() =>
      parseEvent({ type: 'shutdown.requested', data: { shutdownId: 's', mode: 'graceful', reason: '', origin: 'cli', options: { at: new Date(0) } } }),
    )
    expect(options.field).toBe('data.options.at')
    const command = problemOf(() =>
      parseEvent({ type: 'shutdown.command-issued', data: { shutdownId: 's', commandId: 'c', step: 5, command: { kind: 'cancel', qty: Number.NaN } } }),
    )
    expect(command.field).toBe('data.command.qty')
  })

  it('keeps plain JSON as it is, leaving out keys whose value is undefined and writing -0 as 0', () => {
    const detail = { a: null, b: true, c: -0, d: 'x', e: [1, 'two', { three: [null] }], f: undefined, g: Object.create(null) }
    const e = parseEvent(stepDone(detail))
    const parsed = (e.data as { detail: Record<string, unknown> }).detail
    expect(Object.keys(parsed)).toEqual(['a', 'b', 'c', 'd', 'e', 'g'])
    expect(Object.is(parsed.c, 0)).toBe(true)
    expect(JSON.parse(JSON.stringify(parsed))).toEqual(parsed)
  })

  it('keeps a __proto__ key as an own key, as JSON reads it back', () => {
    const detail = JSON.parse('{"__proto__": {"x": 1}, "y": 2}') as Record<string, unknown>
    const e = parseEvent(stepDone(detail))
    const parsed = (e.data as { detail: Record<string, unknown> }).detail
    expect(JSON.stringify(parsed)).toBe('{"__proto__":{"x":1},"y":2}')
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype)
  })
})
