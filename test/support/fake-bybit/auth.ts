import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { BybitReject } from './codes.js'

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}
const sameSignature = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))

/**
 * Bybit's check of a private request: the key, then `X-BAPI-SIGN` as the HMAC-SHA256 hex of
 * timestamp + key + recvWindow + payload (the query string of a GET, the body of a POST), then
 * the window `now - recvWindow ≤ timestamp < now + 1000`.
 */
export function authenticate(headers: IncomingHttpHeaders, payload: string, account: { apiKey: string; secret: string; now: number }): void {
  const { apiKey, secret, now } = account
  if (header(headers, 'x-bapi-api-key') !== apiKey) throw new BybitReject(10003, 'API key is invalid.')
  const timestamp = header(headers, 'x-bapi-timestamp') ?? ''
  const recvWindow = header(headers, 'x-bapi-recv-window') ?? '5000'
  const signature = header(headers, 'x-bapi-sign') ?? ''
  if (!/^\d+$/.test(timestamp)) throw new BybitReject(10002, 'invalid request, please check your timestamp')
  const origin = `${timestamp}${apiKey}${recvWindow}${payload}`
  if (!sameSignature(createHmac('sha256', secret).update(origin).digest('hex'), signature)) {
    throw new BybitReject(10004, `error sign! origin_string[${origin}]`)
  }
  const ts = Number(timestamp)
  if (!(now - Number(recvWindow) <= ts && ts < now + 1000)) {
    throw new BybitReject(
      10002,
      `invalid request, please check your server timestamp or recv_window param. req_timestamp[${ts}],server_timestamp[${now}],recv_window[${recvWindow}]`,
    )
  }
}
