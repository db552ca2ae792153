import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { createNotifier, logSink, webhookSink } from '../../src/daemon/notify/index.js'
import { tempDb } from '../support/tmp.js'
import { createHaltd } from '../../src/daemon/index.js'
import { retryAfterMs } from '../../src/daemon/notify/index.js'
import { webhookReceiver } from '../support/webhook-receiver.js'

const receiver = webhookReceiver

const announce = { topic: 'shutdown.announced', text: 'graceful shutdown started: deploy', severity: 'warning' as const, fields: { mode: 'graceful' } }

describe('notifier', () => {
  it('posts a Slack-compatible JSON body to the webhook and records notification.sent', async () => {
    const { url, hits } = await receiver([200])
    const log = openEventLog({ path: tempDb() })
    const notifier = createNotifier({ sinks: [webhookSink({ name: 'slack', url })], budgetMs: 5_000, log })
    const outcomes = await notifier.notify(announce)
    expect(outcomes).toEqual([{ sink: 'slack', ok: true, outcome: 'delivered', attempts: 1, failures: [] }])
    expect(hits).toHaveLength(1)
    expect(hits[0]).toMatchObject({ method: 'POST', path: '/services/T000/B000/secretpath', contentType: 'application/json' })
    expect(hits[0]!.body).toMatchObject({ topic: 'shutdown.announced', severity: 'warning', fields: { mode: 'graceful' } })
    expect((hits[0]!.body as { text: string }).text).toContain('graceful shutdown started: deploy')
    const sent = [...log.read({ types: ['notification.sent'] })]
    expect(sent.map((e) => e.data)).toEqual([{ sink: 'slack', topic: 'shutdown.announced', ok: true, outcome: 'delivered', attempts: 1 }])
    log.close()
  })

  it('retries a 503 and a 429, then succeeds', async () => {
    const { url, hits } = await receiver([503, 429, 200])
    const notifier = createNotifier({ sinks: [webhookSink({ url, retries: 2, backoffMs: 1 })], budgetMs: 5_000 })
    expect(await notifier.notify(announce)).toEqual([
      { sink: 'webhook', ok: true, outcome: 'delivered', attempts: 3, failures: ['attempt 1: HTTP 503', 'attempt 2: HTTP 429'] },
    ])
    expect(hits).toHaveLength(3)
  })

  it('does not retry a 400 and reports it without the URL', async () => {
    const { url, hits } = await receiver([400, 200])
    const [outcome] = await createNotifier({ sinks: [webhookSink({ url, retries: 3, backoffMs: 1 })], budgetMs: 5_000 }).notify(announce)
    expect(hits).toHaveLength(1)
    expect(outcome).toMatchObject({ ok: false, error: 'webhook: HTTP 400', outcome: 'failed', attempts: 1 })
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
      { sink: 'webhook', ok: false, error: expect.any(String), outcome: 'budget-exhausted', attempts: expect.any(Number), failures: expect.any(Array) },
      { sink: 'log', ok: true, outcome: 'delivered', attempts: 1, failures: [] },
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

describe('Retry-After', () => {
  it('reads delay-seconds and HTTP dates; a date in the past is no wait, anything else is no answer', () => {
    const now = Date.parse('2026-12-04T12:00:00Z')
    expect(retryAfterMs('2', now)).toBe(2_000)
    expect(retryAfterMs(' 0 ', now)).toBe(0)
    expect(retryAfterMs('Fri, 04 Dec 2026 12:00:03 GMT', now)).toBe(3_000)
    expect(retryAfterMs('Fri, 04 Dec 2026 11:59:00 GMT', now)).toBe(0)
    expect(retryAfterMs('soon', now)).toBeUndefined()
    expect(retryAfterMs(null, now)).toBeUndefined()
  })

  it('given a 429 asking for one second, when notified, then the retry waits that long and is delivered, both attempts recorded', async () => {
    const { url, hits } = await receiver([{ status: 429, retryAfter: '1' }, 200])
    const log = openEventLog({ path: tempDb() })
    const notifier = createNotifier({ sinks: [webhookSink({ name: 'desk', url, retries: 2, backoffMs: 1 })], budgetMs: 5_000, log })
    const [outcome] = await notifier.notify(announce)
    expect(outcome).toMatchObject({ ok: true, outcome: 'delivered', attempts: 2 })
    expect(hits).toHaveLength(2)
    // a lower bound, not a timing target: the backoff alone is 1 ms
    expect(hits[1]!.at - hits[0]!.at).toBeGreaterThanOrEqual(950)
    expect([...log.read({ types: ['notification.sent'] })].map((e) => e.data)).toEqual([
      { sink: 'desk', topic: 'shutdown.announced', ok: true, outcome: 'delivered', attempts: 2, failedAttempts: 'attempt 1: HTTP 429 (Retry-After 1 s)' },
    ])
    log.close()
  })

  it('given a Retry-After longer than the budget, when notified, then the outcome is budget-exhausted after one attempt, and recorded', async () => {
    const { url, hits } = await receiver([{ status: 503, retryAfter: '30' }])
    const log = openEventLog({ path: tempDb() })
    const notifier = createNotifier({ sinks: [webhookSink({ name: 'desk', url, retries: 3, backoffMs: 1 })], budgetMs: 300, log })
    const [outcome] = await notifier.notify(announce)
    expect(hits).toHaveLength(1)
    expect(outcome).toMatchObject({ ok: false, outcome: 'budget-exhausted', attempts: 1 })
    expect([...log.read({ types: ['notification.sent'] })][0]!.data).toMatchObject({ ok: false, outcome: 'budget-exhausted', attempts: 1 })
    log.close()
  })

  it('given a receiver failing every attempt, when notified, then the outcome is failed after retries + 1 attempts', async () => {
    const { url, hits } = await receiver([500, 502, 500])
    const [outcome] = await createNotifier({ sinks: [webhookSink({ url, retries: 2, backoffMs: 1 })], budgetMs: 5_000 }).notify(announce)
    expect(hits).toHaveLength(3)
    expect(outcome).toMatchObject({ ok: false, outcome: 'failed', attempts: 3, error: 'webhook: 3 attempts failed, the last: HTTP 500' })
  })

  it('given a log that refuses the record, when notified, then the outcome goes to the fallback with the reason', async () => {
    const seen: string[] = []
    const log = openEventLog({ path: tempDb() })
    log.close()
    const notifier = createNotifier({ sinks: [], budgetMs: 1_000, log, onUnrecorded: (o, n, why) => void seen.push(`${n.topic} ${o.outcome}: ${why}`) })
    await notifier.notify(announce)
    expect(seen).toEqual([])
    const withSink = createNotifier({
      sinks: [{ name: 'x', send: async () => {} }],
      budgetMs: 1_000,
      log,
      onUnrecorded: (o, n, why) => void seen.push(`${n.topic} ${o.outcome}: ${why}`),
    })
    await withSink.notify(announce)
    expect(seen).toEqual(['shutdown.announced delivered: the event log is closed'])
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
    expect(sent).toContainEqual({
      sink: 'desk',
      topic: 'killswitch.activated',
      ok: true,
      outcome: 'delivered',
      attempts: 2,
      failedAttempts: 'attempt 1: HTTP 500',
    })
    expect(ended).toHaveLength(1)
  })
})
