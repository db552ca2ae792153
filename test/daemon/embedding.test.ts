import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/core/daemon/index.js'
import { StartupMismatch } from '../../src/core/daemon/startup.js'
import { InvalidConfig } from '../../src/core/config.js'
import { createLogger, memoryDestination } from '../../src/core/logger.js'
import { openEventLog } from '../../src/core/event-log.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import type { Envelope } from '../../src/events/index.js'
import { tempDir } from '../support/tmp.js'

const open: Haltd[] = []
afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => undefined)
})

function sim(venue: string): SimExchange {
  return new SimExchange({ venue, seed: 3, mode: 'derivatives', symbols: [{ symbol: 'BTC/USDT:USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }] })
}

const quiet = () => createLogger({ destination: memoryDestination(), level: 'warn' })

async function start(db: string, gateways: SimExchange[], extra: Record<string, unknown> = {}): Promise<Haltd> {
  const h = await createHaltd({ db: { path: db }, admin: { enabled: false }, ...extra }, { gateways, logger: quiet(), env: {} })
  open.push(h)
  return h
}

describe('createHaltd, embedded', { timeout: 60_000 }, () => {
  it('routes the engine\'s orders through the gate, exposes the projections and events, and shuts down with a report', async () => {
    const db = join(tempDir(), 'e.db')
    const venue = sim('alpha-sim')
    const h = await start(db, [venue])
    const seen: Envelope[] = []
    h.on('event', (e) => seen.push(e))
    expect(h.status().state).toBe('running')

    const sent = await h.orders.submit({ venue: 'alpha-sim', symbol: 'BTC/USDT:USDT', side: 'buy', type: 'limit', qty: 0.01, price: 40_000, origin: { kind: 'manual', id: 'engine' } })
    expect(sent.status).toBe('accepted')
    expect(h.state().inFlight).toBe(1)
    expect(seen.map((e) => e.type)).toEqual(expect.arrayContaining(['order.submitted', 'order.accepted']))

    const report = await h.shutdown({ mode: 'graceful', reason: 'end of session' })
    expect(report).toMatchObject({ outcome: 'clean', exitCode: 0, reason: 'end of session', origin: 'api' })
    expect(await h.exited).toBe(0)
    expect(h.log.isClosed).toBe(true)
    expect(venue.openOrderCount).toBe(0)
  })

  it('adopts orders at a venue that carry haltd\'s tag, flags foreign ones, and leaves the foreign ones alone', async () => {
    const db = join(tempDir(), 'e.db')
    const venue = sim('beta-sim')
    await venue.submit({ clientOrderId: 'hd-oldrun-1', symbol: 'BTC/USDT:USDT', side: 'sell', type: 'limit', qty: 0.002, price: 60_000 })
    const foreign = venue.placeForeignOrder({ symbol: 'BTC/USDT:USDT', side: 'buy', qty: 0.003, price: 40_000 })

    const h = await start(db, [venue])
    expect(h.startup.adopted).toEqual([{ venue: 'beta-sim', clientOrderId: 'hd-oldrun-1', symbol: 'BTC/USDT:USDT', qty: 0.002 }])
    expect(h.startup.foreign).toEqual([expect.objectContaining({ venue: 'beta-sim', venueOrderId: foreign.venueOrderId, symbol: 'BTC/USDT:USDT', qty: 0.003 })])
    const adopted = [...h.state().orders.values()].find((o) => o.clientOrderId === 'hd-oldrun-1')
    expect(adopted).toMatchObject({ status: 'open', origin: { kind: 'adopted' } })

    // an emergency cancels haltd's own orders (adopted included), never the foreign one
    const openAtVenue: string[] = []
    h.on('event', (e) => {
      // the venue's own view, taken as the emergency stops (before the gateway closes)
      if (e.type === 'shutdown.step-started' && (e.data as { name: string }).name === 'quick checkpoint') {
        void venue.fetchOpenOrders().then((os) => openAtVenue.push(...os.map((o) => o.venueOrderId)))
      }
    })
    await h.shutdown({ mode: 'emergency', reason: 'test' })
    expect(openAtVenue).toEqual([foreign.venueOrderId])
    expect(h.state().orders.get(`beta-sim\u001fhd-oldrun-1`)?.status).toBe('canceled')
    const log = openEventLog({ path: db, readonly: true })
    const cancels = [...log.read({ types: ['venue.cancel-all-requested', 'order.cancel-requested'] })].map((e) => e.data)
    log.close()
    expect(cancels).toEqual([expect.objectContaining({ venue: 'beta-sim', scope: 'own' })])
  })

  it('refuses to start when a venue disagrees with the log and refuseToStartOnMismatch is set, and records the run as ended 1', async () => {
    const db = join(tempDir(), 'e.db')
    const venue = sim('gamma-sim')
    // a position nobody told haltd about
    await venue.submit({ clientOrderId: 'someone-else-1', symbol: 'BTC/USDT:USDT', side: 'buy', type: 'market', qty: 0.01 })
    const err = await createHaltd({ db: { path: db }, admin: { enabled: false }, startup: { refuseToStartOnMismatch: true } }, { gateways: [venue], logger: quiet(), env: {} }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StartupMismatch)
    expect((err as StartupMismatch).message).toMatch(/gamma-sim BTC\/USDT:USDT: UNKNOWN_TO_US \(internal 0, venue 0\.01\)/)
    const log = openEventLog({ path: db, readonly: true })
    const types = [...log.read()].map((e) => e.type)
    log.close()
    expect(types[0]).toBe('run.started')
    expect(types).toContain('venue.positions-observed')
    expect(types.at(-1)).toBe('run.ended')
  })

  it('refuses a bad config before it opens anything, listing every problem', async () => {
    const dir = tempDir()
    const err = await createHaltd({ db: { path: join(dir, 'never.db') }, admin: { port: 99_999 }, strategies: [{ kind: 'taker', id: 'x' }] } as never, { env: {} }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidConfig)
    const paths = (err as InvalidConfig).problems.map((p) => p.path)
    expect(paths).toEqual(expect.arrayContaining(['admin.port', 'strategies[0].markets', 'strategies[0].qty', 'strategies[0].limits']))
  })
})
