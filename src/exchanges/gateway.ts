import type { UnseenBook } from '../events/catalogue.js'
import type { Side } from '../events/primitives.js'

/**
 * The one port haltd talks to venues through. Implementations: `SimExchange` (deterministic,
 * in-process) and `CcxtGateway` (a ready ccxt Exchange instance). Gateways do not write the
 * event log; core's venue recorder turns every call and its outcome into events.
 *
 * Every method rejects with a `VenueError` (see errors.ts) on failure, never with a library error.
 */
export interface ExchangeGateway {
  /** The venue's name as it appears in events (`binance`, `okx-sim`, …); unique per haltd. */
  readonly venue: string
  readonly capabilities: Capabilities
  /**
   * Why a gateway asked to follow the whole account (guardian mode) does not see all of it: it lists
   * open orders and positions only on its own symbols (the venue cannot answer without one; then
   * `followsAccount` is false), or its lists leave part of the account out (Bybit's inverse and
   * option orders). Undefined where it follows all of the account, or lists all there is anyway.
   */
  readonly wholeAccountRefusal?: string | undefined
  /** Whether it lists open orders and positions account-wide, not on its symbols (asked to, and the venue answers without one). */
  readonly followsAccount?: boolean
  /**
   * The books of the account its account-wide lists do not show, as known after its last list: those
   * no list asks for (Bybit's inverse and options), and those the venue refused for good (a key
   * without spot permission, a classic account's USDC contracts). Empty where the lists show all of
   * the account; absent on a gateway that does not list an account in parts.
   */
  unseenBooks?(): readonly UnseenBook[]
  /**
   * The book of the account an order on `symbol` is listed in (as `unseenBooks` names books), where
   * the account is listed book by book; undefined where one list shows all of it. An order of a
   * book a list did not show is not shown gone by its absence from that list.
   */
  bookOf?(symbol: string): string | undefined

  connect(): Promise<void>
  /** Always with our client order id: it is how haltd finds an order whose answer was lost. */
  submit(order: OrderRequest): Promise<OrderAck>
  cancel(ref: OrderRef): Promise<CancelResult>
  /**
   * `own` (the default in haltd) cancels only orders whose client order id carries haltd's tag;
   * `account` cancels everything on the account. The result says which method was used.
   */
  /** `call.timeoutMs`: the time the whole cancel-all may take, its retries of a failed book included. */
  cancelAll(options: { scope: CancelScope; symbols?: readonly string[] }, call?: { timeoutMs?: number }): Promise<CancelAllResult>
  /**
   * The open orders. An order in the venue's answer the gateway cannot read (no id, no amount, a
   * status it does not know) fails the whole list, unless `unreadable` is given: then it is left
   * out and handed to it, for a caller that records each such order and knows the list is not whole.
   */
  fetchOpenOrders(symbols?: readonly string[], options?: OpenOrdersOptions): Promise<VenueOrder[]>
  /** One order by our client order id; undefined when the venue does not know it. */
  fetchOrder(ref: OrderRef): Promise<VenueOrder | undefined>
  fetchPositions(): Promise<VenuePosition[]>
  fetchBalances(): Promise<VenueBalance[]>
  fetchMarkets(): Promise<MarketInfo[]>
  /** Order status changes and fills, pushed (WebSocket) or polled; returns the unsubscribe. */
  onUpdate(handler: (update: OrderUpdate) => void): () => void
  /**
   * The connection lost and regained while running, each change once (the first `connect()` is
   * the caller's to record). Optional: a gateway that cannot tell does not offer it. Returns the
   * unsubscribe.
   */
  onConnectionChange?(handler: (change: ConnectionChange) => void): () => void
  /**
   * Ask the venue to cancel everything if not refreshed within `ms` (cancel-all-after /
   * countdown). Resolves with what was armed, or `{ armed: false }` where the venue has none.
   */
  armDeadMansSwitch(ms: number): Promise<{ armed: boolean; method?: string }>
  disarmDeadMansSwitch(): Promise<void>
  close(): Promise<void>
}

export type CancelScope = 'own' | 'account'

export type Capabilities = {
  /** One call cancels every order (per symbol or per account). */
  massCancel: 'account' | 'per-symbol' | 'none'
  /** Max orders per batched cancel call; 0 when the venue has no batch cancel. */
  batchCancel: number
  /** Countdown cancel-all-after, cancel-on-disconnect, or none. */
  deadMansSwitch: 'countdown' | 'cancel-on-disconnect' | 'none'
  reduceOnly: boolean
  /** Pushed order updates (WebSocket) rather than polling. */
  streamingUpdates: boolean
  /** Derivative positions (futures/swaps); spot venues report balances only. */
  positions: boolean
  /**
   * A cancel the venue answers done says nothing of what the order had filled (OKX and Bybit
   * answer with ids only): a fill that beat the cancel reaches haltd only by asking. Absent: false.
   */
  cancelAnswersOmitFills?: boolean
}

