import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { okxErrors } from './codes.js'

/** OKX refuses a request whose OK-ACCESS-TIMESTAMP is more than 30 s away from its own clock. */
export const TIMESTAMP_WINDOW_MS = 30_000

export type Credentials = { apiKey: string; secret: string; passphrase: string }

/** Base64 HMAC-SHA256 of `timestamp + METHOD + requestPath(+?query) + body`, as OKX signs. */
export function okxSignature(secret: string, timestamp: string, method: string, requestPath: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}${method.toUpperCase()}${requestPath}${body}`).digest('base64')
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/**
 * Checks a private request's four headers in OKX's order: key, passphrase, signature present,
 * timestamp well formed and fresh, then the signature itself. Throws the matching 501xx refusal.
 */
export function authenticate(creds: Credentials, headers: IncomingHttpHeaders, method: string, requestPath: string, body: string, now: number): void {
  const key = header(headers, 'ok-access-key')
  const passphrase = header(headers, 'ok-access-passphrase')
  const sign = header(headers, 'ok-access-sign')
  const timestamp = header(headers, 'ok-access-timestamp')
  if (!key) throw okxErrors.keyMissing()
  if (!passphrase) throw okxErrors.passphraseMissing()
  if (!sign) throw okxErrors.signMissing()
  if (!timestamp) throw okxErrors.timestampMissing()
  if (key !== creds.apiKey) throw okxErrors.keyInvalid()
  if (passphrase !== creds.passphrase) throw okxErrors.passphraseWrong()
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(timestamp)) throw okxErrors.timestampInvalid()
  const at = Date.parse(timestamp)
  if (!Number.isFinite(at)) throw okxErrors.timestampInvalid()
  if (Math.abs(now - at) > TIMESTAMP_WINDOW_MS) throw okxErrors.timestampExpired()
  const expected = okxSignature(creds.secret, timestamp, method, requestPath, body)
  if (expected.length !== sign.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(sign))) throw okxErrors.signatureInvalid()
}
