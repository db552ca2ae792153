import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createHaltd } from '../../src/daemon/index.js'
import { demoConfig } from '../../src/daemon/demo.js'
import { createLogger } from '../../src/daemon/logger.js'
import type { ExchangeGateway } from '../../src/exchanges/gateway.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'
import { webhookReceiver } from '../support/webhook-receiver.js'
import { events, spawnHaltd, waitFor, whenUp } from './processes.js'

type Sent = { sink: string; topic: string; ok: boolean; outcome?: string; attempts?: number; failedAttempts?: string }

describe('critical notifications from a real haltd process', { timeout: 90_000 }, () => {
  it("given a webhook that answers the first emergency notification 429 Retry-After 3 (longer than the budget of the emergency's stop step), when SIGUSR2 stops haltd, then the retry is delivered before the exit and notification.sent records both attempts", async () => {
    // given a desk webhook that refuses the first attempt of the emergency and kill switch notifications
    const { url, hits } = await webhookReceiver((topic, nth) => {
      if (nth > 0) return 200
      if (topic === 'shutdown.emergency') return { status: 429, retryAfter: '3' }
      if (topic === 'killswitch.activated') return 500
      return 200
    })
    const dir = tempDir()
    const db = join(dir, 'haltd.db')
    const config = demoConfig({ db, port: 0, seed: 11, orders: 0 })
    config.notify = { webhooks: [{ name: 'desk', url, retries: 3, backoffMs: 100 }], budgetMs: 10_000 }
    const file = join(dir, 'haltd.json')
    writeFileSync(file, JSON.stringify(config))
    const d = spawnHaltd(['run', '--config', file], { db })
    await whenUp(d)
    await waitFor('some fills', () => events(db, ['order.filled']).length >= 2, d)

    // when an emergency stops it
    d.child.kill('SIGUSR2')
    const { code } = await d.exit

    // then it exited 3, after the emergency notification's retry was delivered, Retry-After honoured
    expect(code).toBe(3)
    const emergency = hits.filter((h) => h.topic === 'shutdown.emergency')
    expect(emergency).toHaveLength(2)
    expect(emergency[1]!.at - emergency[0]!.at).toBeGreaterThanOrEqual(2_900)
    expect(hits.filter((h) => h.topic === 'killswitch.activated')).toHaveLength(2)

    // and each outcome is in the log before the run's end
    const log = events(db)
    const sent = log.filter((e) => e.type === 'notification.sent').map((e) => e.data as Sent)
    expect(sent).toContainEqual({
      sink: 'desk',
      topic: 'shutdown.emergency',
      ok: true,
      outcome: 'delivered',
      attempts: 2,
      failedAttempts: 'attempt 1: HTTP 429 (Retry-After 3 s)',
    })
    expect(sent).toContainEqual({
      sink: 'desk',
      topic: 'killswitch.activated',
      ok: true,
      outcome: 'delivered',
      attempts: 2,
      failedAttempts: 'attempt 1: HTTP 500',
    })
    const deliveredAt = log.findIndex(
      (e) => e.type === 'notification.sent' && (e.data as Sent).sink === 'desk' && (e.data as Sent).topic === 'shutdown.emergency',
    )
    expect(deliveredAt).toBeLessThan(log.findIndex((e) => e.type === 'run.ended'))
    expect(log.at(-1)).toMatchObject({ type: 'run.ended', data: { exitCode: 3 } })

    // the emergency message says what is left, quantities at each market's step (BTC 0.001, ETH 0.01)
    const text = (emergency[1]!.body as { text: string }).text
    expect(text).toMatch(/emergency shutdown: SIGUSR2.*(positions flat|position\(s\) open).*order\(s\) still live; P&L realized -?\d+\.\d\d/)
    for (const [, symbol, qty] of text.matchAll(/\S+-sim (BTC|ETH)\/USDT:USDT (-?[\d.]+)/g)) {
      expect(qty!.split('.')[1]?.length ?? 0, `${symbol} ${qty}`).toBeLessThanOrEqual(symbol === 'BTC' ? 3 : 2)
    }
  })
})

/** A simulated venue that reports a position haltd never took: the reconciliation is a MISMATCH. */
function holdingUnknownPosition(): ExchangeGateway {
  const sim = new SimExchange({
    venue: 'alpha-sim',
    seed: 5,
    mode: 'derivatives',
    symbols: [{ symbol: 'BTC/USDT:USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }],
  })
  return new Proxy(sim, {
    get(target, key) {
      if (key === 'fetchPositions') return async () => [{ symbol: 'BTC/USDT:USDT', qty: 0.25 }]
      const value = Reflect.get(target, key, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

describe('the closing notification of a shutdown that left exposure', { timeout: 60_000 }, () => {
  it('given a webhook that answers its first attempt 503 Retry-After 1, when a graceful stop ends MISMATCH, then it is critical, retried, delivered and recorded before the run ends with exit 2', async () => {
    // given a venue holding a position the log does not know, and a desk webhook that is briefly unavailable
    const { url, hits } = await webhookReceiver((topic, nth) => (topic === 'shutdown.completed' && nth === 0 ? { status: 503, retryAfter: '1' } : 200))
    const db = join(tempDir(), 'haltd.db')
    const h = await createHaltd(
      { db: { path: db }, admin: { enabled: false }, notify: { webhooks: [{ name: 'desk', url, retries: 2, backoffMs: 10 }] } },
      { gateways: [holdingUnknownPosition()], logger: createLogger({ destination: memoryDestination(), level: 'silent' }), env: {} },
    )

    // when it shuts down gracefully
    const report = await h.shutdown({ mode: 'graceful', reason: 'end of session', origin: 'operator' })
    const code = await h.exited

    // then the stop is not clean: exit 2, the reconciliation a MISMATCH
    expect(report.reconciliation.verdict).toBe('MISMATCH')
    expect(code).toBe(2)
    // and the closing notification is critical, refused once and delivered on the retry
    const closing = hits.filter((x) => x.topic === 'shutdown.completed')
    expect(closing).toHaveLength(2)
    expect(closing[1]!.body).toMatchObject({ severity: 'critical' })
    expect((closing[1]!.body as { text: string }).text).toContain('(graceful, residual-exposure)')
    const log = events(db)
    const sentAt = log.findIndex((e) => e.type === 'notification.sent' && (e.data as Sent).sink === 'desk' && (e.data as Sent).topic === 'shutdown.completed')
    expect(log[sentAt]!.data).toEqual({
      sink: 'desk',
      topic: 'shutdown.completed',
      ok: true,
      outcome: 'delivered',
      attempts: 2,
      failedAttempts: 'attempt 1: HTTP 503 (Retry-After 1 s)',
    })
    expect(sentAt).toBeLessThan(log.findIndex((e) => e.type === 'run.ended'))
  })
})
