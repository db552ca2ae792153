import { afterEach, describe, expect, it } from 'vitest'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { InvalidConfig, parseConfig } from '../../src/daemon/config.js'
import { createLogger } from '../../src/daemon/logger.js'
import { startAdminServer, type AdminServer } from '../../src/admin/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDb } from '../support/tmp.js'
import { logBackend } from './log-backend.js'
import { exchange, request } from './raw-http.js'

const minimal = { db: { path: 'events.db' } }

function refusal(f: () => unknown): InvalidConfig {
  try {
    f()
  } catch (e) {
    if (e instanceof InvalidConfig) return e
    throw e
  }
  throw new Error('the config was accepted')
}

describe('admin.host beyond loopback', () => {
  it('is refused without admin.allowNonLoopback, naming admin.host', () => {
    // given a config that binds the admin API to every interface and says nothing more
    for (const host of ['0.0.0.0', '::', '192.168.1.20', 'haltd.internal']) {
      // when it is parsed; then it is an InvalidConfig whose problem is admin.host
      const e = refusal(() => parseConfig({ ...minimal, admin: { host } }))
      expect(e.problems, host).toEqual([{ path: 'admin.host', message: expect.stringContaining('allowNonLoopback') }])
    }
  })

  it('is accepted with admin.allowNonLoopback: true', () => {
    const c = parseConfig({ ...minimal, admin: { host: '0.0.0.0', allowNonLoopback: true } })
    expect(c.admin).toMatchObject({ host: '0.0.0.0', allowNonLoopback: true })
  })

  it('needs nothing for loopback hosts, and defaults to not allowing more', () => {
    for (const host of ['127.0.0.1', '127.0.0.53', 'localhost', '::1', '[::1]']) expect(parseConfig({ ...minimal, admin: { host } }).admin.host).toBe(host)
    expect(parseConfig(minimal).admin.allowNonLoopback).toBe(false)
  })

  it('is not checked while the admin API is disabled', () => {
    expect(parseConfig({ ...minimal, admin: { enabled: false, host: '0.0.0.0' } }).admin.enabled).toBe(false)
  })
})

describe('admin API bound beyond loopback', () => {
  let log: EventLog
  let server: AdminServer | undefined
  afterEach(async () => {
    await server?.close()
    log.close()
  })

  it('starts with a warning, and answers only to the address a connection arrived on', async () => {
    // given a server bound to every IPv4 interface
    log = openEventLog({ path: tempDb() })
    const dest = memoryDestination()
    const token = 'test-token-0123456789abcdef'
    server = await startAdminServer({ backend: logBackend(log), token, host: '0.0.0.0', port: 0, logger: createLogger({ destination: dest, level: 'info' }) })
    // then it said so in its log
    expect(dest.lines.some((l) => l.includes('"level":40') && l.includes('beyond loopback'))).toBe(true)
    // and a request over loopback is served under 127.0.0.1 or localhost, and refused under another name
    const get = (host: string) => exchange(server!.port, request('GET', '/health', { host, authorization: `Bearer ${token}`, connection: 'close' }))
    expect((await get(`127.0.0.1:${server.port}`)).status).toBe(200)
    expect((await get('localhost')).status).toBe(200)
    expect((await get('0.0.0.0')).status).toBe(421)
    expect((await get(`rebound.example:${server.port}`)).status).toBe(421)
  })
})
