import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { DEFAULT_SYMBOLS, FakeExchangeEngine, type FakeOrder, type SymbolSpec } from '../fake-binance/engine.js'
import { FaultSwitchboard } from '../fake-binance/faults.js'
import { OkxReject, fromEngine, isEngineReject, okxErrors } from './codes.js'
import { Instruments, rawInstrument, type Instrument } from './instruments.js'
import { authenticate } from './signing.js'
import { balanceDetail, fill, orderDetail, position, ticker } from './wire.js'
import { readBody } from '../http-body.js'

/**
 * An OKX v5-compatible venue on 127.0.0.1: the REST subset `ccxt.okx` uses to load markets, trade
 * spot and linear perpetuals (net position mode) on a unified account, cancel one by one or 20 to
 * a batch, page through open orders and fills, and keep the dead man's switch
 * (`cancel-all-after`). Private requests are checked as OKX checks them (key, passphrase, base64
 * HMAC-SHA256 of timestamp + method + path + body, a 30 s timestamp window).
 *
 * Orders match in the fake Binance's engine (its spot segment for SPOT, its futures segment for
 * SWAP); this server speaks OKX on the wire. ccxt reaches it by `urls.api.rest`.
 */
export type FakeOkxOptions = {
  apiKey?: string
  secret?: string
  passphrase?: string
  symbols?: SymbolSpec[]
  balances?: Record<string, number>
  /** The USDT that backs perpetual positions, besides the spot balances. */
  futuresWallet?: number
  /**
   * How long the dead man's switch takes for one of its seconds (1000 by default); a test
   * shortens it to see the switch fire without waiting OKX's 10 s minimum.
   */
  switchSecondMs?: number
}

/** A private request as the venue received it: what a test reads to see what left the client. */
export type RecordedRequest = { method: string; path: string; query: Record<string, string>; body: unknown }

export type FakeOkx = {
  readonly origin: string
  readonly apiKey: string
  readonly secret: string
  readonly passphrase: string
  readonly engine: FakeExchangeEngine
  readonly instruments: Instruments
  readonly faults: FaultSwitchboard
  /** Moves the venue's clock (for 50102 tests); ccxt's `loadTimeDifference` reads it from `/public/time`. */
  clockOffsetMs: number
  /** Requests that matched no route, as `METHOD /path`: a test that sees one has found a gap. */
  readonly unrouted: string[]
  /** Every private request, in arrival order. */
  readonly requests: RecordedRequest[]
  /**
   * Fields of a place-order item that OKX does not define, as `field` — OKX ignores them, so
   * only this list shows that a client sent something of its own to the venue.
   */
  readonly ignoredFields: string[]
  /** Fields the answer to a lookup of one order (`GET /api/v5/trade/order`) leaves out, as a venue that does not say them. */
  readonly lookupOmits: Set<string>
  /**
   * Runs `fn` with the parsed body of the next request to `route` (`'POST /api/v5/trade/cancel-batch-orders'`)
   * just before the venue handles it: the market moving between a client's read and its write.
   */
  beforeNext(route: string, fn: (body: unknown) => void): void
  /** Fills a resting order completely at its price, as the market trading through it would. */
  fill(ordId: string): void
  /** When the armed `cancel-all-after` fires (ms, venue clock), or undefined when disarmed. */
  deadMansSwitch(): number | undefined
  /** Places a resting order directly in the book, as another program on the account would. */
  rest(order: { instId: string; side: 'buy' | 'sell'; sz: number; px: number; clOrdId?: string }): string
  /** Open orders at the venue (both instrument types). */
  openCount(): number
  close(): Promise<void>
}

export const FAKE_OKX_KEY = 'fake-okx-key-0123456789abcdef'
export const FAKE_OKX_SECRET = 'FAKEOKXSECRET0123456789ABCDEF'
export const FAKE_OKX_PASSPHRASE = 'fake-okx-passphrase'

