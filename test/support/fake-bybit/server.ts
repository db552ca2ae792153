import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { DEFAULT_SYMBOLS, FakeExchangeEngine, FaultSwitchboard, type SymbolSpec } from '../fake-binance/index.js'
import { BATCH_MAX, BybitAccount, page, pageLimit, PAGE, type OrderRef } from './account.js'
import { BybitReject, paramError, type Category } from './codes.js'
import { limitHeaders, type BybitFault } from './faults.js'
import { unknownFields } from './fields.js'
import { execution, instrument, linkIdOf, order, position, segmentOf, venueOrderId, walletCoin } from './wire.js'

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
  close(): Promise<void>
}

export const FAKE_BYBIT_KEY = 'fakeBybitKey0123456789'
export const FAKE_BYBIT_SECRET = 'fakeBybitSecret0123456789abcdefghijkl'

type Params = Record<string, unknown>
type Security = 'none' | 'signed'
type Route = { security: Security; handler: (p: Params) => unknown }

/** A handler's result may carry the answer's `retExtInfo` under this key; JSON leaves symbol keys out. */
const RET_EXT_INFO = Symbol('retExtInfo')

const CATEGORIES: readonly string[] = ['spot', 'linear']
const s = (p: Params, key: string): string | undefined => {
  const v = p[key]
  return v === undefined || v === null || v === '' ? undefined : String(v)
}

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

  const category = (p: Params): Category => {
    const c = s(p, 'category')
    if (!c) throw paramError('category is required')
    if (!CATEGORIES.includes(c)) throw paramError(`category ${c} is not supported`)
    return c as Category
  }
  /** Linear lists need a symbol, a baseCoin or a settleCoin; spot ones take a symbol or nothing. */
  const symbolScope = (cat: Category, p: Params): ((symbol: string) => boolean) => {
    const symbol = s(p, 'symbol')
    if (symbol) {
      account.spec(symbol)
      return (x) => x === symbol
    }
    const base = s(p, 'baseCoin')
    const settle = s(p, 'settleCoin')
    if (cat === 'linear' && !base && !settle) throw paramError('symbol, baseCoin or settleCoin is required')
    return (x) => {
      const spec = engine.symbols.get(x)!
      return (!base || spec.base === base) && (!settle || spec.quote === settle)
    }
  }
  const ref = (p: Params): OrderRef => ({ orderId: s(p, 'orderId'), orderLinkId: s(p, 'orderLinkId') })
  const qtyOf = (cat: Category, p: Params): number => {
    const qty = Number(s(p, 'qty'))
    const spec = account.spec(s(p, 'symbol'))
    // a spot market buy counts its qty in the quote coin unless told otherwise
    if (cat === 'spot' && s(p, 'orderType') === 'Market' && s(p, 'side') === 'Buy' && s(p, 'marketUnit') !== 'baseCoin') {
      return Math.round(Math.floor(qty / spec.mid / spec.stepSize) * spec.stepSize * 1e8) / 1e8
    }
    return qty
  }
  const orderList = (cat: Category, p: Params, source: 'realtime' | 'history') => {
    const inScope = symbolScope(cat, p)
    const wanted = ref(p)
    const openOnly = s(p, 'openOnly') ?? '0'
    let items = source === 'history' ? account.closed(cat) : openOnly === '0' ? account.open(cat) : account.closed(cat).slice(0, 500)
    if (wanted.orderId || wanted.orderLinkId) {
      const one = account.find(cat, wanted)
      items = items.filter((o) => o === one)
    }
    items = items.filter((o) => inScope(o.symbol))
    const limit = pageLimit(s(p, 'limit'), PAGE[source])
    const got = page(items, (o) => o.orderId, limit, s(p, 'cursor'))
    return { category: cat, list: got.list.map((o) => order(cat, o)), nextPageCursor: got.nextPageCursor }
  }

  const routes = new Map<string, Route>(
    Object.entries({
      'GET /v5/market/time': {
        security: 'none',
        handler: () => {
          const t = serverTime()
          return { timeSecond: String(Math.floor(t / 1000)), timeNano: `${t}000000` }
        },
      },
      'GET /v5/market/instruments-info': {
        security: 'none',
        handler: (p) => {
          const c = s(p, 'category')
          // the venue lists inverse and option too; this account trades neither
          if (c === 'inverse' || c === 'option') return { category: c, list: [], nextPageCursor: '' }
          const cat = category(p)
          const listed = s(p, 'status') === 'PreLaunch' ? [] : symbols.filter((x) => !s(p, 'symbol') || x.id === s(p, 'symbol'))
          return { category: cat, list: listed.map((x) => instrument(cat, x)), nextPageCursor: '' }
        },
      },
      'GET /v5/market/tickers': {
        security: 'none',
        handler: (p) => {
          const cat = category(p)
          const listed = symbols.filter((x) => !s(p, 'symbol') || x.id === s(p, 'symbol'))
          return {
            category: cat,
            list: listed.map((x) => {
              const mid = engine.spec(x.id).mid
              return {
                symbol: x.id,
                lastPrice: String(mid),
                bid1Price: String(mid - x.tickSize),
                bid1Size: '1',
                ask1Price: String(mid + x.tickSize),
                ask1Size: '1',
              }
            }),
          }
        },
      },
      // ccxt asks both to learn whether the key belongs to a unified trading account
      'GET /v5/user/query-api': {
        security: 'signed',
        handler: () => ({
          id: '13770661',
          note: 'fake',
          apiKey,
          readOnly: 0,
          secret: '',
          permissions: { ContractTrade: ['Order', 'Position'], Spot: ['SpotTrade'], Wallet: ['AccountTransfer'] },
          ips: ['*'],
          type: 1,
          deadlineDay: 83,
          unified: 0,
          uta: 1,
          userID: 24600000,
          isMaster: true,
        }),
      },
      'GET /v5/account/info': {
        security: 'signed',
        handler: () => ({
          marginMode: 'REGULAR_MARGIN',
          updatedTime: String(serverTime()),
          unifiedMarginStatus: 6,
          dcpStatus: account.dcp.size > 0 ? 'ON' : 'OFF',
          timeWindow: account.dcp.get('DERIVATIVES') ?? 10,
          smpGroup: 0,
          isMasterTrader: false,
          spotHedgingStatus: 'OFF',
        }),
      },
      'GET /v5/asset/coin/query-info': {
        security: 'signed',
        handler: () => {
          const coins = [...new Set(symbols.flatMap((x) => [x.base, x.quote]))]
          return { rows: coins.map((coin) => ({ name: coin, coin, remainAmount: '1000000', chains: [] })) }
        },
      },
      'GET /v5/account/wallet-balance': {
        security: 'signed',
        handler: (p) => {
          if (s(p, 'accountType') !== 'UNIFIED') throw new BybitReject(10001, 'accountType only support UNIFIED.')
          const coins = [...engine.spotBalances.entries()].map(([coin, b]) => {
            const extra = coin === 'USDT' ? engine.futuresWallet : 0
            return walletCoin(coin, b.free + b.locked + extra, b.locked)
          })
          return { list: [{ accountType: 'UNIFIED', accountIMRate: '0', accountMMRate: '0', totalEquity: '0', coin: coins }] }
        },
      },
      'POST /v5/order/create': {
        security: 'signed',
        handler: (p) => {
          const cat = category(p)
          const reduceOnly = p.reduceOnly === true || p.reduceOnly === 'true'
          if (cat === 'spot' && reduceOnly) throw paramError('reduceOnly is not supported for spot')
          const o = account.place(cat, {
            symbol: s(p, 'symbol') ?? '',
            side: s(p, 'side') ?? '',
            orderType: s(p, 'orderType') ?? '',
            qty: qtyOf(cat, p),
            price: s(p, 'price') === undefined ? undefined : Number(s(p, 'price')),
            timeInForce: s(p, 'timeInForce'),
            orderLinkId: p.orderLinkId === undefined ? undefined : String(p.orderLinkId),
            reduceOnly,
          })
          return { orderId: venueOrderId(cat, o.orderId), orderLinkId: linkIdOf(o) }
        },
      },
      'POST /v5/order/cancel': {
        security: 'signed',
        handler: (p) => {
          const cat = category(p)
          const o = account.cancel(cat, s(p, 'symbol') ?? '', ref(p))
          return { orderId: venueOrderId(cat, o.orderId), orderLinkId: linkIdOf(o) }
        },
      },
      'POST /v5/order/cancel-batch': {
        security: 'signed',
        handler: (p) => {
          const cat = category(p)
          const requests = p.request
          if (!Array.isArray(requests) || requests.length === 0) throw paramError('request is required')
          if (requests.length > BATCH_MAX[cat]) throw paramError(`a batch holds at most ${BATCH_MAX[cat]} orders`)
          const list: Record<string, string>[] = []
          const codes: { code: number; msg: string }[] = []
          for (const item of requests as Params[]) {
            const symbol = s(item, 'symbol') ?? ''
            try {
              const o = account.cancel(cat, symbol, ref(item))
              list.push({ category: cat, symbol, orderId: venueOrderId(cat, o.orderId), orderLinkId: linkIdOf(o) })
              codes.push({ code: 0, msg: 'OK' })
            } catch (e) {
              if (!(e instanceof BybitReject)) throw e
              // the item echoes what was asked for, and only retExtInfo says it failed
              list.push({ category: cat, symbol, orderId: s(item, 'orderId') ?? '', orderLinkId: s(item, 'orderLinkId') ?? '' })
              codes.push({ code: e.retCode, msg: e.retMsg })
            }
          }
          return { list, [RET_EXT_INFO]: { list: codes } }
        },
      },
      'POST /v5/order/cancel-all': {
        security: 'signed',
        handler: (p) => {
          const cat = category(p)
          const inScope = symbolScope(cat, p)
          const canceled = account.open(cat).filter((o) => inScope(o.symbol))
          for (const o of canceled) engine.cancel(segmentOf(cat), o.symbol, { orderId: o.orderId })
          return { list: canceled.map((o) => ({ orderId: venueOrderId(cat, o.orderId), orderLinkId: linkIdOf(o) })), success: '1' }
        },
      },
      'GET /v5/order/realtime': { security: 'signed', handler: (p) => orderList(category(p), p, 'realtime') },
      'GET /v5/order/history': { security: 'signed', handler: (p) => orderList(category(p), p, 'history') },
      'GET /v5/execution/list': {
        security: 'signed',
        handler: (p) => {
          const cat = category(p)
          const symbol = s(p, 'symbol')
          if (symbol) account.spec(symbol)
          const wanted = ref(p)
          const one = wanted.orderId || wanted.orderLinkId ? account.find(cat, wanted) : undefined
          const start = Number(s(p, 'startTime') ?? 0)
          const end = Number(s(p, 'endTime') ?? Number.MAX_SAFE_INTEGER)
          const items = account
            .trades(cat)
            .filter((t) => (!symbol || t.symbol === symbol) && t.time >= start && t.time <= end)
            .filter((t) => !(wanted.orderId || wanted.orderLinkId) || (one !== undefined && t.orderId === one.orderId))
          const got = page(items, (t) => t.id, pageLimit(s(p, 'limit'), PAGE.executions), s(p, 'cursor'))
          return { category: cat, list: got.list.map((t) => execution(cat, t, account.orderOf(cat, t))), nextPageCursor: got.nextPageCursor }
        },
      },
      'GET /v5/position/list': {
        security: 'signed',
        handler: (p) => {
          const cat = category(p)
          if (cat !== 'linear') throw paramError('category only support linear, inverse or option')
          const symbol = s(p, 'symbol')
          const inScope = symbolScope(cat, p)
          const held = [...engine.symbols.keys()]
            .filter(inScope)
            .map((x) => ({ symbol: x, p: engine.position(x) }))
            // asked by symbol, Bybit shows the symbol even when flat; otherwise only what is held
            .filter((x) => symbol !== undefined || x.p.amt !== 0)
            .map((x, i) => ({ ...x, key: 1_000_000 - i }))
          const got = page(held, (x) => x.key, pageLimit(s(p, 'limit'), PAGE.positions), s(p, 'cursor'))
          const now = serverTime()
          return { category: cat, list: got.list.map((x) => position(x.symbol, x.p, engine.spec(x.symbol).mid, now)), nextPageCursor: got.nextPageCursor }
        },
      },
      'POST /v5/order/disconnected-cancel-all': {
        security: 'signed',
        handler: (p) => {
          account.armDcp(s(p, 'product') ?? 'OPTIONS', Number(p.timeWindow))
          return {}
        },
      },
    }),
  )

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

  const sign = (payload: string): string => createHmac('sha256', secret).update(payload).digest('hex')
  const sameSignature = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
  const header = (req: IncomingMessage, name: string): string | undefined => {
    const v = req.headers[name]
    return Array.isArray(v) ? v[0] : v
  }

  /** Key, then signature over timestamp + key + recvWindow + payload, then Bybit's window: now - recvWindow ≤ ts < now + 1000. */
  const authenticate = (req: IncomingMessage, payload: string): void => {
    if (header(req, 'x-bapi-api-key') !== apiKey) throw new BybitReject(10003, 'API key is invalid.')
    const timestamp = header(req, 'x-bapi-timestamp') ?? ''
    const recvWindow = header(req, 'x-bapi-recv-window') ?? '5000'
    const signature = header(req, 'x-bapi-sign') ?? ''
    if (!/^\d+$/.test(timestamp)) throw new BybitReject(10002, 'invalid request, please check your timestamp')
    const expected = sign(`${timestamp}${apiKey}${recvWindow}${payload}`)
    if (!sameSignature(expected, signature)) throw new BybitReject(10004, `error sign! origin_string[${timestamp}${apiKey}${recvWindow}${payload}]`)
    const now = serverTime()
    const ts = Number(timestamp)
    if (!(now - Number(recvWindow) <= ts && ts < now + 1000)) {
      throw new BybitReject(
        10002,
        `invalid request, please check your server timestamp or recv_window param. req_timestamp[${ts}],server_timestamp[${now}],recv_window[${recvWindow}]`,
      )
    }
  }

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

  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
      req.on('error', reject)
    })

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
        if (route.security === 'signed') authenticate(req, method === 'POST' ? body : url.search.slice(1))
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
    close: async () => {
      engine.stop()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
