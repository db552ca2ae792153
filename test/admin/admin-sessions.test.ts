import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { hashToken } from '../../src/admin/access.js'
import { startAdminServer, type AdminServer } from '../../src/admin/index.js'
import { createSessions } from '../../src/admin/sessions.js'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDb } from '../support/tmp.js'
import { logBackend } from './log-backend.js'

const OLGA = 'operator-token-0123456789abcdef'
const VERA = 'viewer-token-0123456789abcdef'
let log: EventLog
let server: AdminServer
let own: string
let logLines: string[]

beforeAll(async () => {
  log = openEventLog({ path: tempDb() })
  const dest = memoryDestination()
  logLines = dest.lines
  server = await startAdminServer({
    backend: logBackend(log),
    users: [
      { name: 'olga', role: 'operator', tokenHash: hashToken(OLGA) },
      { name: 'vera', role: 'viewer', tokenHash: hashToken(VERA) },
    ],
    port: 0,
    logger: createLogger({ destination: dest, level: 'debug' }),
  })
  own = server.url
})
afterAll(async () => {
  await server.close()
  log.close()
})

type Answer = {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: { error?: { code: string; message: string } } & Record<string, unknown>
}

/** A request with exactly these headers (fetch would add or refuse some, Origin among them). */
function call(method: string, path: string, headers: Record<string, string>, body?: object): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body)
    const req = request(`${own}${path}`, { method, headers: { ...headers, ...(text ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.startsWith('{') ? JSON.parse(raw) : {} })
      })
    })
    req.on('error', reject)
    req.end(text)
  })
}

async function login(token: string): Promise<string> {
  const r = await call('POST', '/session', { origin: own }, { token })
  expect(r.status).toBe(200)
  const cookie = String(r.headers['set-cookie'])
  return cookie.split(';')[0]!
}

