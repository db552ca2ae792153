import { describe, expect, it } from 'vitest'
import { bybitCursor, MAX_PAGES, okxAfter, pagingFor, readAllPages, type Row } from '../../src/exchanges/ccxt/pages.js'

type Call = { limit: number | undefined; params: Record<string, unknown> }

/** A Bybit-like list: pages of `limit` after the cursor, the next cursor on the first row's info as ccxt puts it. */
function bybitList(total: number) {
  const calls: Call[] = []
  const rows = Array.from({ length: total }, (_, i) => `o${i}`)
  const fetchPage = async (limit: number | undefined, params: Record<string, unknown>): Promise<Row[]> => {
    calls.push({ limit, params })
    const size = limit ?? 20
    const from = typeof params.cursor === 'string' ? Number(params.cursor.slice(1)) : 0
    const page = rows.slice(from, from + size).map((id) => ({ id, info: {} as Record<string, unknown> }))
    if (page.length > 0) page[0]!.info.nextPageCursor = `c${from + size}`
    return page
  }
  return { calls, fetchPage }
}

/** An OKX-like list: newest first, ids growing with time, `after` an id answers older ones. */
function okxList(total: number) {
  const calls: Call[] = []
  const ids = Array.from({ length: total }, (_, i) => String(9_000_000_000_000_000_000n + BigInt(total - i)))
  const fetchPage = async (limit: number | undefined, params: Record<string, unknown>): Promise<Row[]> => {
    calls.push({ limit, params })
    const older = typeof params.after === 'string' ? ids.filter((id) => BigInt(id) < BigInt(params.after as string)) : ids
    // ccxt sorts parsed rows by time: oldest first
    return older
      .slice(0, Math.min(limit ?? 100, 100))
      .reverse()
      .map((id) => ({ id, info: { ordId: id } }))
  }
  return { calls, fetchPage }
}

describe('reading a list to its end', () => {
  it('Bybit: 125 open orders come back whole, in pages of 50 followed by cursor', async () => {
    const venue = bybitList(125)
    const all = await readAllPages(pagingFor('bybit', 'openOrders'), venue.fetchPage, (r) => r.id!)
    expect(all.map((r) => r.id)).toEqual(Array.from({ length: 125 }, (_, i) => `o${i}`))
    expect(venue.calls).toEqual([
      { limit: 50, params: {} },
      { limit: 50, params: { cursor: 'c50' } },
      { limit: 50, params: { cursor: 'c100' } },
    ])
  })

  it('Bybit: a short first page is the whole list, whatever cursor it carries', async () => {
    const venue = bybitList(20)
    expect(await readAllPages(pagingFor('bybit', 'openOrders'), venue.fetchPage, (r) => r.id!)).toHaveLength(20)
    expect(venue.calls).toHaveLength(1)
  })

  it('OKX: pages of 100 newest first, each after the oldest id of the one before (numeric, not text order)', async () => {
    const venue = okxList(250)
    const all = await readAllPages(pagingFor('okx', 'openOrders'), venue.fetchPage, (r) => r.id!)
    expect(new Set(all.map((r) => r.id)).size).toBe(250)
    expect(venue.calls.map((c) => c.limit)).toEqual([100, 100, 100])
    expect(venue.calls[1]!.params.after).toBe(String(9_000_000_000_000_000_000n + 151n))
  })

  it('venues that answer everything at once (Binance) are asked once, with no limit', async () => {
    const venue = bybitList(700)
    expect(pagingFor('binance', 'openOrders')).toBeUndefined()
    expect(pagingFor('binanceusdm', 'positions')).toBeUndefined()
    expect(pagingFor('okx', 'positions')).toBeUndefined()
    const all = await readAllPages(pagingFor('binanceusdm', 'openOrders'), venue.fetchPage, (r) => r.id!)
    expect(all).toHaveLength(20)
    expect(venue.calls).toEqual([{ limit: undefined, params: {} }])
  })

  it('keeps a row that shows up on two pages (the book moved between them) once', async () => {
    const pages: Row[][] = [[{ id: 'a' }, { id: 'b' }], [{ id: 'b' }, { id: 'c' }], []]
    let n = 0
    const all = await readAllPages(
      { limit: 2, next: () => ({ cursor: `c${n}` }) },
      async () => pages[n++] ?? [],
      (r) => r.id!,
    )
    expect(all.map((r) => r.id)).toEqual(['a', 'b', 'c'])
  })

  it('a cursor that comes back again is an error, not the end of the list', async () => {
    const page = Array.from({ length: 50 }, (_, i) => ({ id: `o${i}`, info: { nextPageCursor: 'same' } }))
    await expect(
      readAllPages(
        pagingFor('bybit', 'openOrders'),
        async () => page,
        (r) => r.id!,
      ),
    ).rejects.toThrow(/answered the same page cursor twice .*the list does not end/)
  })

  it(`more than ${MAX_PAGES} full pages is an error, not a list cut short`, async () => {
    let n = 0
    const fetchPage = async () => Array.from({ length: 2 }, () => ({ id: `o${n++}` }))
    await expect(readAllPages({ limit: 2, next: () => ({ cursor: `c${n}` }) }, fetchPage, (r) => r.id!)).rejects.toThrow(`more than ${MAX_PAGES} pages`)
  })
})

describe('venue cursors', () => {
  it('Bybit’s is on whichever row ccxt parsed it onto; an empty one is none', () => {
    expect(bybitCursor([{ info: {} }, { info: { nextPageCursor: 'abc%3A1' } }])).toBe('abc%3A1')
    expect(bybitCursor([{ info: { nextPageCursor: '' } }])).toBeUndefined()
    expect(bybitCursor([])).toBeUndefined()
  })

  it('OKX’s is the smallest numeric id: ordId for orders, billId for fills', () => {
    expect(okxAfter([{ info: { ordId: '100' } }, { info: { ordId: '99' } }, { info: { ordId: '1000' } }], 'ordId')).toBe('99')
    expect(
      okxAfter(
        [
          { id: 't1', info: { billId: '7' } },
          { id: 't2', info: { billId: '6' } },
        ],
        'billId',
      ),
    ).toBe('6')
    expect(okxAfter([{ info: {} }], 'billId')).toBeUndefined()
  })
})
