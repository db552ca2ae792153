import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { BinanceReject, DEFAULT_SYMBOLS, FakeExchangeEngine, NO_SUCH_ORDER, type FakeOrder, type Segment, type SymbolSpec } from './engine.js'
import { FaultSwitchboard } from './faults.js'
import { exchangeInfo } from './markets.js'
import { tickerRoutes } from './tickers.js'
import { executionReport, futuresOrder, futuresTrade, spotCancelAck, spotOrder, spotOrderAck, spotTrade } from './wire.js'
import { readBody } from '../http-body.js'

/**
 * A Binance-compatible venue on 127.0.0.1: the spot REST subset (`/api/v3`), the USD-M futures
 * subset (`/fapi`), both segments' ticker endpoints, HMAC-SHA256 request signing, and the spot
 * WebSocket API user-data stream (`/ws-api/v3`, `userDataStream.subscribe.signature`, then
 * `executionReport` events), which is what ccxt.pro's binance `watchOrders`/`watchMyTrades` use
 * for spot in 4.5.
 *
 * ccxt keeps its real URLs and reaches this server through `fetchImplementation`, so its
 * URL-dependent error mapping (spot versus linear codes) stays exact.
 */
export type FakeBinanceOptions = {
  apiKey?: string
  secret?: string
  symbols?: SymbolSpec[]
  balances?: Record<string, number>
  futuresWallet?: number
}

export type FetchLike = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<Response>

export type FakeBinance = {
  readonly origin: string
  readonly apiKey: string
  readonly secret: string
  readonly engine: FakeExchangeEngine
  readonly faults: FaultSwitchboard
  /** ccxt's `fetchImplementation`: routes api.binance.com and fapi.binance.com here, refuses anything else. */
  readonly fetchImplementation: FetchLike
  /** For `urls.api.ws['ws-api'].spot`. */
  readonly wsApiUrl: string
  /** Moves the venue's clock (for -1021 tests); ccxt's `loadTimeDifference` reads it from `/time`. */
  clockOffsetMs: number
  /**
   * Leave the symbol (`s`) out of the user-data stream's trade reports, as some venues' user
   * streams do: the trade then names only its order's venue id.
   */
  tradeReportsWithoutSymbol: boolean
  /**
   * Report the order with this client id malformed in every REST answer that shows it (open-order
   * lists, lookups, spot and futures): `fields` replace those of its wire shape (`{ origQty: '0' }`,
   * `{ price: 'NaN' }`, `{ clientOrderId: '' }`), as a venue answering garbage would. Undefined
   * reports it as it is again.
   */
  malformOrder(clientOrderId: string, fields: Record<string, unknown> | undefined): void
  /**
   * The user-data stream's trade reports of the order with this client id carry `fields` in place
   * of their own (`{ t: 'x'.repeat(250) }`: a trade id too long). Undefined reports them as they are.
   */
  malformTradeReports(clientOrderId: string, fields: Record<string, unknown> | undefined): void
  /** Requests that matched no route, as `METHOD /path`: a test that sees one has found a gap. */
  readonly unrouted: string[]
  /** Live user-data subscribers. */
  userStreamSubscribers(): number
  /** Drops every WebSocket connection, as a venue restart would. */
  dropWebSockets(): void
  close(): Promise<void>
}

export const FAKE_API_KEY = 'fake-binance-key-0123456789abcdefghijklmnopqrstuvwxyz'
export const FAKE_SECRET = 'fake-binance-secret-0123456789abcdefghijklmnopqrstuvwxyz'
const VENUE_HOSTS = new Set(['api.binance.com', 'fapi.binance.com'])

type Security = 'none' | 'apikey' | 'signed'
type Handler = (p: URLSearchParams) => unknown
type Route = { security: Security; handler: Handler }

