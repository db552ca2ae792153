import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { WebSocketServer, type WebSocket } from 'ws'
import type { z } from 'zod'
import { caller, type Handler, HttpRefusal, json, parse, type Reply, type Route } from './route.js'
import { HaltdError } from '../events/errors.js'
import { ADMINS, type AdminUser, byOf, credentials, OPERATORS, type Principal, READERS, refusal, Role } from './access.js'
import {
  ActionBody,
  DrainForceBody,
  FleetKillSwitchActivateBody,
  FleetStopBody,
  HandoverBody,
  KillSwitchActivateBody,
  ShutdownBody,
  type AdminBackend,
  type FleetAdmin,
} from './backend.js'
import { streamEvents } from './events-socket.js'
import { pageRoutes } from './dashboard/assets.js'
import { type FeedOptions, feedStats, type PageView, sharedView, streamDashboard } from './dashboard/feed.js'
import { fleetPanel } from './dashboard/fleet-panel.js'
import { type Metric, PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus.js'
import { hostCheck, isLoopback, parseTarget, shown } from './request-target.js'
import { createSessions, type Session, sessionOf, sessionOriginCheck, sessionRoutes } from './sessions.js'
import { loginLimit, type LoginLimitOptions } from './login-limit.js'
import { coalescedWarnings, refusalRecorder } from './refusals.js'
import { CLOSE, readJsonBody, requireJsonBody } from './json-body.js'
import { connectionSlots } from './connection-slots.js'

export type AdminServerOptions = {
  backend: AdminBackend
  /** The single token of a single-user set-up: it acts as `admin`, under the name `local`. */
  token?: string
  /** Named credentials with roles (`admin.users`). */
  users?: readonly AdminUser[]
  /** Loopback by default: the admin API can stop trading. */
  host?: string
  /** 0 picks a free port. */
  port?: number
  logger?: Logger
  /** Largest request body accepted. */
  maxBodyBytes?: number
  /**
   * Host header names accepted besides the bound IP literal (and `localhost` on loopback): a
   * name an operator reaches a non-loopback bind by. Any other name is refused (421).
   */
  allowedHosts?: readonly string[]
  /** The dashboard feed's pace (`/ui/feed`). */
  feed?: FeedOptions
  /** How long a browser session lives idle, and at most. */
  sessions?: { idleMs?: number; maxMs?: number }
  /** Routes served beside the admin's own, under the same checks (the engine's order entry). */
  routes?: Record<string, Route>
  /** Failed logins per remote address before it waits (429 with Retry-After). */
  loginLimit?: LoginLimitOptions
  /** Wrong bearer tokens per remote address before it waits (429 with Retry-After), counted apart from logins. */
  tokenLimit?: LoginLimitOptions
  /** Refused requests (403) are recorded per credential, route and cause once per this window, with their count. */
  refusalWindowMs?: number
  /**
   * Connections the listener holds at once; past it a new one takes the place of the oldest not
   * being served, or is closed as it arrives when all are. Each holds a file descriptor of the
   * process, which the log, the checkpoint and the venues need too.
   */
  maxConnections?: number
  /** How long a client may take to send a request's headers, and the whole request. */
  headersTimeoutMs?: number
  requestTimeoutMs?: number
}

/** Enough for every page, tool and socket a desk opens (128 of those are the sockets' own caps), far below a process's descriptors. */
export const MAX_CONNECTIONS = 256

export type AdminServer = {
  readonly host: string
  readonly port: number
  readonly url: string
  /** Open `/events` and `/ui/feed` sockets. */
  readonly clients: number
  close(): Promise<void>
}

/**
 * The route table: each path's methods, the roles each accepts (`needs`) and its handler. Reads are
 * open to every role; an action names the roles it needs and records the caller as its `by`.
 */
function routes(backend: AdminBackend, feedMetrics: () => Metric[]): Record<string, Route> {
  const read = (f: () => unknown): Handler => ({ needs: READERS, run: async () => json(200, await f()) })
  const act = <S extends z.ZodType>(needs: readonly Role[], schema: S, f: (request: z.output<S> & { origin: 'admin'; by: string }) => unknown): Handler => ({
    needs,
    run: async (call) => {
      const request = { ...(parse(schema, call.body) as object), origin: 'admin', by: byOf(caller(call)) } as z.output<S> & { origin: 'admin'; by: string }
      return json(202, { ok: true, result: (await f(request)) ?? null })
    },
  })
  const fleet = (): FleetAdmin => {
    if (!backend.fleet) throw new HttpRefusal(404, 'NO_FLEET', 'this haltd is in no fleet (configure the nats and fleet sections)')
    return backend.fleet
  }
  return {
    '/health': {
      GET: {
        needs: READERS,
        run: async () => {
          const health = await backend.health()
          return json(health.ok ? 200 : 503, health)
        },
      },
    },
    '/status': { GET: read(() => backend.status()) },
    '/metrics': {
      GET: {
        needs: READERS,
        run: async () => ({ status: 200, body: renderPrometheus([...(await backend.metrics()), ...feedMetrics()]), contentType: PROMETHEUS_CONTENT_TYPE }),
      },
    },
    '/positions': { GET: read(() => backend.positions()) },
    '/orders': { GET: read(() => backend.orders()) },
    '/reconciliation': { GET: read(() => backend.reconciliation()) },
    '/inflight': { GET: read(() => backend.inflight()) },
    '/drain/status': { GET: read(() => backend.drainStatus()) },
    '/shutdown': { POST: act(OPERATORS, ShutdownBody, (r) => backend.shutdown(r)) },
    '/killswitch/activate': { POST: act(OPERATORS, KillSwitchActivateBody, (r) => backend.killswitchActivate(r)) },
    '/killswitch/reset': { POST: act(ADMINS, ActionBody, (r) => backend.killswitchReset(r)) },
    '/drain/start': { POST: act(OPERATORS, ActionBody, (r) => backend.drainStart(r)) },
    '/drain/cancel': { POST: act(OPERATORS, ActionBody, (r) => backend.drainCancel(r)) },
    '/drain/force': { POST: act(ADMINS, DrainForceBody, (r) => backend.drainForce(r)) },
    '/pause': { POST: act(OPERATORS, ActionBody, (r) => backend.pause(r)) },
    '/resume': { POST: act(OPERATORS, ActionBody, (r) => backend.resume(r)) },
    '/deployments/lock': { POST: act(OPERATORS, ActionBody, (r) => backend.lockDeployments(r)) },
    '/deployments/unlock': { POST: act(ADMINS, ActionBody, (r) => backend.unlockDeployments(r)) },
    '/fleet': { GET: read(() => fleet().view()) },
    '/fleet/killswitch/activate': { POST: act(OPERATORS, FleetKillSwitchActivateBody, (r) => fleet().killswitchActivate(r)) },
    '/fleet/killswitch/reset': { POST: act(ADMINS, ActionBody, (r) => fleet().killswitchReset(r)) },
    '/fleet/stop': { POST: act(OPERATORS, FleetStopBody, (r) => fleet().stop(r)) },
    '/handover': {
      POST: act(ADMINS, HandoverBody, (r) => {
        if (!backend.handover) throw new HaltdError('NO_FAILOVER', 'this haltd has no failover section: there is no standby to hand over to')
        return backend.handover(r)
      }),
    },
  }
}

/**
 * Wrong bearer tokens from one address, within a minute, before it waits: more than a login's 5,
 * since every token from the address waits with it (the operator's CLI on the same host too), and
 * a monitor left with an old token polls well below this; a script guessing at full speed is
 * still stopped within a second.
 */
const WRONG_TOKENS_PER_WINDOW = 30

/** A wrong token from an address past its limit, and any token from it until its wait is over. */
function tooManyWrongTokens(waitMs: number): HttpRefusal {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000))
  return new HttpRefusal(
    429,
    'TOO_MANY_WRONG_TOKENS',
    `too many wrong bearer tokens from this address: no token from it is read for ${seconds} s (other addresses are served)`,
    undefined,
    { 'retry-after': String(seconds), ...CLOSE },
  )
}

