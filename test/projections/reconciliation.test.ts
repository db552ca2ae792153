import { describe, expect, it } from 'vitest'
import type { EventInput } from '../../src/events/index.js'
import { reconciliation, reconciliationClaim, venueEvidenceLine } from '../../src/projections/index.js'
import { ev, given, when } from './given.js'

const positionsAt = (venue: string, positions: { symbol: string; qty: number }[]): EventInput => ({
  type: 'venue.positions-observed',
  data: { venue, positions },
})
const ordersAt = (
  venue: string,
  orders: { symbol: string; venueOrderId: string; clientOrderId?: string; side: 'buy' | 'sell'; qty: number; filled?: number }[],
): EventInput => ({
  type: 'venue.open-orders-observed',
  data: { venue, orders },
})
const markets = (venue: string, symbol: string, amountStep: number): EventInput => ({
  type: 'venue.markets-observed',
  data: { venue, markets: [{ symbol, amountStep }] },
})

const long = (qty: number, cid = 'p'): EventInput[] => [ev.submitted(cid, { qty }), ev.filled(cid, `t-${cid}`, qty)]

describe('reconciliation', () => {
  it('says OK when the venue holds the same position within half an amount step', () => {
    const r = reconciliation(given(markets('sim-a', 'BTC/USDT', 0.001), ...long(1.5), positionsAt('sim-a', [{ symbol: 'BTC/USDT', qty: 1.5004 }])))
    expect(r.rows).toMatchObject([{ kind: 'position', venue: 'sim-a', symbol: 'BTC/USDT', internal: 1.5, observed: 1.5004, tolerance: 0.0005, status: 'OK' }])
    expect(r.ok).toBe(true)
  })

  it('says MISMATCH when both hold a position of different size', () => {
    const r = reconciliation(given(markets('sim-a', 'BTC/USDT', 0.001), ...long(1.5), positionsAt('sim-a', [{ symbol: 'BTC/USDT', qty: 1.502 }])))
    expect(r.rows[0]).toMatchObject({ status: 'MISMATCH', internal: 1.5, observed: 1.502 })
    expect(r.ok).toBe(false)
  })

  it('uses a tolerance of 1e-9 when the venue never reported the market', () => {
    const r = reconciliation(given(...long(1), positionsAt('sim-a', [{ symbol: 'BTC/USDT', qty: 1 + 1e-6 }])))
    expect(r.rows[0]).toMatchObject({ status: 'MISMATCH', tolerance: 1e-9 })
  })

  it('says MISSING_AT_VENUE for a position haltd holds that the venue does not report', () => {
    const r = reconciliation(given(...long(2), positionsAt('sim-a', [])))
    expect(r.rows).toMatchObject([{ kind: 'position', status: 'MISSING_AT_VENUE', internal: 2, observed: 0 }])
  })

  it('says UNKNOWN_TO_US for a position at the venue that haltd never traded', () => {
    const r = reconciliation(given(positionsAt('sim-b', [{ symbol: 'ETH/USDT', qty: -3 }])))
    expect(r.rows).toMatchObject([{ kind: 'position', venue: 'sim-b', symbol: 'ETH/USDT', status: 'UNKNOWN_TO_US', internal: 0, observed: -3 }])
  })

  it('says UNOBSERVED, never MISSING_AT_VENUE, for a position on a venue that has not reported positions', () => {
    const r = reconciliation(given(...long(1)))
    expect(r.rows).toMatchObject([{ status: 'UNOBSERVED', observed: null, note: 'the venue has not reported positions (a spot venue reports none)' }])
  })

  it('given a spot venue that lists its open orders and reports no positions, when haltd holds a position there, then the venue is UNVERIFIED, never MISMATCH', () => {
    // given a fill on a venue whose open orders were listed after it, and no positions report
    const r = reconciliation(given(...long(1), ordersAt('sim-a', [])))
    // then nothing is claimed either way about the position
    expect(r.rows).toMatchObject([{ kind: 'position', status: 'UNOBSERVED' }])
    expect(r.verdict).toBe('UNVERIFIED')
    expect(r.unverified).toEqual([{ venue: 'sim-a', why: expect.stringContaining('has never reported positions, and haltd holds BTC/USDT 1 there') }])
  })

  it('matches open orders by client id or venue id and compares the remaining quantity', () => {
    const s = given(
      ev.submitted('a', { qty: 2 }),
      ev.accepted('a', 'VA'),
      ev.filled('a', 'ta', 0.5),
      ev.submitted('b', { qty: 1 }),
      ev.accepted('b', 'VB'),
      ev.submitted('c', { qty: 1 }),
      ev.accepted('c', 'VC'),
      ordersAt('sim-a', [
        { symbol: 'BTC/USDT', venueOrderId: 'VA', clientOrderId: 'a', side: 'buy', qty: 2, filled: 0.5 },
        { symbol: 'BTC/USDT', venueOrderId: 'VB', side: 'buy', qty: 1, filled: 0.25 },
        { symbol: 'BTC/USDT', venueOrderId: 'VX', side: 'sell', qty: 4 },
      ]),
    )
    const rows = reconciliation(s).rows.filter((r) => r.kind === 'order')
    expect(rows.map((r) => [r.clientOrderId ?? r.venueOrderId, r.internal, r.observed, r.status])).toEqual([
      ['VX', 0, 4, 'UNKNOWN_TO_US'],
      ['a', 1.5, 1.5, 'OK'],
      ['b', 1, 0.75, 'MISMATCH'],
      ['c', 1, 0, 'MISSING_AT_VENUE'],
    ])
  })

  it('says MISMATCH for an order haltd holds finished that the venue still lists open', () => {
    const s = given(
      ev.submitted('a'),
      ev.accepted('a', 'VA'),
      ev.canceled('a'),
      ordersAt('sim-a', [{ symbol: 'BTC/USDT', venueOrderId: 'VA', clientOrderId: 'a', side: 'buy', qty: 1 }]),
    )
    expect(reconciliation(s).rows).toMatchObject([{ kind: 'order', status: 'MISMATCH', internal: 0, observed: 1, note: 'haltd has it canceled' }])
  })

  it('does not expect an order submitted after the venue listed its open orders', () => {
    const s = given(ordersAt('sim-a', []), ev.submitted('late'))
    expect(reconciliation(s).rows).toEqual([])
  })

  it('prints one column per venue, the row’s own venue holding the venue’s figure', () => {
    const r = reconciliation(given(...long(1), positionsAt('sim-a', [{ symbol: 'BTC/USDT', qty: 1 }]), positionsAt('sim-b', [])))
    expect(r.venues).toEqual(['sim-a', 'sim-b'])
    expect(r.rows[0]!.columns).toEqual({ 'sim-a': 1, 'sim-b': null })
    expect(r.counts).toEqual({ OK: 1, MISMATCH: 0, MISSING_AT_VENUE: 0, UNKNOWN_TO_US: 0, UNOBSERVED: 0 })
  })
})

