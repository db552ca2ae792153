import { parseEvent, type EventInput } from '../../src/events/index.js'
import { evolve, initialState, type Fact, type HaltdState } from '../../src/projections/index.js'

/** Stored-event look-alikes without a log: validated (defaults applied), numbered from 1, 1 s apart. */
export function facts(inputs: EventInput[], startSeq = 1, startTs = 1_000_000): Fact[] {
  return inputs.map((input, i) => ({ seq: startSeq + i, ts: startTs + i * 1000, ...parseEvent(input) }) as Fact)
}

/** Given these events, the state. */
export function given(...inputs: EventInput[]): HaltdState {
  const state = initialState()
  for (const f of facts(inputs)) evolve(state, f)
  return state
}

/** Apply more events to a state, numbering on from its seq. */
export function when(state: HaltdState, ...inputs: EventInput[]): HaltdState {
  for (const f of facts(inputs, state.seq + 1, state.ts + 1000)) evolve(state, f)
  return state
}

const V = 'sim-a'
export const ev = {
  submitted: (cid: string, over: Record<string, unknown> = {}): EventInput => ({
    type: 'order.submitted',
    data: { venue: V, clientOrderId: cid, symbol: 'BTC/USDT', side: 'buy', type: 'limit', qty: 1, price: 100, origin: { kind: 'strategy', id: 'mm' }, ...over },
  }),
  accepted: (cid: string, venueOrderId = `v-${cid}`, venue = V): EventInput => ({ type: 'order.accepted', data: { venue, clientOrderId: cid, venueOrderId } }),
  rejected: (cid: string, venue = V): EventInput => ({ type: 'order.rejected', data: { venue, clientOrderId: cid, reason: 'insufficient margin' } }),
  filled: (cid: string, tradeId: string, qty: number, price = 100, fee = 0, venue = V): EventInput => ({
    type: 'order.filled',
    data: { venue, clientOrderId: cid, tradeId, qty, price, fee },
  }),
  cancelRequested: (cid: string, venue = V): EventInput => ({ type: 'order.cancel-requested', data: { venue, clientOrderId: cid } }),
  canceled: (cid: string, venue = V): EventInput => ({ type: 'order.canceled', data: { venue, clientOrderId: cid, confirmedBy: 'ack' } }),
  cancelRejected: (cid: string, venue = V): EventInput => ({ type: 'order.cancel-rejected', data: { venue, clientOrderId: cid, reason: 'order not found' } }),
  cancelUnconfirmed: (cid: string, venue = V): EventInput => ({ type: 'order.cancel-unconfirmed', data: { venue, clientOrderId: cid, reason: 'timeout' } }),
  expired: (cid: string, venue = V): EventInput => ({ type: 'order.expired', data: { venue, clientOrderId: cid } }),
  statusUnknown: (cid: string, venue = V): EventInput => ({ type: 'order.status-unknown', data: { venue, clientOrderId: cid, reason: 'socket closed' } }),
  mark: (price: number, symbol = 'BTC/USDT', venue = V): EventInput => ({ type: 'market.mark', data: { venue, symbol, price } }),
}
