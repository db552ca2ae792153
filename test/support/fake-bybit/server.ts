import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { DEFAULT_SYMBOLS, FakeExchangeEngine, FaultSwitchboard, type SymbolSpec } from '../fake-binance/index.js'
import { BybitAccount } from './account.js'
import { authenticate } from './auth.js'
import { BybitReject, paramError } from './codes.js'
import { limitHeaders, type BybitFault } from './faults.js'
import { unknownFields } from './fields.js'
import { bybitRoutes, RET_EXT_INFO, type Params } from './routes.js'
import { readBody } from '../http-body.js'

/**
 * A Bybit-v5-compatible venue on 127.0.0.1: one unified trading account with spot and linear
 * perpetual books, the REST endpoints `ccxt.bybit` calls for markets, orders, fills, positions,
 * balances and the DCP switch, and Bybit's request signing (`X-BAPI-*` headers, HMAC-SHA256 hex
 * of timestamp + key + recvWindow + query or body). Point ccxt at it through `urls.api`.
 */
export type FakeBybitOptions = {
  apiKey?: string
  secret?: string
  symbols?: SymbolSpec[]
  balances?: Record<string, number>
  /** USDT held for linear margin on top of the spot balances. */
  linearWallet?: number
  /** Requests per second a route accepts before answering 10006, e.g. `{ 'POST /v5/order/cancel': 10 }`. */
  rateLimits?: Record<string, number>
}

export type FakeBybit = {
  readonly origin: string
  readonly apiKey: string
  readonly secret: string
  readonly engine: FakeExchangeEngine
  readonly account: BybitAccount
  readonly faults: Omit<FaultSwitchboard, 'inject'> & { inject(route: string, fault: BybitFault, times?: number): void }
  /** Moves the venue's clock (for 10002 tests). */
  clockOffsetMs: number
  /** Requests that matched no route, as `METHOD /path`: a test that sees one has found a gap. */
  readonly unrouted: string[]
  /** Body fields sent that Bybit does not define for the route, as `METHOD /path field`: Bybit ignores them, a test should not. */
  readonly unknownFields: string[]
  /** Runs `fn` once, just before the venue handles the next request on `route` (a fill or cancel racing the request). */
  beforeNext(route: string, fn: () => void): void
  /**
   * From now on the account refuses every signed request on a book, with Bybit's answer (HTTP 200
   * and `retCode`): a category (`spot`), or a linear book by its settle coin (named by `settleCoin`,
   * or by a symbol settled in it), as a classic account refuses USDC contracts (10020) or a key
   * without spot permission refuses spot (10005). With `route` (`METHOD /path`), on that route
   * only: a key refused a book's positions may still list and cancel its orders.
   */
  refuse(book: RefusedBook, answer: { retCode: number; retMsg: string }, route?: string): void
  /** From now on the book is no longer refused (the key was granted the permission). */
  grant(book: RefusedBook): void
  /**
   * The next `times` signed requests on a book (as `refuse` names it) on `route` (`METHOD /path`,
   * every route where absent) get `answer` (a passing failure: 10016, 10006), then it answers again.
   */
  failBook(book: RefusedBook, answer: { retCode: number; retMsg: string; status?: number }, times: number, route?: string): void
  /** The requests refused so, as `METHOD /path category settle`. */
  readonly refusedRequests: string[]
  close(): Promise<void>
}

export type RefusedBook = { category: 'spot' | 'linear' | 'inverse' | 'option'; settleCoin?: string }

export const FAKE_BYBIT_KEY = 'fakeBybitKey0123456789'
export const FAKE_BYBIT_SECRET = 'fakeBybitSecret0123456789abcdefghijkl'