describe('reconciliation rests on an observation taken after the venue’s last order event', () => {
  const resting = (cid: string, venueOrderId: string) => ({ symbol: 'BTC/USDT', venueOrderId, clientOrderId: cid, side: 'buy' as const, qty: 1 })
  const observeCommand = (commandId: string, venue: string): EventInput => ({
    type: 'shutdown.command-issued',
    data: { shutdownId: 'sd-1', commandId, step: 7, command: { kind: 'observe-venue', venue } },
  })
  const observeFailed = (commandId: string, error: string): EventInput => ({
    type: 'shutdown.command-completed',
    data: { shutdownId: 'sd-1', commandId, outcome: 'failed', detail: { error } },
  })

  it('says UNVERIFIED for a venue observed only before its last order event, never OK', () => {
    // given an observation at startup, then an order the venue has not been asked about since
    const r = reconciliation(given(ordersAt('sim-a', []), positionsAt('sim-a', []), ev.submitted('a'), ev.accepted('a', 'VA')))
    // then the venue is UNVERIFIED, whatever its (empty, old) rows say
    expect(r.verdict).toBe('UNVERIFIED')
    expect(r.ok).toBe(false)
    expect(r.unverified).toEqual([{ venue: 'sim-a', why: 'last observed at seq 1, before its last order event at seq 4' }])
    expect(r.perVenue).toEqual([
      {
        venue: 'sim-a',
        verdict: 'UNVERIFIED',
        observation: { seq: 1, ts: 1_000_000, ageMs: 3000 },
        lastOrderSeq: 4,
        newerThanLastOrder: false,
        why: 'last observed at seq 1, before its last order event at seq 4',
      },
    ])
  })

  it('says UNVERIFIED for a venue never observed at all', () => {
    const r = reconciliation(given(ev.submitted('a'), ev.accepted('a', 'VA'), ev.canceled('a')))
    expect(r).toMatchObject({ verdict: 'UNVERIFIED', ok: false, unverified: [{ venue: 'sim-a', why: 'never observed' }] })
  })

  it('says OK when an observation after the last order event matches', () => {
    const s = given(ev.submitted('a'), ev.accepted('a', 'VA'), ordersAt('sim-a', [resting('a', 'VA')]), positionsAt('sim-a', []))
    const r = reconciliation(s)
    expect(r).toMatchObject({ verdict: 'OK', ok: true, unverified: [] })
    expect(r.perVenue[0]).toMatchObject({ verdict: 'OK', observation: { seq: 3 }, lastOrderSeq: 2, newerThanLastOrder: true })
  })

  it('says MISMATCH when an observation after the last order event disagrees', () => {
    // the venue lists an order haltd never sent: the unknown resting order
    const s = given(ev.submitted('a'), ev.accepted('a', 'VA'), ordersAt('sim-a', [resting('a', 'VA'), resting('zz', 'VZ')]))
    const r = reconciliation(s)
    expect(r).toMatchObject({ verdict: 'MISMATCH', ok: false, unverified: [] })
    expect(r.perVenue[0]).toMatchObject({ verdict: 'MISMATCH', newerThanLastOrder: true })
  })

  it('leaves a venue UNVERIFIED when the observation asked of it failed, though an older one matched', () => {
    // given a matching observation after the last order event
    const s = given(ev.submitted('a'), ev.accepted('a', 'VA'), ordersAt('sim-a', [resting('a', 'VA')]))
    expect(reconciliation(s).verdict).toBe('OK')
    // when a shutdown asks the venue again and the answer is a maintenance page
    when(s, observeCommand('c-1', 'sim-a'), observeFailed('c-1', 'HTTP 200 with a maintenance page'))
    // then it is UNVERIFIED, saying why
    const r = reconciliation(s)
    expect(r).toMatchObject({ verdict: 'UNVERIFIED', ok: false })
    expect(r.unverified).toEqual([{ venue: 'sim-a', why: 'observation failed at seq 5: HTTP 200 with a maintenance page' }])
    // and a later successful observation verifies it again
    when(s, ordersAt('sim-a', [resting('a', 'VA')]))
    expect(reconciliation(s).verdict).toBe('OK')
  })

  it('is OK overall only when every venue is verified and matches', () => {
    const s = given(ev.submitted('a'), ev.accepted('a', 'VA'), ordersAt('sim-a', [resting('a', 'VA')]), ev.submitted('b', { venue: 'sim-b' }))
    const r = reconciliation(s)
    expect(r.perVenue.map((v) => [v.venue, v.verdict])).toEqual([
      ['sim-a', 'OK'],
      ['sim-b', 'UNVERIFIED'],
    ])
    expect(r.verdict).toBe('UNVERIFIED')
  })
})

