import { describe, expect, it } from 'vitest'
import {
  openEventLog,
  checkStored,
  eventTypes,
  parseEvent,
  InvalidEvent,
  type EventInput,
  type EventLog,
  type EventType,
  type Durability,
} from '../../src/index.js'
import { tempDb } from '../support/tmp.js'
import { mulberry32 } from '../../src/exchanges/rng.js'

// Seeded mutation fuzzing of `append`: valid events of every catalogue type, mutated (lone
// surrogates, huge strings, odd numbers, nested junk, wrong types, missing and extra fields,
// bad envelope fields). Whatever comes in, bad input is InvalidEvent and nothing else, every
// stored row passes its own hash and the catalogue, and the log goes on working.

const SOAK = process.env.HALTD_SOAK === '1'
const TOTAL = SOAK ? 100_000 : 10_000
const PER_LOG = 2_500
/** Small, so that huge strings cross it often and cheaply. */
const MAX_EVENT_BYTES = 16_384

const rng = mulberry32

type Rand = () => number
const int = (r: Rand, n: number) => Math.floor(r() * n)
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!

// ids from small pools, so idempotency keys repeat and duplicates and conflicts happen
const id = (r: Rand, p: string) => `${p}-${int(r, 40)}`
const venue = (r: Rand) => pick(r, ['binance', 'okx', 'sim-a'])
const symbol = (r: Rand) => pick(r, ['BTC/USDT', 'ETH/USDT:USDT'])
const num = (r: Rand) => Math.round(r() * 1e6) / 100 + 0.01
const reason = (r: Rand) => pick(r, ['', 'venue said no', 'timeout \u{1F680}', 'Überlast'])
const origin = (r: Rand) => pick(r, ['signal', 'admin', 'risk', 'operator'] as const)
const order = (r: Rand) => ({ venue: venue(r), clientOrderId: id(r, 'c') })
const step = (r: Rand) => ({ shutdownId: id(r, 'sd'), step: 1 + int(r, 13), name: 'cancel-orders' })