const errorBody = (code: string, message: string, problems?: unknown) => ({ error: { code, message, ...(problems ? { problems } : {}) } })

/** `/events` sockets served at once: each may hold megabytes of the log its reader has not taken yet (a dashboard's feed holds one frame). */
export const MAX_EVENT_SOCKETS = 64
/** Dashboard pages open at once: each holds its socket's unsent frames, so their number is bounded too. */
export const MAX_DASHBOARD_FEEDS = 64

function send(res: ServerResponse, reply: Reply, headers: Record<string, string> = {}): void {
  const text = typeof reply.body === 'string' && reply.contentType ? reply.body : `${JSON.stringify(reply.body, null, 2)}\n`
  if (headers.connection === 'close') {
    // Node would read (and drop) the rest of the body to keep the connection; it is closed instead.
    res.once('finish', () => res.req.socket?.destroy())
  }
  res.writeHead(reply.status, {
    'content-type': reply.contentType ?? 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(text)),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    ...reply.headers,
    ...headers,
  })
  res.end(text)
}

/** The WebSocket routes asked for without an upgrade: 426 saying how to open them, not a 404 saying they do not exist. */
const upgradeRequired = (path: string, how: string): Route => ({
  GET: {
    needs: ALL_ROLES,
    run: () => {
      throw new HttpRefusal(426, 'UPGRADE_REQUIRED', `${path} is a WebSocket: ${how}`, undefined, { upgrade: 'websocket' })
    },
  },
})
const ALL_ROLES = Role.options
const SOCKET_ONLY: Record<string, Route> = {
  '/events': upgradeRequired('/events', 'open it with an Upgrade: websocket request (ws://HOST:PORT/events?from=SEQ)'),
  '/ui/feed': upgradeRequired('/ui/feed', "the dashboard's page at / opens it"),
}

