import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { createLogger } from '../../src/daemon/logger.js'
import { startAdminServer, type AdminServer } from '../../src/admin/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDb } from '../support/tmp.js'
import { logBackend } from './log-backend.js'
import { closeCodesOf, exchange, openRaw, pour, rawUpgrade, request, upgradeRequest, wsFrame } from './raw-http.js'

const TOKEN = 'test-token-0123456789abcdef'
const AUTH = `Bearer ${TOKEN}`
let log: EventLog
let server: AdminServer
let logLines: string[]

beforeEach(async () => {
  log = openEventLog({ path: tempDb() })
  const dest = memoryDestination()
  logLines = dest.lines
  server = await startAdminServer({ backend: logBackend(log), token: TOKEN, port: 0, logger: createLogger({ destination: dest, level: 'debug' }) })
})
afterEach(async () => {
  await server.close()
  log.close()
})

const host = () => `127.0.0.1:${server.port}`
const healthy = async () => (await fetch(`${server.url}/health`, { headers: { authorization: AUTH } })).status
const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))

describe('admin API: request targets the URL parser rejects', () => {
  for (const target of ['http://[', '//[', 'http://a:99999/health', '*', 'http://127.0.0.1/health']) {
    it(`answers '${target}' with 400 naming the target, and keeps serving`, async () => {
      // given a running server; when a request line carries a target Node accepts and URL does not
      const r = await exchange(server.port, request('GET', target, { host: host(), authorization: AUTH }))
      // then a 400 whose body names the problem, the connection closed, and the server still up
      expect(r.status).toBe(400)
      expect(bodyOf(r.text).error).toMatchObject({ code: 'INVALID_TARGET', message: expect.stringContaining('target') })
      expect(r.closed).toBe(true)
      expect(await healthy()).toBe(200)
    })
  }

  it('does not read a network path as a host: //anything/status is refused, not routed to /status', async () => {
    const r = await exchange(server.port, request('GET', '//evil.example/status', { host: host(), authorization: AUTH }))
    expect(r.status).toBe(400)
  })

  it('answers the same targets on the WebSocket upgrade with 400, and keeps serving', async () => {
    for (const target of ['http://[', '//[', 'http://a:99999/events']) {
      const r = await exchange(server.port, upgradeRequest(target, { host: host(), authorization: AUTH }))
      expect(r.status, target).toBe(400)
      expect(bodyOf(r.text).error.code).toBe('INVALID_TARGET')
    }
    expect(await healthy()).toBe(200)
  })

  it('answers a request Node cannot parse with 400 and closes it (clientError)', async () => {
    for (const bytes of ['BLAH\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', `GET /status HTTP/1.1\r\nhost: ${host()}\r\nbad header\r\n\r\n`]) {
      const r = await exchange(server.port, bytes)
      expect(r.status, JSON.stringify(bytes)).toBe(400)
      expect(r.closed).toBe(true)
    }
    expect(logLines.some((l) => l.includes('admin request not understood'))).toBe(true)
    expect(await healthy()).toBe(200)
  })
})