describe('reconciliation of an account whose lists leave books unseen', () => {
  const notListed = { book: 'inverse', why: 'not listed: haltd lists spot and linear only' }
  const refused = { book: 'linear USDC', why: 'PermissionDenied: bybit {"retCode":10020}', refused: true as const }
  const unseen = (event: EventInput, books: object[]): EventInput => ({ ...event, data: { ...(event.data as object), unseen: books } }) as EventInput

  it('given lists that never ask for a book, keeps the verdict of the books listed and names the book unseen in its claim', () => {
    const r = reconciliation(given(unseen(ordersAt('bybit', []), [notListed]), unseen(positionsAt('bybit', []), [notListed])))

    expect(r.verdict).toBe('OK')
    expect(r.perVenue[0]?.unseen).toEqual([notListed])
    expect(reconciliationClaim({ ...r, problems: 0, venues: r.perVenue })).toBe('OK (of the books listed; not seen: bybit: inverse)')
    expect(venueEvidenceLine(r.perVenue[0]!)).toMatch(/^bybit: OK \(observed at seq 1, .*\); books not seen: inverse$/)
  })

  it('given a book the venue refused to list, is UNVERIFIED naming the book and the venue’s answer, never OK', () => {
    const r = reconciliation(given(unseen(ordersAt('bybit', []), [notListed, refused]), unseen(positionsAt('bybit', []), [notListed, refused])))

    expect(r.verdict).toBe('UNVERIFIED')
    expect(r.unverified).toEqual([
      {
        venue: 'bybit',
        why: 'the venue refused to list linear USDC (PermissionDenied: bybit {"retCode":10020}): orders and positions there are not seen',
      },
    ])
    expect(reconciliationClaim({ ...r, problems: 0, venues: r.perVenue })).toContain('; not seen: bybit: inverse, linear USDC (refused))')
  })

  it('given a later list that shows every book, claims all of the account again', () => {
    const s = given(unseen(ordersAt('bybit', []), [refused]), unseen(positionsAt('bybit', []), [refused]))
    expect(reconciliation(s).verdict).toBe('UNVERIFIED')

    when(s, ordersAt('bybit', []), positionsAt('bybit', []))

    const r = reconciliation(s)
    expect(r.verdict).toBe('OK')
    expect(r.perVenue[0]?.unseen).toBeUndefined()
    expect(reconciliationClaim({ ...r, problems: 0, venues: r.perVenue })).toBe('OK')
  })
})
