import { isIP } from 'node:net'

/**
 * What the admin API reads from a request line and its Host header, parsed without `new URL`:
 * Node's HTTP parser accepts targets the WHATWG parser rejects (`http://[`, `//[`,
 * `http://a:99999/x`), and `new URL('//x/status', base)` would read `x` as a host. Every
 * function here returns a result, never throws.
 */

export type Target = { ok: true; path: string; query: URLSearchParams } | { ok: false; problem: string }

const MAX_SHOWN = 120
/** A part of a request for a message: cut short, control characters escaped. */
export const shown = (s: string): string =>
  JSON.stringify(s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}…` : s)
    .slice(1, -1)
    .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

/** Only the origin form (`/path?query`): the admin API is no proxy, so `*` and absolute URLs are refused. */
export function parseTarget(raw: string | undefined): Target {
  if (raw === undefined || raw === '') return { ok: false, problem: 'the request has no target' }
  if (!raw.startsWith('/')) return { ok: false, problem: `the request target must be a path starting with '/', got '${shown(raw)}'` }
  if (raw.startsWith('//')) return { ok: false, problem: `the request target must be a path, not a network path ('${shown(raw)}')` }
  const hash = raw.indexOf('#')
  const noFragment = hash === -1 ? raw : raw.slice(0, hash)
  const q = noFragment.indexOf('?')
  const path = q === -1 ? noFragment : noFragment.slice(0, q)
  let query: URLSearchParams
  try {
    query = new URLSearchParams(q === -1 ? '' : noFragment.slice(q + 1))
  } catch {
    return { ok: false, problem: `the query of '${shown(raw)}' cannot be read` }
  }
  return { ok: true, path, query }
}

export type HostCheck = { ok: true } | { ok: false; status: 400 | 421; problem: string }

/** `::ffff:127.0.0.1` (an IPv4 client on a dual-stack socket) is `127.0.0.1`. */
const unmapped = (address: string): string => (address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address)

export const isLoopback = (address: string): boolean => {
  const a = unmapped(address.toLowerCase())
  return (isIP(a) === 4 && a.startsWith('127.')) || a === '::1'
}

export const isWildcard = (address: string): boolean => address === '0.0.0.0' || address === '::'

/**
 * The names a request may carry in its Host header: the IP literal the server is bound to (or,
 * for a wildcard bind, the address the connection arrived on), `localhost` when that address is
 * loopback, and any name the embedder lists. Anything else is a name some DNS resolved to this
 * address (DNS rebinding), answered 421 before anything else is read.
 */
export function hostCheck(bound: { address: string; port: number; allowedHosts?: readonly string[] }) {
  const extra = new Set((bound.allowedHosts ?? []).map((h) => h.toLowerCase()))
  return (host: string | undefined, localAddress: string | undefined): HostCheck => {
    if (host === undefined || host.trim() === '') return { ok: false, status: 400, problem: 'a Host header is required' }
    const parsed = splitHost(host.trim())
    if (!parsed) return { ok: false, status: 400, problem: `the Host header '${shown(host)}' is not a host[:port]` }
    const { name, port } = parsed
    const address = isWildcard(bound.address) && localAddress ? unmapped(localAddress) : bound.address
    const names = new Set([address.toLowerCase(), ...extra])
    if (isLoopback(address)) names.add('localhost')
    if (names.has(name) && (port === undefined || port === bound.port)) return { ok: true }
    const answersTo = [...names].map((n) => (isIP(n) === 6 ? `[${n}]` : n)).join(', ')
    return { ok: false, status: 421, problem: `this server answers to ${answersTo} (port ${bound.port}), not '${shown(host)}'` }
  }
}

function splitHost(host: string): { name: string; port?: number } | undefined {
  let name: string
  let rest: string
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    if (end === -1) return undefined
    name = host.slice(1, end)
    if (isIP(name) !== 6) return undefined
    rest = host.slice(end + 1)
  } else {
    const colon = host.indexOf(':')
    name = colon === -1 ? host : host.slice(0, colon)
    rest = colon === -1 ? '' : host.slice(colon)
    if (!/^[A-Za-z0-9.-]+$/.test(name)) return undefined
  }
  if (rest === '') return { name: name.toLowerCase() }
  if (!/^:[0-9]{1,5}$/.test(rest)) return undefined
  return { name: name.toLowerCase(), port: Number(rest.slice(1)) }
}
