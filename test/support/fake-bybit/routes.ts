import type { FakeExchangeEngine, SymbolSpec } from '../fake-binance/index.js'
import { BATCH_MAX, page, pageLimit, PAGE, type BybitAccount, type OrderRef } from './account.js'
import { BybitReject, paramError, type Category } from './codes.js'
import { execution, instrument, linkIdOf, order, position, segmentOf, venueOrderId, walletCoin } from './wire.js'

export type Params = Record<string, unknown>
export type Route = { security: 'none' | 'signed'; handler: (p: Params) => unknown }

/** A handler's result may carry the answer's `retExtInfo` under this key; JSON leaves symbol keys out. */
export const RET_EXT_INFO = Symbol('retExtInfo')

const CATEGORIES: readonly string[] = ['spot', 'linear']
const s = (p: Params, key: string): string | undefined => {
  const v = p[key]
  return v === undefined || v === null || v === '' ? undefined : String(v)
}

export type RouteContext = {
  engine: FakeExchangeEngine
  account: BybitAccount
  symbols: readonly SymbolSpec[]
  apiKey: string
  serverTime: () => number
}

/** Bybit v5's endpoints, `METHOD /path` to handler: what each reads from its parameters and answers in `result`. */
export function bybitRoutes({ engine, account, symbols, apiKey, serverTime }: RouteContext): Map<string, Route> {
  const category = (p: Params): Category => {
    const c = s(p, 'category')
    if (!c) throw paramError('category is required')
    if (!CATEGORIES.includes(c)) throw paramError(`category ${c} is not supported`)
    return c as Category
  }
  /** Linear open orders, positions and cancel-all need a symbol, a baseCoin or a settleCoin; order history and spot take any. */
  const symbolScope = (cat: Category, p: Params, scopeRequired = true): ((symbol: string) => boolean) => {
    const symbol = s(p, 'symbol')
    if (symbol) {
      account.spec(symbol)
      return (x) => x === symbol
    }
    const base = s(p, 'baseCoin')
    const settle = s(p, 'settleCoin')
    if (scopeRequired && cat === 'linear' && !base && !settle) throw paramError('symbol, baseCoin or settleCoin is required')
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
    const inScope = symbolScope(cat, p, source === 'realtime')
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

  return new Map<string, Route>(
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
}
