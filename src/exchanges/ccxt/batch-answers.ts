import type { Order } from 'ccxt'
import type { VenueOrder } from '../gateway.js'
import { clientIdOf } from './mapping.js'

/** What one batched cancel call said of each order it carried, by haltd's id of the order. */
export type BatchOutcome = { canceled: string[]; failed: { id: string; reason: string }[]; unanswered: string[] }

/** haltd's id of an order in cancel results: its client order id, or the venue's for an order without one. */
export const resultIdOf = (o: VenueOrder): string => o.clientOrderId ?? o.venueOrderId

/**
 * Whether the venue's own answer for an item says it was canceled, refused, or nothing clear.
 * ccxt parses a batch answer's items as orders: a status when the venue sent the order back
 * (Binance); an OKX item carries `sCode` ('0' is success, ccxt 4.5.84 marks the others
 * `rejected`, other builds drop them); a Bybit item carries ids only (the per-item code is
 * elsewhere in the answer, and ccxt drops it).
 */
/**
 * Item codes that say the venue does not hold the order as open (filled, canceled, never
 * there): the cancel did nothing and the order's fate is for a lookup to tell.
 * Binance -2011 "Unknown order sent."; OKX 51400–51402 "cancellation failed as the order has
 * been filled, canceled or does not exist"; Bybit 110001 "order does not exist".
 */
const NOT_OPEN_CODES: ReadonlySet<string> = new Set(['-2011', '-2013', '51400', '51401', '51402', '110001'])

function verdictOf(answer: Order): { canceled: true } | { canceled: false; reason: string } | undefined {
  const info = (answer.info ?? {}) as Record<string, unknown>
  if (answer.status === 'canceled') return { canceled: true }
  const code = info.sCode ?? info.code ?? info.retCode
  const hasCode = code !== undefined && code !== null && code !== ''
  if (hasCode && NOT_OPEN_CODES.has(String(code))) return undefined
  if (hasCode && String(code) !== '0') return { canceled: false, reason: `${String(code)} ${String(info.sMsg ?? info.msg ?? info.retMsg ?? '')}`.trim() }
  if (answer.status !== undefined && answer.status !== null)
    return { canceled: false, reason: `the venue answered with order status '${String(answer.status)}'` }
  // OKX answers sCode '0' for an accepted cancel, with no order status
  return hasCode && info.sCode !== undefined ? { canceled: true } : undefined
}

/**
 * Matches a batched cancel's answers to the orders it carried by id only (venue order id, or
 * client order id), never by position: a venue (or ccxt) that drops an item would otherwise
 * lend the next item's answer to it. An order without an answer of its own, or whose answer
 * says nothing clear, is unanswered: its fate is settled by looking it up, not assumed.
 */
export function matchBatchAnswers(orders: readonly VenueOrder[], answers: readonly Order[]): BatchOutcome {
  const byVenueId = new Map<string, Order>()
  const byClientId = new Map<string, Order>()
  for (const a of answers) {
    if (a.id) byVenueId.set(String(a.id), a)
    const cid = clientIdOf(a)
    if (cid) byClientId.set(cid, a)
  }
  const out: BatchOutcome = { canceled: [], failed: [], unanswered: [] }
  for (const o of orders) {
    const id = resultIdOf(o)
    const answer = byVenueId.get(o.venueOrderId) ?? (o.clientOrderId ? byClientId.get(o.clientOrderId) : undefined)
    const verdict = answer ? verdictOf(answer) : undefined
    if (!verdict) out.unanswered.push(id)
    else if (verdict.canceled) out.canceled.push(id)
    else out.failed.push({ id, reason: verdict.reason })
  }
  return out
}
