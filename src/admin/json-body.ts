import type { IncomingMessage } from 'node:http'
import { HttpRefusal } from './route.js'
import { shown } from './request-target.js'

/** A refusal that leaves the rest of the request unread: answered, then the socket is closed. */
export const CLOSE = { connection: 'close' }

/** Whether the request carries a body: a length above zero, or any transfer coding (chunked). */
export const sendsBody = (req: IncomingMessage): boolean => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0

/**
 * Why a body of this `Content-Type` is not JSON the API reads, or undefined when it is:
 * `application/json` or `application/<name>+json`, in UTF-8 (the only charset JSON has, RFC 8259).
 * Without this a form post or a `text/plain` body (which a page on any origin may send without a
 * preflight) would be read as JSON like any other.
 */
export function contentTypeProblem(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return 'the request sends a body without a Content-Type: send it as application/json'
  const [type = '', ...params] = header.split(';').map((p) => p.trim())
  const media = type.toLowerCase()
  if (media !== 'application/json' && !/^application\/[\w.!#$&^-]+\+json$/.test(media))
    return `the body is sent as '${shown(header)}': this API reads JSON only (Content-Type: application/json)`
  for (const param of params) {
    const eq = param.indexOf('=')
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue
    const charset = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase()
    if (charset !== 'utf-8' && charset !== 'utf8')
      return `the body is sent as '${shown(header)}': JSON is read as UTF-8 only (Content-Type: application/json; charset=utf-8)`
  }
  return undefined
}

/** 415 before the body is read, when the request sends one that is not JSON by its Content-Type. */
export function requireJsonBody(req: IncomingMessage): void {
  if (!sendsBody(req)) return
  const problem = contentTypeProblem(req.headers['content-type'])
  if (problem) throw new HttpRefusal(415, 'UNSUPPORTED_MEDIA_TYPE', problem, undefined, { accept: 'application/json', ...CLOSE })
}

/** The body as JSON (undefined when empty), refused with 413 past `limit` bytes without reading the rest. */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        // Answered at once and the socket closed after the answer: the rest is never read.
        req.off('data', onData)
        req.pause()
        chunks.length = 0
        reject(new HttpRefusal(413, 'BODY_TOO_LARGE', `the body is larger than ${limit} bytes`, undefined, CLOSE))
        return
      }
      chunks.push(chunk)
    }
    req.on('data', onData)
    req.on('error', reject)
    req.on('aborted', () => reject(new HttpRefusal(400, 'ABORTED', 'the request was aborted before its body ended', undefined, CLOSE)))
    req.on('end', () => {
      if (size > limit) return
      const text = Buffer.concat(chunks).toString('utf8').trim()
      if (text === '') return resolve(undefined)
      try {
        resolve(JSON.parse(text))
      } catch (e) {
        reject(new HttpRefusal(400, 'INVALID_JSON', `the body is not JSON: ${(e as Error).message}`))
      }
    })
  })
}