/** An HTTP answer written straight to a socket (a refused upgrade, a request Node could not parse), then the socket closed. */
function answerRaw(socket: Duplex, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = JSON.stringify(errorBody(code, message))
  const reason = STATUS_CODES[status] ?? 'Error'
  const extra = Object.entries(headers)
    .filter(([name]) => name === 'retry-after' || name === 'www-authenticate')
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')
  // A client that never reads would hold the socket open: it is destroyed after a grace period either way.
  const timer = setTimeout(() => socket.destroy(), 2_000)
  timer.unref()
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
    () => {
      clearTimeout(timer)
      socket.destroy()
    },
  )
}

/** What a log line says about an error from a socket or a client: never the raw bytes (they may hold the token). */
const errInfo = (e: unknown) => (e instanceof Error ? { code: (e as NodeJS.ErrnoException).code, message: e.message.slice(0, 200) } : { message: String(e) })

/**
 * The admin API: plain node:http plus ws for `/events`. Every request needs the bearer token;
 * every action becomes an event (origin `admin`, with its reason) through the backend.
 *
 * Nothing a client sends ends the process: every handler turns an error into an answer or a
 * closed socket and a log line, and every server-side socket (HTTP, upgraded, WebSocket) and
 * the WebSocket server have an error handler. A request is checked in this order, and each
 * refusal closes the connection without reading the rest: the Host header against the bound
 * address (421, DNS rebinding), the target (400), the token (401; 429 past `tokenLimit`), the route (404), the method
 * (405), the declared body size (413), the body's Content-Type (415: JSON only), the actual size (413).
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { backend, logger } = options
  const host = options.host ?? '127.0.0.1'
  const maxBody = options.maxBodyBytes ?? 64 * 1024
  const known = credentials({ users: options.users, token: options.token })
  const sessions = createSessions(options.sessions)
  // apart from the logins', so a guessing page on loopback does not lock out the CLI's tokens there
  const tokenFailures = loginLimit({ maxFailures: WRONG_TOKENS_PER_WINDOW, ...options.tokenLimit })
  const stats = feedStats()
  /** The dashboard's feeds in `/metrics`: how many pages, what they were sent, what a slow one was spared. */
  const feedMetrics = (): Metric[] => {
    let unsent = 0
    for (const ws of feeds.keys()) unsent = Math.max(unsent, ws.bufferedAmount)
    return [
      { name: 'haltd_dashboard_feeds', help: 'Open dashboard feeds (/ui/feed).', type: 'gauge', samples: [{ value: feeds.size }] },
      { name: 'haltd_dashboard_frames_sent_total', help: 'Frames sent to dashboard pages.', type: 'counter', samples: [{ value: stats.sent }] },
      {
        name: 'haltd_dashboard_frames_skipped_total',
        help: 'Frames not sent because a page had more than the high-water mark unsent.',
        type: 'counter',
        samples: [{ value: stats.skipped }],
      },
      { name: 'haltd_dashboard_unsent_bytes', help: 'The most any open page has unsent now.', type: 'gauge', samples: [{ value: unsent }] },
      {
        name: 'haltd_dashboard_unsent_bytes_peak',
        help: 'The most any page had unsent right after a frame, since start.',
        type: 'gauge',
        samples: [{ value: stats.peakUnsentBytes }],
      },
    ]
  }
  const api = routes(backend, feedMetrics)
  const actionsOf = (role: Role) =>
    Object.keys(api).filter((path) => {
      const needs = api[path]?.POST?.needs
      return needs !== undefined && (needs === 'anyone' || needs.includes(role))
    })
  const table = {
    ...api,
    ...sessionRoutes({ known, sessions, logger, actionsOf, limit: loginLimit(options.loginLimit) }),
    ...pageRoutes(),
    ...SOCKET_ONLY,
    ...options.routes,
  }
  const refusals = refusalRecorder({
    record: (data) => (backend.recordRefused ? backend.recordRefused(data) : backend.log.append({ type: 'access.refused', data })),
    logger,
    ...(options.refusalWindowMs ? { windowMs: options.refusalWindowMs } : {}),
  })
  /** What any client can cause at will (unauthenticated requests, unreadable ones, connections past the cap): logged, never flooding the log. */
  const noisy = coalescedWarnings(logger, options.refusalWindowMs)
  const sockets = new Set<WebSocket>()
  const eventSockets = new Set<WebSocket>()
  /** The dashboard's feeds, each with its last-frame flush. */
  const feeds = new Map<WebSocket, () => Promise<void>>()
  const fleet = fleetPanel(() => backend.fleet)
  const dashboardView = sharedView(
    async (): Promise<PageView> => ({ ...(await backend.dashboard()), fleet: fleet() }),
    () => backend.log.lastSeq,
  )
  // Set once the port is known (the host check compares it).
  let checkHost: ReturnType<typeof hostCheck> = () => ({ ok: false, status: 421, problem: 'the server is not listening yet' })

  /** The checks every request and upgrade passes first, in order; the path it asks for. */
  const admit = (req: IncomingMessage): { path: string; query: URLSearchParams } => {
    const hostOk = checkHost(req.headers.host, req.socket.localAddress)
    if (!hostOk.ok) throw new HttpRefusal(hostOk.status, hostOk.status === 421 ? 'MISDIRECTED_REQUEST' : 'INVALID_HOST', hostOk.problem, undefined, CLOSE)
    const target = parseTarget(req.url)
    if (!target.ok) throw new HttpRefusal(400, 'INVALID_TARGET', target.problem, undefined, CLOSE)
    return target
  }

  /**
   * Who asks: the bearer token when there is an Authorization header (tools, engines), else the
   * session cookie (the page), whose request must come from the page's own origin.
   */
  const authenticate = (req: IncomingMessage, acting: boolean, path: string): { who: Principal; session?: Session } => {
    if (req.headers.authorization === undefined) {
      const session = sessionOf(sessions, req)
      if (session) {
        const origin = sessionOriginCheck(req, acting)
        if (!origin.ok) {
          refusals.refused(
            { route: `${shown(req.method ?? '')} ${path}`, name: session.who.name, role: session.who.role, why: 'cross-origin' },
            { origin: (req.headers.origin ?? '(none)').slice(0, 100) },
          )
          throw new HttpRefusal(403, 'CROSS_ORIGIN', origin.problem, undefined, CLOSE)
        }
        return { who: session.who, session }
      }
    }
    const address = req.socket.remoteAddress ?? '(unknown)'
    const route = `${shown(req.method ?? '')} ${shown(path)}`
    if (req.headers.authorization !== undefined) {
      const waitMs = tokenFailures.waitMs(address)
      if (waitMs > 0) {
        noisy.warn('tokens-refused', 'admin request refused: too many wrong tokens from its address', { route, address, waitMs })
        throw tooManyWrongTokens(waitMs)
      }
    }
    const who = known.bearer(req.headers.authorization)
    if (!who && req.headers.authorization !== undefined && tokenFailures.failed(address)) {
      // coalesced too: a client holding many addresses locks each, and must not fill the log doing so
      noisy.warn('tokens-locked', 'admin bearer tokens refused from an address: too many wrong ones; it waits (admin.tokenLimit)', {
        address,
        waitMs: tokenFailures.waitMs(address),
      })
      throw tooManyWrongTokens(tokenFailures.waitMs(address))
    }
    if (!who) {
      // not in the event log: a client without a credential may not write to it, even by failing
      const why = req.headers.authorization === undefined ? 'no credential' : 'unknown token or scheme'
      noisy.warn(`unauthenticated:${why}`, 'admin request refused: not authenticated', { why, route, address })
      throw new HttpRefusal(401, 'UNAUTHORIZED', 'a valid bearer token is required (Authorization: Bearer <token>), or a session (log in at /)', undefined, {
        'www-authenticate': 'Bearer realm="haltd"',
        ...CLOSE,
      })
    }
    return { who }
  }

  /** A role the route does not accept: 403 naming the role it needs, and a warning in the daemon's log. */
  const permit = (who: Principal | undefined, needs: readonly Role[] | 'anyone', method: string, path: string): void => {
    if (needs === 'anyone') return
    if (who && needs.includes(who.role)) return
    if (!who) throw new Error(`${method} ${path} needs a role and was not authenticated`)
    refusals.refused({ route: `${method} ${path}`, name: who.name, role: who.role, why: 'role', needs: [...needs] })
    throw new HttpRefusal(403, 'FORBIDDEN', refusal(who, needs, `${method} ${path}`))
  }

  const handle = async (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> => {
    const started = performance.now()
    let path = '(refused before its target was read)'
    let status = 500
    try {
      const target = admit(req)
      path = target.path
      const route = Object.hasOwn(table, path) ? table[path] : undefined
      // HEAD is GET without its body (RFC 9110): monitors ask it; Node leaves the body out of the answer
      const method = (req.method === 'HEAD' ? 'GET' : req.method) as 'GET' | 'POST'
      const open = route && Object.hasOwn(route, method ?? '') && route[method]?.needs === 'anyone'
      // Before 404 and 405: without a credential, nothing says which routes exist.
      const who = open ? undefined : authenticate(req, req.method !== 'GET' && req.method !== 'HEAD', path).who
      if (!route) throw new HttpRefusal(404, 'NOT_FOUND', `no route ${shown(path)}`, undefined, CLOSE)
      const handler = Object.hasOwn(route, method) ? route[method] : undefined
      if (!handler) {
        const allow = Object.keys(route)
          .flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]))
          .join(', ')
        throw new HttpRefusal(405, 'METHOD_NOT_ALLOWED', `${shown(req.method ?? '')} is not allowed on ${path} (allowed: ${allow})`, undefined, {
          allow,
          ...CLOSE,
        })
      }
      permit(who, handler.needs, method, path)
      let body: unknown
      if (method === 'POST') {
        const declared = Number(req.headers['content-length'] ?? 0)
        if (declared > maxBody) throw new HttpRefusal(413, 'BODY_TOO_LARGE', `the body is larger than ${maxBody} bytes`, undefined, CLOSE)
        requireJsonBody(req)
        if (expectsContinue) res.writeContinue()
        body = await readJsonBody(req, maxBody)
      }
      // read whole: from here the connection is served, and is not closed to make room for another
      const release = slots.serve(req.socket)
      res.once('close', release)
      const reply = await handler.run({ req, body, who })
      status = reply.status
      if (reply.stream) reply.stream(res)
      else send(res, reply)
    } catch (e) {
      status = e instanceof HttpRefusal ? e.status : e instanceof HaltdError ? 409 : 500
      if (status === 500) logger?.error({ err: e, path }, 'admin request failed')
      if (res.headersSent || res.destroyed) {
        res.destroy()
      } else if (e instanceof HttpRefusal) {
        send(res, json(e.status, errorBody(e.code, e.message, e.problems)), e.headers)
      } else if (e instanceof HaltdError) {
        // The request was well formed but the state does not allow it (resume while latched…).
        send(res, json(409, errorBody(e.code, e.message)))
      } else {
        send(res, json(500, errorBody('INTERNAL', e instanceof Error ? e.message : String(e))))
      }
    } finally {
      // The path only: never headers, never the query string.
      logger?.debug({ method: req.method, path, status, ms: Math.round(performance.now() - started) }, 'admin request')
    }
  }
  const guarded = (expectsContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, expectsContinue).catch((e: unknown) => {
      logger?.error({ err: errInfo(e) }, 'admin request handler failed')
      res.destroy()
    })
  }

  // requireHostHeader off: a missing Host is refused by the host check, with a body saying so.
  // The timeouts are short because a slow client holds a connection, and connections are capped.
  const headersTimeout = options.headersTimeoutMs ?? 10_000
  const server: Server = createServer(
    {
      requireHostHeader: false,
      headersTimeout,
      requestTimeout: Math.max(headersTimeout, options.requestTimeoutMs ?? 30_000),
      connectionsCheckingInterval: Math.min(1_000, headersTimeout),
    },
    guarded(false),
  )
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS
  const slots = connectionSlots({
    max: maxConnections,
    onReplaced: (old) =>
      noisy.warn(
        'replaced',
        `admin connection closed at once to make room: ${maxConnections} are open already (admin.maxConnections); the oldest not being served (still sending its request, or idle) was closed for the newcomer`,
        { address: old.remoteAddress ?? '(unknown)' },
      ),
    onDropped: (socket) =>
      noisy.warn('dropped', `admin connection closed at once: ${maxConnections} are open already (admin.maxConnections), every one being served`, {
        address: socket.remoteAddress ?? '(unknown)',
      }),
  })
  // Refused requests are answered before `100 Continue`, so a refused client never sends its body.
  server.on('checkContinue', guarded(true))
  server.on('connection', (socket: Socket) => {
    // Node's own handler leaves the socket at an upgrade; this one stays for its whole life.
    socket.on('error', (e) => logger?.warn({ err: errInfo(e) }, 'admin socket error'))
    slots.admit(socket)
  })
  server.on('clientError', (e: NodeJS.ErrnoException, socket: Duplex) => {
    noisy.warn(e.code ?? 'unknown', 'admin request not understood', { err: errInfo(e) })
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage
    if (e.code === 'ECONNRESET' || inFlight?.headersSent) {
      socket.destroy()
      return
    }
    const status = e.code === 'HPE_HEADER_OVERFLOW' ? 431 : e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
    answerRaw(socket, status, 'BAD_REQUEST', `the request cannot be read (${e.code ?? 'unknown'})`)
  })

  /** A socket opened on a session's cookie closes when the session ends (logout, its maximum age). */
  const endWithSession = (ws: WebSocket, session: Session | undefined): (() => void) =>
    session ? sessions.hold(session, () => ws.close(4401, 'the session has ended: log in again')) : () => undefined
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 })
  wss.on('error', (e) => logger?.warn({ err: errInfo(e) }, 'events socket server error'))
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let target: { path: string; query: URLSearchParams }
    let session: Session | undefined
    try {
      target = admit(req)
      session = authenticate(req, true, target.path).session
    } catch (e) {
      const r = e as HttpRefusal
      return answerRaw(socket, r.status, r.code, r.status === 401 ? 'a valid bearer token is required' : r.message, r.headers)
    }
    if (target.path === '/ui/feed') {
      if (feeds.size >= MAX_DASHBOARD_FEEDS)
        return answerRaw(socket, 503, 'TOO_MANY_SOCKETS', `the admin listener serves at most ${MAX_DASHBOARD_FEEDS} dashboard feeds at once`)
      return wss.handleUpgrade(req, socket, head, (ws) => {
        slots.serve(req.socket)
        ws.on('error', (e) => logger?.warn({ err: errInfo(e) }, 'dashboard socket error'))
        sockets.add(ws)
        const release = endWithSession(ws, session)
        const flush = streamDashboard(ws, backend.log, dashboardView, options.feed, stats)
        feeds.set(ws, flush)
        ws.on('close', () => {
          release()
          sockets.delete(ws)
          feeds.delete(ws)
        })
      })
    }
    if (target.path !== '/events') return answerRaw(socket, 404, 'NOT_FOUND', `no websocket route ${shown(target.path)}`)
    if (target.query.getAll('from').length > 1) return answerRaw(socket, 400, 'INVALID_QUERY', 'from is given more than once: give it once')
    const raw = target.query.get('from')
    const from = raw === null ? backend.log.lastSeq + 1 : /^[1-9][0-9]{0,15}$/.test(raw) ? Number(raw) : Number.NaN
    if (!Number.isSafeInteger(from)) return answerRaw(socket, 400, 'INVALID_QUERY', `from must be a positive integer seq, got '${shown(raw ?? '')}'`)
    if (eventSockets.size >= MAX_EVENT_SOCKETS)
      return answerRaw(socket, 503, 'TOO_MANY_SOCKETS', `the admin listener serves at most ${MAX_EVENT_SOCKETS} /events sockets at once`)
    wss.handleUpgrade(req, socket, head, (ws) => {
      slots.serve(req.socket)
      // A frame over maxPayload, reserved bits, a bad opcode: ws closes the socket and says why here.
      ws.on('error', (e) => logger?.warn({ err: errInfo(e) }, 'events socket error'))
      sockets.add(ws)
      eventSockets.add(ws)
      const release = endWithSession(ws, session)
      ws.on('close', () => {
        release()
        sockets.delete(ws)
        eventSockets.delete(ws)
      })
      logger?.debug({ from }, 'events socket opened')
      streamEvents(ws, backend.log, from)
    })
  }
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      upgrade(req, socket, head)
    } catch (e) {
      logger?.error({ err: errInfo(e) }, 'events socket upgrade failed')
      socket.destroy()
    }
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', (e) => logger?.error({ err: errInfo(e) }, 'admin server error'))
  const address = server.address() as AddressInfo
  checkHost = hostCheck({ address: address.address, port: address.port, allowedHosts: options.allowedHosts })
  if (!isLoopback(address.address)) {
    logger?.warn(
      { host: address.address, port: address.port },
      'the admin API listens beyond loopback: anyone who can reach this address and holds the token can stop trading',
    )
  }
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    host: address.address,
    port: address.port,
    url: `http://${urlHost}:${address.port}`,
    get clients() {
      return sockets.size
    },
    async close() {
      // the page keeps what it last got: let it be the final word (the report)
      await Promise.all([...feeds.values()].map((flush) => flush().catch(() => undefined)))
      refusals.close()
      noisy.close()
      for (const ws of sockets) ws.close(1001, 'haltd is stopping')
      wss.close()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      for (const ws of sockets) ws.terminate()
    },
  }
}
