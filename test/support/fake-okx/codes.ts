import { BinanceReject } from '../fake-binance/engine.js'

/**
 * OKX's refusals. A request-level refusal answers `{ code, msg, data: [] }` with the HTTP status
 * OKX gives that code; an order-level one (a place or cancel the venue processed and refused) is
 * an item `{ sCode, sMsg }` inside `data`, with the top-level code saying how many failed.
 */
export class OkxReject extends Error {
  constructor(
    readonly code: string,
    readonly msg: string,
    readonly status = 200,
  ) {
    super(`${code} ${msg}`)
  }
}

export const okxErrors = {
  paramEmpty: (name: string) => new OkxReject('50014', `Parameter ${name} can not be empty.`, 400),
  paramError: (name: string) => new OkxReject('51000', `Parameter ${name} error`, 400),
  bodyEmpty: () => new OkxReject('50000', 'Body for POST request cannot be empty.', 400),
  badJson: () => new OkxReject('50002', 'Invalid JSON', 400),
  keyMissing: () => new OkxReject('50103', 'Request header "OK-ACCESS-KEY" cannot be empty.', 401),
  passphraseMissing: () => new OkxReject('50104', 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.', 401),
  passphraseWrong: () => new OkxReject('50105', 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401),
  signMissing: () => new OkxReject('50106', 'Request header "OK-ACCESS-SIGN" cannot be empty.', 401),
  timestampMissing: () => new OkxReject('50107', 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.', 401),
  keyInvalid: () => new OkxReject('50111', 'Invalid OK-ACCESS-KEY.', 401),
  timestampInvalid: () => new OkxReject('50112', 'Invalid OK-ACCESS-TIMESTAMP.', 401),
  signatureInvalid: () => new OkxReject('50113', 'Invalid Sign.', 401),
  timestampExpired: () => new OkxReject('50102', 'Timestamp request expired.', 401),
  instrumentUnknown: () => new OkxReject('51001', "Instrument ID or Spread ID doesn't exist."),
  orderNotFound: () => new OkxReject('51603', "Order doesn't exist."),
  cancelUnknown: () => new OkxReject('51400', 'Order cancellation failed as the order has been filled, canceled or does not exist.'),
  cancelCanceled: () => new OkxReject('51401', 'Order has been canceled.'),
  cancelFilled: () => new OkxReject('51402', 'Order has been completed.'),
  duplicateClOrdId: () => new OkxReject('51016', 'Duplicated clOrdId.'),
  insufficient: (ccy: string) => new OkxReject('51008', `Order failed. Insufficient ${ccy} balance in account.`),
  notLotMultiple: () => new OkxReject('51121', 'Order quantity must be a multiple of the lot size.'),
  belowMinSize: () => new OkxReject('51020', 'Your order should meet or exceed the minimum order amount.'),
  reduceOnlyIncreases: () =>
    new OkxReject('51169', "Order failed because you don't have any positions in this direction for this contract to reduce or close."),
  rateLimited: () => new OkxReject('50011', 'Too Many Requests', 429),
  maintenance: () => new OkxReject('50001', 'Service temporarily unavailable. Try again later', 503),
}

/** The fake Binance matching engine speaks Binance; its refusals in OKX's words. */
export function fromEngine(e: BinanceReject, quoteOrBase: string): OkxReject {
  switch (e.code) {
    case -1121:
      return okxErrors.instrumentUnknown()
    case -1013:
      return /PRICE/.test(e.msg) ? okxErrors.paramError('px') : okxErrors.notLotMultiple()
    case -2010:
      return /Duplicate/.test(e.msg) ? okxErrors.duplicateClOrdId() : okxErrors.insufficient(quoteOrBase)
    case -2011:
      return okxErrors.cancelUnknown()
    case -2013:
      return okxErrors.orderNotFound()
    case -2022:
      return okxErrors.reduceOnlyIncreases()
    case -1116:
      return okxErrors.paramError('ordType')
    default:
      return okxErrors.paramError(/'(\w+)'/.exec(e.msg)?.[1] ?? 'request')
  }
}

export const isEngineReject = (e: unknown): e is BinanceReject => e instanceof BinanceReject