describe('browser sessions', () => {
  it('trades a token for an HttpOnly, SameSite=Strict cookie that holds a random id, not the token', async () => {
    const r = await call('POST', '/session', { origin: own }, { token: OLGA })
    expect(r.status).toBe(200)
    const olga = {
      name: 'olga',
      role: 'operator',
      actions: [
        '/shutdown',
        '/killswitch/activate',
        '/drain/start',
        '/drain/cancel',
        '/pause',
        '/resume',
        '/deployments/lock',
        '/fleet/killswitch/activate',
        '/fleet/stop',
      ],
    }
    expect(r.body).toEqual(olga)
    const cookie = String(r.headers['set-cookie'])
    expect(cookie).toMatch(/^haltd_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/)
    expect(cookie).not.toContain(OLGA)
    const session = cookie.split(';')[0]!
    expect((await call('GET', '/session', { cookie: session })).body).toEqual(olga)
  })

  it('acts on a session only from its own origin, recording who as by', async () => {
    const session = await login(OLGA)
    const before = log.lastSeq
    const refusals = [
      await call('POST', '/killswitch/activate', { cookie: session }, { reason: 'no origin' }),
      await call('POST', '/killswitch/activate', { cookie: session, origin: 'http://127.0.0.1:1' }, { reason: 'another port' }),
      await call('POST', '/killswitch/activate', { cookie: session, origin: 'null' }, { reason: 'sandboxed' }),
      await call('POST', '/killswitch/activate', { cookie: session, origin: own, 'sec-fetch-site': 'same-site' }, { reason: 'fetch metadata' }),
    ]
    for (const r of refusals) expect([r.status, r.body.error?.code]).toEqual([403, 'CROSS_ORIGIN'])
    // nothing but the refusal, once for its kind (the other three counted toward the window's row)
    expect([...log.read({ from: before + 1 })].map((e) => [e.type, e.data])).toEqual([
      ['access.refused', { route: 'POST /killswitch/activate', name: 'olga', role: 'operator', why: 'cross-origin', count: 1, since: expect.any(Number) }],
    ])
    expect(logLines.some((l) => l.includes('admin request refused') && l.includes('"why":"cross-origin"'))).toBe(true)

    const ok = await call('POST', '/killswitch/activate', { cookie: session, origin: own, 'sec-fetch-site': 'same-origin' }, { reason: 'from the page' })
    expect(ok.status).toBe(202)
    expect([...log.read({ from: log.lastSeq, to: log.lastSeq })][0]).toMatchObject({ type: 'killswitch.activated', data: { by: 'olga (operator)' } })
  })

  it('refuses a read that another origin asks for with the cookie', async () => {
    const session = await login(VERA)
    expect((await call('GET', '/session', { cookie: session })).body).toEqual({ name: 'vera', role: 'viewer', actions: [] })
    expect((await call('GET', '/status', { cookie: session })).status).toBe(200)
    expect((await call('GET', '/status', { cookie: session, origin: 'http://localhost:9' })).status).toBe(403)
    expect((await call('GET', '/status', { cookie: session, 'sec-fetch-site': 'cross-site' })).status).toBe(403)
  })

  it('refuses a login from another origin or with an unknown token, and logs the failure', async () => {
    expect((await call('POST', '/session', { origin: 'http://127.0.0.1:1' }, { token: OLGA })).status).toBe(403)
    expect((await call('POST', '/session', {}, { token: OLGA })).status).toBe(403)
    const wrong = await call('POST', '/session', { origin: own }, { token: 'not-a-token-of-anyone-here' })
    expect(wrong.status).toBe(401)
    expect(wrong.headers['set-cookie']).toBeUndefined()
    expect(logLines.some((l) => l.includes('admin login refused: unknown token'))).toBe(true)
  })

  it('ends the session at logout', async () => {
    const session = await login(VERA)
    const out = await call('POST', '/session/logout', { cookie: session, origin: own })
    expect(out.status).toBe(200)
    expect(String(out.headers['set-cookie'])).toMatch(/^haltd_session=; .*Max-Age=0$/)
    expect((await call('GET', '/status', { cookie: session })).status).toBe(401)
  })

  it('opens the event stream to a session only from its own origin', async () => {
    const session = await login(VERA)
    const open = (origin: string) =>
      new Promise<number | 'open'>((resolve) => {
        const ws = new WebSocket(`${own.replace('http', 'ws')}/events?from=1`, { headers: { cookie: session }, origin })
        ws.on('open', () => {
          ws.close()
          resolve('open')
        })
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.on('error', () => resolve(0))
      })
    expect(await open('http://127.0.0.1:1')).toBe(403)
    expect(await open(own)).toBe('open')
  })

  it('given a session with its feed and event sockets open, when it logs out, then both sockets close and the cookie opens nothing more', async () => {
    // given a logged-in page holding the dashboard feed and an event stream
    const session = await login(VERA)
    const opened = (path: string) =>
      new Promise<{ ws: WebSocket; closed: Promise<number> }>((resolve, reject) => {
        const ws = new WebSocket(`${own.replace('http', 'ws')}${path}`, { headers: { cookie: session }, origin: own })
        const closed = new Promise<number>((done) => ws.on('close', (code) => done(code)))
        ws.on('open', () => resolve({ ws, closed }))
        ws.on('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)))
      })
    const feed = await opened('/ui/feed')
    const events = await opened('/events?from=1')

    // when the page logs out
    expect((await call('POST', '/session/logout', { cookie: session, origin: own })).status).toBe(200)

    // then both sockets are closed by haltd, saying the session ended
    expect(await feed.closed).toBe(4401)
    expect(await events.closed).toBe(4401)
    await expect(opened('/ui/feed')).rejects.toThrow('refused: 401')
  })

  it('given another page of the same host set a cookie of the same name, then the page’s own session still works, and its logout ends it', async () => {
    // given the browser sends a junk haltd_session (set by a page on another port, for a narrower path) before the real one
    const session = await login(VERA)
    const both = `haltd_session=junk-from-another-port; ${session}`

    // then the real one is found
    expect((await call('GET', '/status', { cookie: both })).status).toBe(200)
    // and logging out with both ends the real one
    expect((await call('POST', '/session/logout', { cookie: both, origin: own })).status).toBe(200)
    expect((await call('GET', '/status', { cookie: session })).status).toBe(401)
  })

  it('bearer calls keep working without any Origin', async () => {
    expect((await call('POST', '/pause', { authorization: `Bearer ${OLGA}` }, { reason: 'curl' })).status).toBe(202)
  })
})

describe('the session table', () => {
  it('given a viewer logging in a thousand times over, then an operator logged in before is still logged in, and the viewer holds only its share', async () => {
    // given the operator's session, over the API
    const login = (token: string) => call('POST', '/session', { origin: own }, { token })
    const olga = String((await login(OLGA)).headers['set-cookie']).split(';')[0] as string
    expect((await call('GET', '/session', { cookie: olga })).status).toBe(200)
    // when the viewer logs in a thousand times, each a new session
    const viewer: string[] = []
    for (let i = 0; i < 1_000; i++) viewer.push(String((await login(VERA)).headers['set-cookie']).split(';')[0] as string)
    // then the operator's session lives on, and the viewer's oldest went to make room for its newest
    expect((await call('GET', '/session', { cookie: olga })).status).toBe(200)
    expect((await call('GET', '/session', { cookie: viewer.at(-1) as string })).status).toBe(200)
    expect((await call('GET', '/session', { cookie: viewer[0] as string })).status).toBe(401)
  })

  it("keeps at most its share of sessions per credential, dropping that credential's oldest", () => {
    const sessions = createSessions({ perCredential: 3, limit: 5 })
    const olga = sessions.open({ name: 'olga', role: 'operator' })
    const vera = Array.from({ length: 10 }, () => sessions.open({ name: 'vera', role: 'viewer' }))
    expect(sessions.find(olga.id)).toBeDefined()
    expect(vera.map((s) => sessions.find(s.id) !== undefined)).toEqual([...Array(7).fill(false), true, true, true])
    expect(sessions.size).toBe(4)
  })

  it('forgets a session idle too long or older than its maximum', () => {
    let t = 0
    const sessions = createSessions({ idleMs: 100, maxMs: 250, now: () => t })
    const who = { name: 'olga', role: 'operator' } as const
    const a = sessions.open(who)
    t = 90
    expect(sessions.find(a.id)?.who).toEqual(who)
    t = 180
    expect(sessions.find(a.id)).toBeDefined()
    t = 260
    expect(sessions.find(a.id)).toBeUndefined()
    const b = sessions.open(who)
    t = 361
    expect(sessions.find(b.id)).toBeUndefined()
    expect(sessions.find(undefined)).toBeUndefined()
  })

  it('keeps a session with an open socket past its idle time, never past its maximum, and ends the socket with it', async () => {
    let t = 0
    const sessions = createSessions({ idleMs: 100, maxMs: 60_250, now: () => t })
    const who = { name: 'vera', role: 'viewer' } as const
    // given a session holding a socket
    const a = sessions.open(who)
    let ended = 0
    const release = sessions.hold(a, () => ended++)
    // when it stays without a request past its idle time, then it lives on: the page is open
    t = 500
    expect(sessions.find(a.id)).toBeDefined()
    // when the socket goes, the idle clock starts from then
    release()
    t = 550
    expect(sessions.find(a.id)).toBeDefined()
    t = 700
    expect(sessions.find(a.id)).toBeUndefined()
    expect(ended).toBe(0)
    // and a session closed while it holds a socket ends the socket once
    const b = sessions.open(who)
    sessions.hold(b, () => ended++)
    sessions.close(b.id)
    sessions.close(b.id)
    expect(ended).toBe(1)
    // and a socket held on a session already gone ends at once
    sessions.hold(b, () => ended++)
    expect(ended).toBe(2)
  })
})
