import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import { WebSocketServer, type WebSocket } from 'ws'
import type { z } from 'zod'
import { HaltdError, problemsOf } from '../events/errors.js'
import { bearerCheck } from './auth.js'
import { ActionBody, DrainForceBody, KillSwitchActivateBody, ShutdownBody, type AdminBackend } from './backend.js'
import { streamEvents } from './events-socket.js'
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus.js'

export type AdminServerOptions = {
  backend: AdminBackend
  token: string
  /** Loopback by default: the admin API can stop trading. */
  host?: string
  /** 0 picks a free port. */
  port?: number
  logger?: Logger
  /** Largest request body accepted. */
  maxBodyBytes?: number
}

export type AdminServer = {
  readonly host: string
  readonly port: number
  readonly url: string
  /** Open `/events` sockets. */
  readonly clients: number
  close(): Promise<void>
}

type Reply = { status: number; body: unknown; contentType?: string }
type Handler = (req: IncomingMessage, body: unknown) => Promise<Reply>

/** A request that is refused with a 4xx and a body saying exactly why. */
class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems?: { path: string; message: string }[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

const json = (status: number, body: unknown): Reply => ({ status, body })

function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body ?? {})
  if (!result.success) {
    const problems = problemsOf(result.error)
    throw new HttpRefusal(400, 'INVALID_BODY', `invalid body: ${problems.map((p) => `${p.path || '(body)'}: ${p.message}`).join('; ')}`, problems)
  }
  return result.data
}

