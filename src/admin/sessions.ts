import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import { z } from 'zod'
import { type Credentials, type Principal, READERS, type Role } from './access.js'
import { caller, HttpRefusal, json, parse, type Route } from './route.js'
import type { LoginLimit } from './login-limit.js'

/**
 * Browser sessions: the login form trades a token for a random session id, kept only in this
 * process's memory and sent back as an HttpOnly, SameSite=Strict cookie, so no token sits in a
 * URL or in storage a script can read. A session ends on logout, after `idleMs` without a
 * request while none of its sockets is open, after `maxMs` whatever happens, and with the
 * process; its sockets (the dashboard's feed, `/events`) close when it ends. Each credential
 * holds at most `perCredential` sessions: its oldest goes when it opens one more.
 */
export const SESSION_COOKIE = 'haltd_session'

export type Session = { id: string; who: Principal; createdAt: number; seenAt: number }

export type Sessions = {
  open(who: Principal): Session
  /** The live session this id names (its idle clock restarted), if any. */
  find(id: string | undefined): Session | undefined
  /** Ends the session: its sockets are closed. */
  close(id: string | undefined): void
  /**
   * Ties a socket to the session: `end` is called when the session ends. An open socket is the
   * session in use, so it does not idle out; `maxMs` still ends it. Returns the release, for
   * when the socket closes first.
   */
  hold(session: Session, end: () => void): () => void
  readonly size: number
  /** The cookie that sets `session` (or, without one, clears it). */
  cookie(session?: Session): string
}

export function createSessions(options: { idleMs?: number; maxMs?: number; limit?: number; perCredential?: number; now?: () => number } = {}): Sessions {
  const idleMs = options.idleMs ?? 30 * 60_000
  const maxMs = options.maxMs ?? 12 * 60 * 60_000
  const limit = options.limit ?? 1_000
  const perCredential = options.perCredential ?? 20
  const now = options.now ?? Date.now
  const live = new Map<string, Session>()
  const held = new Map<string, Set<() => void>>()
  const expired = (s: Session, t: number) => (t - s.seenAt > idleMs && !held.has(s.id)) || t - s.createdAt > maxMs
  const end = (id: string) => {
    live.delete(id)
    const ends = held.get(id)
    held.delete(id)
    for (const f of ends ?? []) f()
  }
  const sweep = (t: number) => {
    for (const [id, s] of live) if (expired(s, t)) end(id)
  }
  return {
    open(who) {
      const t = now()
      sweep(t)
      // A credential past its share drops its own oldest session: logging in again and again
      // with a viewer's token must not push an admin's session out of the table.
      const own = [...live.values()].filter((s) => s.who.name === who.name && s.who.role === who.role)
      if (own.length >= perCredential) end((own[0] as Session).id)
      // a full table (many credentials) drops its oldest session rather than refuse a login
      else if (live.size >= limit) end(live.keys().next().value as string)
      const session = { id: randomBytes(32).toString('base64url'), who, createdAt: t, seenAt: t }
      live.set(session.id, session)
      return session
    },
    find(id) {
      if (id === undefined) return undefined
      const s = live.get(id)
      if (!s) return undefined
      const t = now()
      if (expired(s, t)) {
        end(id)
        return undefined
      }
      s.seenAt = t
      return s
    },
    close(id) {
      if (id !== undefined) end(id)
    },
    hold(session, onEnd) {
      if (!live.has(session.id)) {
        onEnd()
        return () => undefined
      }
      const ends = held.get(session.id) ?? new Set<() => void>()
      held.set(session.id, ends)
      const once = () => {
        clearTimeout(timer)
        onEnd()
      }
      ends.add(once)
      const timer = setTimeout(() => end(session.id), Math.max(0, session.createdAt + maxMs - now()))
      timer.unref()
      return () => {
        clearTimeout(timer)
        const set = held.get(session.id)
        if (!set?.delete(once) || set.size > 0) return
        held.delete(session.id)
        // the idle clock starts again when the last socket leaves
        session.seenAt = now()
      }
    },
    get size() {
      return live.size
    },
    cookie(session) {
      // No `Secure`: the admin API speaks plain HTTP on loopback; behind TLS the proxy adds it.
      const attributes = 'Path=/; HttpOnly; SameSite=Strict'
      return session ? `${SESSION_COOKIE}=${session.id}; ${attributes}; Max-Age=${Math.floor(maxMs / 1000)}` : `${SESSION_COOKIE}=; ${attributes}; Max-Age=0`
    },
  }
}

