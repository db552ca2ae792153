import type { BinanceStatus, FakeOrder, FakeTrade, Position } from '../fake-binance/engine.js'
import type { Instrument, Instruments } from './instruments.js'

// OKX v5's JSON shapes, as its docs show them; ccxt's okx parsers read these fields. Every
// number travels as a string, every time as a string of milliseconds.

const s = (x: number): string => String(Math.round(x * 1e10) / 1e10)

const STATE: Record<BinanceStatus, string> = {
  NEW: 'live',
  PARTIALLY_FILLED: 'partially_filled',
  FILLED: 'filled',
  CANCELED: 'canceled',
  // an IOC/FOK remainder that did not trade: OKX reports it canceled
  EXPIRED: 'canceled',
}

/** OKX's order type from the engine's type and time in force. */
const ordType = (o: FakeOrder): string =>
  o.type === 'MARKET' ? 'market' : o.timeInForce === 'IOC' ? 'ioc' : o.timeInForce === 'FOK' ? 'fok' : o.timeInForce === 'GTX' ? 'post_only' : 'limit'

/** The order as `GET /trade/order` and `/trade/orders-pending` list it. */
export function orderDetail(o: FakeOrder, inst: Instrument, instruments: Instruments, clOrdId: string): Record<string, string> {
  const avg = o.executed > 0 ? o.cumQuote / o.executed : 0
  return {
    instType: inst.instType,
    instId: inst.instId,
    tgtCcy: inst.instType === 'SPOT' ? 'base_ccy' : '',
    ccy: '',
    ordId: String(o.orderId),
    clOrdId,
    tag: '',
    px: o.type === 'LIMIT' ? s(o.price) : '',
    pxUsd: '',
    pxVol: '',
    pxType: '',
    sz: instruments.fromBase(inst, o.qty),
    pnl: '0',
    ordType: ordType(o),
    side: o.side === 'BUY' ? 'buy' : 'sell',
    posSide: inst.instType === 'SWAP' ? 'net' : '',
    tdMode: inst.instType === 'SWAP' ? 'cross' : 'cash',
    accFillSz: instruments.fromBase(inst, o.executed),
    fillPx: avg > 0 ? s(avg) : '',
    tradeId: '',
    fillSz: '0',
    fillTime: o.executed > 0 ? String(o.updateTime) : '',
    avgPx: avg > 0 ? s(avg) : '',
    state: STATE[o.status],
    lever: inst.instType === 'SWAP' ? '10' : '',
    attachAlgoClOrdId: '',
    tpTriggerPx: '',
    tpTriggerPxType: '',
    tpOrdPx: '',
    slTriggerPx: '',
    slTriggerPxType: '',
    slOrdPx: '',
    attachAlgoOrds: '',
    stpId: '',
    stpMode: 'cancel_maker',
    feeCcy: inst.spec.quote,
    fee: '0',
    rebateCcy: inst.spec.quote,
    rebate: '0',
    source: '',
    category: 'normal',
    reduceOnly: String(o.reduceOnly),
    isTpLimit: 'false',
    cancelSource: o.status === 'CANCELED' ? '1' : '',
    cancelSourceReason: o.status === 'CANCELED' ? 'Order canceled by user' : '',
    quickMgnType: '',
    algoClOrdId: '',
    algoId: '',
    uTime: String(o.updateTime),
    cTime: String(o.time),
  }
}

/** One fill as `GET /trade/fills` and `/trade/fills-history` list it. */
export function fill(t: FakeTrade, inst: Instrument, instruments: Instruments, clOrdId: string): Record<string, string> {
  return {
    instType: inst.instType,
    instId: inst.instId,
    tradeId: String(t.id),
    ordId: String(t.orderId),
    clOrdId,
    billId: String(t.id),
    subType: t.side === 'BUY' ? '1' : '2',
    tag: '',
    fillPx: s(t.price),
    fillSz: instruments.fromBase(inst, t.qty),
    fillIdxPx: '',
    fillPnl: '0',
    fillPxVol: '',
    fillPxUsd: '',
    fillMarkVol: '',
    fillFwdPx: '',
    fillMarkPx: '',
    side: t.side === 'BUY' ? 'buy' : 'sell',
    posSide: inst.instType === 'SWAP' ? 'net' : '',
    execType: t.maker ? 'M' : 'T',
    feeCcy: t.commissionAsset,
    fee: s(-t.commission),
    ts: String(t.time),
    fillTime: String(t.time),
    feeRate: '0',
  }
}