/** OKX's rule for `clOrdId`: 1 to 32 letters and digits. */
export const CL_ORD_ID = /^[A-Za-z0-9]{1,32}$/
const PAGE_MAX = 100
const BATCH_MAX = 20
/** `cancel-all-after` takes 0 (disarm) or 10 to 120 seconds. */
const DMS_MIN_S = 10
const DMS_MAX_S = 120
const PLACE_FIELDS = new Set([
  'instId',
  'tdMode',
  'ccy',
  'clOrdId',
  'tag',
  'side',
  'posSide',
  'ordType',
  'sz',
  'px',
  'pxUsd',
  'pxVol',
  'reduceOnly',
  'tgtCcy',
  'banAmend',
  'pxAmendType',
  'tradeQuoteCcy',
  'stpId',
  'stpMode',
  'attachAlgoOrds',
  'isElpTakerAccess',
])

type Params = Record<string, unknown>
type Envelope = { code: string; msg: string; data: unknown[] }
type Route = { signed: boolean; handler: (query: URLSearchParams, body: unknown) => Envelope }
type Item = Record<string, string>

const ok = (data: unknown[]): Envelope => ({ code: '0', msg: '', data })
/** A batch's top-level code: 0 all done, 2 some failed, 1 all failed. */
const batch = (items: Item[]): Envelope => {
  const failed = items.filter((i) => i.sCode !== '0').length
  if (failed === 0) return ok(items)
  if (failed === items.length) return { code: '1', msg: 'All operations failed', data: items }
  return { code: '2', msg: 'Bulk operation partially succeeded', data: items }
}

