import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { tempDir } from '../support/tmp.js'

const TOKEN = 'venue-health-test-token-0123456789'
const open: Haltd[] = []
afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => undefined)
})

async function start(venue: SimExchange): Promise<Haltd> {
  const h = await createHaltd(
    { db: { path: join(tempDir(), 'h.db') }, admin: { enabled: true, port: 0, token: TOKEN } },
    { gateways: [venue], logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} },
  )
  open.push(h)
  return h
}

const get = async (h: Haltd, path: string) => (await fetch(h.admin!.url + path, { headers: { authorization: `Bearer ${TOKEN}` } })).json()
const order = (qty = 0.01) =>
  ({ venue: 'delta-sim', symbol: 'BTC/USDT:USDT', side: 'buy', type: 'limit', qty, price: 40_000, origin: { kind: 'manual', id: 'test' } }) as const

/** The venue every test here runs against. */
const deltaSim = () =>
  new SimExchange({
    venue: 'delta-sim',
    seed: 5,
    mode: 'derivatives',
    symbols: [{ symbol: 'BTC/USDT:USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }],
  })

type HealthBody = { venues: { venue: string; connected: boolean; latencyMs?: number; latencySamples?: number; lastError?: string }[] }

describe('venue health while running', { timeout: 30_000 }, () => {
  it('reports the latency of recent venue calls, not only the connect at startup', async () => {
    const venue = deltaSim()
    const h = await start(venue)
    const before = ((await get(h, '/health')) as HealthBody).venues[0]!
    venue.faults.set({ latency: { minMs: 40, maxMs: 40 } })
    for (let i = 0; i < 25; i++) await h.orders.submit(order())
    const after = ((await get(h, '/health')) as HealthBody).venues[0]!
    expect(after.latencySamples).toBeGreaterThanOrEqual(20)
    // every one of the recent calls took at least the injected 40 ms; the startup ones did not
    expect(after.latencyMs).toBeGreaterThanOrEqual(40)
    expect(before.latencyMs ?? 0).toBeLessThan(40)
    expect(h.status().venues[0]!.latencyMs).toBe(after.latencyMs)
  })

  it('/health turns not ok while a venue is down, naming why, and ok again once it is back', async () => {
    const venue = deltaSim()
    const h = await start(venue)
    venue.disconnect('the line went quiet')
    const down = (await get(h, '/health')) as HealthBody & { ok: boolean }
    expect(down.ok).toBe(false)
    expect(down.venues[0]).toMatchObject({ connected: false, lastError: 'the line went quiet' })
    venue.reconnect()
    const up = (await get(h, '/health')) as HealthBody & { ok: boolean }
    expect(up.ok).toBe(true)
    expect(up.venues[0]!.connected).toBe(true)
  })

  it('/reconciliation asks the venues first, so a position traded since startup reads OK', async () => {
    const venue = deltaSim()
    const h = await start(venue)
    const fill = await h.orders.submit({
      venue: 'delta-sim',
      symbol: 'BTC/USDT:USDT',
      side: 'buy',
      type: 'market',
      qty: 0.01,
      origin: { kind: 'manual', id: 'test' },
    })
    expect(fill.status).toBe('accepted')
    const r = (await get(h, '/reconciliation')) as {
      ok: boolean
      observed: Record<string, string>
      rows: { kind: string; status: string; internal: number; observed?: number }[]
    }
    expect(r.observed).toEqual({ 'delta-sim': 'asked now' })
    const position = r.rows.find((x) => x.kind === 'position')!
    expect(position).toMatchObject({ status: 'OK', observed: 0.01 })
    expect(r.ok).toBe(true)
  })

  it('/reconciliation asked by many readers at once asks each venue once, and records one observation', async () => {
    const venue = deltaSim()
    const h = await start(venue)
    // the venue takes a moment to list its orders: the readers' requests all arrive while one ask is under way
    venue.faults.set({ latencyByMethod: { fetchOpenOrders: 300 } })
    const observations = () => [...h.log.read({ types: ['venue.open-orders-observed'] })].length
    const before = observations()
    const answers = (await Promise.all(Array.from({ length: 20 }, () => get(h, '/reconciliation')))) as { observed: Record<string, string> }[]
    expect(answers.every((a) => a.observed['delta-sim'] === 'asked now')).toBe(true)
    expect(observations() - before).toBe(1)
    // and a request after that ask has ended asks again
    await get(h, '/reconciliation')
    expect(observations() - before).toBe(2)
  })
})
