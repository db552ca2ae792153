import { request } from 'node:http'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { hashToken } from '../../src/admin/access.js'
import { startAdminServer, type AdminServer } from '../../src/admin/index.js'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDb } from '../support/tmp.js'
import { startDemo, TOKENS } from './dashboard-support.js'
import { addressKey, loginLimit } from '../../src/admin/login-limit.js'
import { coalescedWarnings } from '../../src/admin/refusals.js'
import { exchange, upgradeRequest } from './raw-http.js'
import { logBackend } from './log-backend.js'

const VERA = 'viewer-token-0123456789abcdef'
const OLGA = 'operator-token-0123456789abcdef'

let log: EventLog
let server: AdminServer | undefined
let logLines: string[]

async function start(options: Partial<Parameters<typeof startAdminServer>[0]> = {}): Promise<AdminServer> {
  log = openEventLog({ path: tempDb() })
  const dest = memoryDestination()
  logLines = dest.lines
  server = await startAdminServer({
    backend: logBackend(log),
    users: [
      { name: 'vera', role: 'viewer', tokenHash: hashToken(VERA) },
      { name: 'olga', role: 'operator', tokenHash: hashToken(OLGA) },
    ],
    port: 0,
    logger: createLogger({ destination: dest, level: 'info' }),
    ...options,
  })
  return server
}
afterEach(async () => {
  await server?.close()
  server = undefined
  log?.close()
})

const post = (s: AdminServer, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
const refusedRows = () => [...log.read({ types: ['access.refused'] })].map((e) => e.data as { route: string; name: string; count: number })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('refused requests in the event log', () => {
  it('given a flood of refused requests, records the first of each credential and route at once and the rest as one counted row per window', async () => {
    const windowMs = 400
    const s = await start({ refusalWindowMs: windowMs })
    const bearer = { authorization: `Bearer ${VERA}` }
    const began = Date.now()
    for (let i = 0; i < 300; i++) expect((await post(s, '/shutdown', { mode: 'emergency', reason: 'x' }, bearer)).status).toBe(403)
    expect((await post(s, '/pause', { reason: 'x' }, bearer)).status).toBe(403)
    const windows = Math.ceil((Date.now() - began) / windowMs)
    await sleep(windowMs * 2.5)

    const rows = refusedRows()
    const shutdown = rows.filter((r) => r.route === 'POST /shutdown')
    // the first at once, with its count of one; every refusal counted once; a row per window at most, not one per request
    expect(shutdown[0]).toMatchObject({ name: 'vera', count: 1 })
    expect(shutdown.reduce((n, r) => n + r.count, 0)).toBe(300)
    expect(shutdown.length).toBeLessThanOrEqual(windows + 2)
    expect(rows.filter((r) => r.route === 'POST /pause')).toEqual([expect.objectContaining({ name: 'vera', count: 1 })])
    // quiet since: nothing more is written
    await sleep(windowMs * 2)
    expect(refusedRows()).toHaveLength(rows.length)
    // and the process log as bounded: a line per row, not per request
    expect(logLines.filter((l) => l.includes('admin request') && l.includes('refused')).length).toBe(rows.length)
    expect(log.verify()).toMatchObject({ ok: true })
  })

  it('given refusals still being counted when the server closes, writes their count to the process log only (the run has ended by then)', async () => {
    const s = await start({ refusalWindowMs: 60_000 })
    for (let i = 0; i < 3; i++) await post(s, '/shutdown', { mode: 'graceful', reason: 'x' }, { authorization: `Bearer ${VERA}` })
    await s.close()
    server = undefined
    expect(refusedRows().map((r) => r.count)).toEqual([1])
    expect(logLines.map((l) => JSON.parse(l)).filter((l) => l.route === 'POST /shutdown')).toEqual([
      expect.objectContaining({ msg: 'admin request refused', count: 1 }),
      expect.objectContaining({ msg: 'admin requests refused: 2 in the last window', count: 2, user: 'vera' }),
    ])
    // one `name` per line, the logger's: a second would leave a reader to guess which one counts
    for (const line of logLines.filter((l) => l.includes('admin request'))) expect(line.match(/"name":/g) ?? []).toHaveLength(1)
  })

  it('given requests without a credential and with a wrong token, says so in the process log once per cause with the route and address, counts the rest, never writes the token, and writes nothing to the event log', async () => {
    // a window no run of this test outlasts, closed by the server's close: the count does not hang on a timer's turn
    const s = await start({ refusalWindowMs: 600_000, tokenLimit: { maxFailures: 1_000 } })
    const wrong = 'wrong-token-that-must-not-be-logged-0123'
    // when 50 requests come with no credential and 50 with a wrong token
    for (let i = 0; i < 50; i++) {
      expect((await fetch(`${s.url}/status`)).status).toBe(401)
      expect((await post(s, '/shutdown', { mode: 'emergency', reason: 'x' }, { authorization: `Bearer ${wrong}` })).status).toBe(401)
    }
    await s.close()
    server = undefined

    // then the first of each cause is logged at once, with its route and address
    const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>)
    const first = lines.filter((l) => l.msg === 'admin request refused: not authenticated')
    expect(first).toEqual([
      expect.objectContaining({ why: 'no credential', route: 'GET /status', address: '127.0.0.1' }),
      expect.objectContaining({ why: 'unknown token or scheme', route: 'POST /shutdown', address: '127.0.0.1' }),
    ])
    // and the other 49 of each counted into one line per cause, not written one by one
    const counted = lines.filter((l) => String(l.msg).startsWith('admin request refused: not authenticated: '))
    expect(counted.map((l) => [l.kind, l.count])).toEqual([
      ['unauthenticated:no credential', 49],
      ['unauthenticated:unknown token or scheme', 49],
    ])
    // and the token is nowhere, and the log took nothing from a client it does not know
    expect(logLines.some((l) => l.includes(wrong))).toBe(false)
    expect([...log.read({})]).toHaveLength(0)
  })

  it('given one address refused without a credential, the refusals counted after it from another address name that address: the first cannot hide the rest', async () => {
    const s = await start()
    const port = Number(new URL(s.url).port)
    /** A request without a credential from `from`, a loopback address of its own. */
    const from = (localAddress: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/status', localAddress, headers: { host: `127.0.0.1:${port}` } }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject)
        req.end()
      })
    // given a client at 127.0.0.1 refused first, which opens the window's line for its cause
    expect(await from('127.0.0.1')).toBe(401)
    // when another at 127.0.0.2 is refused for the same cause
    expect(await from('127.0.0.2')).toBe(401)
    // then, once the window ends (here, with the server), the line that counts it names its address
    await s.close()
    server = undefined
    const lines = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => String(l.msg).startsWith('admin request refused: not authenticated'))
    expect(lines.map((l) => l.address ?? l.addresses)).toEqual(['127.0.0.1', ['127.0.0.2']])
  })
})