/** One valid event's data per catalogue type. */
const samples: Record<EventType, (r: Rand) => Record<string, unknown>> = {
  'order.submitted': (r) => ({
    ...order(r),
    symbol: symbol(r),
    side: pick(r, ['buy', 'sell']),
    type: 'limit',
    qty: num(r),
    price: num(r),
    origin: { kind: 'strategy', id: 'mm' },
  }),
  'order.accepted': (r) => ({ ...order(r), venueOrderId: id(r, 'v') }),
  'order.rejected': (r) => ({ ...order(r), reason: reason(r), code: '-2010' }),
  'order.filled': (r) => ({ ...order(r), tradeId: id(r, 't'), qty: num(r), price: num(r), fee: 0.1, feeCurrency: 'USDT', liquidity: 'maker' }),
  'order.cancel-requested': (r) => ({ ...order(r), reason: reason(r), origin: origin(r) }),
  'order.canceled': (r) => ({ ...order(r), confirmedBy: 'ack' }),
  'order.cancel-rejected': (r) => ({ ...order(r), reason: reason(r) }),
  'order.cancel-unconfirmed': (r) => ({ ...order(r), reason: reason(r) }),
  'order.expired': (r) => order(r),
  'order.status-unknown': (r) => ({ ...order(r), reason: reason(r) }),
  'venue.positions-observed': (r) => ({ venue: venue(r), positions: [{ symbol: symbol(r), qty: -num(r), entryPrice: num(r) }] }),
  'venue.balances-observed': (r) => ({ venue: venue(r), balances: [{ asset: 'USDT', free: num(r), used: 0, total: num(r) }] }),
  'venue.open-orders-observed': (r) => ({
    venue: venue(r),
    orders: [{ symbol: symbol(r), venueOrderId: id(r, 'v'), clientOrderId: id(r, 'c'), side: 'buy', qty: num(r), filled: 0, price: num(r) }],
  }),
  'venue.markets-observed': (r) => ({ venue: venue(r), markets: [{ symbol: symbol(r), amountStep: 0.001, priceStep: 0.01 }] }),
  'venue.connected': (r) => ({ venue: venue(r), latencyMs: num(r) }),
  'venue.disconnected': (r) => ({ venue: venue(r), reason: reason(r) }),
  'venue.dead-mans-switch-armed': (r) => ({ venue: venue(r), timeoutMs: 10_000, method: 'countdown' }),
  'venue.dead-mans-switch-disarmed': (r) => ({ venue: venue(r) }),
  'venue.cancel-all-requested': (r) => ({ venue: venue(r), scope: 'own', symbols: [symbol(r)], reason: reason(r) }),
  'venue.trade-unresolved': (r) => ({
    venue: venue(r),
    tradeId: id(r, 't'),
    venueOrderId: id(r, 'v'),
    qty: num(r),
    price: num(r),
    marketsAsked: [symbol(r)],
    reason: reason(r),
  }),
  'venue.order-unreadable': (r) => ({ venue: venue(r), what: 'order', venueOrderId: id(r, 'v'), symbol: symbol(r), reason: reason(r) }),
  'market.mark': (r) => ({ venue: venue(r), symbol: symbol(r), price: num(r) }),
  'marketdata.subscribed': (r) => ({ venue: venue(r), symbols: [symbol(r)] }),
  'marketdata.unsubscribed': (r) => ({ venue: venue(r), symbols: [symbol(r)] }),
  'strategy.enabled': (r) => ({ strategyId: id(r, 's'), reason: reason(r), origin: origin(r) }),
  'strategy.disabled': (r) => ({ strategyId: id(r, 's'), reason: reason(r) }),
  'strategy.limits-changed': (r) => ({ strategyId: id(r, 's'), limits: { maxPosition: num(r), maxOpenOrders: 5, maxOrdersPerSecond: 2 }, reason: reason(r) }),
  'trading.state-changed': (r) => ({ to: 'HALTED', reason: reason(r), origin: origin(r) }),
  'killswitch.activated': (r) => ({ reason: reason(r), origin: 'risk', trigger: 'drawdown', reading: num(r), threshold: 100, action: 'HALTED' }),
  'killswitch.reset': (r) => ({ reason: 'checked', origin: 'admin', by: 'ops', equity: num(r), peakEquity: num(r) }),
  'drain.started': (r) => ({ reason: reason(r), origin: origin(r) }),
  'drain.canceled': (r) => ({ reason: reason(r), origin: origin(r) }),
  'drain.completed': (r) => ({ outcome: 'drained', inFlight: int(r, 5) }),
  'trading.paused': (r) => ({ reason: reason(r), origin: origin(r) }),
  'trading.resumed': (r) => ({ reason: reason(r), origin: origin(r) }),
  'deployments.locked': (r) => ({ reason: reason(r), origin: origin(r) }),
  'deployments.unlocked': (r) => ({ reason: reason(r), origin: origin(r) }),
  'checkpoint.written': (r) => ({ path: '/var/lib/haltd/cp.json', checksum: 'a'.repeat(64), atSeq: int(r, 1000), verified: true }),
  'checkpoint.failed': (r) => ({ path: '/var/lib/haltd/cp.json', error: reason(r) }),
  'shutdown.requested': (r) => ({
    shutdownId: id(r, 'sd'),
    mode: 'graceful',
    reason: reason(r),
    origin: origin(r),
    options: { graceful: { flatten: 'aggressive', budgets: { 'cancel-orders': 5000 } }, venues: [{ name: 'sim-a' }] },
  }),
  'shutdown.step-started': step,
  'shutdown.step-completed': (r) => ({ ...step(r), detail: { canceled: int(r, 9), venues: ['sim-a'], note: null, ok: true } }),
  'shutdown.step-failed': (r) => ({ ...step(r), error: reason(r) }),
  'shutdown.step-timed-out': (r) => ({ ...step(r), budgetMs: 5000, remaining: { orders: [id(r, 'c')] } }),
  'shutdown.step-skipped': (r) => ({ ...step(r), reason: reason(r) }),
  'shutdown.command-issued': (r) => ({
    shutdownId: id(r, 'sd'),
    commandId: id(r, 'cmd'),
    step: 5,
    command: { kind: 'cancel-order', venue: venue(r), clientOrderId: id(r, 'c'), symbol: symbol(r), round: 1 },
  }),
  'shutdown.command-completed': (r) => ({ shutdownId: id(r, 'sd'), commandId: id(r, 'cmd'), outcome: 'ok', detail: { result: 'canceled' } }),
  'shutdown.escalated': (r) => ({ shutdownId: id(r, 'sd'), to: 'emergency', reason: reason(r), origin: origin(r) }),
  'shutdown.request-ignored': (r) => ({ shutdownId: id(r, 'sd'), mode: 'emergency', reason: reason(r), origin: origin(r) }),
  'shutdown.completed': (r) => ({ shutdownId: id(r, 'sd'), outcome: 'clean', exitCode: 0, durationMs: num(r) }),
  'run.started': (r) => ({ runId: id(r, 'run'), version: '0.1.0', configHash: 'abc', host: 'box', pid: int(r, 1e5) }),
  'run.ended': (r) => ({ runId: id(r, 'run'), exitCode: 0 }),
  'run.handed-over': (r) => ({ runId: id(r, 'run'), handoverId: id(r, 'ho'), to: id(r, 'inst') }),
  'run.crashed': (r) => ({ runId: id(r, 'run'), pid: 1, lastSeq: int(r, 1e4) }),
  'run.lease-expired': (r) => ({ runId: id(r, 'run'), pid: 1, lastSeq: int(r, 1e4), leader: id(r, 'i'), by: id(r, 'i'), epoch: 1 + int(r, 100) }),
  'notification.sent': (r) => ({ sink: 'slack', topic: 'shutdown', ok: r() < 0.5, error: reason(r) }),
  'engine.action-requested': (r) => ({ action: pick(r, ['freeze', 'stop', 'kill', 'check']), how: 'SIGSTOP to pid 42' }),
  'engine.action-completed': (r) => ({ action: pick(r, ['freeze', 'stop', 'kill']), result: pick(r, ['done', 'failed', 'gone']), durationMs: int(r, 100) }),
  'leadership.acquired': (r) => ({ engine: 'mm-1', instance: id(r, 'i'), epoch: 1 + int(r, 100), fromSeq: int(r, 1e4), reason: 'handover' }),
  'leadership.lost': (r) => ({
    engine: 'mm-1',
    instance: id(r, 'i'),
    epoch: 1 + int(r, 100),
    reason: reason(r),
    leader: id(r, 'i'),
    leaderEpoch: 2 + int(r, 100),
  }),
  'leadership.released': (r) => ({ engine: 'mm-1', instance: id(r, 'i'), epoch: 1 + int(r, 100), reason: reason(r) }),
  'handover.requested': (r) => ({ handoverId: id(r, 'h'), from: id(r, 'i'), to: id(r, 'i'), budgetMs: 1 + int(r, 5_000), reason: reason(r) }),
  'handover.step': (r) => ({ handoverId: id(r, 'h'), step: 'close-gate', phase: 'started', budgetMs: int(r, 5_000) }),
  'handover.completed': (r) => ({ handoverId: id(r, 'h'), outcome: 'handed-over' }),
  'fleet.disconnected': (r) => ({ reason: reason(r), onDisconnect: pick(r, ['keep', 'halt']) }),
  'fleet.reconnected': (r) => ({ outOfViewMs: int(r, 1e5), onDisconnect: pick(r, ['keep', 'halt']) }),
  'access.refused': (r) => ({
    route: 'POST /shutdown',
    name: id(r, 'u'),
    role: 'viewer',
    why: 'role',
    needs: ['operator', 'admin'],
    count: 1 + int(r, 100),
    since: int(r, 1e12),
  }),
}