export async function startFakeOkx(options: FakeOkxOptions = {}): Promise<FakeOkx> {
  const creds = {
    apiKey: options.apiKey ?? FAKE_OKX_KEY,
    secret: options.secret ?? FAKE_OKX_SECRET,
    passphrase: options.passphrase ?? FAKE_OKX_PASSPHRASE,
  }
  const state = { clockOffsetMs: 0 }
  const now = (): number => Date.now() + state.clockOffsetMs
  const engine = new FakeExchangeEngine(options.symbols ?? DEFAULT_SYMBOLS, options.balances, options.futuresWallet, now)
  const instruments = new Instruments(engine.symbols.values())
  const faultBoard = new FaultSwitchboard()
  const unrouted: string[] = []
  const requests: RecordedRequest[] = []
  const ignoredFields: string[] = []
  const lookupOmits = new Set<string>()
  let dms: { timer: NodeJS.Timeout; at: number } | undefined
  const before = new Map<string, (body: unknown) => void>()
  let anonymous = 0

  // the engine needs a unique client id for every order; one placed without clOrdId gets a
  // placeholder that is never shown on the wire
  const ANON = '\u0000'
  const clOrdIdOf = (o: { clientOrderId: string }): string => (o.clientOrderId.startsWith(ANON) ? '' : o.clientOrderId)
  const instOf = (o: { segment: FakeOrder['segment']; symbol: string }): Instrument => instruments.of(o.segment, o.symbol)
  const detail = (o: FakeOrder): Item => orderDetail(o, instOf(o), instruments, clOrdIdOf(o))

  const text = (v: unknown): string | undefined => (v === undefined || v === null || v === '' ? undefined : String(v))
  const required = (p: Params, name: string): string => {
    const v = text(p[name])
    if (v === undefined) throw okxErrors.paramEmpty(name)
    return v
  }
  const positive = (p: Params, name: string): number => {
    const n = Number(required(p, name))
    if (!Number.isFinite(n) || n <= 0) throw okxErrors.paramError(name)
    return n
  }
  const items = (body: unknown): Params[] => {
    const list = Array.isArray(body) ? body : [body]
    if (list.length === 0) throw okxErrors.bodyEmpty()
    if (list.length > BATCH_MAX)
      throw new OkxReject('51000', `Parameter ${Array.isArray(body) ? 'data' : 'request'} error: at most ${BATCH_MAX} orders per request`, 400)
    for (const p of list) if (p === null || typeof p !== 'object' || Array.isArray(p)) throw okxErrors.badJson()
    return list as Params[]
  }
  const find = (inst: Instrument, p: Params): FakeOrder | undefined => {
    const ordId = text(p.ordId)
    const clOrdId = text(p.clOrdId)
    if (ordId === undefined && clOrdId === undefined) throw new OkxReject('50015', 'Either parameter ordId or clOrdId is required.', 400)
    if (ordId !== undefined) return /^\d+$/.test(ordId) ? engine.find(inst.segment, { orderId: Number(ordId) }, inst.spec.id) : undefined
    return engine.find(inst.segment, { clientOrderId: clOrdId }, inst.spec.id)
  }
  /** Request-level checks of one place item, before any is placed (a bad one refuses the request). */
  const checkPlace = (p: Params): void => {
    instruments.get(text(p.instId))
    required(p, 'tdMode')
    const side = required(p, 'side')
    if (side !== 'buy' && side !== 'sell') throw okxErrors.paramError('side')
    const ordType = required(p, 'ordType')
    if (!['market', 'limit', 'post_only', 'fok', 'ioc'].includes(ordType)) throw okxErrors.paramError('ordType')
    positive(p, 'sz')
    if (ordType !== 'market') positive(p, 'px')
    const clOrdId = p.clOrdId
    if (clOrdId !== undefined && !(typeof clOrdId === 'string' && CL_ORD_ID.test(clOrdId))) throw okxErrors.paramError('clOrdId')
    for (const field of Object.keys(p)) if (!PLACE_FIELDS.has(field)) ignoredFields.push(field)
  }
  const placeOne = (p: Params): Item => {
    const inst = instruments.get(text(p.instId))
    const clOrdId = text(p.clOrdId) ?? ''
    const ts = String(now())
    try {
      const ordType = String(p.ordType)
      const o = engine.place(inst.segment, {
        symbol: inst.spec.id,
        side: p.side === 'buy' ? 'BUY' : 'SELL',
        type: ordType === 'market' ? 'MARKET' : 'LIMIT',
        quantity: instruments.toBase(inst, Number(p.sz)),
        price: ordType === 'market' ? undefined : Number(p.px),
        timeInForce: ordType === 'ioc' ? 'IOC' : ordType === 'fok' ? 'FOK' : ordType === 'post_only' ? 'GTX' : 'GTC',
        clientOrderId: clOrdId || `${ANON}${++anonymous}`,
        reduceOnly: p.reduceOnly === true || p.reduceOnly === 'true',
      })
      return { clOrdId, ordId: String(o.orderId), tag: text(p.tag) ?? '', ts, sCode: '0', sMsg: 'Order placed' }
    } catch (e) {
      const r = refusal(e, inst.spec.quote)
      return { clOrdId, ordId: '', tag: text(p.tag) ?? '', ts, sCode: r.code, sMsg: r.msg }
    }
  }
  const cancelOne = (p: Params): Item => {
    const ordId = text(p.ordId) ?? ''
    const clOrdId = text(p.clOrdId) ?? ''
    const ts = String(now())
    try {
      const inst = instruments.get(text(p.instId))
      const o = find(inst, p)
      if (!o) throw okxErrors.cancelUnknown()
      if (o.status === 'CANCELED' || o.status === 'EXPIRED') throw okxErrors.cancelCanceled()
      if (o.status === 'FILLED') throw okxErrors.cancelFilled()
      engine.cancel(inst.segment, inst.spec.id, { orderId: o.orderId })
      return { ordId: String(o.orderId), clOrdId: clOrdIdOf(o), ts, sCode: '0', sMsg: '' }
    } catch (e) {
      if (e instanceof OkxReject && e.code.startsWith('50')) throw e
      const r = refusal(e, '')
      return { ordId, clOrdId, ts, sCode: r.code, sMsg: r.msg }
    }
  }
  const refusal = (e: unknown, ccy: string): OkxReject => {
    if (e instanceof OkxReject) return e
    if (isEngineReject(e)) return fromEngine(e, ccy)
    throw e
  }

  /** Newest first; `after` = records older than that id, `before` = newer; at most 100. */
  const page = <T>(list: T[], idOf: (t: T) => number, q: URLSearchParams): T[] => {
    const limit = q.has('limit') ? Number(q.get('limit')) : PAGE_MAX
    if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_MAX) throw okxErrors.paramError('limit')
    const after = q.get('after')
    const before = q.get('before')
    return list
      .filter((t) => (after ? idOf(t) < Number(after) : true) && (before ? idOf(t) > Number(before) : true))
      .sort((a, b) => idOf(b) - idOf(a))
      .slice(0, limit)
  }
  const instFilter = (q: URLSearchParams, required: boolean): ((inst: Instrument) => boolean) => {
    const instType = q.get('instType')
    if (required && !instType) throw okxErrors.paramEmpty('instType')
    const instId = q.get('instId')
    if (instId) instruments.get(instId)
    return (inst) => (!instType || inst.instType === instType) && (!instId || inst.instId === instId)
  }
  const fills = (q: URLSearchParams, instTypeRequired: boolean): Envelope => {
    const wanted = instFilter(q, instTypeRequired)
    const ordId = q.get('ordId')
    const begin = q.has('begin') ? Number(q.get('begin')) : undefined
    const end = q.has('end') ? Number(q.get('end')) : undefined
    const list = engine.trades.filter(
      (t) => wanted(instOf(t)) && (!ordId || String(t.orderId) === ordId) && (begin === undefined || t.time >= begin) && (end === undefined || t.time <= end),
    )
    const order = (t: (typeof list)[number]) => engine.orders[t.segment].get(t.orderId)
    return ok(page(list, (t) => t.id, q).map((t) => fill(t, instOf(t), instruments, order(t) ? clOrdIdOf(order(t)!) : '')))
  }
  const switchSecondMs = options.switchSecondMs ?? 1_000
  const armDeadMansSwitch = (seconds: number): number => {
    if (dms) clearTimeout(dms.timer)
    dms = undefined
    if (seconds === 0) return 0
    const at = now() + seconds * switchSecondMs
    dms = {
      at,
      timer: setTimeout(() => {
        dms = undefined
        for (const segment of ['spot', 'futures'] as const) for (const spec of engine.symbols.values()) engine.cancelAll(segment, spec.id)
      }, seconds * switchSecondMs),
    }
    return at
  }

  const routes = new Map<string, Route>(
    Object.entries({
      'GET /api/v5/public/time': { signed: false, handler: () => ok([{ ts: String(now()) }]) },
      'GET /api/v5/system/status': { signed: false, handler: () => ok([]) },
      'GET /api/v5/market/ticker': { signed: false, handler: (q) => ok([ticker(instruments.get(q.get('instId') ?? undefined), now())]) },
      'GET /api/v5/market/tickers': {
        signed: false,
        handler: (q) => {
          const instType = q.get('instType')
          if (!instType) throw okxErrors.paramEmpty('instType')
          return ok(instruments.list(instType).map((i) => ticker(i, now())))
        },
      },
      'GET /api/v5/public/instruments': {
        signed: false,
        handler: (q) => {
          const instType = q.get('instType')
          if (!instType) throw okxErrors.paramEmpty('instType')
          const instId = q.get('instId')
          return ok(
            instruments
              .list(instType)
              .filter((i) => !instId || i.instId === instId)
              .map(rawInstrument),
          )
        },
      },
      'GET /api/v5/asset/currencies': {
        signed: true,
        handler: () => {
          const ccys = new Set([...engine.symbols.values()].flatMap((s) => [s.base, s.quote]))
          return ok(
            [...ccys].map((ccy) => ({
              ccy,
              name: ccy,
              chain: `${ccy}-${ccy}`,
              canDep: true,
              canWd: true,
              canInternal: true,
              minWd: '0.001',
              maxWd: '1000000',
              minFee: '0',
              maxFee: '0',
              fee: '0',
              mainNet: true,
              wdTickSz: '8',
            })),
          )
        },
      },
      'GET /api/v5/account/balance': {
        signed: true,
        handler: (q) => {
          const only = q.get('ccy')?.split(',')
          const quoteOfSwaps = new Set([...engine.symbols.values()].map((s) => s.quote))
          const ccys = new Set([...engine.spotBalances.keys(), ...quoteOfSwaps])
          const details = [...ccys]
            .filter((ccy) => !only || only.includes(ccy))
            .map((ccy) => {
              const spot = engine.spotBalances.get(ccy) ?? { free: 0, locked: 0 }
              // one unified account: the perpetuals' USDT sits beside the spot USDT
              const extra = ccy === 'USDT' ? engine.futuresWallet : 0
              return balanceDetail(ccy, spot.free + extra, spot.locked, now())
            })
          return ok([
            { uTime: String(now()), totalEq: '', isoEq: '0', adjEq: '', ordFroz: '', imr: '', mmr: '', mgnRatio: '', notionalUsd: '', upl: '0', details },
          ])
        },
      },
      'GET /api/v5/account/positions': {
        signed: true,
        handler: (q) => {
          const instType = q.get('instType')
          const ids = q.get('instId')?.split(',')
          if (ids && ids.length > 10) throw okxErrors.paramError('instId')
          for (const id of ids ?? []) instruments.get(id)
          const list = [...engine.positions.entries()]
            .map(([symbol, pos]) => ({ inst: instruments.of('futures', symbol), pos }))
            .filter(({ inst, pos }) => pos.amt !== 0 && (!instType || instType === inst.instType) && (!ids || ids.includes(inst.instId)))
          return ok(list.map(({ inst, pos }, i) => position(inst, instruments, pos, String(700_000_000 + i), now())))
        },
      },
      'POST /api/v5/trade/order': {
        signed: true,
        handler: (_q, body) => {
          if (Array.isArray(body)) throw okxErrors.badJson()
          const [p] = items(body)
          checkPlace(p!)
          return batch([placeOne(p!)])
        },
      },
      'POST /api/v5/trade/batch-orders': {
        signed: true,
        handler: (_q, body) => {
          const list = items(body)
          for (const p of list) checkPlace(p)
          return batch(list.map(placeOne))
        },
      },
      'POST /api/v5/trade/cancel-order': {
        signed: true,
        handler: (_q, body) => {
          if (Array.isArray(body)) throw okxErrors.badJson()
          return batch(items(body).map(cancelOne))
        },
      },
      'POST /api/v5/trade/cancel-batch-orders': { signed: true, handler: (_q, body) => batch(items(body).map(cancelOne)) },
      'GET /api/v5/trade/order': {
        signed: true,
        handler: (q) => {
          const inst = instruments.get(q.get('instId') ?? undefined)
          const o = find(inst, Object.fromEntries(q))
          if (!o) throw okxErrors.orderNotFound()
          return ok([Object.fromEntries(Object.entries(detail(o)).filter(([field]) => !lookupOmits.has(field)))])
        },
      },
      'GET /api/v5/trade/orders-pending': {
        signed: true,
        handler: (q) => {
          const wanted = instFilter(q, false)
          const open = [...engine.open('spot'), ...engine.open('futures')].filter((o) => wanted(instOf(o)))
          return ok(page(open, (o) => o.orderId, q).map(detail))
        },
      },
      'GET /api/v5/trade/fills': { signed: true, handler: (q) => fills(q, false) },
      'GET /api/v5/trade/fills-history': { signed: true, handler: (q) => fills(q, true) },
      'POST /api/v5/trade/cancel-all-after': {
        signed: true,
        handler: (_q, body) => {
          const p = (body ?? {}) as Params
          const raw = required(p, 'timeOut')
          const seconds = Number(raw)
          if (!Number.isInteger(seconds) || (seconds !== 0 && (seconds < DMS_MIN_S || seconds > DMS_MAX_S))) throw okxErrors.paramError('timeOut')
          const at = armDeadMansSwitch(seconds)
          return ok([{ triggerTime: String(at), tag: text(p.tag) ?? '', ts: String(now()) }])
        },
      },
    }),
  )

  const reply = (res: ServerResponse, status: number, body: string, contentType = 'application/json'): void => {
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }
  const server = createServer((req, res) => {
    void (async () => {
      const requestPath = req.url ?? '/'
      const url = new URL(requestPath, 'http://127.0.0.1')
      const method = req.method ?? 'GET'
      const raw = await readBody(req)
      const route = routes.get(`${method} ${url.pathname}`)
      if (!route) {
        unrouted.push(`${method} ${url.pathname}`)
        return reply(res, 404, '<html><body>404 Not Found</body></html>', 'text/html')
      }
      const fault = faultBoard.take(method, url.pathname)
      if (fault?.kind === 'status') return reply(res, fault.status, fault.body, fault.contentType)
      if (fault?.kind === 'hang') return // the socket stays open; closeAllConnections() ends it
      try {
        if (route.signed) authenticate(creds, req.headers, method, requestPath, raw, now())
        let body: unknown
        if (raw !== '') {
          try {
            body = JSON.parse(raw)
          } catch {
            throw okxErrors.badJson()
          }
        }
        if (route.signed) requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), body })
        const hook = before.get(`${method} ${url.pathname}`)
        before.delete(`${method} ${url.pathname}`)
        hook?.(body)
        const result = route.handler(url.searchParams, body)
        if (fault?.kind === 'lose-response') return void req.socket.destroy()
        reply(res, 200, JSON.stringify(result))
      } catch (e) {
        if (fault?.kind === 'lose-response') return void req.socket.destroy()
        if (e instanceof OkxReject) return reply(res, e.status, JSON.stringify({ code: e.code, msg: e.msg, data: [] }))
        reply(res, 500, JSON.stringify({ code: '50026', msg: `fake venue bug: ${(e as Error).message}`, data: [] }))
      }
    })().catch(() => res.destroy())
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    origin: `http://127.0.0.1:${port}`,
    ...creds,
    engine,
    instruments,
    faults: faultBoard,
    get clockOffsetMs() {
      return state.clockOffsetMs
    },
    set clockOffsetMs(ms: number) {
      state.clockOffsetMs = ms
    },
    unrouted,
    requests,
    ignoredFields,
    lookupOmits,
    beforeNext: (route, fn) => void before.set(route, fn),
    fill: (ordId) => {
      const o = engine.orders.spot.get(Number(ordId)) ?? engine.orders.futures.get(Number(ordId))
      if (!o) throw new Error(`fake-okx: no order ${ordId} to fill`)
      engine.fillResting(o.segment, o.clientOrderId)
    },
    deadMansSwitch: () => dms?.at,
    rest: ({ instId, side, sz, px, clOrdId }) => {
      const p = { instId, side, sz: String(sz), px: String(px), ordType: 'limit', tdMode: instId.endsWith('-SWAP') ? 'cross' : 'cash', clOrdId }
      checkPlace(p)
      const item = placeOne(p)
      if (item.sCode !== '0') throw new Error(`fake-okx: could not rest ${instId} ${side} ${sz}@${px}: ${item.sCode} ${item.sMsg}`)
      return item.ordId!
    },
    openCount: () => engine.open('spot').length + engine.open('futures').length,
    close: async () => {
      if (dms) clearTimeout(dms.timer)
      engine.stop()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
