import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { createNotifier, logSink, webhookSink } from '../../src/daemon/notify/index.js'
import { tempDb } from '../support/tmp.js'
import { createHaltd } from '../../src/daemon/index.js'

type Hit = { method: string; path: string; contentType: string | undefined; body: unknown }

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

/** A receiving end on 127.0.0.1 that answers each request with the next status in `statuses`. */
async function receiver(statuses: (number | 'hang')[]): Promise<{ url: string; hits: Hit[] }> {
  const hits: Hit[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = ''
    req.on('data', (c) => (text += c))
    req.on('end', () => {
      hits.push({ method: req.method!, path: req.url!, contentType: req.headers['content-type'], body: JSON.parse(text) })
      const status = statuses[hits.length - 1] ?? 200
      if (status === 'hang') return
      res.writeHead(status).end('ok')
    })
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/secretpath`, hits }
}

const announce = { topic: 'shutdown.announced', text: 'graceful shutdown started: deploy', severity: 'warning' as const, fields: { mode: 'graceful' } }

describe('notifier', () => {
  it('posts a Slack-compatible JSON body to the webhook and records notification.sent', async () => {
    const { url, hits } = await receiver([200])
    const log = openEventLog({ path: tempDb() })
    const notifier = createNotifier({ sinks: [webhookSink({ name: 'slack', url })], budgetMs: 5_000, log })
    const outcomes = await notifier.notify(announce)
    expect(outcomes).toEqual([{ sink: 'slack', ok: true }])
    expect(hits).toHaveLength(1)
    expect(hits[0]).toMatchObject({ method: 'POST', path: '/services/T000/B000/secretpath', contentType: 'application/json' })
    expect(hits[0]!.body).toMatchObject({ topic: 'shutdown.announced', severity: 'warning', fields: { mode: 'graceful' } })
    expect((hits[0]!.body as { text: string }).text).toContain('graceful shutdown started: deploy')
    const sent = [...log.read({ types: ['notification.sent'] })]
    expect(sent.map((e) => e.data)).toEqual([{ sink: 'slack', topic: 'shutdown.announced', ok: true }])
    log.close()
  })

  it('retries a 503 and a 429, then succeeds', async () => {
    const { url, hits } = await receiver([503, 429, 200])
    const notifier = createNotifier({ sinks: [webhookSink({ url, retries: 2, backoffMs: 1 })], budgetMs: 5_000 })
    expect(await notifier.notify(announce)).toEqual([{ sink: 'webhook', ok: true }])
    expect(hits).toHaveLength(3)
  })

  it('does not retry a 400 and reports it without the URL', async () => {
    const { url, hits } = await receiver([400, 200])
    const [outcome] = await createNotifier({ sinks: [webhookSink({ url, retries: 3, backoffMs: 1 })], budgetMs: 5_000 }).notify(announce)
    expect(hits).toHaveLength(1)
    expect(outcome).toMatchObject({ ok: false, error: 'webhook: HTTP 400' })
    expect(outcome!.error).not.toContain('secretpath')
  })

  it('gives up on a receiver that never answers within its budget, and the other sinks still deliver', async () => {
    const { url, hits } = await receiver(['hang', 'hang', 'hang'])
    const dest = memoryDestination()
    const notifier = createNotifier({
      sinks: [webhookSink({ url, timeoutMs: 200, retries: 5, backoffMs: 10 }), logSink(createLogger({ destination: dest }))],
      budgetMs: 600,
    })
    const outcomes = await notifier.notify(announce)
    expect(outcomes).toEqual([
      { sink: 'webhook', ok: false, error: expect.any(String) },
      { sink: 'log', ok: true },
    ])
    // Bounded: with a 600 ms budget and 200 ms attempts, at most a few attempts were made.
    expect(hits.length).toBeGreaterThanOrEqual(1)
    expect(hits.length).toBeLessThanOrEqual(3)
    expect(JSON.parse(dest.lines[0]!)).toMatchObject({ level: 40, notification: 'shutdown.announced', msg: 'graceful shutdown started: deploy' })
  })

  it('reports a refused connection as a failure, never as a throw', async () => {
    const notifier = createNotifier({ sinks: [webhookSink({ url: 'http://127.0.0.1:1/hook', retries: 1, backoffMs: 1 })], budgetMs: 2_000 })
    const [outcome] = await notifier.notify(announce)
    expect(outcome).toMatchObject({ sink: 'webhook', ok: false })
    expect(outcome!.error).toMatch(/ECONNREFUSED|failed/)
  })
})

describe('the kill switch notification', () => {
  it('is awaited before the run ends: a first attempt answered 500 is retried, and the outcome is recorded as notification.sent', async () => {
    const { url, hits } = await receiver([500, 200])
    const db = tempDb()
    const h = await createHaltd(
      { db: { path: db }, admin: { enabled: false }, notify: { webhooks: [{ name: 'desk', url, retries: 2, backoffMs: 50 }] } },
      { logger: createLogger({ destination: memoryDestination(), level: 'silent' }), env: {} },
    )
    h.risk.activate({ reason: 'desk says stop', action: 'HALTED', origin: 'operator' })
    await h.close()
    expect(hits.map((x) => (x.body as { topic: string }).topic)).toEqual(['killswitch.activated', 'killswitch.activated'])
    const log = openEventLog({ path: db, readonly: true })
    const sent = [...log.read({ types: ['notification.sent'] })].map((e) => e.data)
    const ended = [...log.read({ types: ['run.ended'] })]
    log.close()
    expect(sent).toContainEqual({ sink: 'desk', topic: 'killswitch.activated', ok: true })
    expect(ended).toHaveLength(1)
  })
})