class Opaque {
  readonly x = 1
}

/** Values that are wrong somewhere, or everywhere. */
function junk(r: Rand, depth = 0): unknown {
  switch (int(r, 34)) {
    case 0:
      return 'a\ud800b'
    case 1:
      return '\udc00'
    case 2:
      return `${'x'.repeat(int(r, 3))}\ud83d` // the first half of an emoji, cut
    case 3:
      return 'y'.repeat(MAX_EVENT_BYTES - 200 + int(r, 400)) // either side of the cap
    case 4:
      return '\u20ac'.repeat(Math.floor(MAX_EVENT_BYTES / 3) + int(r, 200) - 100) // 3 bytes each in UTF-8
    case 5:
      return 'z'.repeat(int(r, 3000))
    case 6:
      return Number.NaN
    case 7:
      return pick(r, [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
    case 8:
      return pick(r, [-0, 0, -1, 5e-324, 1e308, Number.MAX_SAFE_INTEGER + 2, 1.5, -1e-9])
    case 9:
      return BigInt(int(r, 100))
    case 10:
      return new Date(int(r, 1e12))
    case 11:
      return new Map([['k', 1]])
    case 12:
      return new Set([1, 2])
    case 13:
      return () => 1
    case 14:
      return Symbol('s')
    case 15:
      return undefined
    case 16:
      return null
    case 17:
      return new Opaque()
    case 18:
      return { toJSON: () => 'replaced' }
    case 19: {
      const cycle: Record<string, unknown> = { a: 1 }
      cycle.self = cycle
      return cycle
    }
    case 20: {
      let deep: unknown = 1
      for (let i = 0, n = int(r, 60); i < n; i++) deep = r() < 0.5 ? [deep] : { d: deep }
      return deep
    }
    case 21:
      return [1, undefined, 3]
    case 22: {
      const holey = new Array<number>(3)
      holey[1] = 2
      return holey
    }
    case 23:
      return JSON.parse('{"__proto__": {"polluted": true}, "k": 1}')
    case 24:
      return new Uint8Array(3)
    case 25:
      return Object.create(null)
    case 26:
      return { [Symbol('k')]: 1, ok: true }
    case 27:
      return true
    case 28:
      return ''
    case 29:
      return [junk(r, depth + 1), junk(r, depth + 1)]
    case 30:
      return depth > 3 ? 'leaf' : { nested: junk(r, depth + 1), list: [junk(r, depth + 1)] }
    case 31:
      return { '\ud800': 1, '\ud801': 2 }
    case 32:
      return Object.defineProperty({}, 'boom', {
        enumerable: true,
        get() {
          throw new Error('getter')
        },
      })
    default:
      return new String('boxed')
  }
}

type Container = Record<string | number, unknown>

/** Every place inside `value` a field lives: [its container, its key]. */
function slots(value: unknown, out: [Container, string | number][] = []): [Container, string | number][] {
  if (typeof value !== 'object' || value === null) return out
  for (const key of Array.isArray(value) ? value.keys() : Object.keys(value)) {
    out.push([value as Container, key])
    slots((value as Container)[key], out)
  }
  return out
}

/** Every string field inside `value`. */
const stringSlots = (value: unknown) => slots(value).filter(([c, k]) => typeof c[k] === 'string')

const MUTATIONS = [
  'none',
  'junk-field',
  'junk-nested',
  'surrogate-in-text',
  'wrong-type',
  'delete-field',
  'extra-field',
  'envelope-field',
  'type-or-version',
  'huge-free-form',
] as const
type Mutation = (typeof MUTATIONS)[number]

/** A valid event of `type`, mutated by `mutation`. */
function mutated(r: Rand, type: EventType, mutation: Mutation): EventInput {
  const data = samples[type](r)
  const input: Record<string, unknown> = { type, data }
  const all = slots(data)
  switch (mutation) {
    case 'none':
      break
    case 'junk-field': {
      const key = pick(r, Object.keys(data))
      data[key] = junk(r)
      break
    }
    case 'junk-nested': {
      const [container, key] = pick(r, all)
      container[key] = junk(r)
      break
    }
    case 'surrogate-in-text': {
      const strings = stringSlots(data)
      if (strings.length === 0) break
      const [container, key] = pick(r, strings)
      const text = String(container[key])
      const at = int(r, text.length + 1)
      container[key] = text.slice(0, at) + pick(r, ['\ud800', '\udfff', '\ud83d', '\ude80']) + text.slice(at)
      break
    }
    case 'wrong-type': {
      const [container, key] = pick(r, all)
      const was = container[key]
      container[key] = typeof was === 'string' ? int(r, 10) : typeof was === 'number' ? String(was) : Array.isArray(was) ? { 0: was[0] } : [was]
      break
    }
    case 'delete-field': {
      const [container, key] = pick(r, all)
      if (Array.isArray(container)) container.splice(Number(key), 1)
      else delete container[key]
      break
    }
    case 'extra-field': {
      const objects = [data, ...all.map(([c, k]) => c[k]).filter((v) => typeof v === 'object' && v !== null && !Array.isArray(v))] as Container[]
      pick(r, objects)[pick(r, ['extra', 'toJSON', '__proto__', 'constructor', '\ud800'])] = junk(r)
      break
    }
    case 'envelope-field': {
      const field = pick(r, ['stream', 'causationId', 'correlationId', 'idempotencyKey'])
      input[field] = r() < 0.5 ? pick(r, ['ok', 'x\ud800', '\udfff', '', 'q'.repeat(501), `e\u{1F680}`, 'k'.repeat(500)]) : junk(r)
      break
    }
    case 'type-or-version':
      if (r() < 0.5) input.type = pick(r, ['order.teleported', '', 'order.submitted\ud800', 'ORDER.SUBMITTED', junk(r)])
      else input.v = pick(r, [0, 1, 2, 99, -1, 1.5, Number.NaN, '1', null])
      break
    case 'huge-free-form': {
      const free = (['detail', 'options', 'remaining', 'command'] as const).find((k) => k in data)
      const target = (free ? data[free] : data) as Container
      target.blob = 'w'.repeat(MAX_EVENT_BYTES - 300 + int(r, 600))
      break
    }
  }
  return input as EventInput
}

type Counts = {
  inputs: number
  stored: number
  duplicates: number
  invalid: number
  /** Stored events published a second time (same seq, same content). */
  republished: number
  /** Batches written whole, and refused whole. */
  batches: { stored: number; refused: number }
  /** Single appends by mutation. */
  single: Partial<Record<Mutation, { stored: number; duplicate: number; invalid: number }>>
}

/** `count` mutated events into one fresh log, one at a time and in batches, counted into `counts`. */
async function fuzzOneLog(seed: number, count: number, durability: Durability, counts: Counts): Promise<void> {
  const r = rng(seed)
  const path = tempDb()
  const log = openEventLog({ path, durability, maxEventBytes: MAX_EVENT_BYTES })
  const published = new Map<number, string>()
  log.on('event', (e) => {
    const data = JSON.stringify(e.data)
    // a subscriber never sees a seq twice, a batch that repeats an idempotency key included
    if (published.has(e.seq)) counts.republished++
    published.set(e.seq, data)
  })
  let done = 0
  while (done < count) {
    // now and then a batch (up to 40, so the multi-row path runs too), mostly of valid events
    const batch = r() < 0.02 ? 1 + int(r, 40) : 0
    const n = Math.min(batch || 1, count - done)
    const made = Array.from({ length: n }, () => {
      const mutation: Mutation = r() < (batch ? 0.97 : 0.3) ? 'none' : pick(r, MUTATIONS)
      return { mutation, input: mutated(r, pick(r, eventTypes), mutation) }
    })
    done += n
    counts.inputs += n
    const before = log.lastSeq
    let outcome: 'stored' | 'duplicate' | 'invalid'
    try {
      const out = batch ? log.appendBatch(made.map((m) => m.input)) : [log.append(made[0]!.input)]
      for (const e of out) {
        if (e.seq > before) counts.stored++
        else counts.duplicates++
      }
      outcome = out[0]!.seq > before ? 'stored' : 'duplicate'
    } catch (e) {
      // bad input is InvalidEvent, never a write failure nor anything else, and writes nothing
      if (!(e instanceof InvalidEvent)) throw new Error(`${made.map((m) => m.mutation).join(',')} threw ${String(e)}`, { cause: e })
      expect(log.lastSeq).toBe(before)
      counts.invalid += n
      outcome = 'invalid'
    }
    if (batch) {
      counts.batches[outcome === 'invalid' ? 'refused' : 'stored']++
    } else {
      const mutation = made[0]!.mutation
      counts.single[mutation] = counts.single[mutation] ?? { stored: 0, duplicate: 0, invalid: 0 }
      counts.single[mutation][outcome]++
      // an unmutated event is never refused on its own
      if (mutation === 'none') expect(outcome).not.toBe('invalid')
    }
    if (durability === 'power' && done % 200 < n) await log.flush()
  }
  await log.flush()
  // usable afterwards
  log.append({ type: 'market.mark', data: { venue: 'sim-a', symbol: 'BTC/USDT', price: 1 } })
  // in power durability an event is published once its group commits
  await log.flush()
  expectSound(log, published)
  log.close()
  const reopened = openEventLog({ path, readonly: true })
  expectSound(reopened, published)
  reopened.close()
}

/** Every stored row passes its hash and the catalogue, is what was published, and reads as it was written. */
function expectSound(log: EventLog, published: Map<number, string>): void {
  expect(log.verify()).toMatchObject({ ok: true, count: published.size })
  for (const row of log.readRaw()) {
    const data = JSON.parse(row.data)
    expect(checkStored(row.type, row.v, data)).toEqual([])
    // stored data is a fixed point of validation and serialization
    expect(JSON.stringify(parseEvent({ type: row.type, v: row.v, data }).data)).toBe(row.data)
    expect(row.data).toBe(published.get(row.seq))
    for (const text of [row.stream, row.causationId, row.correlationId]) if (text !== null) expect(text).not.toMatch(/\p{Cs}/u)
  }
}

describe('event log under seeded mutation fuzzing', () => {
  it('covers every catalogue type with a valid sample', () => {
    expect(Object.keys(samples).sort()).toEqual([...eventTypes].sort())
    for (const type of eventTypes) expect(() => parseEvent({ type, data: samples[type](rng(1)) })).not.toThrow()
  })

  it(
    `appends ${TOTAL} mutated events: bad input is only ever InvalidEvent, every stored row passes its hash and the catalogue, and the log stays usable`,
    async () => {
      const counts: Counts = { inputs: 0, stored: 0, duplicates: 0, invalid: 0, republished: 0, batches: { stored: 0, refused: 0 }, single: {} }
      for (let i = 0; i * PER_LOG < TOTAL; i++) {
        await fuzzOneLog(0x5eed + i, Math.min(PER_LOG, TOTAL - i * PER_LOG), i % 4 === 3 ? 'power' : 'process', counts)
      }
      expect(counts.inputs).toBe(TOTAL)
      expect(counts.stored + counts.duplicates + counts.invalid).toBe(TOTAL)
      expect(counts.republished).toBe(0)
      // the mutations reach both sides: some are stored (well-formed free text, -0, extra undefined), most refused
      expect(counts.stored).toBeGreaterThan(TOTAL * 0.2)
      expect(counts.invalid).toBeGreaterThan(TOTAL * 0.2)
      console.info(`event log fuzz: ${JSON.stringify(counts)}`)
    },
    SOAK ? 1_800_000 : 120_000,
  )
})