/** A net-mode position as `GET /account/positions` lists it. */
export function position(inst: Instrument, instruments: Instruments, pos: Position, posId: string, now: number): Record<string, string> {
  const mark = inst.spec.mid
  const notional = Math.abs(pos.amt) * mark
  return {
    instType: 'SWAP',
    instId: inst.instId,
    mgnMode: 'cross',
    posId,
    posSide: 'net',
    pos: instruments.fromBase(inst, pos.amt),
    baseBal: '',
    quoteBal: '',
    posCcy: '',
    availPos: '',
    avgPx: s(pos.entryPrice),
    markPx: s(mark),
    upl: s((mark - pos.entryPrice) * pos.amt),
    uplRatio: '0',
    uplLastPx: s((mark - pos.entryPrice) * pos.amt),
    lever: '10',
    liqPx: '',
    imr: s(notional / 10),
    margin: '',
    mgnRatio: '',
    mmr: s(notional * 0.004),
    liab: '',
    liabCcy: '',
    interest: '',
    tradeId: '',
    optVal: '',
    notionalUsd: s(notional),
    adl: '1',
    ccy: inst.spec.quote,
    last: s(mark),
    idxPx: s(mark),
    usdPx: '',
    bePx: s(pos.entryPrice),
    deltaBS: '',
    deltaPA: '',
    gammaBS: '',
    gammaPA: '',
    thetaBS: '',
    thetaPA: '',
    vegaBS: '',
    vegaPA: '',
    realizedPnl: '0',
    pnl: '0',
    fee: '0',
    fundingFee: '0',
    liqPenalty: '0',
    closeOrderAlgo: '',
    cTime: String(now),
    uTime: String(now),
    bizRefId: '',
    bizRefType: '',
  }
}

/** One currency's line in `GET /account/balance` (a unified trading account). */
export function balanceDetail(ccy: string, free: number, frozen: number, now: number): Record<string, string> {
  const eq = free + frozen
  return {
    ccy,
    eq: s(eq),
    cashBal: s(eq),
    uTime: String(now),
    isoEq: '0',
    availEq: s(free),
    disEq: s(eq),
    fixedBal: '0',
    availBal: s(free),
    frozenBal: s(frozen),
    ordFrozen: s(frozen),
    liab: '0',
    upl: '0',
    uplLiab: '0',
    crossLiab: '0',
    isoLiab: '0',
    mgnRatio: '',
    interest: '0',
    twap: '0',
    maxLoan: '',
    eqUsd: '',
    borrowFroz: '',
    notionalLever: '0',
    stgyEq: '0',
    isoUpl: '0',
    spotInUseAmt: '',
    spotIsoBal: '0',
  }
}

/** A ticker as `GET /market/ticker(s)` lists it: the engine's mid, one tick either side. */
export function ticker(inst: Instrument, now: number): Record<string, string> {
  const { mid, tickSize } = inst.spec
  return {
    instType: inst.instType,
    instId: inst.instId,
    last: s(mid),
    lastSz: '1',
    askPx: s(mid + tickSize),
    askSz: '1',
    bidPx: s(mid - tickSize),
    bidSz: '1',
    open24h: s(mid),
    high24h: s(mid),
    low24h: s(mid),
    volCcy24h: '0',
    vol24h: '0',
    sodUtc0: s(mid),
    sodUtc8: s(mid),
    ts: String(now),
  }
}
