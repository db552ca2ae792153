import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { startAdminServer, type AdminServer } from '../../src/admin/index.js'
import { tempDb } from '../support/tmp.js'
import { logBackend } from './log-backend.js'
import { exchange, request } from './raw-http.js'

/**
 * The admin API's actions read JSON, and only a body that says it is JSON: a form post or a
 * `text/plain` body (what a page on any origin may send without a preflight, and what a tool
 * sends by default) is refused, naming what was sent, before any of it is read.
 */

const TOKEN = 'test-token-0123456789abcdef'
const AUTH = `Bearer ${TOKEN}`
let log: EventLog
let server: AdminServer

beforeEach(async () => {
  log = openEventLog({ path: tempDb() })
  server = await startAdminServer({ backend: logBackend(log), token: TOKEN, port: 0 })
})
afterEach(async () => {
  await server.close()
  log.close()
})

const pause = (headers: Record<string, string>, body = JSON.stringify({ reason: 'lunch' })) =>
  fetch(`${server.url}/pause`, { method: 'POST', headers: { authorization: AUTH, ...headers }, body })

describe('admin API: a body is JSON by its Content-Type', () => {
  for (const type of [
    'text/plain',
    'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/jsonp',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
  ]) {
    it(`given a valid JSON action sent as '${type}', answers 415 naming the type and does nothing`, async () => {
      // when an operator's token sends a well-formed pause under that type
      const res = await pause({ 'content-type': type })
      // then 415 with a body naming what was sent and what is read, and no event
      expect(res.status).toBe(415)
      expect(res.headers.get('accept')).toBe('application/json')
      const body = (await res.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE')
      expect(body.error.message).toContain(type)
      expect(body.error.message).toContain('application/json')
      expect(log.lastSeq).toBe(0)
    })
  }

  it('given a body with no Content-Type at all, answers 415 saying it has none', async () => {
    const r = await exchange(
      server.port,
      request('POST', '/pause', { host: `127.0.0.1:${server.port}`, authorization: AUTH, connection: 'close' }, JSON.stringify({ reason: 'x' })),
    )
    expect(r.status).toBe(415)
    expect(r.text).toContain('without a Content-Type')
    expect(log.lastSeq).toBe(0)
  })

  for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON; charset="UTF-8"', 'application/merge-patch+json']) {
    it(`accepts an action sent as '${type}'`, async () => {
      expect((await pause({ 'content-type': type })).status).toBe(202)
      expect(log.lastSeq).toBe(1)
    })
  }

  it('given no body at all, reads it as an empty one: the schema names what is missing, not the type', async () => {
    const res = await fetch(`${server.url}/pause`, { method: 'POST', headers: { authorization: AUTH } })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_BODY')
  })

  it('refuses a text/plain body that asks for 100-continue before inviting it, and closes the connection', async () => {
    const r = await exchange(
      server.port,
      request('POST', '/pause', {
        host: `127.0.0.1:${server.port}`,
        authorization: AUTH,
        expect: '100-continue',
        'content-type': 'text/plain',
        'content-length': '1000',
      }),
    )
    expect(r.statuses).toEqual([415])
    expect(r.closed).toBe(true)
  })

  it('names a type with characters outside ASCII as escapes, never as the raw bytes', async () => {
    const r = await exchange(
      server.port,
      request('POST', '/pause', { host: `127.0.0.1:${server.port}`, authorization: AUTH, 'content-type': 'text/pl\xe4in' }, '{"reason":"x"}'),
    )
    expect(r.status).toBe(415)
    expect(r.text).not.toContain('\xe4')
    const message = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)).error.message
    expect(message).toMatch(/'text\/pl(\\u00[0-9a-f]{2})+in'/)
  })
})