/**
 * Every session id a request's Cookie header carries, in its order. Another page of the same
 * host (another port) can set a cookie of the same name for a narrower path, which the browser
 * then sends first: each is tried, so such a cookie cannot shadow the page's own.
 */
export function sessionIdsOf(req: IncomingMessage): string[] {
  const header = req.headers.cookie
  if (!header) return []
  const ids: string[] = []
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue
    const id = part.slice(eq + 1).trim()
    if (id) ids.push(id)
  }
  return ids.slice(0, 8)
}

/** The live session among those a request's cookies name, if any. */
export function sessionOf(sessions: Sessions, req: IncomingMessage): Session | undefined {
  for (const id of sessionIdsOf(req)) {
    const s = sessions.find(id)
    if (s) return s
  }
  return undefined
}

export type OriginCheck = { ok: true } | { ok: false; problem: string }

/**
 * Whether a request authenticated by its session cookie comes from the page itself. A page on
 * another port of the same host is the same *site*, so SameSite=Strict still sends it the
 * cookie: the Origin (and Fetch Metadata) tell them apart. Acting (a POST, a WebSocket upgrade)
 * needs the Origin to be this server's own; any request naming another origin, or that the
 * browser marks as cross-origin, is refused.
 */
export function sessionOriginCheck(req: IncomingMessage, acting: boolean): OriginCheck {
  const own = `http://${req.headers.host ?? ''}`
  const origin = req.headers.origin
  if (origin !== undefined && origin !== own) return { ok: false, problem: `a session request from another origin (${origin.slice(0, 100)}) is refused` }
  if (acting && origin === undefined) return { ok: false, problem: 'an action with a session cookie needs the Origin header of the page' }
  const site = req.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return { ok: false, problem: `a ${site} request with a session cookie is refused` }
  return { ok: true }
}

const LoginBody = z.strictObject({ token: z.string().min(1).max(1000) })

const tooMany = (waitMs: number) => {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000))
  return new HttpRefusal(429, 'TOO_MANY_LOGINS', `too many failed logins from this address: try again in ${seconds} s`, undefined, {
    'retry-after': String(seconds),
  })
}

/**
 * `POST /session` trades a token for a session cookie (from the page's own origin only);
 * `GET /session` says who the session is; `POST /session/logout` ends it.
 */
export function sessionRoutes(d: {
  known: Credentials
  sessions: Sessions
  logger: Logger | undefined
  /** The actions (POST paths) a role may take: the page offers those, and no others. */
  actionsOf: (role: Role) => string[]
  /** Failed logins per remote address: past its limit an address is answered 429 until its wait is over. */
  limit: LoginLimit
}): Record<string, Route> {
  const whoami = (who: Principal) => ({ ...who, actions: d.actionsOf(who.role) })
  return {
    '/session': {
      GET: { needs: READERS, run: async (call) => json(200, whoami(caller(call))) },
      POST: {
        needs: 'anyone',
        run: async ({ req, body }) => {
          const origin = sessionOriginCheck(req, true)
          if (!origin.ok) throw new HttpRefusal(403, 'CROSS_ORIGIN', origin.problem)
          const address = req.socket.remoteAddress ?? '(unknown)'
          const waitMs = d.limit.waitMs(address)
          if (waitMs > 0) throw tooMany(waitMs)
          const who = d.known.token(parse(LoginBody, body).token)
          if (!who) {
            const locked = d.limit.failed(address)
            d.logger?.warn(
              { address, locked },
              locked ? 'admin login refused: unknown token; too many failures, this address waits' : 'admin login refused: unknown token',
            )
            if (locked) throw tooMany(d.limit.waitMs(address))
            throw new HttpRefusal(401, 'UNAUTHORIZED', 'no credential has this token')
          }
          d.limit.succeeded(address)
          const session = d.sessions.open(who)
          d.logger?.info({ name: who.name, role: who.role }, 'admin login')
          return json(200, whoami(who), { 'set-cookie': d.sessions.cookie(session) })
        },
      },
    },
    '/session/logout': {
      POST: {
        needs: READERS,
        run: async (call) => {
          for (const id of sessionIdsOf(call.req)) d.sessions.close(id)
          d.logger?.info({ name: caller(call).name }, 'admin logout')
          return json(200, { loggedOut: true }, { 'set-cookie': d.sessions.cookie() })
        },
      },
    },
  }
}
