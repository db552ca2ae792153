import type { Fault } from '../fake-binance/index.js'

/**
 * Bybit's failures, for the shared `FaultSwitchboard` (`venue.faults.inject('POST /v5/order/cancel', bybitFaults.rateLimited())`).
 * A status fault may carry response headers (Bybit's `X-Bapi-Limit-*`).
 */
export type BybitFault = Fault | (Extract<Fault, { kind: 'status' }> & { headers: Record<string, string> })

const body = (retCode: number, retMsg: string): string => JSON.stringify({ retCode, retMsg, result: {}, retExtInfo: {}, time: Date.now() })
const JSON_TYPE = 'application/json; charset=utf-8'

/** The per-endpoint limit headers Bybit sends, with the moment the window resets. */
export const limitHeaders = (limit: number, resetAt: number, remaining = 0): Record<string, string> => ({
  'X-Bapi-Limit': String(limit),
  'X-Bapi-Limit-Status': String(remaining),
  'X-Bapi-Limit-Reset-Timestamp': String(resetAt),
})

const MAINTENANCE_PAGE = '<!DOCTYPE html><html><head><title>Bybit - System Maintenance</title></head><body><h1>We are upgrading our systems.</h1></body></html>'

export const bybitFaults = {
  /** The per-UID endpoint limit: HTTP 200, retCode 10006 "Too many visits!", and when the window resets. */
  rateLimited: (resetInMs = 1_000): BybitFault => ({
    kind: 'status',
    status: 200,
    body: body(10006, 'Too many visits!'),
    contentType: JSON_TYPE,
    headers: limitHeaders(10, Date.now() + resetInMs),
  }),
  /** The IP limit: HTTP 403 "access too frequent", which ccxt's bybit maps to RateLimitExceeded by status. */
  ipRateLimited: (): BybitFault => ({ kind: 'status', status: 403, body: 'access too frequent', contentType: 'text/plain' }),
  /** A clock refusal, whatever the request's timestamp: retCode 10002. */
  timestampOutside: (): BybitFault => ({
    kind: 'status',
    status: 200,
    body: body(10002, 'invalid request, please check your server timestamp or recv_window param'),
    contentType: JSON_TYPE,
  }),
  /** Bybit's "system error, try again" (retCode 10016). */
  systemError: (): BybitFault => ({ kind: 'status', status: 200, body: body(10016, 'Internal system error.'), contentType: JSON_TYPE }),
  /** Scheduled maintenance: HTTP 503 with an HTML page. */
  maintenance: (): BybitFault => ({ kind: 'status', status: 503, body: MAINTENANCE_PAGE, contentType: 'text/html' }),
  /** HTTP 200 with the maintenance page instead of JSON. */
  maintenancePage: (): BybitFault => ({ kind: 'status', status: 200, body: MAINTENANCE_PAGE, contentType: 'text/html' }),
  unknownOrder: (): BybitFault => ({ kind: 'status', status: 200, body: body(110001, 'Order does not exist'), contentType: JSON_TYPE }),
  hang: (): BybitFault => ({ kind: 'hang' }),
  loseResponse: (): BybitFault => ({ kind: 'lose-response' }),
  error: (retCode: number, retMsg: string, status = 200): BybitFault => ({ kind: 'status', status, body: body(retCode, retMsg), contentType: JSON_TYPE }),
}
