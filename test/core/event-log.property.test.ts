import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { openEventLog, InvalidEvent, checkEnvelopeInput, checkStored, parseEvent, type EventInput, type HaltdEvent } from '../../src/index.js'
import { tempDb } from '../support/tmp.js'

// about 75 events a run (lengths up to 150, drawn over the whole range): thousands per suite run
const RUNS = process.env.HALTD_SOAK ? 400 : 60

const venue = fc.constantFrom('binance', 'okx', 'kraken')
const cid = fc.string({ minLength: 1, maxLength: 12 })
const positive = fc.double({ min: 1e-8, max: 1e6, noNaN: true })

const validEvent: fc.Arbitrary<EventInput> = fc.oneof(
  fc.record({
    type: fc.constant('order.submitted'),
    data: fc.record({
      venue,
      clientOrderId: cid,
      symbol: fc.constantFrom('BTC/USDT', 'ETH/USDT'),
      side: fc.constantFrom('buy', 'sell'),
      type: fc.constantFrom('market', 'limit'),
      qty: positive,
      price: positive,
      origin: fc.constant({ kind: 'strategy', id: 's' }),
    }),
  }),
  fc.record({
    type: fc.constant('order.filled'),
    data: fc.record({ venue, clientOrderId: cid, tradeId: cid, qty: positive, price: positive, fee: fc.double({ min: -10, max: 10, noNaN: true }) }),
  }),
  fc.record({ type: fc.constant('order.canceled'), data: fc.record({ venue, clientOrderId: cid, confirmedBy: fc.constantFrom('ack', 'stream') }) }),
  fc.record({ type: fc.constant('market.mark'), data: fc.record({ venue, symbol: fc.constant('BTC/USDT'), price: positive }) }),
  fc.record({
    type: fc.constant('killswitch.activated'),
    data: fc.record({ reason: fc.string(), origin: fc.constant('risk'), action: fc.constantFrom('REDUCING', 'HALTED') }),
  }),
)

/** A valid event, or one with a field replaced by anything, deleted, or the type changed. */
const maybeMutated: fc.Arbitrary<unknown> = fc.oneof(
  validEvent,
  fc.tuple(validEvent, fc.nat(), fc.anything()).map(([e, i, value]) => {
    const data = { ...(e.data as Record<string, unknown>) }
    const keys = Object.keys(data)
    data[keys[i % keys.length]!] = value
    return { ...e, data }
  }),
  fc.tuple(validEvent, fc.nat()).map(([e, i]) => {
    const data = { ...(e.data as Record<string, unknown>) }
    const keys = Object.keys(data)
    delete data[keys[i % keys.length]!]
    return { ...e, data }
  }),
  fc.tuple(validEvent, fc.string()).map(([e, type]) => ({ ...e, type })),
  // the envelope fields a writer may set: good strings, or anything at all
  fc
    .tuple(
      validEvent,
      fc.constantFrom('stream', 'causationId', 'correlationId', 'idempotencyKey'),
      fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.anything()),
    )
    .map(([e, field, value]) => ({ ...e, [field]: value })),
  fc.anything(),
)

describe('event log under random input (property)', () => {
  it('stores exactly the valid events, each once per idempotency key, and keeps the chain intact', () => {
    let tried = 0
    fc.assert(
      fc.property(fc.array(maybeMutated, { minLength: 1, maxLength: 150, size: 'max' }), (inputs) => {
        tried += inputs.length
        const log = openEventLog({ path: tempDb() })
        const expected = new Map<number, unknown>()
        for (const input of inputs) {
          const before = log.lastSeq
          let isValid = true
          let parsed: HaltdEvent | undefined
          try {
            parsed = parseEvent(input as EventInput)
            checkEnvelopeInput(input as EventInput)
          } catch {
            isValid = false
          }
          try {
            const e = log.append(input as EventInput)
            expect(isValid).toBe(true)
            if (e.seq > before) expected.set(e.seq, parsed!.data)
            else expect(log.lastSeq).toBe(before)
          } catch (err) {
            expect(isValid).toBe(false)
            expect(err).toBeInstanceOf(InvalidEvent)
            expect(log.lastSeq).toBe(before)
          }
        }
        expect(log.verify()).toMatchObject({ ok: true, count: expected.size })
        for (const row of log.readRaw()) {
          expect(checkStored(row.type, row.v, JSON.parse(row.data))).toEqual([])
          expect(JSON.parse(row.data)).toEqual(JSON.parse(JSON.stringify(expected.get(row.seq))))
        }
        log.close()
      }),
      { numRuns: RUNS },
    )
    expect(tried).toBeGreaterThan(2_000)
  })
})
