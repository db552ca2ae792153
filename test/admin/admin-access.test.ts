import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashToken, type AdminUser } from '../../src/admin/access.js'
import { startAdminServer, type AdminServer } from '../../src/admin/index.js'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { parseConfig } from '../../src/daemon/config.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { dist, repoRoot } from '../support/paths.js'
import { tempDb } from '../support/tmp.js'
import { logBackend } from './log-backend.js'

const TOKENS = {
  vera: 'viewer-token-0123456789abcdef',
  olga: 'operator-token-0123456789abcdef',
  adam: 'admin-token-0123456789abcdef',
  eddie: 'engine-token-0123456789abcdef',
} as const
const USERS: AdminUser[] = [
  { name: 'vera', role: 'viewer', tokenHash: hashToken(TOKENS.vera) },
  { name: 'olga', role: 'operator', tokenHash: hashToken(TOKENS.olga) },
  { name: 'adam', role: 'admin', tokenHash: hashToken(TOKENS.adam) },
  { name: 'eddie', role: 'engine', tokenHash: hashToken(TOKENS.eddie) },
]
const SINGLE = 'single-user-token-0123456789'

let log: EventLog
let server: AdminServer
let logLines: string[]

beforeAll(async () => {
  log = openEventLog({ path: tempDb() })
  const dest = memoryDestination()
  logLines = dest.lines
  server = await startAdminServer({
    backend: logBackend(log),
    users: USERS,
    token: SINGLE,
    port: 0,
    logger: createLogger({ destination: dest, level: 'debug' }),
  })
})
afterAll(async () => {
  await server.close()
  log.close()
})

async function call(token: string, method: 'GET' | 'POST', path: string, body?: object) {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, json: () => JSON.parse(text) as { error: { code: string; message: string }; result: number } }
}

const READS = ['/health', '/status', '/metrics', '/positions', '/orders', '/reconciliation', '/inflight', '/drain/status']
const OPERATOR_ACTIONS: [string, object][] = [
  ['/deployments/lock', { reason: 'r' }],
  ['/pause', { reason: 'r' }],
  ['/resume', { reason: 'r' }],
  ['/drain/start', { reason: 'r' }],
  ['/drain/cancel', { reason: 'r' }],
  ['/killswitch/activate', { reason: 'r' }],
  ['/shutdown', { mode: 'graceful', reason: 'r' }],
  ['/shutdown', { mode: 'emergency', reason: 'r' }],
]
const ADMIN_ACTIONS: [string, object][] = [
  ['/killswitch/reset', { reason: 'r' }],
  ['/deployments/unlock', { reason: 'r' }],
  ['/drain/force', { reason: 'r', force: true }],
]

describe('roles on the admin API', () => {
  it('lets every role read everything', async () => {
    for (const token of [...Object.values(TOKENS), SINGLE]) {
      for (const path of READS) expect((await call(token, 'GET', path)).status, `${path}`).not.toBe(403)
    }
  })

  it('refuses every action to a viewer and an engine with 403 naming the role needed, logs it, and appends nothing', async () => {
    const before = log.lastSeq
    for (const [name, role] of [
      ['vera', 'viewer'],
      ['eddie', 'engine'],
    ] as const) {
      for (const [path, body] of [...OPERATOR_ACTIONS, ...ADMIN_ACTIONS]) {
        const r = await call(TOKENS[name], 'POST', path, body)
        expect(r.status, path).toBe(403)
        const needs = ADMIN_ACTIONS.some(([p]) => p === path) ? 'the admin role' : 'the operator or admin role'
        expect(r.json().error).toEqual({ code: 'FORBIDDEN', message: `POST ${path} needs ${needs}; ${name} is ${role === 'engine' ? 'an' : 'a'} ${role}` })
      }
    }
    // the log holds the refusals only: one row per credential and route (the second /shutdown is counted toward its window's row)
    const rows = [...log.read({ from: before + 1 })]
    expect(new Set(rows.map((e) => e.type))).toEqual(new Set(['access.refused']))
    const routes = new Set([...OPERATOR_ACTIONS, ...ADMIN_ACTIONS].map(([p]) => `POST ${p}`))
    expect(rows.length).toBe(2 * routes.size)
    expect(rows.map((e) => e.data)).toContainEqual(
      expect.objectContaining({ name: 'vera', role: 'viewer', route: 'POST /killswitch/activate', why: 'role', needs: ['operator', 'admin'], count: 1 }),
    )
    const refusals = logLines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'admin request refused')
    expect(refusals).toContainEqual(expect.objectContaining({ user: 'vera', role: 'viewer', route: 'POST /killswitch/activate', needs: ['operator', 'admin'] }))
    expect(refusals).toContainEqual(expect.objectContaining({ user: 'eddie', role: 'engine', route: 'POST /killswitch/reset', needs: ['admin'] }))
  })

  it("lets an operator stop and slow trading, recording the operator's name and role as by", async () => {
    const activated = await call(TOKENS.olga, 'POST', '/killswitch/activate', { reason: 'venue incident' })
    expect(activated.status).toBe(202)
    const [event] = [...log.read({ from: activated.json().result, to: activated.json().result })]
    expect(event).toMatchObject({ type: 'killswitch.activated', data: { reason: 'venue incident', origin: 'admin', by: 'olga (operator)' } })
    for (const [path, body] of OPERATOR_ACTIONS) expect((await call(TOKENS.olga, 'POST', path, body)).status, path).toBe(202)
  })

  it('keeps what restarts trading or leaves exposure behind for an admin', async () => {
    for (const [path, body] of ADMIN_ACTIONS) {
      const r = await call(TOKENS.olga, 'POST', path, body)
      expect(r.status, path).toBe(403)
      expect(r.json().error.message).toContain('needs the admin role; olga is an operator')
    }
    const reset = await call(TOKENS.adam, 'POST', '/killswitch/reset', { reason: 'incident closed' })
    expect(reset.status).toBe(202)
    const [event] = [...log.read({ from: reset.json().result, to: reset.json().result })]
    expect(event).toMatchObject({ type: 'killswitch.reset', data: { reason: 'incident closed', by: 'adam (admin)' } })
    for (const [path, body] of ADMIN_ACTIONS.slice(1)) expect((await call(TOKENS.adam, 'POST', path, body)).status, path).toBe(202)
  })

  it('treats the single token as the local admin, and knows no token by its hash', async () => {
    await call(TOKENS.olga, 'POST', '/killswitch/activate', { reason: 'again' })
    const reset = await call(SINGLE, 'POST', '/killswitch/reset', { reason: 'single user' })
    expect(reset.status).toBe(202)
    expect([...log.read({ from: reset.json().result, to: reset.json().result })][0]!.data).toMatchObject({ by: 'local (admin)' })
    expect((await call(hashToken(TOKENS.adam), 'GET', '/status')).status).toBe(401)
    expect((await call(hashToken(TOKENS.adam).slice(7), 'GET', '/status')).status).toBe(401)
  })
})