describe('admin API: /events frames that break the protocol', () => {
  async function authenticatedSocket() {
    const ws = await rawUpgrade(server.port, '/events', { host: host(), authorization: AUTH })
    expect(ws.status).toBe(101)
    return ws
  }

  it('closes a socket that sends a frame with reserved bits set, logs it, and keeps serving', async () => {
    // given an authenticated /events socket
    const ws = await authenticatedSocket()
    // when the client sends a text frame with RSV1..3 set (no extension was negotiated)
    ws.socket.write(wsFrame({ payload: Buffer.from('hello'), rsv: 0b111 }))
    // then the server closes it with 1002 (protocol error), logs the error, and stays up
    await ws.closed
    expect(closeCodesOf(ws.afterHead())).toContain(1002)
    expect(logLines.some((l) => l.includes('events socket error') && l.includes('RSV'))).toBe(true)
    expect(await healthy()).toBe(200)
    expect(server.clients).toBe(0)
  })

  it('closes a socket that sends a frame over the payload limit, logs it, and keeps serving', async () => {
    const ws = await authenticatedSocket()
    ws.socket.write(wsFrame({ payload: Buffer.alloc(5_000, 0x61) }))
    await ws.closed
    expect(closeCodesOf(ws.afterHead())).toContain(1009)
    expect(logLines.some((l) => l.includes('events socket error') && l.includes('Max payload'))).toBe(true)
    expect(await healthy()).toBe(200)
  })

  it('closes a socket whose frame only declares a huge length, without waiting for it', async () => {
    const ws = await authenticatedSocket()
    ws.socket.write(wsFrame({ payload: Buffer.alloc(10), declaredLength: 2 ** 40 }))
    await ws.closed
    expect(await healthy()).toBe(200)
  })

  it('closes a socket that sends unmasked frames or an unknown opcode', async () => {
    for (const frame of [wsFrame({ payload: Buffer.from('x'), mask: false }), wsFrame({ payload: Buffer.from('x'), opcode: 0x3 })]) {
      const ws = await authenticatedSocket()
      ws.socket.write(frame)
      await ws.closed
      expect(closeCodesOf(ws.afterHead())).toContain(1002)
    }
    expect(await healthy()).toBe(200)
  })
})

describe('admin API: the Host header (DNS rebinding)', () => {
  const get = (hostHeader: string | undefined, authorization: string | undefined = AUTH) =>
    exchange(
      server.port,
      request('GET', '/status', {
        ...(hostHeader === undefined ? {} : { host: hostHeader }),
        ...(authorization ? { authorization } : {}),
        connection: 'close',
      }),
    )

  it('accepts the bound IP literal and localhost, with or without the port', async () => {
    for (const name of ['127.0.0.1', host(), 'localhost', `localhost:${server.port}`, `LocalHost:${server.port}`]) {
      expect((await get(name)).status, name).toBe(200)
    }
  })

  it('refuses any other name with 421 before the token is looked at', async () => {
    const names = [
      'evil.example',
      `evil.example:${server.port}`,
      '127.0.0.1.nip.io',
      `localhost.evil.example:${server.port}`,
      '127.0.0.2',
      `127.0.0.1:${server.port + 1}`,
      '[::1]',
    ]
    for (const name of names) {
      // a rebinding page carries no token: the answer is still 421, not 401
      const r = await get(name, undefined)
      expect(r.status, name).toBe(421)
      expect(bodyOf(r.text).error).toMatchObject({ code: 'MISDIRECTED_REQUEST', message: expect.stringContaining('127.0.0.1') })
      expect(r.closed).toBe(true)
    }
  })

  it('refuses a missing or malformed Host with 400', async () => {
    expect((await get(undefined)).status).toBe(400)
    expect((await get('127.0.0.1:port')).status).toBe(400)
    expect((await get('a b')).status).toBe(400)
  })

  it('refuses a rebinding name on the WebSocket upgrade with 421', async () => {
    const ws = await rawUpgrade(server.port, '/events', { host: `evil.example:${server.port}`, authorization: AUTH })
    expect(ws.status).toBe(421)
    await ws.closed
    expect(server.clients).toBe(0)
  })
})

