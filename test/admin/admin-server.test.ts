import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { startAdminServer, type AdminServer, type EventsFrame } from '../../src/admin/index.js'
import { MAX_DASHBOARD_FEEDS, MAX_EVENT_SOCKETS } from '../../src/admin/server.js'
import { tempDb } from '../support/tmp.js'
import { logBackend } from './log-backend.js'

const TOKEN = 'test-token-0123456789abcdef'
let log: EventLog
let server: AdminServer
let logLines: string[]
let backend: ReturnType<typeof logBackend>

beforeEach(async () => {
  log = openEventLog({ path: tempDb() })
  backend = logBackend(log)
  const dest = memoryDestination()
  logLines = dest.lines
  server = await startAdminServer({ backend, token: TOKEN, port: 0, logger: createLogger({ destination: dest, level: 'debug' }) })
})
afterEach(async () => {
  await server.close()
  log.close()
})

async function call(method: string, path: string, options: { token?: string | null; body?: string | object } = {}) {
  const token = options.token === undefined ? TOKEN : options.token
  const res = await fetch(server.url + path, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), 'content-type': 'application/json' },
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) }
}

describe('admin API', () => {
  it('listens on 127.0.0.1 by default', () => {
    expect(server.host).toBe('127.0.0.1')
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('refuses a request without a token with 401 and a JSON error', async () => {
    const r = await call('GET', '/status', { token: null })
    expect(r.status).toBe(401)
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect(r.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.stringContaining('bearer token') } })
  })

  it('refuses a wrong token, a token of another length, and another scheme', async () => {
    expect((await call('GET', '/status', { token: TOKEN.replace(/.$/, 'X') })).status).toBe(401)
    expect((await call('GET', '/status', { token: `${TOKEN}extra` })).status).toBe(401)
    expect((await call('GET', '/status', { token: '' })).status).toBe(401)
    const basic = await fetch(`${server.url}/status`, { headers: { authorization: `Basic ${TOKEN}` } })
    expect(basic.status).toBe(401)
  })

  it('refuses an action without a token and records nothing', async () => {
    const before = log.lastSeq
    const r = await call('POST', '/shutdown', { token: 'nope-nope-nope-nope', body: { mode: 'emergency', reason: 'x' } })
    expect(r.status).toBe(401)
    expect(log.lastSeq).toBe(before)
  })

  it('answers 404 for an unknown route and 405 with Allow for a wrong method', async () => {
    const missing = await call('GET', '/nope')
    expect(missing.status).toBe(404)
    expect(missing.json().error.code).toBe('NOT_FOUND')
    const wrong = await call('GET', '/shutdown')
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toBe('POST')
    const status = await call('POST', '/status', { body: {} })
    expect(status.status).toBe(405)
    expect(status.headers.get('allow')).toBe('GET, HEAD')
  })

  it('answers HEAD as GET without the body, behind the same token, as monitors ask it', async () => {
    // given a reader's GET of /health
    const get = await call('GET', '/health')
    // when the same is asked with HEAD
    const head = await call('HEAD', '/health')
    // then the status and the length are the GET's, and no body comes
    expect([head.status, head.headers.get('content-length'), head.text]).toEqual([get.status, get.headers.get('content-length'), ''])
    // and without a token it is refused like a GET, and it acts on nothing
    expect((await call('HEAD', '/status', { token: null })).status).toBe(401)
    expect((await call('HEAD', '/shutdown')).status).toBe(405)
  })

  it('answers a WebSocket route asked for without an upgrade with 426 saying how to open it, not 404, and still only to a caller with a token', async () => {
    for (const path of ['/events', '/events?from=1', '/ui/feed']) {
      const r = await call('GET', path)
      expect([path, r.status, r.headers.get('upgrade'), r.json().error.code]).toEqual([path, 426, 'websocket', 'UPGRADE_REQUIRED'])
      expect(r.json().error.message).toContain('is a WebSocket')
    }
    expect((await call('GET', '/events', { token: null })).status).toBe(401)
  })

  it('takes a body of null for what it is: not an object, not an empty request', async () => {
    const r = await call('POST', '/pause', { body: 'null' })
    expect(r.status).toBe(400)
    expect(r.json().error.message).toMatch(/^invalid body: \(body\): .*object/i)
  })

  it('refuses malformed bodies with 400 naming the field, and records nothing', async () => {
    const before = log.lastSeq
    const badMode = await call('POST', '/shutdown', { body: { mode: 'now', reason: 'deploy' } })
    expect(badMode.status).toBe(400)
    expect(badMode.json().error).toMatchObject({ code: 'INVALID_BODY', problems: [{ path: 'mode' }] })

    const noReason = await call('POST', '/pause', { body: {} })
    expect(noReason.status).toBe(400)
    expect(noReason.json().error.problems.map((p: { path: string }) => p.path)).toEqual(['reason'])

    const blankReason = await call('POST', '/killswitch/reset', { body: { reason: '   ' } })
    expect(blankReason.json().error.problems).toEqual([{ path: 'reason', message: 'a reason is required' }])

    const extra = await call('POST', '/resume', { body: { reason: 'ok', force: true } })
    expect(extra.status).toBe(400)
    expect(extra.json().error.message).toMatch(/force/)

    const notJson = await call('POST', '/shutdown', { body: '{mode: graceful' })
    expect(notJson.status).toBe(400)
    expect(notJson.json().error.code).toBe('INVALID_JSON')

    const tooBig = await call('POST', '/pause', { body: { reason: 'x'.repeat(70_000) } })
    expect(tooBig.status).toBe(413)
    expect(log.lastSeq).toBe(before)
  })

  it('turns each action into an event with origin admin and its reason', async () => {
    const actions: [string, object, string][] = [
      ['/deployments/lock', { reason: 'release freeze' }, 'deployments.locked'],
      ['/deployments/unlock', { reason: 'release done' }, 'deployments.unlocked'],
      ['/pause', { reason: 'funding window' }, 'trading.paused'],
      ['/resume', { reason: 'window over' }, 'trading.resumed'],
      ['/drain/start', { reason: 'rotate host' }, 'drain.started'],
      ['/drain/cancel', { reason: 'rotation called off' }, 'drain.canceled'],
      ['/killswitch/activate', { reason: 'venue incident' }, 'killswitch.activated'],
      ['/killswitch/reset', { reason: 'incident closed' }, 'killswitch.reset'],
      ['/shutdown', { mode: 'graceful', reason: 'deploy 1.2' }, 'shutdown.requested'],
    ]
    for (const [path, body, type] of actions) {
      const r = await call('POST', path, { body })
      expect(r.status, path).toBe(202)
      const seq = r.json().result as number
      const [event] = [...log.read({ from: seq, to: seq })]
      expect(event!.type).toBe(type)
      expect(event!.data).toMatchObject({ ...body, origin: 'admin' })
      // the single token is the local admin: the log names it, whatever the body might have said
      if (type.startsWith('killswitch.')) expect(event!.data).toMatchObject({ by: 'local (admin)' })
    }
  })

  it('refuses a body that claims who it is by', async () => {
    const before = log.lastSeq
    const r = await call('POST', '/killswitch/activate', { body: { reason: 'venue incident', by: 'alice' } })
    expect(r.status).toBe(400)
    expect(r.json().error.message).toMatch(/by/)
    expect(log.lastSeq).toBe(before)
  })

  it('records a forced drain with origin admin and its reason, passing the locked-funds acknowledgement', async () => {
    const r = await call('POST', '/drain/force', { body: { reason: 'host rotation', force: true } })
    expect(r.status).toBe(202)
    const [event] = [...log.read({ from: r.json().result, to: r.json().result })]
    expect(event).toMatchObject({ type: 'drain.completed', data: { outcome: 'forced', reason: 'host rotation', origin: 'admin' } })
    const notBool = await call('POST', '/drain/force', { body: { reason: 'x', force: 'yes' } })
    expect(notBool.json().error.problems.map((p: { path: string }) => p.path)).toEqual(['force'])
  })

  it('answers 409 with the reason when the state refuses an action', async () => {
    const r = await call('POST', '/killswitch/reset', { body: { reason: 'nothing to reset' } })
    expect(r.status).toBe(409)
    expect(r.json().error).toEqual({ code: 'KILLSWITCH_NOT_LATCHED', message: 'the kill switch is not latched' })
  })

  it('serves health, status and the read endpoints as JSON', async () => {
    for (const path of ['/health', '/status', '/positions', '/orders', '/reconciliation', '/inflight', '/drain/status']) {
      const r = await call('GET', path)
      expect(r.status, path).toBe(200)
      expect(r.headers.get('content-type')).toMatch(/application\/json/)
      r.json()
    }
    expect((await call('GET', '/health')).json().venues[0]).toEqual({ venue: 'binance-sim', connected: true, latencyMs: 3 })
  })

  it('serves /metrics in the Prometheus text format', async () => {
    log.append({ type: 'market.mark', data: { venue: 'a', symbol: 'BTC/USDT', price: 1 } })
    const r = await call('GET', '/metrics')
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(r.text).toBe(
      [
        '# HELP haltd_events_total events in the log',
        '# TYPE haltd_events_total counter',
        'haltd_events_total 1',
        '# HELP haltd_open_orders open orders by venue',
        '# TYPE haltd_open_orders gauge',
        'haltd_open_orders{venue="okx \\"sim\\""} 2',
        // the server's own: the dashboard's feeds (none open here)
        '# HELP haltd_dashboard_feeds Open dashboard feeds (/ui/feed).',
        '# TYPE haltd_dashboard_feeds gauge',
        'haltd_dashboard_feeds 0',
        '# HELP haltd_dashboard_frames_sent_total Frames sent to dashboard pages.',
        '# TYPE haltd_dashboard_frames_sent_total counter',
        'haltd_dashboard_frames_sent_total 0',
        '# HELP haltd_dashboard_frames_skipped_total Frames not sent because a page had more than the high-water mark unsent.',
        '# TYPE haltd_dashboard_frames_skipped_total counter',
        'haltd_dashboard_frames_skipped_total 0',
        '# HELP haltd_dashboard_unsent_bytes The most any open page has unsent now.',
        '# TYPE haltd_dashboard_unsent_bytes gauge',
        'haltd_dashboard_unsent_bytes 0',
        '# HELP haltd_dashboard_unsent_bytes_peak The most any page had unsent right after a frame, since start.',
        '# TYPE haltd_dashboard_unsent_bytes_peak gauge',
        'haltd_dashboard_unsent_bytes_peak 0',
        '',
      ].join('\n'),
    )
  })

  it('never writes the token to its log', async () => {
    await call('GET', '/status')
    await call('GET', `/status?token=${TOKEN}`)
    await call('POST', '/pause', { body: { reason: 'x' } })
    expect(logLines.length).toBeGreaterThanOrEqual(3)
    for (const line of logLines) expect(line).not.toContain(TOKEN)
  })
})

