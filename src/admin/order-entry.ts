import type { ServerResponse } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import { chmodSync, lstatSync, type Stats, statSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { connect } from 'node:net'
import type { Logger } from 'pino'
import { HaltdError } from '../events/errors.js'
import { kindOfFile } from '../core/log/special-file.js'
import {
  ClientOrderIdReused,
  EntryCancel,
  EntryCancelAll,
  EntryNothing,
  EntryOrder,
  EntryOrderNotFound,
  EntryTicker,
  InvalidEntryRequest,
  parseEntry,
  type OrderEntry,
} from '../core/execution/order-entry.js'
import { type Credentials, type Principal, refusal, type Role } from './access.js'
import { type Call, caller, type Handler, HttpRefusal, json, type Route } from './route.js'
import { parseTarget, shown } from './request-target.js'

/**
 * The order-entry API for an engine beside haltd, over two transports that share one table of
 * operations: HTTP routes on the admin listener (`/engine/...`, for the `engine` role, or `admin`)
 * and newline-delimited JSON over a Unix domain socket (mode 0600), for latency. The engine is the
 * authenticated name: its orders, its limits, its stream.
 */

/** Who may enter orders: an engine's credential, or an admin's (an operator acting by hand). */
export const ENTRY_ROLES: readonly Role[] = ['engine', 'admin']

/** `from`: where the request's fields came from (a GET's query string, or a body), as its errors name it. */
type Op = (entry: OrderEntry, engine: string, body: unknown, from?: 'body' | 'query') => Promise<unknown> | unknown

/** Every operation by name: the socket's `op`, and the HTTP routes below. */
export const ENTRY_OPS: Readonly<Record<string, Op>> = {
  submit: (e, engine, body, from) => e.submit(engine, parseEntry(EntryOrder, body, from)),
  cancel: (e, engine, body, from) => e.cancel(engine, parseEntry(EntryCancel, body, from)),
  'cancel-all': (e, engine, body, from) => e.cancelAll(engine, parseEntry(EntryCancelAll, body, from)),
  'open-orders': (e, engine, body, from) => e.openOrders(engine, parseEntry(EntryCancelAll, body, from)),
  order: (e, engine, body, from) => e.order(engine, parseEntry(EntryCancel, body, from)),
  ticker: (e, _engine, body, from) => e.ticker(parseEntry(EntryTicker, body, from)),
  positions: (e, _engine, body, from) => {
    parseEntry(EntryNothing, body, from)
    return e.positions()
  },
  balances: (e, _engine, body, from) => {
    parseEntry(EntryNothing, body, from)
    return e.balances()
  },
}

/** An operation's failure as an HTTP status: the request's fault (400, 404, 409) or haltd's (500). */
export function statusOf(e: unknown): number {
  if (e instanceof InvalidEntryRequest) return 400
  if (e instanceof EntryOrderNotFound) return 404
  if (e instanceof ClientOrderIdReused) return 409
  if (e instanceof HaltdError) return 409
  return 500
}

const errorOf = (e: unknown) => ({
  code: e instanceof HaltdError ? e.code : 'INTERNAL',
  message: e instanceof Error ? e.message : String(e),
  ...(e instanceof InvalidEntryRequest ? { problems: e.problems } : {}),
})

// ── HTTP, on the admin listener ────────────────────────────────────────────────────────────

/**
 * The query string as a body, for the GET routes (`?venue=…&symbol=…`, `?clientOrderId=…`). A
 * parameter given twice is refused: which of the two was meant is not haltd's to guess.
 */
function queryBody(url: string | undefined): Record<string, string> {
  const t = parseTarget(url)
  if (!t.ok) return {}
  const body: Record<string, string> = {}
  for (const [key, value] of t.query) {
    if (Object.hasOwn(body, key)) throw new InvalidEntryRequest(key, `given more than once in the query (${shown(body[key]!)}, ${shown(value)}): give it once`)
    body[key] = value
  }
  return body
}

/**
 * What the last line to a subscriber too far behind says: its updates stop there, and it learns
 * what it missed from its open orders (and each order), then subscribes again. An engine frozen
 * or stuck while its orders move (a mass cancel of thousands) would otherwise grow haltd's memory
 * without bound.
 */
const cutOffMessage = (unsent: number, max: number) =>
  `updates stopped: ${unsent} bytes were unread, over the ${max} bytes allowed; read open orders, then subscribe again`

/** `/engine/stream` responses open at once, every engine together: each holds a socket and a listener on the log. */
export const MAX_ENTRY_STREAMS = 64

/** `maxUnsentBytes`: unread updates past which `/engine/stream` ends with a `cut-off` line. */
export function orderEntryRoutes(entry: OrderEntry, maxUnsentBytes: number): Record<string, Route> {
  let streams = 0
  const op = (name: string, from: 'body' | 'query'): Handler => ({
    needs: ENTRY_ROLES,
    run: async (call: Call) => {
      try {
        const body = from === 'body' ? call.body : queryBody(call.req.url)
        return json(200, await ENTRY_OPS[name]!(entry, caller(call).name, body, from))
      } catch (e) {
        const status = statusOf(e)
        if (status === 500) throw e
        const err = errorOf(e)
        throw new HttpRefusal(status, err.code, err.message, err.problems ? [...err.problems] : undefined)
      }
    },
  })
  return {
    '/engine/orders': { POST: op('submit', 'body'), GET: op('open-orders', 'query') },
    '/engine/orders/cancel': { POST: op('cancel', 'body') },
    '/engine/orders/cancel-all': { POST: op('cancel-all', 'body') },
    '/engine/order': { GET: op('order', 'query') },
    '/engine/ticker': { GET: op('ticker', 'query') },
    '/engine/positions': { GET: op('positions', 'query') },
    '/engine/balances': { GET: op('balances', 'query') },
    '/engine/stream': {
      GET: {
        needs: ENTRY_ROLES,
        run: async (call) => {
          const engine = caller(call).name
          if (streams >= MAX_ENTRY_STREAMS)
            throw new HttpRefusal(503, 'TOO_MANY_STREAMS', `the admin listener serves at most ${MAX_ENTRY_STREAMS} /engine/stream responses at once`)
          streams++
          return {
            status: 200,
            body: null,
            stream: (res: ServerResponse) => {
              res.once('close', () => streams--)
              streamTo(res, entry, engine, maxUnsentBytes)
            },
          }
        },
      },
    },
  }
}

/** The engine's order updates and fills as NDJSON, one per line, until the client goes. */
function streamTo(res: ServerResponse, entry: OrderEntry, engine: string, maxUnsentBytes: number): void {
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
  res.write(`${JSON.stringify({ type: 'hello', engine })}\n`)
  const stop = entry.subscribe(engine, (u) => {
    if (res.writableLength <= maxUnsentBytes) return void res.write(`${JSON.stringify(u)}\n`)
    stop()
    res.end(`${JSON.stringify({ type: 'cut-off', message: cutOffMessage(res.writableLength, maxUnsentBytes) })}\n`)
  })
  res.on('close', stop)
}

// ── the Unix domain socket ─────────────────────────────────────────────────────────────────

export type EntrySocket = { readonly path: string; readonly clients: number; close(): Promise<void> }

const MAX_LINE = 64 * 1024
/**
 * A connection's limits. Past `unsentBytes` of answers and updates its client has not read, or
 * `inFlight` requests started and not answered, no further line is read until it catches up: a
 * client that writes without reading is held back by its own socket, not by haltd's memory.
 * `authMs` is how long a connection may stay without authenticating; `connections` how many may
 * be open at once.
 */
export const ENTRY_SOCKET_LIMITS = { unsentBytes: 1 << 20, inFlight: 1024, authMs: 10_000, connections: 256 }

/**
 * Listen on `path` (mode 0600: only haltd's own user may connect). One JSON request per line,
 * `{"id": 1, "op": "submit", "body": {...}}`, answered by one line `{"id": 1, "ok": true, "result": …}`
 * or `{"id": 1, "ok": false, "status": 400, "error": {"code", "message"}}`. Requests are pipelined:
 * each starts as its line arrives, in the order sent (so submits are written ahead in that order),
 * and is answered as soon as it is done, so a burst waits for one venue round trip, not one each;
 * the client matches answers by `id`. A cancel of an order whose submit is still on its way waits
 * for that submit first. The first request must be `{"op": "auth", "token": "…"}` with an
 * engine's (or an admin's) token, within `ENTRY_SOCKET_LIMITS.authMs`; a connection keeps the
 * identity it authenticated as. `{"op": "subscribe"}` starts the engine's updates on the same
 * connection, as lines `{"stream": "order" | "fill", …}`, until it leaves more than
 * `maxUnsentBytes` unread: then one line `{"stream": "cut-off", …}` ends them (requests are still
 * answered). A bad line is answered and the connection stays. A client that sends without reading
 * its answers is read no further until it does (`ENTRY_SOCKET_LIMITS`).
 */
export async function startEntrySocket(input: {
  path: string
  entry: OrderEntry
  credentials: Credentials
  logger?: Logger
  /** Unread updates past which a connection's subscription ends (its requests go on). */
  maxUnsentBytes: number
  limits?: Partial<typeof ENTRY_SOCKET_LIMITS>
}): Promise<EntrySocket> {
  const { path, entry, credentials, logger, maxUnsentBytes } = input
  const limits = { ...ENTRY_SOCKET_LIMITS, ...input.limits }
  await removeStale(path)
  const conns = new Set<Socket>()
  const server: Server = createServer((socket) => {
    if (conns.size >= limits.connections) {
      const refusal = { code: 'TOO_MANY_CONNECTIONS', message: `the order-entry socket takes at most ${limits.connections} connections at once` }
      socket.on('error', () => undefined)
      socket.end(`${JSON.stringify({ id: null, ok: false, status: 503, error: refusal })}\n`)
      return
    }
    conns.add(socket)
    let who: Principal | undefined
    let unsubscribe: (() => void) | undefined
    let buffered = ''
    /** Requests started and not answered yet. */
    let inFlight = 0
    /** Reading stopped until the client has read its answers. */
    let held = false
    const authTimer = setTimeout(() => {
      if (who) return
      write({ id: null, ok: false, status: 408, error: { code: 'AUTH_TIMEOUT', message: `no valid auth within ${limits.authMs} ms` } })
      socket.end()
    }, limits.authMs)
    authTimer.unref()
    // Answers done in one turn of the event loop leave in one write: the first corks the socket and
    // the next tick uncorks it, so a pipelined burst costs one system call per turn, not one per line.
    let corked = false
    const uncork = () => {
      corked = false
      socket.uncork()
    }
    const write = (line: unknown) => {
      if (socket.destroyed) return
      if (!corked) {
        corked = true
        socket.cork()
        process.nextTick(uncork)
      }
      socket.write(`${JSON.stringify(line)}\n`)
    }
    const answer = async (line: string): Promise<void> => {
      let id: unknown = null
      try {
        let request: { id?: unknown; op?: unknown; body?: unknown; token?: unknown }
        try {
          request = JSON.parse(line) as typeof request
        } catch (e) {
          throw new InvalidEntryRequest('', `the line is not JSON: ${(e as Error).message}`)
        }
        if (typeof request !== 'object' || request === null || Array.isArray(request)) throw new InvalidEntryRequest('', 'a request is a JSON object')
        id = request.id ?? null
        if (request.op === 'auth') {
          // one identity per connection: its orders, its stream, its limits
          if (who)
            return write({
              id,
              ok: false,
              status: 409,
              error: { code: 'ALREADY_AUTHENTICATED', message: `this connection is ${who.name}'s; open another connection to act as someone else` },
            })
          const found = typeof request.token === 'string' ? credentials.token(request.token) : undefined
          if (!found) return write({ id, ok: false, status: 401, error: { code: 'UNAUTHORIZED', message: 'a valid token is required' } })
          if (!ENTRY_ROLES.includes(found.role))
            return write({
              id,
              ok: false,
              status: 403,
              error: { code: 'FORBIDDEN', message: refusal(found, ENTRY_ROLES, 'order entry') },
            })
          who = found
          return write({ id, ok: true, result: { engine: who.name, role: who.role } })
        }
        if (!who) return write({ id, ok: false, status: 401, error: { code: 'UNAUTHORIZED', message: 'authenticate first: {"op":"auth","token":"…"}' } })
        if (request.op === 'subscribe') {
          const engine = who.name
          unsubscribe ??= entry.subscribe(engine, (u) => {
            if (socket.writableLength > maxUnsentBytes) {
              unsubscribe?.()
              unsubscribe = undefined
              logger?.warn({ engine, unsent: socket.writableLength }, 'order entry: a subscriber stopped reading; its updates are cut off')
              return write({ stream: 'cut-off', message: cutOffMessage(socket.writableLength, maxUnsentBytes) })
            }
            const { type, ...rest } = u
            write({ stream: type, ...rest })
          })
          return write({ id, ok: true, result: { subscribed: true } })
        }
        if (request.op === 'unsubscribe') {
          unsubscribe?.()
          unsubscribe = undefined
          return write({ id, ok: true, result: { subscribed: false } })
        }
        const op = typeof request.op === 'string' && Object.hasOwn(ENTRY_OPS, request.op) ? ENTRY_OPS[request.op] : undefined
        if (!op)
          throw new InvalidEntryRequest(
            'op',
            `unknown op ${JSON.stringify(request.op)} (known: auth, subscribe, unsubscribe, ${Object.keys(ENTRY_OPS).join(', ')})`,
          )
        write({ id, ok: true, result: await op(entry, who.name, request.body) })
      } catch (e) {
        const status = statusOf(e)
        if (status === 500) logger?.error({ err: e }, 'order-entry request failed')
        write({ id, ok: false, status, error: errorOf(e) })
      }
    }
    const behind = () => socket.writableLength > limits.unsentBytes || inFlight >= limits.inFlight
    /** Start the lines read so far, in the order sent, until the client falls behind. */
    const pump = () => {
      let nl = buffered.indexOf('\n')
      while (nl !== -1 && !behind() && !socket.destroyed) {
        const line = buffered.slice(0, nl).trim()
        buffered = buffered.slice(nl + 1)
        // started now, in the order sent; answered when done
        if (line) {
          inFlight++
          void answer(line).finally(() => {
            inFlight--
            if (held) resume()
          })
        }
        nl = buffered.indexOf('\n')
      }
      if (nl !== -1 || behind()) {
        if (!held) {
          held = true
          socket.pause()
          if (socket.writableLength > 0) awaitDrain()
        }
        return
      }
      if (buffered.length > MAX_LINE) {
        buffered = ''
        write({ id: null, ok: false, status: 413, error: { code: 'LINE_TOO_LONG', message: `a request line is at most ${MAX_LINE} bytes` } })
        socket.end()
      }
    }
    /** One wait for the socket to drain at a time: each answer that ends while held asks for one. */
    let draining = false
    const onDrain = () => {
      draining = false
      resume()
    }
    const awaitDrain = () => {
      if (draining) return
      draining = true
      socket.once('drain', onDrain)
    }
    const resume = () => {
      if (!held || socket.destroyed) return
      if (socket.writableLength > limits.unsentBytes) {
        awaitDrain()
        return
      }
      if (inFlight >= limits.inFlight) return
      held = false
      if (draining) {
        draining = false
        socket.off('drain', onDrain)
      }
      pump()
      if (!held) socket.resume()
    }
    socket.setEncoding('utf8')
    socket.setNoDelay(true)
    socket.on('data', (chunk: string) => {
      buffered += chunk
      pump()
    })
    socket.on('error', (e) => logger?.warn({ err: { message: e.message } }, 'order-entry socket error'))
    socket.on('close', () => {
      clearTimeout(authTimer)
      unsubscribe?.()
      conns.delete(socket)
    })
  })
  // Created 0600 from the start: the umask covers the bind, so no other user ever sees it open.
  const mask = process.umask(0o177)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (e) {
    throw new HaltdError('ENTRY_SOCKET_LISTEN_FAILED', `cannot listen on the order-entry socket ${path}: ${(e as Error).message}`, { cause: e })
  } finally {
    process.umask(mask)
  }
  chmodSync(path, 0o600)
  server.on('error', (e) => logger?.error({ err: { message: e.message } }, 'order-entry socket server error'))
  return {
    path,
    get clients() {
      return conns.size
    },
    async close() {
      // answers corked this turn go out first: destroying a corked socket drops them
      for (const c of conns) {
        c.uncork()
        c.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * A socket file left by a haltd that died is removed; one another process listens on is refused,
 * and so is anything at the path that is not a socket (a file there is someone's, never removed).
 */
async function removeStale(path: string): Promise<void> {
  // listen() reports a missing directory as EACCES, which sends one looking at permissions
  const dir = dirname(path)
  let parent: Stats | undefined
  try {
    parent = statSync(dir)
  } catch {
    parent = undefined
  }
  if (!parent?.isDirectory())
    throw new HaltdError(
      'ENTRY_SOCKET_DIR_MISSING',
      `the order-entry socket's directory ${dir} ${parent ? `is a ${kindOfFile(parent)}, not a directory` : 'does not exist'}: create it (mode 0700) or set orderEntry.socketPath elsewhere`,
    )
  let found: Stats
  try {
    found = lstatSync(path)
  } catch {
    return
  }
  if (!found.isSocket())
    throw new HaltdError(
      'ENTRY_SOCKET_PATH_TAKEN',
      `the order-entry socket path ${path} is taken by a ${kindOfFile(found)}, not a socket: haltd removes only a socket`,
    )
  const live = await new Promise<boolean>((resolve) => {
    const c = connect(path)
    c.once('connect', () => {
      c.destroy()
      resolve(true)
    })
    c.once('error', () => resolve(false))
  })
  if (live) throw new HaltdError('ENTRY_SOCKET_IN_USE', `another process listens on the order-entry socket ${path}`)
  unlinkSync(path)
}