describe('admin.users in the config', () => {
  const base = { db: { path: '/tmp/x.db' } }
  it('accepts named credentials with roles and token hashes', () => {
    expect(parseConfig({ ...base, admin: { users: USERS } }, {}).admin.users).toEqual(USERS)
  })

  it('refuses a token in place of its hash, an unknown role, and a name or hash given twice', () => {
    const problems = (admin: object) => {
      try {
        parseConfig({ ...base, admin }, {})
        return []
      } catch (e) {
        return (e as { problems: { path: string; message: string }[] }).problems
      }
    }
    expect(problems({ users: [{ name: 'olga', role: 'operator', tokenHash: TOKENS.olga }] })).toEqual([
      expect.objectContaining({ path: 'admin.users[0].tokenHash', message: expect.stringContaining("'sha256:' and 64 lowercase hex digits") }),
    ])
    expect(problems({ users: [{ name: 'olga', role: 'root', tokenHash: hashToken(TOKENS.olga) }] })).toEqual([
      expect.objectContaining({ path: 'admin.users[0].role' }),
    ])
    expect(problems({ users: [USERS[0], { ...USERS[1], name: 'vera' }, { ...USERS[2], tokenHash: USERS[0]!.tokenHash }] }).map((p) => p.message)).toEqual([
      "the name 'vera' as admin.users[0]: each credential is one person's own",
      "the same token hash as admin.users[0]: each credential is one person's own",
    ])
  })
})

describe('haltd token', () => {
  const haltd = (args: string[], input?: string) =>
    spawnSync(process.execPath, [dist('src/cli.js'), 'token', ...args], { cwd: repoRoot, encoding: 'utf8', input })

  it('new prints a fresh token and the admin.users entry holding only its hash', () => {
    const r = haltd(['new', '--name', 'olga', '--role', 'operator'])
    expect(r.status).toBe(0)
    const token = /token \(give it to olga; it is not stored anywhere\): (\S+)/.exec(r.stdout)?.[1]
    expect(token).toMatch(/^[\w-]{43}$/)
    const entry = JSON.parse(/admin\.users entry: (.*)/.exec(r.stdout)![1]!)
    expect(entry).toEqual({ name: 'olga', role: 'operator', tokenHash: hashToken(token!) })
    expect(r.stdout.split(token!).length).toBe(2)
  })

  it('hash reads the token from stdin and refuses one too short', () => {
    const r = haltd(['hash'], `${TOKENS.adam}\n`)
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe(hashToken(TOKENS.adam))
    const short = haltd(['hash'], 'short\n')
    expect(short.status).not.toBe(0)
    expect(short.stderr).toMatch(/at least 16 characters/)
    const badRole = haltd(['new', '--name', 'x', '--role', 'root'])
    expect(badRole.stderr).toMatch(/--role must be one of viewer, operator, admin, engine/)
  })
})
