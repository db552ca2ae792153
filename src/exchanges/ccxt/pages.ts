/**
 * Reading a venue's list to its end. ccxt returns one page per call (Bybit: 20 open orders by
 * default; OKX: 100), and its `paginate: true` does not work for every list (OKX pending orders),
 * so haltd pages itself through ccxt's unified `limit` and `params`, with the venue's own cursor:
 * - Bybit v5: `cursor` = `nextPageCursor`, which ccxt copies into the first row's `info`;
 * - OKX v5: `after` = the smallest id of the page (`ordId` for orders, `billId` for fills).
 * Venues not listed answer the whole list in one call (Binance open orders and positions).
 */

import { BadResponse } from 'ccxt'

export type ListKind = 'openOrders' | 'trades' | 'positions'

/** What the next page needs, from the page just read; undefined when there is none. */
export type Paging = { limit: number; next: (page: readonly Row[]) => Record<string, unknown> | undefined }

/** The part of a ccxt row (order, trade, position) the paging reads. */
export type Row = { id?: string | undefined; info?: unknown }

const BYBIT_LIMITS: Readonly<Record<ListKind, number>> = { openOrders: 50, trades: 100, positions: 200 }
const OKX_LIMIT = 100
const OKX_FAMILY = new Set(['okx', 'okxus', 'myokx'])

const infoOf = (row: Row): Record<string, unknown> => (row.info && typeof row.info === 'object' ? (row.info as Record<string, unknown>) : {})

/** Bybit's cursor: on the first row as ccxt returned it, or on whichever row parsing sorted first. */
export function bybitCursor(page: readonly Row[]): string | undefined {
  for (const row of page) {
    const cursor = infoOf(row).nextPageCursor
    if (typeof cursor === 'string' && cursor !== '') return cursor
  }
  return undefined
}

/** The oldest id of an OKX page (ids grow with time); `after` it is the next page. */
export function okxAfter(page: readonly Row[], field: 'ordId' | 'billId'): string | undefined {
  let oldest: bigint | undefined
  let oldestText: string | undefined
  for (const row of page) {
    const raw = infoOf(row)[field] ?? (field === 'ordId' ? row.id : undefined)
    if (typeof raw !== 'string' || !/^\d+$/.test(raw)) continue
    const value = BigInt(raw)
    if (oldest === undefined || value < oldest) {
      oldest = value
      oldestText = raw
    }
  }
  return oldestText
}

/** How a list is paged at a venue (by ccxt exchange id); undefined when one call answers all of it. */
export function pagingFor(exchangeId: string, kind: ListKind): Paging | undefined {
  if (exchangeId === 'bybit') {
    return {
      limit: BYBIT_LIMITS[kind],
      next: (page) => {
        const cursor = bybitCursor(page)
        return cursor ? { cursor } : undefined
      },
    }
  }
  if (OKX_FAMILY.has(exchangeId) && kind !== 'positions') {
    const field = kind === 'trades' ? 'billId' : 'ordId'
    return {
      limit: OKX_LIMIT,
      next: (page) => {
        const after = okxAfter(page, field)
        return after ? { after } : undefined
      },
    }
  }
  return undefined
}

/** More pages than this is a list that does not end (a cursor that keeps answering), not a big book. */
export const MAX_PAGES = 500

/**
 * Every page of a list: asks with the venue's page size, follows its cursor until a page comes
 * back short or without a cursor, and keeps each row once (by `keyOf`). A cursor that repeats,
 * or more than `MAX_PAGES` pages, is an error: a list cut short would read as "nothing more".
 */
export async function readAllPages<T extends Row>(
  paging: Paging | undefined,
  fetchPage: (limit: number | undefined, params: Record<string, unknown>) => Promise<T[]>,
  keyOf: (row: T) => string,
  params: Record<string, unknown> = {},
): Promise<T[]> {
  if (!paging) return fetchPage(undefined, params)
  const out = new Map<string, T>()
  const seen = new Set<string>()
  let cursor: Record<string, unknown> = {}
  for (let pages = 1; ; pages++) {
    const page = await fetchPage(paging.limit, { ...params, ...cursor })
    for (const row of page) if (!out.has(keyOf(row))) out.set(keyOf(row), row)
    if (page.length < paging.limit) break
    const next = paging.next(page)
    if (!next) break
    const mark = JSON.stringify(next)
    if (seen.has(mark)) throw new BadResponse(`the venue answered the same page cursor twice (${mark}): the list does not end`)
    if (pages >= MAX_PAGES) throw new BadResponse(`more than ${MAX_PAGES} pages of ${paging.limit}: the list does not end`)
    seen.add(mark)
    cursor = next
  }
  return [...out.values()]
}
