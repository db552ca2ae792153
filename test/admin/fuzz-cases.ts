import { wsFrame } from './raw-http.js'
import { mulberry32 } from '../../src/exchanges/rng.js'

/**
 * Mutated admin API requests from a seeded generator: the same seed gives the same bytes, so a
 * failure names a seed and an index that reproduce it.
 */

export const rng = mulberry32

export type Auth = 'valid' | 'invalid' | 'none'
export type FuzzCase = {
  seed: number
  index: number
  kind: 'http' | 'ws'
  /** What the Authorization header was built as, before any byte was mutated. */
  auth: Auth
  bytes: Buffer
  /** The bytes were mutated after they were built. */
  mutated: boolean
}

const ACTION_ROUTES = [
  '/shutdown',
  '/killswitch/activate',
  '/killswitch/reset',
  '/drain/start',
  '/drain/cancel',
  '/drain/force',
  '/pause',
  '/resume',
  '/deployments/lock',
  '/deployments/unlock',
]
const READ_ROUTES = ['/health', '/status', '/metrics', '/positions', '/orders', '/reconciliation', '/inflight', '/drain/status']
const ODD_TARGETS = [
  '/',
  '/events',
  '/status?x=1&y',
  '/status#fragment',
  '//[',
  'http://[',
  'http://a:99999/health',
  '*',
  '//evil.example/status',
  '/%',
  '/%zz',
  '/..%2fstatus',
  '/__proto__',
  '/constructor',
  '/shutdown/../status',
  '/st\xe9tus',
  'http://127.0.0.1/status',
  '/status?token=PLACEHOLDER',
  '',
]
const METHODS = ['GET', 'GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'get', 'P0ST', 'M-SEARCH']

export function generate(options: { seed: number; count: number; token: string; port: number }): FuzzCase[] {
  const r = rng(options.seed)
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1))
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T
  const chance = (p: number) => r() < p
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(0, 255)))
  const { token, port } = options

  const authHeader = (): { auth: Auth; value?: string } => {
    const roll = r()
    if (roll < 0.45) return { auth: 'valid', value: pick([`Bearer ${token}`, `bearer ${token}`, `Bearer   ${token}  `]) }
    if (roll < 0.6) return { auth: 'none' }
    const other = Array.from({ length: token.length }, () => pick([...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'])).join('')
    const at = int(0, token.length - 1)
    const oneOff = token.slice(0, at) + (token[at] === 'x' ? 'y' : 'x') + token.slice(at + 1)
    return {
      auth: 'invalid',
      value: pick([
        `Bearer ${other}`,
        `Bearer ${oneOff}`,
        `Bearer ${token.slice(0, -1)}`,
        `Bearer ${token}extra`,
        `Basic ${token}`,
        `Bearer`,
        `Bearer ${token} ${token}`,
        `Token ${token}`,
        '',
        `Bearer ${'A'.repeat(int(1, 5000))}`,
      ]),
    }
  }

  const hostHeader = () =>
    pick([
      `127.0.0.1:${port}`,
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      '127.0.0.1',
      'localhost',
      'evil.example',
      `evil.example:${port}`,
      `127.0.0.1:${port + 1}`,
      '[::1]',
      '',
      'a b',
      '127.0.0.1:port',
      undefined,
    ])

  const actionBody = () =>
    chance(0.4)
      ? JSON.stringify({ reason: 'fuzz' })
      : pick([
          JSON.stringify({ reason: 'fuzz' }),
          JSON.stringify({ mode: pick(['graceful', 'emergency', 'now']), reason: 'fuzz' }),
          JSON.stringify({ reason: 'fuzz', force: pick([true, false, 'yes']) }),
          JSON.stringify({ reason: 'fuzz', action: pick(['REDUCING', 'HALTED', 'EMERGENCY', 'NOPE']) }),
          JSON.stringify({ reason: '' }),
          JSON.stringify({ reason: 'x'.repeat(int(1, 3000)) }),
          JSON.stringify({ reason: 'fuzz', extra: 1 }),
          '{"reason": ',
          '[]',
          'null',
          '"reason"',
          '{"__proto__": {"reason": "x"}}',
          'x'.repeat(int(60_000, 80_000)),
          '',
        ])

  const httpCase = (): { auth: Auth; text: Buffer } => {
    const roll = r()
    const method = roll < 0.5 ? 'POST' : pick(METHODS)
    const target = chance(0.75) ? pick(method === 'POST' ? ACTION_ROUTES : [...READ_ROUTES, ...ACTION_ROUTES]) : pick(ODD_TARGETS).replace('PLACEHOLDER', token)
    const { auth, value } = authHeader()
    const headers: [string, string][] = []
    const host = chance(0.7) ? `127.0.0.1:${port}` : hostHeader()
    if (host !== undefined) headers.push([pick(['host', 'Host', 'HOST']), host])
    if (value !== undefined) headers.push([pick(['authorization', 'Authorization']), value])
    let body = method === 'POST' || chance(0.1) ? actionBody() : ''
    if (chance(0.5)) headers.push(['content-type', pick(['application/json', 'text/plain', 'application/json; charset=latin1'])])
    const length = r()
    if (body !== '' && chance(0.15)) {
      // chunked: well formed or not
      headers.push(['transfer-encoding', pick(['chunked', 'chunked', 'gzip, chunked', 'identity'])])
      body = chance(0.7) ? `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n` : `zz\r\n${body}\r\n`
    } else if (length < 0.9) {
      if (body !== '') headers.push(['content-length', String(Buffer.byteLength(body, 'latin1'))])
    } else {
      headers.push(['content-length', pick(['-1', 'abc', '99999999999', '0', String(int(0, 200)), '1, 2', String(200 * 1024 * 1024)])])
    }
    if (chance(0.15)) headers.push(['expect', pick(['100-continue', 'nothing'])])
    if (chance(0.15)) headers.push(['connection', pick(['close', 'keep-alive', 'upgrade', 'Upgrade, close'])])
    if (chance(0.08)) headers.push(['upgrade', pick(['websocket', 'h2c', 'foo'])])
    if (chance(0.08))
      headers.push([pick(['x-junk', 'content-length', 'host', 'authorization', 'x\x01bad']), pick(['1', 'evil.example', '', 'x'.repeat(int(1, 20_000))])])
    if (chance(0.1)) headers.sort(() => r() - 0.5)
    const version = chance(0.95) ? 'HTTP/1.1' : pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 extra', 'HTTX/1.1'])
    const head = `${method} ${target} ${version}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`
    return { auth, text: Buffer.from(head + body, 'latin1') }
  }

  const frame = (): Buffer => {
    const payload = () => bytes(int(0, 40))
    switch (int(0, 15)) {
      case 0:
        return wsFrame({ payload: Buffer.from('{"hello":1}') })
      case 1:
        return wsFrame({ payload: payload(), opcode: 0x2 })
      case 2:
        return wsFrame({ payload: payload().subarray(0, 20), opcode: 0x9 })
      case 3:
        return wsFrame({ payload: Buffer.alloc(0), opcode: 0xa })
      case 4: {
        const b = Buffer.alloc(2)
        b.writeUInt16BE(pick([1000, 999, 1005, 1006, 4999, 5000, 65535]))
        return wsFrame({ payload: b, opcode: 0x8 })
      }
      case 5:
        return wsFrame({ payload: Buffer.from([1]), opcode: 0x8 })
      case 6:
        return wsFrame({ payload: payload(), rsv: int(1, 7) })
      case 7:
        return wsFrame({ payload: Buffer.alloc(int(4097, 70_000), 0x61) })
      case 8:
        return wsFrame({ payload: payload(), declaredLength: pick([2 ** 32, 2 ** 40, 2 ** 53 - 1]) })
      case 9:
        return wsFrame({ payload: payload(), mask: false })
      case 10:
        return wsFrame({ payload: payload(), opcode: pick([0x3, 0x7, 0xb, 0xf]) })
      case 11:
        return wsFrame({ payload: payload().subarray(0, 10), opcode: 0x9, fin: false })
      case 12:
        return wsFrame({ payload: payload(), opcode: 0x0 })
      case 13:
        return wsFrame({ payload: Buffer.alloc(int(126, 300)), opcode: 0x9 })
      case 14:
        return wsFrame({ payload: Buffer.from([0xc3, 0x28]) })
      default:
        return bytes(int(1, 64))
    }
  }

  const wsCase = (): { auth: Auth; text: Buffer } => {
    const { auth, value } = authHeader()
    const host = chance(0.85) ? `127.0.0.1:${port}` : hostHeader()
    const target = pick(['/events', '/events', '/events?from=1', `/events?from=${int(-5, 100_000)}`, '/events?from=x', '/status', '//[', 'http://['])
    const headers: [string, string][] = [
      ['connection', 'Upgrade'],
      ['upgrade', chance(0.95) ? 'websocket' : 'h2c'],
      ['sec-websocket-version', chance(0.95) ? '13' : '8'],
    ]
    if (chance(0.95)) headers.push(['sec-websocket-key', chance(0.95) ? bytes(16).toString('base64') : 'not-a-key'])
    if (chance(0.1)) headers.push(['sec-websocket-extensions', 'permessage-deflate'])
    if (host !== undefined) headers.push(['host', host])
    if (value !== undefined) headers.push(['authorization', value])
    const head = `${chance(0.95) ? 'GET' : 'POST'} ${target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`
    const frames = Array.from({ length: int(0, 4) }, frame)
    return { auth, text: Buffer.concat([Buffer.from(head, 'latin1'), ...frames]) }
  }

  const mutate = (b: Buffer): Buffer => {
    let out = b
    for (let k = int(1, 3); k > 0; k--) {
      const at = int(0, Math.max(0, out.length - 1))
      switch (int(0, 6)) {
        case 0: {
          out = Buffer.from(out)
          out[at] = int(0, 255)
          break
        }
        case 1:
          out = Buffer.concat([out.subarray(0, at), bytes(int(1, 8)), out.subarray(at)])
          break
        case 2:
          out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + int(1, 16)))])
          break
        case 3:
          // a partial request: the client stops (or stalls) part-way
          out = out.subarray(0, at)
          break
        case 4:
          // pipelined: the same request twice on one connection
          out = Buffer.concat([out, out])
          break
        case 5:
          out = Buffer.from(out.toString('latin1').replace('\r\n', pick(['\n', '\r', '\r\n\r\n', ' \r\n'])), 'latin1')
          break
        default:
          out = Buffer.concat([out.subarray(0, at), Buffer.from(pick(['\r\n', '\0', ':', ' ', '\t', '\xff']), 'latin1'), out.subarray(at)])
      }
    }
    return out
  }

  return Array.from({ length: options.count }, (_, index) => {
    const kind = chance(0.75) ? 'http' : 'ws'
    const built = kind === 'http' ? httpCase() : wsCase()
    const mutated = chance(0.3)
    return { seed: options.seed, index, kind, auth: built.auth, bytes: mutated ? mutate(built.text) : built.text, mutated }
  })
}