function openSocket(path: string, token: string | null): Promise<{ ws: WebSocket; frames: EventsFrame[]; next: (n: number) => Promise<EventsFrame[]> }> {
  return new Promise((resolve, reject) => {
    const frames: EventsFrame[] = []
    const waiters: { n: number; resolve: (f: EventsFrame[]) => void }[] = []
    const ws = new WebSocket(server.url.replace('http', 'ws') + path, { headers: token === null ? {} : { authorization: `Bearer ${token}` } })
    ws.on('message', (data) => {
      frames.push(JSON.parse(String(data)))
      for (const w of [...waiters])
        if (frames.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(frames.slice(0, w.n))
        }
    })
    ws.on('open', () =>
      resolve({
        ws,
        frames,
        next: (n) => (frames.length >= n ? Promise.resolve(frames.slice(0, n)) : new Promise((r) => waiters.push({ n, resolve: r }))),
      }),
    )
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.on('error', reject)
  })
}

describe('admin API /events', () => {
  const mark = (price: number) => log.append({ type: 'market.mark', data: { venue: 'a', symbol: 'BTC/USDT', price } })

  it('streams the log from a seq: catch-up, a caught-up marker, then live events in order', async () => {
    for (let i = 1; i <= 1200; i++) mark(i)
    const { ws, next } = await openSocket('/events?from=5', TOKEN)
    const caught = await next(1197)
    expect(caught.slice(0, 1196).map((f) => f.kind === 'event' && f.event.seq)).toEqual(Array.from({ length: 1196 }, (_, i) => i + 5))
    expect(caught[1196]).toEqual({ kind: 'caught-up', seq: 1200 })
    mark(5000)
    mark(5001)
    const all = await next(1199)
    expect(all.slice(1197).map((f) => f.kind === 'event' && [f.event.seq, f.event.data])).toEqual([
      [1201, { venue: 'a', symbol: 'BTC/USDT', price: 5000 }],
      [1202, { venue: 'a', symbol: 'BTC/USDT', price: 5001 }],
    ])
    ws.close()
  })

  it('streams only new events when no from is given', async () => {
    mark(1)
    const { ws, next } = await openSocket('/events', TOKEN)
    expect(await next(1)).toEqual([{ kind: 'caught-up', seq: 1 }])
    mark(2)
    const [, live] = await next(2)
    expect(live).toMatchObject({ kind: 'event', event: { seq: 2, type: 'market.mark' } })
    ws.close()
  })

  it('refuses a socket without a valid token, and a bad from', async () => {
    await expect(openSocket('/events?from=1', null)).rejects.toThrow('HTTP 401')
    await expect(openSocket('/events?from=1', 'wrong-token-wrong-token')).rejects.toThrow('HTTP 401')
    await expect(openSocket('/events?from=-3', TOKEN)).rejects.toThrow('HTTP 400')
    await expect(openSocket('/elsewhere', TOKEN)).rejects.toThrow('HTTP 404')
  })

  it('refuses a from that is no plain decimal seq with 400', async () => {
    mark(1)
    for (const from of ['1e300', '1e2', '0x10', '%205%20', '9007199254740993', '0', '1&from=2']) {
      await expect(openSocket(`/events?from=${from}`, TOKEN), from).rejects.toThrow('HTTP 400')
    }
    const { ws, next } = await openSocket('/events?from=2', TOKEN)
    expect(await next(1)).toEqual([{ kind: 'caught-up', seq: 1 }])
    ws.close()
  })

  it('serves at most MAX_EVENT_SOCKETS /events sockets at once, refusing one more with 503', async () => {
    const open = await Promise.all(Array.from({ length: MAX_EVENT_SOCKETS }, () => openSocket('/events', TOKEN)))
    await expect(openSocket('/events', TOKEN)).rejects.toThrow('HTTP 503')
    open[0]!.ws.close()
    await new Promise((r) => setTimeout(r, 100))
    const again = await openSocket('/events', TOKEN)
    for (const s of [...open.slice(1), again]) s.ws.close()
  })

  it('serves at most MAX_DASHBOARD_FEEDS dashboard feeds at once, refusing one more with 503', async () => {
    // given as many dashboard pages open as the listener serves
    const open = await Promise.all(Array.from({ length: MAX_DASHBOARD_FEEDS }, () => openSocket('/ui/feed', TOKEN)))
    // when one more opens, it is refused, and the /events sockets are counted apart
    await expect(openSocket('/ui/feed', TOKEN)).rejects.toThrow('HTTP 503')
    const events = await openSocket('/events', TOKEN)
    // then a closed page makes room for another
    open[0]!.ws.close()
    await new Promise((r) => setTimeout(r, 100))
    const again = await openSocket('/ui/feed', TOKEN)
    for (const s of [...open.slice(1), again, events]) s.ws.close()
  })

  it('given a long catch-up, the daemon’s other work goes on between its pages', async () => {
    log.appendBatch(Array.from({ length: 60_000 }, (_, i) => ({ type: 'market.mark' as const, data: { venue: 'a', symbol: 'BTC/USDT', price: i + 1 } })))
    let longest = 0
    let last = performance.now()
    const ticks = setInterval(() => {
      const now = performance.now()
      longest = Math.max(longest, now - last)
      last = now
    }, 5)
    const { ws, next } = await openSocket('/events?from=1', TOKEN)
    const frames = await next(60_001)
    clearInterval(ticks)
    expect(frames.at(-1)).toEqual({ kind: 'caught-up', seq: 60_000 })
    // one page at a time: a timer waits for one page, not for the whole log
    expect(longest).toBeLessThan(250)
    ws.close()
  })
})