export type OrderRequest = {
  clientOrderId: string
  symbol: string
  side: Side
  type: 'market' | 'limit'
  qty: number
  price?: number
  timeInForce?: 'GTC' | 'IOC' | 'FOK' | 'PO'
  reduceOnly?: boolean
}

export type OrderRef = { clientOrderId: string; symbol: string; venueOrderId?: string }

export type VenueOrderStatus = 'open' | 'partially-filled' | 'filled' | 'canceled' | 'rejected' | 'expired'

export type OrderAck = {
  clientOrderId: string
  venueOrderId: string
  status: VenueOrderStatus
  filled: number
  /** The average price of what filled, where the venue says. */
  average?: number
  /** Fills that came back with the answer itself (market and IOC orders often do). */
  fills?: Fill[]
}

export type Fill = {
  clientOrderId: string
  tradeId: string
  qty: number
  price: number
  fee: number
  feeCurrency?: string
  liquidity?: 'maker' | 'taker'
}

export type CancelResult =
  /** `filled` (and its `average` price): what the order had filled when it was canceled, where the answer says. */
  | { clientOrderId: string; outcome: 'canceled'; filled?: number; average?: number }
  /** The venue does not know it as open: filled already, canceled already, or never arrived. Confirm with fetchOpenOrders. */
  | { clientOrderId: string; outcome: 'not-found' }
  | { clientOrderId: string; outcome: 'rejected'; reason: string }

export type CancelAllResult = {
  scope: CancelScope
  method: 'mass-cancel' | 'batched' | 'per-order'
  /** Client order ids (venue order ids for orders without one) the venue confirmed canceled. */
  canceled: string[]
  failed: { id: string; reason: string }[]
  /**
   * Ids the venue gave no clear answer for (no item of their own in a batch answer, an item
   * without a status, a batch refused as a whole): not canceled, not refused, to be looked up.
   */
  unanswered?: string[]
  /**
   * Where the venue's account is cancelled book by book (Bybit: spot, linear USDT, linear USDC),
   * what is known of each: `cancelled` (its cancel-all or cancels were sent and answered; their
   * orders are in `canceled` and `failed`), `failed` (neither its list nor its cancel-all answered
   * within the time: its orders are unknown), `refused` (the venue refuses to list it for this
   * key) or `not-listed` (haltd does not list it). A book stands on its own: one failing fails no other.
   */
  books?: BookCancel[]
}

export type BookCancel = { book: string; outcome: 'cancelled' | 'failed' | 'refused' | 'not-listed'; detail?: string }

export type VenueOrder = {
  venueOrderId: string
  clientOrderId?: string
  symbol: string
  side: Side
  qty: number
  filled: number
  /** The venue's answer did not say what the order filled: `filled` is 0 then, never to be taken for none. */
  filledUnknown?: true
  price?: number
  /** The average price of what filled, where the venue says. */
  average?: number
  status: VenueOrderStatus
  reduceOnly?: boolean
}

/** An order in a venue's answer the gateway could not read: what it could tell of it, and why. */
export type UnreadableVenueOrder = { venueOrderId?: string; clientOrderId?: string; symbol?: string; reason: string }

export type OpenOrdersOptions = { unreadable?: (order: UnreadableVenueOrder) => void }

/** Signed: positive long, negative short. */
export type VenuePosition = { symbol: string; qty: number; entryPrice?: number }
export type VenueBalance = { asset: string; free: number; used: number; total: number }
/** `contractSize`: what one unit of `qty` is worth in the base asset, where it is not 1 (a derivatives contract of 0.01 BTC). */
export type MarketInfo = { symbol: string; amountStep: number; priceStep?: number; minQty?: number; contractSize?: number }

export type ConnectionChange = { connected: true } | { connected: false; reason: string }

export type OrderUpdate =
  /** A trade; `symbol` and `venueOrderId` where the venue's report names them (what an order unknown to haltd is looked up by). */
  | ({ kind: 'fill'; symbol?: string; venueOrderId?: string } & Fill)
  | {
      kind: 'status'
      clientOrderId: string
      venueOrderId?: string
      status: VenueOrderStatus
      reason?: string
      /**
       * On an order's end (canceled, expired), what the venue's report of it says it filled in all,
       * and at what price, where the report carries it: a part that filled just before the end is
       * booked from it even where its trade never arrives.
       */
      filled?: number
      average?: number
      price?: number
    }

export { HALTD_TAG, isOwnOrderId } from './client-order-id.js'

/** The port's methods that go to the venue: what the simulator can fault and what the daemon times. */
export const VENUE_CALLS = [
  'connect',
  'submit',
  'cancel',
  'cancelAll',
  'fetchOpenOrders',
  'fetchOrder',
  'fetchPositions',
  'fetchBalances',
  'fetchMarkets',
  'armDeadMansSwitch',
  'disarmDeadMansSwitch',
] as const satisfies readonly (keyof ExchangeGateway)[]
