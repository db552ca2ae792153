import type { Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openEventLog, type EventLog } from '../../src/core/log/event-log.js'
import { createLogger } from '../../src/daemon/logger.js'
import { startAdminServer, type AdminServer } from '../../src/admin/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDb } from '../support/tmp.js'
import { until } from '../support/until.js'
import { logBackend } from './log-backend.js'
import { openRaw, rawUpgrade, type RawSocket } from './raw-http.js'

/**
 * The admin listener's connections are capped, and a client that sends its request a byte at a
 * time (slowloris) must not hold a slot an operator needs: with every slot taken by such clients,
 * an operator's request is still answered, over real sockets.
 */

const TOKEN = 'test-token-0123456789abcdef'
const CAP = 16
let log: EventLog
let server: AdminServer
let logLines: string[]
const held: Socket[] = []
const trickles: ReturnType<typeof setInterval>[] = []

beforeEach(async () => {
  log = openEventLog({ path: tempDb() })
  const dest = memoryDestination()
  logLines = dest.lines
  server = await startAdminServer({
    backend: logBackend(log),
    token: TOKEN,
    port: 0,
    maxConnections: CAP,
    logger: createLogger({ destination: dest, level: 'info' }),
  })
})
afterEach(async () => {
  for (const t of trickles.splice(0)) clearInterval(t)
  for (const s of held.splice(0)) s.destroy()
  await server.close()
  log.close()
})

/** A client that sends its headers a byte every 100 ms and never ends them; resolves with whether the server closed it. */
async function slowloris(): Promise<{ closed: Promise<void> }> {
  const socket = await openRaw(server.port)
  held.push(socket)
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.write(`GET /status HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n`)
  let n = 0
  const t = setInterval(() => {
    if (!socket.destroyed) socket.write(`x-${n++ % 10}: y\r\n`.slice(0, 1))
  }, 100)
  trickles.push(t)
  return { closed }
}

const status = () =>
  fetch(`${server.url}/status`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
    (r) => r.status,
    () => 0,
  )

describe('admin API: slow clients and the connection cap', () => {
  it('given every slot held by clients trickling their headers, answers an operator at once, closing the oldest slow one to make room, and says so once', async () => {
    // given as many slow clients as the cap allows, all connected
    const slow = []
    for (let i = 0; i < CAP; i++) slow.push(await slowloris())
    await new Promise((r) => setTimeout(r, 300))
    // when an operator asks, three times
    const started = Date.now()
    const answers = [await status(), await status(), await status()]
    // then each is answered well within the header timeout the slow ones are waiting out
    expect(answers).toEqual([200, 200, 200])
    expect(Date.now() - started).toBeLessThan(3_000)
    // and the oldest slow client was the one closed for it, long before its header timeout
    await slow[0]!.closed
    expect(Date.now() - started).toBeLessThan(3_000)
    // and the process log says it once, with the address
    const made = logLines.filter((l) => l.includes('admin connection closed at once to make room'))
    expect(made).toHaveLength(1)
    expect(made[0]).toContain('"address":"127.0.0.1"')
  })

  it('given every slot being served (open event sockets), closes a newcomer at once and says so; once one ends, serves again', async () => {
    // given the cap filled with /events sockets, each a request being served
    const sockets: RawSocket[] = []
    for (let i = 0; i < CAP; i++) {
      const ws = await rawUpgrade(server.port, '/events', { host: `127.0.0.1:${server.port}`, authorization: `Bearer ${TOKEN}` })
      expect(ws.status).toBe(101)
      sockets.push(ws)
      held.push(ws.socket)
    }
    // when one more comes, it is closed at once, and none of the served ones is
    expect(await status()).toBe(0)
    expect(logLines.some((l) => l.includes('admin connection closed at once') && l.includes('every one being served'))).toBe(true)
    expect(sockets.every((s) => !s.socket.destroyed)).toBe(true)
    // when one ends, an operator is answered again
    sockets[0]!.socket.destroy()
    await until('a slot frees', async () => (await status()) === 200, 5_000)
  })

  it('drops a client that never finishes its headers once the header timeout passes, even with slots to spare', async () => {
    await server.close()
    server = await startAdminServer({ backend: logBackend(log), token: TOKEN, port: 0, headersTimeoutMs: 500 })
    const slow = await slowloris()
    const began = Date.now()
    await slow.closed
    expect(Date.now() - began).toBeLessThan(3_000)
  })
})