export async function startFakeBybit(options: FakeBybitOptions = {}): Promise<FakeBybit> {
  const apiKey = options.apiKey ?? FAKE_BYBIT_KEY
  const secret = options.secret ?? FAKE_BYBIT_SECRET
  const symbols = options.symbols ?? DEFAULT_SYMBOLS
  const state = { clockOffsetMs: 0 }
  const serverTime = (): number => Date.now() + state.clockOffsetMs
  const engine = new FakeExchangeEngine(symbols, options.balances, options.linearWallet, serverTime)
  const account = new BybitAccount(engine)
  const faultBoard = new FaultSwitchboard()
  const unrouted: string[] = []
  const strayFields: string[] = []
  const windows = new Map<string, { second: number; count: number }>()
  const pending = new Map<string, (() => void)[]>()
  const refusals: { book: RefusedBook; answer: { retCode: number; retMsg: string }; route?: string }[] = []
  const bookFailures: { book: RefusedBook; answer: { retCode: number; retMsg: string; status?: number }; left: number; route?: string }[] = []
  const settleOf = (symbolId: string | undefined): string | undefined => (symbolId === undefined ? undefined : symbols.find((x) => x.id === symbolId)?.quote)
  const refusedRequests: string[] = []
  const refusalFor = (key: string, params: Params): BybitReject | undefined => {
    const category = typeof params.category === 'string' ? params.category : undefined
    const settle = typeof params.settleCoin === 'string' ? params.settleCoin : settleOf(typeof params.symbol === 'string' ? params.symbol : undefined)
    const onBook = (book: RefusedBook) => book.category === category && (book.settleCoin === undefined || book.settleCoin === settle)
    const failing = bookFailures.find((f) => f.left > 0 && (f.route === undefined || f.route === key) && onBook(f.book))
    if (failing !== undefined) {
      failing.left--
      return new BybitReject(failing.answer.retCode, failing.answer.retMsg, failing.answer.status)
    }
    const hit = refusals.find(({ book, route }) => onBook(book) && (route === undefined || route === key))
    if (hit === undefined) return undefined
    refusedRequests.push(`${key} ${category} ${settle ?? ''}`.trim())
    return new BybitReject(hit.answer.retCode, hit.answer.retMsg)
  }

  const routes = bybitRoutes({ engine, account, symbols, apiKey, serverTime })

  const send = (
    res: ServerResponse,
    status: number,
    body: string,
    contentType = 'application/json; charset=utf-8',
    headers: Record<string, string> = {},
  ): void => {
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers })
    res.end(body)
  }
  const envelope = (retCode: number, retMsg: string, result: unknown, retExtInfo: unknown = {}): string =>
    JSON.stringify({ retCode, retMsg, result, retExtInfo, time: serverTime() })

  /** The per-route limit, when configured: over it, 10006 with the moment the second ends. */
  const overLimit = (route: string): Record<string, string> | undefined => {
    const limit = options.rateLimits?.[route]
    if (limit === undefined) return undefined
    const second = Math.floor(serverTime() / 1000)
    const w = windows.get(route)
    const current = w && w.second === second ? w : { second, count: 0 }
    current.count++
    windows.set(route, current)
    return current.count > limit ? limitHeaders(limit, (second + 1) * 1000) : undefined
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1')
      const method = req.method ?? 'GET'
      const body = await readBody(req)
      const key = `${method} ${url.pathname}`
      const route = routes.get(key)
      if (!route) {
        unrouted.push(key)
        return send(res, 404, envelope(10017, 'route not found', {}))
      }
      for (const fn of pending.get(key)?.splice(0) ?? []) fn()
      const fault = faultBoard.take(method, url.pathname) as BybitFault | undefined
      if (fault?.kind === 'status') return send(res, fault.status, fault.body, fault.contentType, 'headers' in fault ? fault.headers : {})
      if (fault?.kind === 'hang') return // the socket stays open; closeAllConnections() ends it
      const limited = overLimit(key)
      if (limited) return send(res, 200, envelope(10006, 'Too many visits!', {}), undefined, limited)
      try {
        let params: Params
        if (method === 'POST') {
          try {
            params = body ? (JSON.parse(body) as Params) : {}
          } catch {
            throw paramError('request body is not JSON')
          }
        } else {
          params = Object.fromEntries(url.searchParams)
        }
        for (const field of unknownFields(key, params)) strayFields.push(`${key} ${field}`)
        if (route.security === 'signed') {
          authenticate(req.headers, method === 'POST' ? body : url.search.slice(1), { apiKey, secret, now: serverTime() })
          const refused = refusalFor(key, params)
          if (refused) throw refused
        }
        const out = route.handler(params) as Record<string | symbol, unknown>
        if (fault?.kind === 'lose-response') return void req.socket.destroy()
        const headers = route.security === 'signed' ? limitHeaders(options.rateLimits?.[key] ?? 10, (Math.floor(serverTime() / 1000) + 1) * 1000, 9) : {}
        send(res, 200, envelope(0, 'OK', out, out[RET_EXT_INFO] ?? {}), undefined, headers)
      } catch (e) {
        if (fault?.kind === 'lose-response') return void req.socket.destroy()
        if (e instanceof BybitReject) return send(res, e.status, envelope(e.retCode, e.retMsg, {}))
        send(res, 500, envelope(10016, `fake venue bug: ${(e as Error).message}`, {}))
      }
    })().catch(() => res.destroy())
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    origin: `http://127.0.0.1:${port}`,
    apiKey,
    secret,
    engine,
    account,
    faults: faultBoard,
    get clockOffsetMs() {
      return state.clockOffsetMs
    },
    set clockOffsetMs(ms: number) {
      state.clockOffsetMs = ms
    },
    unrouted,
    unknownFields: strayFields,
    beforeNext: (route, fn) => {
      if (!routes.has(route)) throw new Error(`fake-bybit has no route '${route}'`)
      pending.set(route, [...(pending.get(route) ?? []), fn])
    },
    refuse: (book, answer, route) => {
      if (route !== undefined && !routes.has(route)) throw new Error(`fake-bybit has no route '${route}'`)
      refusals.push({ book, answer, ...(route === undefined ? {} : { route }) })
    },
    grant: (book) => {
      for (let i = refusals.length - 1; i >= 0; i--) {
        const r = refusals[i]!.book
        if (r.category === book.category && r.settleCoin === book.settleCoin) refusals.splice(i, 1)
      }
    },
    failBook: (book, answer, times, route) => {
      if (route !== undefined && !routes.has(route)) throw new Error(`fake-bybit has no route '${route}'`)
      bookFailures.push({ book, answer, left: times, ...(route === undefined ? {} : { route }) })
    },
    refusedRequests,
    close: async () => {
      engine.stop()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
