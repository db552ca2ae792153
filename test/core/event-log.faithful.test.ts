import { describe, expect, it } from 'vitest'
import { openEventLog, InvalidEvent, LogWriteFailed, checkStored, type EventInput, type EventLog } from '../../src/index.js'
import { DEFAULT_MAX_EVENT_BYTES } from '../../src/core/log/event-log.js'
import { tempDb } from '../support/tmp.js'
import { mark, submitted } from '../support/events.js'

const LONE = 'a\ud800b'

/** The InvalidEvent `attempt` throws; fails the test on any other outcome. */
function invalid(attempt: () => unknown): InvalidEvent {
  try {
    attempt()
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidEvent)
    return e as InvalidEvent
  }
  throw new Error('expected InvalidEvent')
}

/** The log's chain verifies, and every stored row reads back as what was published. */
function expectFaithful(log: EventLog, published: Map<number, unknown>): void {
  expect(log.verify()).toMatchObject({ ok: true, count: published.size })
  for (const row of log.readRaw()) {
    expect(checkStored(row.type, row.v, JSON.parse(row.data))).toEqual([])
    expect(row.data).toBe(JSON.stringify(published.get(row.seq)))
  }
}

const stepDone = (detail: unknown, name = 'announce'): EventInput => ({ type: 'shutdown.step-completed', data: { shutdownId: 'sd', step: 1, name, detail } })

describe('event log stores what it hashes', () => {
  it.each(['stream', 'causationId', 'correlationId', 'idempotencyKey'])(
    'refuses a lone surrogate in the header field %s as InvalidEvent naming it, and writes nothing',
    (field) => {
      const log = openEventLog({ path: tempDb() })
      log.append(mark())
      expect(invalid(() => log.append({ ...mark(), [field]: LONE })).field).toBe(field)
      expect(invalid(() => log.appendBatch([mark(), { ...mark(), [field]: LONE }])).field).toBe(field)
      expect(log.lastSeq).toBe(1)
      expect(log.verify()).toMatchObject({ ok: true, count: 1 })
      log.close()
    },
  )

  it('refuses a lone surrogate in a data id (it would be in the stream and the idempotency key), and writes nothing', () => {
    const log = openEventLog({ path: tempDb() })
    expect(invalid(() => log.append(submitted({ clientOrderId: LONE }))).field).toBe('data.clientOrderId')
    expect(invalid(() => log.append(submitted({ venue: 'v\udfff' }))).field).toBe('data.venue')
    expect(invalid(() => log.append({ type: 'strategy.enabled', data: { strategyId: LONE } })).field).toBe('data.strategyId')
    expect(log.lastSeq).toBe(0)
    log.close()
  })

  it('stores free text with its lone surrogates as U+FFFD, publishes it so, and the chain verifies after a reopen', () => {
    const path = tempDb()
    const log = openEventLog({ path })
    const published = new Map<number, unknown>()
    const seen: unknown[] = []
    log.on('event', (e) => seen.push(e.data))
    const emoji = '\u{1F680}'
    for (const input of [
      { type: 'order.rejected', data: { venue: 'v', clientOrderId: `c${emoji}`, reason: `cut ${emoji.slice(0, 1)}`, code: '\udc00' } },
      { type: 'venue.disconnected', data: { venue: 'v', reason: LONE } },
      stepDone({ message: LONE, [LONE]: [LONE] }),
      { ...mark(), stream: `market:${emoji}`, correlationId: emoji, causationId: `x${emoji}` },
    ]) {
      const e = log.append(input)
      published.set(e.seq, e.data)
    }
    expect(published.get(1)).toMatchObject({ clientOrderId: `c${emoji}`, reason: 'cut \ufffd', code: '\ufffd' })
    expect(published.get(3)).toEqual({ shutdownId: 'sd', step: 1, name: 'announce', detail: { message: 'a\ufffdb', 'a\ufffdb': ['a\ufffdb'] } })
    expect(seen).toEqual([...published.values()])
    expectFaithful(log, published)
    log.close()
    const again = openEventLog({ path, readonly: true })
    expect(again.verify()).toMatchObject({ ok: true, count: 4 })
    expect([...again.read()].map((e) => e.data)).toEqual([...published.values()])
    again.close()
  })

  it.each<[string, unknown]>([
    ['a Date', new Date(0)],
    ['an object with toJSON', { toJSON: () => 'x' }],
    ['a Map', new Map()],
    ['a Set', new Set([1])],
    ['a BigInt', 1n],
    ['a function', () => 1],
    ['undefined in an array', [undefined]],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a class instance', new (class Venue {})()],
  ])('refuses %s in a free-form record as InvalidEvent naming the field, never as a write failure', (_kind, value) => {
    const log = openEventLog({ path: tempDb() })
    for (const attempt of [() => log.append(stepDone({ value })), () => log.appendBatch(Array.from({ length: 40 }, () => stepDone({ value })))]) {
      const error = invalid(attempt)
      expect(error).not.toBeInstanceOf(LogWriteFailed)
      expect(error.field?.startsWith('data.detail.value')).toBe(true)
    }
    expect(log.lastSeq).toBe(0)
    log.append(mark())
    expect(log.verify()).toMatchObject({ ok: true, count: 1 })
    log.close()
  })

  it('refuses circular and too-deep records as InvalidEvent, where JSON.stringify would throw at write time', () => {
    const log = openEventLog({ path: tempDb() })
    const cycle: Record<string, unknown> = {}
    cycle.again = cycle
    expect(invalid(() => log.append(stepDone(cycle))).field).toBe('data.detail.again')
    let deep: unknown = 0
    for (let i = 0; i < 20_000; i++) deep = [deep]
    expect(invalid(() => log.append(stepDone({ deep }))).message).toMatch(/deeper than/)
    expect(log.lastSeq).toBe(0)
    log.close()
  })

  it('stores what was published for free-form records with unset keys', () => {
    const log = openEventLog({ path: tempDb() })
    const e = log.append(stepDone({ error: undefined, sent: false }))
    expect(e.data).toEqual({ shutdownId: 'sd', step: 1, name: 'announce', detail: { sent: false } })
    expectFaithful(log, new Map([[1, e.data]]))
    log.close()
  })
})