describe('warnings a client can cause at will', () => {
  it('writes the first of a kind at once, one line per window with the count of the rest, and starts afresh after a quiet window', () => {
    vi.useFakeTimers()
    try {
      const dest = memoryDestination()
      const noisy = coalescedWarnings(createLogger({ destination: dest, level: 'info' }), 1_000)
      const lines = () => dest.lines.map((l) => JSON.parse(l) as { msg: string; count?: number; addresses?: string[] })
      // given three of a kind within a window
      for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.2']) noisy.warn('k', 'refused', { address })
      expect(lines().map((l) => l.msg)).toEqual(['refused'])
      // when the window ends: one line counting the two after the first, naming their addresses
      vi.advanceTimersByTime(1_000)
      expect(lines().slice(1)).toEqual([expect.objectContaining({ msg: 'refused: 2 more in the last window', count: 2, addresses: ['10.0.0.2'] })])
      // a window with none writes nothing and forgets the kind; the next is a first again
      vi.advanceTimersByTime(1_000)
      expect(lines()).toHaveLength(2)
      noisy.warn('k', 'refused', { address: '10.0.0.3' })
      expect(
        lines()
          .slice(2)
          .map((l) => l.msg),
      ).toEqual(['refused'])
      noisy.close()
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('wrong bearer tokens', () => {
  /** A request from `localAddress` (a loopback address of its own), with `token` as its bearer token. */
  const from = (s: AdminServer, localAddress: string, token: string, path = '/status') =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: { error?: { code: string; message: string } } }>(
      (resolve, reject) => {
        const port = Number(new URL(s.url).port)
        const req = request(
          { host: '127.0.0.1', port, path, localAddress, headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${token}` } },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }))
          },
        )
        req.on('error', reject)
        req.end()
      },
    )

  it('given five wrong tokens from one address, answers it 429 with Retry-After, reads no token from it until the wait is over, and serves other addresses all along', async () => {
    const s = await start({ tokenLimit: { maxFailures: 5, windowMs: 10_000, lockMs: 1_500 } })
    // given four wrong tokens from 127.0.0.1: each a 401
    for (let i = 0; i < 4; i++) expect((await from(s, '127.0.0.1', `wrong-token-${i}-0123456789`)).status).toBe(401)
    // when the fifth comes
    const fifth = await from(s, '127.0.0.1', 'wrong-token-5-0123456789')
    // then it is refused 429, saying for how long, and so is every token from that address, the right one included
    expect(fifth.status).toBe(429)
    const wait = Number(fifth.headers['retry-after'])
    expect(wait).toBeGreaterThanOrEqual(1)
    expect(fifth.body.error).toEqual({
      code: 'TOO_MANY_WRONG_TOKENS',
      message: expect.stringMatching(/^too many wrong bearer tokens from this address: no token from it is read for \d+ s/),
    })
    expect((await from(s, '127.0.0.1', 'wrong-token-6-0123456789')).status).toBe(429)
    expect((await from(s, '127.0.0.1', OLGA)).status).toBe(429)
    // and the WebSocket upgrade from it too, with its Retry-After
    const port = Number(new URL(s.url).port)
    const upgrade = await exchange(port, upgradeRequest('/events', { host: `127.0.0.1:${port}`, authorization: `Bearer ${OLGA}` }))
    expect(upgrade.status).toBe(429)
    expect(upgrade.text).toMatch(/\r\nretry-after: \d+\r\n/)
    // while another address, with the right token, is served, and one wrong token there is a plain 401
    expect((await from(s, '127.0.0.2', OLGA)).status).toBe(200)
    expect((await from(s, '127.0.0.2', 'wrong-token-7-0123456789')).status).toBe(401)
    expect((await from(s, '127.0.0.2', VERA)).status).toBe(200)
    // and a second address locked the same way is counted into the window's line, not written on its own
    for (let i = 0; i < 4; i++) expect((await from(s, '127.0.0.3', `wrong-token-${i}-0123456789`)).status).toBe(401)
    expect((await from(s, '127.0.0.3', 'wrong-token-5-0123456789')).status).toBe(429)
    // and the process log names the first address once, not once per refusal
    expect(logLines.filter((l) => l.includes('too many wrong ones'))).toHaveLength(1)
    expect(logLines.filter((l) => l.includes('too many wrong ones') && l.includes('"address":"127.0.0.1"'))).toHaveLength(1)
    expect(logLines.filter((l) => l.includes('too many wrong tokens from its address'))).toHaveLength(1)

    // when the wait is over, the right token from the first address is served again
    await sleep(wait * 1000 + 100)
    expect((await from(s, '127.0.0.1', OLGA)).status).toBe(200)
    // and nothing of it went to the event log
    expect([...log.read({})]).toHaveLength(0)
  })

  it('given no tokenLimit, lets a monitor with an old token poll for a minute without locking the operator out, and stops a script past 30', async () => {
    const s = await start()
    // given a monitor left with an old token, asking every two seconds for most of a minute: each a 401
    for (let i = 0; i < 29; i++) expect((await from(s, '127.0.0.1', `old-token-${i}-0123456789`)).status).toBe(401)
    // then the operator's CLI on the same host is still served
    expect((await from(s, '127.0.0.1', OLGA)).status).toBe(200)
    // when the thirtieth wrong token within the minute comes, the address waits
    expect((await from(s, '127.0.0.1', 'old-token-30-0123456789')).status).toBe(429)
    expect((await from(s, '127.0.0.1', OLGA)).status).toBe(429)
  })

  it('counts wrong tokens apart from failed logins: a guessing page does not lock the same address out of its tokens', async () => {
    const s = await start({ loginLimit: { maxFailures: 2, windowMs: 10_000, lockMs: 10_000 } })
    const login = (token: string) => post(s, '/session', { token }, { origin: s.url })
    expect((await login('wrong-token-1-0123456789')).status).toBe(401)
    expect((await login('wrong-token-2-0123456789')).status).toBe(429)
    expect((await from(s, '127.0.0.1', OLGA)).status).toBe(200)
  })

  it('keeps at most the addresses it was given, the oldest forgotten first', async () => {
    const limit = loginLimit({ maxFailures: 1, lockMs: 60_000, maxAddresses: 3 })
    for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) expect(limit.failed(a)).toBe(true)
    expect(limit.waitMs('10.0.0.1')).toBeGreaterThan(0)
    limit.failed('10.0.0.4')
    expect(limit.waitMs('10.0.0.1')).toBe(0)
    expect(limit.waitMs('10.0.0.4')).toBeGreaterThan(0)
  })

  it('counts an IPv6 client by its /64, and an IPv4-mapped address as the IPv4 one', () => {
    const limit = loginLimit({ maxFailures: 2, lockMs: 60_000 })
    limit.failed('2001:db8:0:1::5')
    expect(limit.failed('2001:db8:0:1:ffff:1:2:3')).toBe(true)
    expect(limit.waitMs('2001:db8:0:1::77')).toBeGreaterThan(0)
    expect(limit.waitMs('2001:db8:0:2::5')).toBe(0)
    limit.failed('::ffff:10.1.2.3')
    expect(limit.failed('10.1.2.3')).toBe(true)
    expect(addressKey('2001:0db8:0000:0001::')).toBe('2001:db8:0:1::/64')
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
  })
})

describe('login attempts', () => {
  it('given five failed logins from one address, answers 429 with Retry-After, even to the right token, until the wait is over', async () => {
    const s = await start({ loginLimit: { maxFailures: 5, windowMs: 10_000, lockMs: 1_200 } })
    const login = (token: string) => post(s, '/session', { token }, { origin: s.url })
    for (let i = 0; i < 4; i++) expect((await login(`wrong-token-${i}-0123456789`)).status).toBe(401)
    const fifth = await login('wrong-token-5-0123456789')
    expect(fifth.status).toBe(429)
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(((await fifth.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'TOO_MANY_LOGINS',
      message: expect.stringMatching(/^too many failed logins from this address: try again in \d+ s$/),
    })
    const right = await login(OLGA)
    expect([right.status, right.headers.get('set-cookie')]).toEqual([429, null])
    expect(logLines.some((l) => l.includes('too many failures, this address waits') && l.includes('"address":"127.0.0.1"'))).toBe(true)

    await sleep(Number(fifth.headers.get('retry-after')) * 1000 + 100)
    const after = await login(OLGA)
    expect(after.status).toBe(200)
    expect(after.headers.get('set-cookie')).toMatch(/^haltd_session=/)
  })

  it('given a successful login, starts the address afresh', async () => {
    const s = await start({ loginLimit: { maxFailures: 3, windowMs: 10_000, lockMs: 10_000 } })
    const login = (token: string) => post(s, '/session', { token }, { origin: s.url })
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2; i++) expect((await login(`wrong-token-${i}-0123456789`)).status).toBe(401)
      expect((await login(OLGA)).status).toBe(200)
    }
  })
})

describe('refused requests in a daemon that may not write its log', () => {
  it('given the gate fenced (as during a handover), a refusal goes to the process log and not to the event log', async () => {
    const demo = await startDemo({ seed: 9 })
    try {
      const viewer = { authorization: `Bearer ${TOKENS.viewer}`, 'content-type': 'application/json' }
      const refuse = (path: string) => fetch(`${demo.url}${path}`, { method: 'POST', headers: viewer, body: JSON.stringify({ reason: 'x' }) })
      expect((await refuse('/pause')).status).toBe(403)
      const unfence = demo.haltd.gate.fence(() => 'handing the engine over')
      expect((await refuse('/resume')).status).toBe(403)
      unfence()
      const rows = [...demo.haltd.log.read({ types: ['access.refused'] })].map((e) => (e.data as { route: string }).route)
      expect(rows).toEqual(['POST /pause'])
      expect(demo.logLines.some((l) => l.includes('"route":"POST /resume"') && l.includes('admin request refused'))).toBe(true)
      expect(demo.logLines.some((l) => l.includes('not recorded in the event log') && l.includes('handing the engine over'))).toBe(true)
    } finally {
      await demo.haltd.close()
    }
  })
})
