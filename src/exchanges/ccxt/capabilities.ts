import type { Exchange, Market } from 'ccxt'
import type { Capabilities } from '../gateway.js'

/**
 * What ccxt's `has` flags do not say, checked against ccxt 4.5.84:
 * - whose cancel-all covers the whole account in one call (Binance and Bybit need a symbol);
 * - how many orders one batched cancel may carry;
 * - where `cancelOrders` exists only for some market types (Binance: contracts only);
 * - whose `cancelAllOrdersAfter` is a cancel-on-disconnect window rather than a countdown;
 * - where the countdown lives in an implicit endpoint (Binance futures);
 * - whose cancel answers name the order and nothing else (OKX, Bybit: no status, no filled quantity).
 */
const ACCOUNT_WIDE_CANCEL_ALL = new Set(['kraken', 'krakenfutures', 'deribit', 'kucoin', 'kucoinfutures'])
const BATCH_CANCEL_MAX: Readonly<Record<string, number>> = { binance: 10, binanceusdm: 10, binancecoinm: 10, okx: 20, bybit: 10, kraken: 50 }
/** Where contracts take larger batches than spot (Bybit: 20 on linear, 10 on spot). */
const BATCH_CANCEL_MAX_CONTRACTS: Readonly<Record<string, number>> = { bybit: 20 }
const DEFAULT_BATCH_CANCEL_MAX = 10
const BATCH_CANCEL_CONTRACTS_ONLY = new Set(['binance', 'binanceusdm', 'binancecoinm'])
const CANCEL_ON_DISCONNECT = new Set(['bybit'])
const BINANCE_FAMILY = new Set(['binance', 'binanceusdm', 'binancecoinm'])
/** Whose cancel answers (single, batch) carry no status and no filled quantity. */
const CANCEL_ANSWERS_WITHOUT_FILLS = new Set(['okx', 'bybit'])

/** The market type a gateway trades: `options.defaultType` as ccxt uses it (`spot`, `swap`, `future`, …). */
export const defaultTypeOf = (exchange: Exchange): string => String((exchange.options as Record<string, unknown>).defaultType ?? 'spot')
const isDerivativeType = (type: string): boolean => type !== 'spot' && type !== 'margin'

/** The implicit countdown endpoint for a Binance contract market, if there is one. */
export function binanceCountdownMethod(
  exchange: Exchange,
  market: Market,
): 'fapiPrivatePostCountdownCancelAll' | 'dapiPrivatePostCountdownCancelAll' | undefined {
  if (!BINANCE_FAMILY.has(exchange.id) || !market?.contract) return undefined
  return market.inverse ? 'dapiPrivatePostCountdownCancelAll' : 'fapiPrivatePostCountdownCancelAll'
}

export type CapabilityOverrides = Partial<Capabilities>

export function deriveCapabilities(exchange: Exchange, options: { stream: boolean; overrides?: CapabilityOverrides }): Capabilities {
  const has = exchange.has as Record<string, boolean | 'emulated' | undefined>
  const type = defaultTypeOf(exchange)
  const derivative = isDerivativeType(type)
  const id = exchange.id

  const massCancel: Capabilities['massCancel'] = has.cancelAllOrders ? (ACCOUNT_WIDE_CANCEL_ALL.has(id) ? 'account' : 'per-symbol') : 'none'
  const batchMax = (derivative ? BATCH_CANCEL_MAX_CONTRACTS[id] : undefined) ?? BATCH_CANCEL_MAX[id] ?? DEFAULT_BATCH_CANCEL_MAX
  const batchCancel = has.cancelOrders && (derivative || !BATCH_CANCEL_CONTRACTS_ONLY.has(id)) ? batchMax : 0
  const deadMansSwitch: Capabilities['deadMansSwitch'] =
    BINANCE_FAMILY.has(id) && derivative
      ? 'countdown'
      : has.cancelAllOrdersAfter
        ? CANCEL_ON_DISCONNECT.has(id)
          ? 'cancel-on-disconnect'
          : 'countdown'
        : 'none'

  return {
    massCancel,
    batchCancel,
    deadMansSwitch,
    reduceOnly: derivative && !!has.createReduceOnlyOrder,
    streamingUpdates: options.stream,
    positions: derivative && !!has.fetchPositions,
    cancelAnswersOmitFills: CANCEL_ANSWERS_WITHOUT_FILLS.has(id),
    ...options.overrides,
  }
}

type FeatureSet = { fetchOpenOrders?: { symbolRequired?: boolean } }

/** `features[type]` is a feature set for spot, and one per sub-type (linear, inverse) for contracts. */
export function openOrdersNeedSymbol(exchange: Exchange): boolean {
  const byType = ((exchange.features ?? {}) as Record<string, unknown>)[defaultTypeOf(exchange)] as (FeatureSet & Record<string, unknown>) | undefined
  if (!byType) return false
  const set: FeatureSet | undefined = byType.fetchOpenOrders ? byType : ((byType.linear ?? Object.values(byType)[0]) as FeatureSet | undefined)
  return !!set?.fetchOpenOrders?.symbolRequired
}

/** Whether the instance can push order updates at all (a ccxt.pro class). */
export const canStream = (exchange: Exchange): boolean => {
  const has = exchange.has as Record<string, unknown>
  return has.watchOrders === true && typeof (exchange as unknown as { watchOrders?: unknown }).watchOrders === 'function'
}
