import { describe, expect, it } from 'vitest'
import { parseEvent, InvalidEvent, HaltdEventSchema, eventTypes, streamOf, idempotencyKeyOf, current, readStored } from '../../src/events/index.js'

describe('event catalogue', () => {
  it('parses a valid event and applies defaults', () => {
    const e = parseEvent({
      type: 'order.submitted',
      data: { venue: 'a', clientOrderId: 'c1', symbol: 'BTC/USDT', side: 'buy', type: 'market', qty: 2, origin: { kind: 'strategy', id: 'mm' } },
    })
    expect(e.type).toBe('order.submitted')
    if (e.type !== 'order.submitted') throw new Error('narrowing')
    expect(e.data.reduceOnly).toBe(false)
    expect(e.data.timeInForce).toBe('GTC')
  })

  it('names the offending field of an invalid event', () => {
    const attempt = () => parseEvent({ type: 'order.filled', data: { venue: 'a', clientOrderId: 'c', tradeId: 't', qty: -1, price: 10 } })
    expect(attempt).toThrow(InvalidEvent)
    try {
      attempt()
    } catch (e) {
      expect((e as InvalidEvent).field).toBe('data.qty')
      expect((e as InvalidEvent).message).toMatch(/order\.filled.*data\.qty/)
    }
  })

  it('rejects unknown fields instead of dropping them silently', () => {
    expect(() => parseEvent({ type: 'venue.connected', data: { venue: 'a', latncyMs: 3 } })).toThrow(/data: .*latncyMs/i)
  })

  it('rejects an unknown type and an unknown version by name', () => {
    expect(() => parseEvent({ type: 'order.teleported', data: {} })).toThrow(/unknown event type 'order.teleported'/)
    expect(() => parseEvent({ type: 'order.accepted', v: 7, data: {} })).toThrow(/version 7 of order.accepted is unknown/)
  })

  it('upcasts order.submitted v1 (amount, strategyId) to v2 (qty, origin, reduceOnly)', () => {
    const e = parseEvent({
      type: 'order.submitted',
      v: 1,
      data: { venue: 'a', clientOrderId: 'c1', symbol: 'ETH/USDT', side: 'sell', type: 'limit', amount: 3, price: 5, strategyId: 'taker' },
    })
    expect(e.data).toEqual({
      venue: 'a',
      clientOrderId: 'c1',
      symbol: 'ETH/USDT',
      side: 'sell',
      type: 'limit',
      qty: 3,
      price: 5,
      timeInForce: 'GTC',
      reduceOnly: false,
      origin: { kind: 'strategy', id: 'taker' },
    })
  })

  it('validates v1 against the v1 schema, not v2', () => {
    expect(() =>
      parseEvent({ type: 'order.submitted', v: 1, data: { venue: 'a', clientOrderId: 'c', symbol: 'X', side: 'buy', type: 'market', qty: 1 } }),
    ).toThrow(/data\.amount/)
  })

  it('reads v1 engine actions as v2 unchanged (no id: they pair by action), and refuses an actionId in v1', () => {
    const asked = { action: 'stop', how: 'SIGTERM to pid 42', shutdownId: 'sd-1' }
    const ended = { action: 'stop', result: 'done', durationMs: 3, shutdownId: 'sd-1' }
    expect(readStored('engine.action-requested', 1, JSON.stringify(asked))).toEqual({ v: 2, data: asked })
    expect(readStored('engine.action-completed', 1, JSON.stringify(ended))).toEqual({ v: 2, data: ended })
    expect(() => parseEvent({ type: 'engine.action-completed', v: 1, data: { ...ended, actionId: 'a-1' } })).toThrow(/actionId/)
    expect(parseEvent({ type: 'engine.action-completed', data: { ...ended, actionId: 'a-1' } }).data).toEqual({ ...ended, actionId: 'a-1' })
  })

  it('reads a v1 order.canceled as v2 unchanged, and refuses evidence or a lookup confirmation in v1', () => {
    const v1 = { venue: 'a', clientOrderId: 'c', confirmedBy: 'open-orders' }
    expect(readStored('order.canceled', 1, JSON.stringify(v1))).toEqual({ v: 2, data: v1 })
    expect(() => parseEvent({ type: 'order.canceled', v: 1, data: { ...v1, confirmedBy: 'lookup' } })).toThrow(/confirmedBy/)
    const settled = { ...v1, evidence: { kind: 'open-orders', seq: 40, venueStatus: 'absent' } }
    expect(parseEvent({ type: 'order.canceled', data: settled }).data).toEqual(settled)
    expect(() => parseEvent({ type: 'order.canceled', v: 1, data: settled })).toThrow(/evidence/)
  })

  it('reads open-order lists (v1, v2) and position reports (v1) written before books unseen were recorded as the current versions, claiming no book unseen, and refuses unseen books in them', () => {
    const order = { symbol: 'BTC/USDT', venueOrderId: 'v1', side: 'buy', qty: 1, filled: 0 }
    const part = { venue: 'bybit', orders: [order], part: { index: 2, of: 2 } }
    expect(readStored('venue.open-orders-observed', 2, JSON.stringify(part))).toEqual({ v: 3, data: part })
    expect(readStored('venue.open-orders-observed', 1, JSON.stringify({ venue: 'bybit', orders: [order] }))).toEqual({
      v: 3,
      data: { venue: 'bybit', orders: [order] },
    })
    const positions = { venue: 'bybit', positions: [{ symbol: 'BTC/USDT:USDT', qty: -1 }] }
    expect(readStored('venue.positions-observed', 1, JSON.stringify(positions))).toEqual({ v: 2, data: positions })
    const unseen = [{ book: 'linear USDC', why: 'PermissionDenied: 10020', refused: true }]
    expect(parseEvent({ type: 'venue.positions-observed', data: { ...positions, unseen } }).data).toEqual({ ...positions, unseen })
    expect(() => parseEvent({ type: 'venue.positions-observed', v: 1, data: { ...positions, unseen } })).toThrow(/unseen/)
    expect(() => parseEvent({ type: 'venue.open-orders-observed', data: { ...part, unseen: [{ book: '', why: 'x' }] } })).toThrow(/book/)
  })

  it('reads a v1 kill switch event as a local one (scope local), and keys a fleet action by its id so it is recorded once', () => {
    const v1 = { reason: 'drawdown', origin: 'risk', action: 'HALTED', trigger: 'drawdown', reading: 5, threshold: 4 }
    expect(readStored('killswitch.activated', 1, JSON.stringify(v1))).toEqual({ v: 2, data: { ...v1, scope: 'local' } })
    expect(readStored('killswitch.reset', 1, JSON.stringify({ reason: 'ok', origin: 'cli' }))).toEqual({
      v: 2,
      data: { reason: 'ok', origin: 'cli', scope: 'local' },
    })
    expect(() => parseEvent({ type: 'killswitch.activated', v: 1, data: { ...v1, scope: 'fleet' } })).toThrow(/scope/)
    const fleet = { id: 'ks-1', engines: 'all', host: 'desk-1', instance: 'ops', at: '2026-12-04T18:00:00.000Z' }
    const activated = parseEvent({ type: 'killswitch.activated', data: { reason: 'bad deploy', origin: 'operator', action: 'HALTED', scope: 'fleet', fleet } })
    expect(idempotencyKeyOf(activated)).toBe('fleet:killswitch.activated:ks-1')
    expect(idempotencyKeyOf(parseEvent({ type: 'killswitch.activated', data: { reason: 'x', origin: 'risk', action: 'HALTED' } }))).toBeUndefined()
  })

  it('offers the whole catalogue as one discriminated union schema', () => {
    expect(HaltdEventSchema.safeParse({ type: 'killswitch.reset', data: { reason: 'ok', origin: 'admin' } }).success).toBe(true)
    expect(HaltdEventSchema.safeParse({ type: 'killswitch.reset', data: { reason: '', origin: 'admin' } }).success).toBe(false)
    expect(eventTypes.length).toBe(Object.keys(current).length)
  })

  it('derives streams and idempotency keys from the event itself', () => {
    const fill = parseEvent({ type: 'order.filled', data: { venue: 'v', clientOrderId: 'c', tradeId: 't9', qty: 1, price: 2 } })
    expect(streamOf(fill)).toBe('order:v:c')
    expect(idempotencyKeyOf(fill)).toBe('fill:v:t9')
    const ks = parseEvent({ type: 'killswitch.activated', data: { reason: 'dd', origin: 'risk', action: 'HALTED' } })
    expect(streamOf(ks)).toBe('trading')
    expect(idempotencyKeyOf(ks)).toBeUndefined()
  })

  it('keys an unreadable order once per order or trade it names, and leaves one it cannot name unkeyed', () => {
    const order = parseEvent({ type: 'venue.order-unreadable', data: { venue: 'v', what: 'order', clientOrderId: 'c', venueOrderId: '9', reason: 'qty' } })
    expect(streamOf(order)).toBe('venue:v')
    expect(idempotencyKeyOf(order)).toBe('order-unreadable:v:order:c:9:')
    const trade = parseEvent({
      type: 'venue.order-unreadable',
      data: { venue: 'v', what: 'trade', clientOrderId: 'c', venueOrderId: '9', tradeId: 't1', reason: 'qty' },
    })
    expect(idempotencyKeyOf(trade)).toBe('order-unreadable:v:trade:c:9:t1')
    // a trade whose own id cannot be read: two of one order are two facts
    expect(
      idempotencyKeyOf(parseEvent({ type: 'venue.order-unreadable', data: { venue: 'v', what: 'trade', clientOrderId: 'c', reason: 'tradeId' } })),
    ).toBeUndefined()
    expect(
      idempotencyKeyOf(parseEvent({ type: 'venue.order-unreadable', data: { venue: 'v', what: 'order', symbol: 'BTC/USDT', reason: 'ids' } })),
    ).toBeUndefined()
  })
})