function routes(backend: AdminBackend): Record<string, Partial<Record<'GET' | 'POST', Handler>>> {
  const read = (f: () => unknown) => async () => json(200, await f())
  const act =
    <S extends z.ZodType>(schema: S, f: (request: z.output<S> & { origin: 'admin' }) => unknown): Handler =>
    async (_req, body) => {
      const request = { ...(parse(schema, body) as object), origin: 'admin' } as z.output<S> & { origin: 'admin' }
      return json(202, { ok: true, result: (await f(request)) ?? null })
    }
  return {
    '/health': {
      GET: async () => {
        const health = await backend.health()
        return json(health.ok ? 200 : 503, health)
      },
    },
    '/status': { GET: read(() => backend.status()) },
    '/metrics': { GET: async () => ({ status: 200, body: renderPrometheus(await backend.metrics()), contentType: PROMETHEUS_CONTENT_TYPE }) },
    '/positions': { GET: read(() => backend.positions()) },
    '/orders': { GET: read(() => backend.orders()) },
    '/reconciliation': { GET: read(() => backend.reconciliation()) },
    '/inflight': { GET: read(() => backend.inflight()) },
    '/drain/status': { GET: read(() => backend.drainStatus()) },
    '/shutdown': { POST: act(ShutdownBody, (r) => backend.shutdown(r)) },
    '/killswitch/activate': { POST: act(KillSwitchActivateBody, (r) => backend.killswitchActivate(r)) },
    '/killswitch/reset': { POST: act(ActionBody, (r) => backend.killswitchReset(r)) },
    '/drain/start': { POST: act(ActionBody, (r) => backend.drainStart(r)) },
    '/drain/cancel': { POST: act(ActionBody, (r) => backend.drainCancel(r)) },
    '/drain/force': { POST: act(DrainForceBody, (r) => backend.drainForce(r)) },
    '/pause': { POST: act(ActionBody, (r) => backend.pause(r)) },
    '/resume': { POST: act(ActionBody, (r) => backend.resume(r)) },
    '/deployments/lock': { POST: act(ActionBody, (r) => backend.lockDeployments(r)) },
    '/deployments/unlock': { POST: act(ActionBody, (r) => backend.unlockDeployments(r)) },
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = false
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return
      size += chunk.length
      if (size > limit) {
        // Answered at once; the rest is read and dropped so the client gets the 413, not a reset.
        tooLarge = true
        chunks.length = 0
        reject(new HttpRefusal(413, 'BODY_TOO_LARGE', `the body is larger than ${limit} bytes`, undefined, { connection: 'close' }))
        return
      }
      chunks.push(chunk)
    })
    req.on('error', reject)
    req.on('end', () => {
      if (tooLarge) return
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

function send(res: ServerResponse, reply: Reply, headers: Record<string, string> = {}): void {
  const text = typeof reply.body === 'string' && reply.contentType ? reply.body : `${JSON.stringify(reply.body, null, 2)}\n`
  res.writeHead(reply.status, {
    'content-type': reply.contentType ?? 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(text)
}

const errorBody = (code: string, message: string, problems?: unknown) => ({ error: { code, message, ...(problems ? { problems } : {}) } })

/**
 * The admin API: plain node:http plus ws for `/events`. Every request needs the bearer token;
 * every action becomes an event (origin `admin`, with its reason) through the backend.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { backend, logger } = options
  const host = options.host ?? '127.0.0.1'
  const maxBody = options.maxBodyBytes ?? 64 * 1024
  const authorized = bearerCheck(options.token)
  const table = routes(backend)
  const sockets = new Set<WebSocket>()

  const server: Server = createServer(async (req, res) => {
    const started = performance.now()
    const path = new URL(req.url ?? '/', 'http://admin').pathname
    let status = 500
    try {
      if (!authorized(req.headers.authorization)) {
        throw new HttpRefusal(401, 'UNAUTHORIZED', 'a valid bearer token is required (Authorization: Bearer <token>)', undefined, {
          'www-authenticate': 'Bearer realm="haltd"',
        })
      }
      const route = table[path]
      if (!route) throw new HttpRefusal(404, 'NOT_FOUND', `no route ${path}`)
      const method = req.method as 'GET' | 'POST'
      const handler = route[method]
      if (!handler) {
        const allow = Object.keys(route).join(', ')
        throw new HttpRefusal(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path} (allowed: ${allow})`, undefined, { allow })
      }
      const body = method === 'POST' ? await readBody(req, maxBody) : undefined
      const reply = await handler(req, body)
      status = reply.status
      send(res, reply)
    } catch (e) {
      if (e instanceof HttpRefusal) {
        status = e.status
        send(res, json(e.status, errorBody(e.code, e.message, e.problems)), e.headers)
      } else if (e instanceof HaltdError) {
        // The request was well formed but the state does not allow it (resume while latched…).
        status = 409
        send(res, json(409, errorBody(e.code, e.message)))
      } else {
        status = 500
        logger?.error({ err: e, path }, 'admin request failed')
        send(res, json(500, errorBody('INTERNAL', e instanceof Error ? e.message : String(e))))
      }
    } finally {
      // The path only: never headers, never the query string.
      logger?.debug({ method: req.method, path, status, ms: Math.round(performance.now() - started) }, 'admin request')
    }
  })

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 })
  server.on('upgrade', (req, socket: Socket, head) => {
    const url = new URL(req.url ?? '/', 'http://admin')
    const refuse = (status: number, code: string, message: string) => {
      const body = JSON.stringify(errorBody(code, message))
      socket.end(
        `HTTP/1.1 ${status} ${code}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      )
    }
    if (!authorized(req.headers.authorization)) return refuse(401, 'UNAUTHORIZED', 'a valid bearer token is required')
    if (url.pathname !== '/events') return refuse(404, 'NOT_FOUND', `no websocket route ${url.pathname}`)
    const raw = url.searchParams.get('from')
    const from = raw === null ? backend.log.lastSeq + 1 : Number(raw)
    if (!Number.isInteger(from) || from < 1) return refuse(400, 'INVALID_QUERY', `from must be a positive integer seq, got '${raw}'`)
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws)
      ws.on('close', () => sockets.delete(ws))
      logger?.debug({ from }, 'events socket opened')
      streamEvents(ws, backend.log, from)
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    host: address.address,
    port: address.port,
    url: `http://${urlHost}:${address.port}`,
    get clients() {
      return sockets.size
    },
    async close() {
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