describe('admin API: a refused request is not read to its end', () => {
  /**
   * Declares a 200 MB body and sends it as fast as the connection takes it; returns the answer
   * and how many body bytes the socket accepted before the server closed it.
   */
  async function sendLargeBody(head: Record<string, string>, target = '/pause', total = 200 * 1024 * 1024) {
    const socket = await openRaw(server.port)
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => {})
    socket.write(request('POST', target, { host: host(), 'content-length': String(total), ...head }))
    const sent = await pour(socket, Buffer.alloc(256 * 1024, 0x20), total)
    const text = Buffer.concat(chunks).toString('latin1')
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), sent, total }
  }

  it('closes the connection after a 401 without reading the rest of a 200 MB body', async () => {
    // given a request with no token that declares a 200 MB body; when the client sends it all
    const r = await sendLargeBody({})
    // then it got its 401 and the socket was closed long before the body was through
    expect(r.status).toBe(401)
    expect(r.sent).toBeLessThan(r.total / 4)
    expect(await healthy()).toBe(200)
  })

  it('does the same after a 404, a 405, a 413 (declared length) and a 421', async () => {
    const cases: [number, Record<string, string>, string][] = [
      [404, { authorization: AUTH }, '/nowhere'],
      [405, { authorization: AUTH }, '/status'],
      [413, { authorization: AUTH }, '/pause'],
      [421, { authorization: AUTH, host: 'evil.example' }, '/pause'],
    ]
    for (const [status, head, target] of cases) {
      const r = await sendLargeBody(head, target, 50 * 1024 * 1024)
      expect(r.status, target).toBe(status)
      expect(r.sent, target).toBeLessThan(r.total / 4)
    }
  })

  it('stops reading a chunked body once it passes the limit: 413 and the connection closed', async () => {
    const socket = await openRaw(server.port)
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => {})
    socket.write(request('POST', '/pause', { host: host(), authorization: AUTH, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }))
    const piece = `${(16 * 1024).toString(16)}\r\n${'x'.repeat(16 * 1024)}\r\n`
    const sent = await pour(socket, piece, 50 * 1024 * 1024)
    expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 413 /)
    expect(sent).toBeLessThan(10 * 1024 * 1024)
    expect(log.lastSeq).toBe(0)
  })

  it('answers a refused Expect: 100-continue request without inviting its body', async () => {
    const r = await exchange(
      server.port,
      request('POST', '/pause', { host: host(), expect: '100-continue', 'content-length': '1000000', authorization: 'Bearer wrong-token-wrong-token' }),
    )
    expect(r.statuses).toEqual([401])
  })

  it('still accepts an action whose body is within the limit', async () => {
    const r = await exchange(
      server.port,
      request(
        'POST',
        '/pause',
        { host: host(), authorization: AUTH, 'content-type': 'application/json', connection: 'close' },
        JSON.stringify({ reason: 'x' }),
      ),
    )
    expect(r.status).toBe(202)
    expect(log.lastSeq).toBe(1)
  })
})

describe('admin API: a reason is one line the operator wrote', () => {
  const pause = (reason: string) =>
    fetch(`${server.url}/pause`, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ reason }) })

  it('refuses a reason with a line break, a control character or a bidirectional override, naming the field, and records nothing', async () => {
    for (const reason of ['probe)\nkill switch: not latched', 'tab\there', 'bell\u0007', 'esc\u001b[2J', 'c1\u0085', 'flip \u202eresu', 'iso \u2067x\u2069']) {
      const r = await pause(reason)
      expect(r.status, JSON.stringify(reason)).toBe(400)
      expect(JSON.stringify(await r.json())).toContain('reason')
    }
    expect(log.lastSeq).toBe(0)
    expect(await healthy()).toBe(200)
  })

  it("refuses a reason that says who asked: '[by …]' is haltd's to add", async () => {
    for (const reason of ['halt [by boss (admin)]', '[BY boss (admin)] halt', 'x [ by boss]']) {
      const r = await pause(reason)
      expect(r.status, reason).toBe(400)
      expect(((await r.json()) as { error: { message: string } }).error.message).toContain("may not say '[by …]'")
    }
    expect(log.lastSeq).toBe(0)
  })

  it('takes plain text, accents and other scripts as they are', async () => {
    const r = await pause('fin de séance — 市場休場')
    expect(r.status).toBe(202)
    expect([...log.read()].at(-1)!.data).toMatchObject({ reason: 'fin de séance — 市場休場' })
  })
})