describe('event size cap', () => {
  it('refuses data over 1 MiB by default, naming its size and the cap, and writes nothing', () => {
    const log = openEventLog({ path: tempDb() })
    const big = 'x'.repeat(DEFAULT_MAX_EVENT_BYTES)
    const bytes = JSON.stringify(stepDone({ big }).data).length
    const error = invalid(() => log.append(stepDone({ big })))
    expect(error.field).toBe('data')
    expect(error.message).toContain(`is ${bytes} bytes as stored, over this log's cap of ${DEFAULT_MAX_EVENT_BYTES} bytes`)
    expect(log.lastSeq).toBe(0)
    log.append(stepDone({ big: big.slice(0, DEFAULT_MAX_EVENT_BYTES - 200) }))
    expect(log.verify()).toMatchObject({ ok: true, count: 1 })
    log.close()
  })

  it('takes its cap from maxEventBytes and counts UTF-8 bytes, not characters', () => {
    const log = openEventLog({ path: tempDb(), maxEventBytes: 200 })
    const base = JSON.stringify({ shutdownId: 'sd', step: 1, name: 'announce', detail: { t: '' } }).length
    log.append(stepDone({ t: 'x'.repeat(200 - base) }))
    expect(invalid(() => log.append(stepDone({ t: 'x'.repeat(201 - base) }))).message).toMatch(/is 201 bytes as stored, over this log's cap of 200 bytes/)
    // 'é' is one UTF-16 unit and two UTF-8 bytes
    expect(invalid(() => log.append(stepDone({ t: 'é'.repeat(100) }))).message).toMatch(/over this log's cap of 200 bytes/)
    expect(log.lastSeq).toBe(1)
    log.close()
  })

  it('refuses a whole batch when one event in it is over the cap', () => {
    const log = openEventLog({ path: tempDb(), maxEventBytes: 300 })
    const batch = Array.from({ length: 40 }, (_, i) => (i === 35 ? stepDone({ t: 'x'.repeat(400) }) : mark()))
    expect(invalid(() => log.appendBatch(batch)).field).toBe('data')
    expect(log.lastSeq).toBe(0)
    expect(log.appendBatch(batch.filter((_, i) => i !== 35))).toHaveLength(39)
    expect(log.verify()).toMatchObject({ ok: true, count: 39 })
    log.close()
  })

  it('refuses a cap that is not a positive integer', () => {
    for (const maxEventBytes of [0, -1, 1.5, Number.NaN]) expect(() => openEventLog({ path: tempDb(), maxEventBytes })).toThrow(/maxEventBytes/)
  })
})