export async function startFakeBinance(options: FakeBinanceOptions = {}): Promise<FakeBinance> {
  const apiKey = options.apiKey ?? FAKE_API_KEY
  const secret = options.secret ?? FAKE_SECRET
  const symbols = options.symbols ?? DEFAULT_SYMBOLS
  const state = { clockOffsetMs: 0, tradeReportsWithoutSymbol: false }
  const serverTime = (): number => Date.now() + state.clockOffsetMs
  const engine = new FakeExchangeEngine(symbols, options.balances, options.futuresWallet, serverTime)
  const faultBoard = new FaultSwitchboard()
  const unrouted: string[] = []
  const malformed = new Map<string, Record<string, unknown>>()
  const malformedTrades = new Map<string, Record<string, unknown>>()
  /** An order's wire shape as the venue shows it: malformed where a test asked for it. */
  const shown = (o: FakeOrder, wire: Record<string, unknown>): Record<string, unknown> => {
    const fields = malformed.get(o.clientOrderId)
    return fields ? { ...wire, ...fields } : wire
  }
  const spotShown = (o: FakeOrder) => shown(o, spotOrder(o))
  const futuresShown = (o: FakeOrder) => shown(o, futuresOrder(o))
  let cancelIds = 0

  const sign = (payload: string): string => createHmac('sha256', secret).update(payload).digest('hex')
  const sameSignature = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))

  const num = (p: URLSearchParams, key: string): number | undefined => {
    const v = p.get(key)
    return v === null ? undefined : Number(v)
  }
  const orderRef = (p: URLSearchParams): { orderId?: number; clientOrderId?: string } => {
    const orderId = num(p, 'orderId')
    const clientOrderId = p.get('origClientOrderId') ?? undefined
    if (orderId === undefined && clientOrderId === undefined)
      throw new BinanceReject(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
    return orderId !== undefined ? { orderId } : { clientOrderId: clientOrderId! }
  }
  const requireSymbol = (p: URLSearchParams): string => {
    const s = p.get('symbol')
    if (!s) throw new BinanceReject(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    engine.spec(s)
    return s
  }
  const place = (segment: Segment, p: URLSearchParams): FakeOrder =>
    engine.place(segment, {
      symbol: requireSymbol(p),
      side: p.get('side') ?? '',
      type: p.get('type') ?? '',
      quantity: Number(p.get('quantity')),
      price: num(p, 'price'),
      timeInForce: p.get('timeInForce') ?? undefined,
      clientOrderId: p.get('newClientOrderId') ?? `fake-${Math.random().toString(36).slice(2, 14)}`,
      reduceOnly: p.get('reduceOnly') === 'true',
    })
  const trades = (segment: Segment, p: URLSearchParams) => {
    const symbol = requireSymbol(p)
    const start = num(p, 'startTime') ?? 0
    const fromId = num(p, 'fromId') ?? 0
    const orderId = num(p, 'orderId')
    const limit = num(p, 'limit') ?? 500
    return engine.trades
      .filter((t) => t.segment === segment && t.symbol === symbol && t.time >= start && t.id >= fromId && (orderId === undefined || t.orderId === orderId))
      .slice(0, limit)
  }
  const positionRisk = (p: URLSearchParams) => {
    const only = p.get('symbol')
    return [...engine.positions.entries()]
      .filter(([symbol]) => only === null || only === symbol)
      .map(([symbol, pos]) => {
        const mark = engine.spec(symbol).mid
        return {
          symbol,
          positionSide: 'BOTH',
          positionAmt: String(pos.amt),
          entryPrice: String(pos.entryPrice),
          breakEvenPrice: String(pos.entryPrice),
          markPrice: String(mark),
          unRealizedProfit: String((mark - pos.entryPrice) * pos.amt),
          liquidationPrice: '0',
          isolatedMargin: '0',
          notional: String(mark * pos.amt),
          marginAsset: 'USDT',
          isolatedWallet: '0',
          initialMargin: String(Math.abs(mark * pos.amt) / 20),
          maintMargin: '0',
          positionInitialMargin: String(Math.abs(mark * pos.amt) / 20),
          openOrderInitialMargin: '0',
          adl: 0,
          bidNotional: '0',
          askNotional: '0',
          updateTime: serverTime(),
        }
      })
  }
  const futuresAccount = () => {
    const wallet = String(engine.futuresWallet)
    return {
      totalInitialMargin: '0',
      totalMaintMargin: '0',
      totalWalletBalance: wallet,
      totalUnrealizedProfit: '0',
      totalMarginBalance: wallet,
      availableBalance: wallet,
      maxWithdrawAmount: wallet,
      assets: [
        {
          asset: 'USDT',
          walletBalance: wallet,
          unrealizedProfit: '0',
          marginBalance: wallet,
          maintMargin: '0',
          initialMargin: '0',
          positionInitialMargin: '0',
          openOrderInitialMargin: '0',
          crossWalletBalance: wallet,
          crossUnPnl: '0',
          availableBalance: wallet,
          maxWithdrawAmount: wallet,
          updateTime: serverTime(),
        },
      ],
      positions: positionRisk(new URLSearchParams()),
    }
  }
  const listenKey = () => ({ listenKey: `fake-listen-key-${serverTime().toString(36)}` })

  const routes = new Map<string, Route>(
    Object.entries({
      // ── spot ──
      'GET /api/v3/ping': { security: 'none', handler: () => ({}) },
      'GET /api/v3/time': { security: 'none', handler: () => ({ serverTime: serverTime() }) },
      'GET /api/v3/exchangeInfo': { security: 'none', handler: () => exchangeInfo('spot', symbols, serverTime()) },
      'POST /api/v3/userDataStream': { security: 'apikey', handler: listenKey },
      'PUT /api/v3/userDataStream': { security: 'apikey', handler: () => ({}) },
      'DELETE /api/v3/userDataStream': { security: 'apikey', handler: () => ({}) },
      'GET /api/v3/account': {
        security: 'signed',
        handler: () => ({
          makerCommission: 10,
          takerCommission: 10,
          canTrade: true,
          canWithdraw: true,
          canDeposit: true,
          updateTime: serverTime(),
          accountType: 'SPOT',
          balances: [...engine.spotBalances.entries()].map(([asset, b]) => ({ asset, free: b.free.toFixed(8), locked: b.locked.toFixed(8) })),
          permissions: ['SPOT'],
        }),
      },
      'POST /api/v3/order': {
        security: 'signed',
        handler: (p) => {
          const o = place('spot', p)
          return spotOrderAck(
            o,
            engine.trades.filter((t) => t.segment === 'spot' && t.orderId === o.orderId),
          )
        },
      },
      'GET /api/v3/order': {
        security: 'signed',
        handler: (p) => {
          const symbol = requireSymbol(p)
          const o = engine.find('spot', orderRef(p), symbol)
          if (!o) throw NO_SUCH_ORDER()
          return spotShown(o)
        },
      },
      'DELETE /api/v3/order': {
        security: 'signed',
        handler: (p) => spotCancelAck(engine.cancel('spot', requireSymbol(p), orderRef(p)), `cancel-${++cancelIds}`),
      },
      'GET /api/v3/openOrders': { security: 'signed', handler: (p) => engine.open('spot', p.get('symbol') ?? undefined).map(spotShown) },
      'DELETE /api/v3/openOrders': {
        security: 'signed',
        handler: (p) => {
          const canceled = engine.cancelAll('spot', requireSymbol(p))
          if (canceled.length === 0) throw new BinanceReject(400, -2011, 'Unknown order sent.')
          return canceled.map((o) => spotCancelAck(o, `cancel-${++cancelIds}`))
        },
      },
      'GET /api/v3/myTrades': { security: 'signed', handler: (p) => trades('spot', p).map(spotTrade) },

      // ── USD-M futures ──
      'GET /fapi/v1/ping': { security: 'none', handler: () => ({}) },
      'GET /fapi/v1/time': { security: 'none', handler: () => ({ serverTime: serverTime() }) },
      'GET /fapi/v1/exchangeInfo': { security: 'none', handler: () => exchangeInfo('futures', symbols, serverTime()) },
      'POST /fapi/v1/listenKey': { security: 'apikey', handler: listenKey },
      'PUT /fapi/v1/listenKey': { security: 'apikey', handler: () => ({}) },
      'DELETE /fapi/v1/listenKey': { security: 'apikey', handler: () => ({}) },
      'POST /fapi/v1/order': { security: 'signed', handler: (p) => futuresOrder(place('futures', p)) },
      'GET /fapi/v1/order': {
        security: 'signed',
        handler: (p) => {
          const o = engine.find('futures', orderRef(p), requireSymbol(p))
          if (!o) throw NO_SUCH_ORDER()
          return futuresShown(o)
        },
      },
      'DELETE /fapi/v1/order': { security: 'signed', handler: (p) => futuresOrder(engine.cancel('futures', requireSymbol(p), orderRef(p))) },
      'GET /fapi/v1/openOrders': { security: 'signed', handler: (p) => engine.open('futures', p.get('symbol') ?? undefined).map(futuresShown) },
      // every order of a symbol, open or not, oldest first (ccxt's fetchOrders and fetchClosedOrders)
      'GET /fapi/v1/allOrders': {
        security: 'signed',
        handler: (p) => {
          const symbol = requireSymbol(p)
          return [...engine.orders.futures.values()].filter((o) => o.symbol === symbol).map(futuresShown)
        },
      },
      'DELETE /fapi/v1/allOpenOrders': {
        security: 'signed',
        handler: (p) => {
          engine.cancelAll('futures', requireSymbol(p))
          // Binance futures answers the same whether or not anything was open
          return { code: 200, msg: 'The operation of cancel all open order is done.' }
        },
      },
      'DELETE /fapi/v1/batchOrders': {
        security: 'signed',
        handler: (p) => {
          const symbol = requireSymbol(p)
          const list = (key: string): unknown[] | undefined => {
            for (const [k, v] of p) if (k.toLowerCase() === key.toLowerCase()) return JSON.parse(v) as unknown[]
            return undefined
          }
          const ids = list('orderIdList')
          const clientIds = list('origClientOrderIdList')
          const refs = ids ? ids.map((id) => ({ orderId: Number(id) })) : (clientIds ?? []).map((c) => ({ clientOrderId: String(c) }))
          if (refs.length === 0) throw new BinanceReject(400, -1102, "Param 'orderIdList' or 'origClientOrderIdList' must be sent, but both were empty/null!")
          if (refs.length > 10) throw new BinanceReject(400, -4101, 'The number of batch orders exceeds the limit of 10.')
          return refs.map((ref) => {
            try {
              return futuresOrder(engine.cancel('futures', symbol, ref))
            } catch (e) {
              if (e instanceof BinanceReject) return { code: e.code, msg: e.msg }
              throw e
            }
          })
        },
      },
      'POST /fapi/v1/countdownCancelAll': {
        security: 'signed',
        handler: (p) => {
          const symbol = requireSymbol(p)
          const ms = num(p, 'countdownTime')
          if (ms === undefined || !Number.isInteger(ms) || ms < 0)
            throw new BinanceReject(400, -1102, "Mandatory parameter 'countdownTime' was not sent, was empty/null, or malformed.")
          engine.countdown(symbol, ms)
          return { symbol, countdownTime: String(ms) }
        },
      },
      'GET /fapi/v2/positionRisk': { security: 'signed', handler: positionRisk },
      'GET /fapi/v3/positionRisk': { security: 'signed', handler: positionRisk },
      'GET /fapi/v1/leverageBracket': {
        security: 'signed',
        handler: () =>
          symbols.map((s) => ({
            symbol: s.id,
            notionalCoef: 1,
            brackets: [{ bracket: 1, initialLeverage: 125, notionalCap: 50_000_000, notionalFloor: 0, maintMarginRatio: 0.004, cum: 0 }],
          })),
      },
      'GET /fapi/v2/account': { security: 'signed', handler: futuresAccount },
      'GET /fapi/v3/account': { security: 'signed', handler: futuresAccount },
      'GET /fapi/v2/balance': { security: 'signed', handler: () => futuresAccount().assets },
      'GET /fapi/v3/balance': { security: 'signed', handler: () => futuresAccount().assets },
      'GET /fapi/v1/userTrades': { security: 'signed', handler: (p) => trades('futures', p).map(futuresTrade) },

      // ── public market data, spot and USD-M ──
      ...tickerRoutes(engine, serverTime),
    }),
  )

  const reply = (
    res: ServerResponse,
    status: number,
    body: string,
    contentType = 'application/json;charset=UTF-8',
    headers: Record<string, string> = {},
  ): void => {
    res.writeHead(status, { ...headers, 'content-type': contentType, 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }
  const reject = (res: ServerResponse, r: BinanceReject): void => reply(res, r.status, JSON.stringify({ code: r.code, msg: r.msg }))

  /** Checks the key, the timestamp window and the HMAC over the query (GET/DELETE) or body (POST/PUT). */
  const authenticate = (security: Security, req: IncomingMessage, raw: string, p: URLSearchParams): void => {
    if (security === 'none') return
    const key = req.headers['x-mbx-apikey']
    if (key !== apiKey) throw new BinanceReject(401, -2015, 'Invalid API-key, IP, or permissions for action.')
    if (security === 'apikey') return
    const at = raw.lastIndexOf('&signature=')
    if (at < 0) throw new BinanceReject(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    const timestamp = num(p, 'timestamp')
    if (timestamp === undefined) throw new BinanceReject(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    if (!sameSignature(sign(raw.slice(0, at)), raw.slice(at + '&signature='.length)))
      throw new BinanceReject(400, -1022, 'Signature for this request is not valid.')
    const recvWindow = num(p, 'recvWindow') ?? 5000
    const now = serverTime()
    if (timestamp > now + 1000 || now - timestamp > recvWindow) throw new BinanceReject(400, -1021, 'Timestamp for this request is outside of the recvWindow.')
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1')
      const method = req.method ?? 'GET'
      const body = await readBody(req)
      const route = routes.get(`${method} ${url.pathname}`)
      if (!route) {
        unrouted.push(`${method} ${url.pathname}`)
        return reply(res, 404, '<html><body>404 Not Found</body></html>', 'text/html')
      }
      const fault = faultBoard.take(method, url.pathname)
      if (fault?.kind === 'status') return reply(res, fault.status, fault.body, fault.contentType, fault.headers)
      if (fault?.kind === 'hang') return // the socket stays open; closeAllConnections() ends it
      const raw = method === 'GET' || method === 'DELETE' ? url.search.slice(1) : body
      const params = new URLSearchParams(url.search)
      for (const [k, v] of new URLSearchParams(body)) params.set(k, v)
      try {
        authenticate(route.security, req, raw, params)
        const result = route.handler(params)
        if (fault?.kind === 'lose-response') return void req.socket.destroy()
        if (fault?.kind === 'process-then-hang') return // done at the venue; the answer never leaves
        reply(res, 200, JSON.stringify(result))
      } catch (e) {
        if (fault?.kind === 'lose-response') return void req.socket.destroy()
        if (e instanceof BinanceReject) return reject(res, e)
        reply(res, 500, JSON.stringify({ code: -1000, msg: `fake venue bug: ${(e as Error).message}` }))
      }
    })().catch(() => res.destroy())
  })

  // ── the spot WebSocket API (user data only) ──
  const wss = new WebSocketServer({ noServer: true })
  const subscribers = new Map<WebSocket, number>()
  let subscriptionIds = 0
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://127.0.0.1').pathname !== '/ws-api/v3') return socket.destroy()
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data) => {
        let msg: { id?: unknown; method?: string; params?: Record<string, unknown> }
        try {
          msg = JSON.parse(String(data)) as typeof msg
        } catch {
          return ws.send(JSON.stringify({ id: null, status: 400, error: { code: -1100, msg: 'Illegal characters found in parameter.' } }))
        }
        const fail = (status: number, code: number, text: string) => ws.send(JSON.stringify({ id: msg.id, status, error: { code, msg: text } }))
        if (msg.method !== 'userDataStream.subscribe.signature') return fail(400, -1020, `Unsupported method ${String(msg.method)}`)
        const params = msg.params ?? {}
        if (params.apiKey !== apiKey) return fail(401, -2015, 'Invalid API-key, IP, or permissions for action.')
        const payload = Object.keys(params)
          .filter((k) => k !== 'signature')
          .sort()
          .map((k) => `${k}=${String(params[k])}`)
          .join('&')
        if (!sameSignature(sign(payload), String(params.signature ?? ''))) return fail(400, -1022, 'Signature for this request is not valid.')
        const id = subscriptionIds++
        subscribers.set(ws, id)
        ws.send(JSON.stringify({ id: msg.id, status: 200, result: { subscriptionId: id } }))
      })
      ws.on('close', () => subscribers.delete(ws))
    })
  })
  engine.onExecution((order, trade) => {
    if (order.segment !== 'spot') return
    const report = executionReport(order, trade, serverTime())
    if (trade && state.tradeReportsWithoutSymbol) delete report.s
    if (trade) Object.assign(report, malformedTrades.get(order.clientOrderId))
    for (const [ws, subscriptionId] of subscribers) ws.send(JSON.stringify({ subscriptionId, event: report }))
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const origin = `http://127.0.0.1:${port}`

  const fetchImplementation: FetchLike = async (url, init) => {
    const target = new URL(url)
    if (!VENUE_HOSTS.has(target.hostname)) throw new TypeError(`fake-binance: refusing to reach ${target.hostname}`)
    return fetch(`${origin}${target.pathname}${target.search}`, {
      method: init.method,
      headers: init.headers,
      body: init.body,
      signal: init.signal,
    })
  }

  return {
    origin,
    apiKey,
    secret,
    engine,
    faults: faultBoard,
    fetchImplementation,
    wsApiUrl: `ws://127.0.0.1:${port}/ws-api/v3`,
    get clockOffsetMs() {
      return state.clockOffsetMs
    },
    set clockOffsetMs(ms: number) {
      state.clockOffsetMs = ms
    },
    get tradeReportsWithoutSymbol() {
      return state.tradeReportsWithoutSymbol
    },
    set tradeReportsWithoutSymbol(on: boolean) {
      state.tradeReportsWithoutSymbol = on
    },
    malformOrder: (clientOrderId, fields) => {
      if (fields === undefined) malformed.delete(clientOrderId)
      else malformed.set(clientOrderId, fields)
    },
    malformTradeReports: (clientOrderId, fields) => {
      if (fields === undefined) malformedTrades.delete(clientOrderId)
      else malformedTrades.set(clientOrderId, fields)
    },
    unrouted,
    userStreamSubscribers: () => subscribers.size,
    dropWebSockets: () => {
      for (const ws of wss.clients) ws.terminate()
    },
    close: async () => {
      engine.stop()
      for (const ws of wss.clients) ws.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
