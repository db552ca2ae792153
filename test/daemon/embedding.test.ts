import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { StartupMismatch } from '../../src/daemon/startup.js'
import { InvalidConfig } from '../../src/daemon/config.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import type { Envelope } from '../../src/events/index.js'
import { DeploymentsLocked, type Strategy } from '../../src/strategies/index.js'
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
  it('a drain counts what it waits for: /drain/status, /inflight and /metrics give the same number, orders of any origin included', async () => {
    const db = join(tempDir(), 'drain.db')
    const venue = sim('alpha-sim')
    const h = await start(db, [venue], { admin: { enabled: true, port: 0, token: 'a-token-of-sixteen-chars' } })
    await h.orders.submit({
      venue: 'alpha-sim',
      symbol: 'BTC/USDT:USDT',
      side: 'buy',
      type: 'limit',
      qty: 0.01,
      price: 40_000,
      origin: { kind: 'manual', id: 'engine' },
    })
    const get = async (path: string) => (await fetch(`${h.admin!.url}${path}`, { headers: { authorization: `Bearer ${h.admin!.token}` } })).text()
    const post = (path: string) =>
      fetch(`${h.admin!.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.admin!.token}`, 'content-type': 'application/json' },
        body: '{"reason":"test"}',
      })
    expect((await post('/drain/start')).status).toBe(202)
    const drain = JSON.parse(await get('/drain/status')) as { state: string; inFlight: number }
    const inflight = JSON.parse(await get('/inflight')) as { count: number }
    const metric = Number(/^haltd_orders_in_flight (\d+)$/m.exec(await get('/metrics'))?.[1])
    expect(drain).toMatchObject({ state: 'Draining', inFlight: 1 })
    expect([inflight.count, metric]).toEqual([1, 1])
  })

  it("routes the engine's orders through the gate, exposes the projections and events, and shuts down with a report", async () => {
    const db = join(tempDir(), 'e.db')
    const venue = sim('alpha-sim')
    const h = await start(db, [venue])
    const seen: Envelope[] = []
    h.on('event', (e) => seen.push(e))
    expect(h.status().state).toBe('running')

    const sent = await h.orders.submit({
      venue: 'alpha-sim',
      symbol: 'BTC/USDT:USDT',
      side: 'buy',
      type: 'limit',
      qty: 0.01,
      price: 40_000,
      origin: { kind: 'manual', id: 'engine' },
    })
    expect(sent.status).toBe('accepted')
    expect(h.state().inFlight).toBe(1)
    expect(seen.map((e) => e.type)).toEqual(expect.arrayContaining(['order.submitted', 'order.accepted']))

    const during: unknown[] = []
    h.on('event', (e) => {
      if (e.type === 'shutdown.step-started') during.push(h.status().shutdown?.status)
    })
    const report = await h.shutdown({ mode: 'graceful', reason: 'end of session' })
    expect(report).toMatchObject({ outcome: 'clean', exitCode: 0, reason: 'end of session', origin: 'api' })
    // the runbook's announcement, as /status shows it: soon until the strategies are stopped (step 4)
    expect(during.slice(0, 3)).toEqual(['SHUTTING_DOWN_SOON', 'SHUTTING_DOWN_SOON', 'SHUTTING_DOWN_SOON'])
    expect(during.slice(4)).toEqual(Array(during.length - 4).fill('SHUTTING_DOWN'))
    expect(await h.exited).toBe(0)
    expect(h.log.isClosed).toBe(true)
    expect(venue.openOrderCount).toBe(0)
  })

  describe("the dead man's switch kept while running", () => {
    const keep = { deadMansSwitch: { timeoutMs: 1_000, refreshMs: 100 } }
    const spot = (venue: string) =>
      new SimExchange({ venue, seed: 3, mode: 'spot', symbols: [{ symbol: 'BTC/USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }] })
    const logOf = (db: string) => {
      const log = openEventLog({ path: db })
      try {
        return [...log.read()]
      } finally {
        log.close()
      }
    }
    /** What step 10 said about each venue's switch as it closed the connection. */
    const releases = (events: Envelope[]) => {
      const venueOf = new Map<string, string>()
      for (const e of events) {
        if (e.type === 'shutdown.command-issued' && e.data.command.kind === 'close-venue') venueOf.set(e.data.commandId, String(e.data.command.venue))
      }
      return Object.fromEntries(
        events.flatMap((e) =>
          e.type === 'shutdown.command-completed' && venueOf.has(e.data.commandId) ? [[venueOf.get(e.data.commandId)!, e.data.detail?.deadMansSwitch]] : [],
        ),
      )
    }

    it('arms it at every countdown venue, refreshes it so resting orders outlive its timeout, and disarms it after a clean graceful shutdown', async () => {
      const db = join(tempDir(), 'e.db')
      const countdown = sim('alpha-sim')
      const h = await start(db, [countdown, spot('spot-sim')], keep)
      expect(countdown.deadMansSwitchArmed).toBe(true)
      await h.orders.submit({
        venue: 'alpha-sim',
        symbol: 'BTC/USDT:USDT',
        side: 'buy',
        type: 'limit',
        qty: 0.01,
        price: 40_000,
        origin: { kind: 'manual', id: 'engine' },
      })
      await new Promise((r) => setTimeout(r, 1_500))
      expect(countdown.openOrderCount).toBe(1)

      expect((await h.shutdown({ mode: 'graceful', reason: 'end of session' })).outcome).toBe('clean')
      const events = logOf(db)
      expect(events.filter((e) => e.type === 'venue.dead-mans-switch-armed').map((e) => e.data)).toEqual([
        { venue: 'alpha-sim', timeoutMs: 1_000, method: 'countdown' },
      ])
      expect(events.filter((e) => e.type === 'venue.dead-mans-switch-disarmed').map((e) => e.data)).toEqual([{ venue: 'alpha-sim' }])
      expect(releases(events)).toEqual({ 'alpha-sim': 'disarmed', 'spot-sim': 'not-kept' })
    })

    it('given an instance that no longer leads its engine, its shutdown leaves the venue’s switch as it is: the switch is the leader’s', async () => {
      const db = join(tempDir(), 'e.db')
      const countdown = sim('alpha-sim')
      const h = await start(db, [countdown], keep)
      expect(countdown.deadMansSwitchArmed).toBe(true)
      // as the cluster's fence says once another instance took the lease
      h.gate.fenceCancels(() => "not the leader: instance 'standby' holds it now")
      await h.shutdown({ mode: 'graceful', reason: 'stopping the deposed primary' })
      const events = logOf(db)
      expect(events.some((e) => e.type === 'venue.dead-mans-switch-disarmed')).toBe(false)
      expect(releases(events)).toEqual({ 'alpha-sim': "left as it is (not the leader: instance 'standby' holds it now)" })
    })

    it('arms a cancel-on-disconnect window too (Bybit’s disconnect protection) and disarms it after a clean graceful shutdown', async () => {
      const db = join(tempDir(), 'e.db')
      const dcp = new SimExchange({
        venue: 'dcp-sim',
        seed: 3,
        mode: 'derivatives',
        capabilities: { deadMansSwitch: 'cancel-on-disconnect' },
        symbols: [{ symbol: 'BTC/USDT:USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }],
      })
      const h = await start(db, [dcp], keep)
      expect((await h.shutdown({ mode: 'graceful', reason: 'end of session' })).outcome).toBe('clean')
      const events = logOf(db)
      expect(events.filter((e) => e.type === 'venue.dead-mans-switch-armed').map((e) => e.data)).toEqual([
        { venue: 'dcp-sim', timeoutMs: 1_000, method: 'cancel-on-disconnect' },
      ])
      expect(releases(events)).toEqual({ 'dcp-sim': 'disarmed' })
    })

    it('is left armed by an emergency shutdown, which arms its own shorter countdown and never disarms', async () => {
      const db = join(tempDir(), 'e.db')
      const h = await start(db, [sim('alpha-sim')], keep)
      await h.shutdown({ mode: 'emergency', reason: 'drill' })
      const events = logOf(db)
      expect(events.filter((e) => e.type === 'venue.dead-mans-switch-armed').map((e) => e.data.timeoutMs)).toEqual([1_000, 10_000])
      expect(events.some((e) => e.type === 'venue.dead-mans-switch-disarmed')).toBe(false)
      expect(releases(events)).toEqual({ 'alpha-sim': 'left-armed' })
    })

    it('is not kept when the config says so, and a refresh that would not beat the timeout is refused', async () => {
      const db = join(tempDir(), 'e.db')
      const countdown = sim('alpha-sim')
      await start(db, [countdown], { deadMansSwitch: { keepArmed: false } })
      expect(countdown.deadMansSwitchArmed).toBe(false)
      await expect(start(join(tempDir(), 'f.db'), [sim('beta-sim')], { deadMansSwitch: { timeoutMs: 5_000, refreshMs: 5_000 } })).rejects.toThrow(
        /deadMansSwitch\.refreshMs: must be below deadMansSwitch\.timeoutMs \(5000\)/,
      )
    })
  })

  it("restores the strategies' state from the checkpoint the last shutdown wrote, and starts them fresh when that file was tampered with", async () => {
    /** Counts the ticks it has seen; the count is its state. */
    const counter = () => {
      let ticks = 0
      return {
        strategy: {
          id: 'counter',
          onTick: () => {
            ticks++
            return []
          },
          snapshot: () => ({ ticks }),
          restore: (state: unknown) => {
            ticks = (state as { ticks: number }).ticks
          },
        },
        ticks: () => ticks,
      }
    }
    const limits = { maxPosition: 1, maxOpenOrders: 1, maxOrdersPerSecond: 1 }
    const run = async (db: string, c: ReturnType<typeof counter>) => {
      const logs = memoryDestination()
      const h = await createHaltd(
        { db: { path: db }, admin: { enabled: false } },
        { gateways: [sim('alpha-sim')], strategies: [{ strategy: c.strategy, limits }], logger: createLogger({ destination: logs, level: 'info' }), env: {} },
      )
      open.push(h)
      return { h, logs: logs.lines }
    }
    const db = join(tempDir(), 'e.db')
    const first = counter()
    const a = await run(db, first)
    for (let i = 0; i < 3; i++) await a.h.strategies.onTick({ venue: 'alpha-sim', symbol: 'BTC/USDT:USDT', bid: 49_999, ask: 50_001, ts: Date.now() })
    expect(first.ticks()).toBe(3)
    await a.h.shutdown({ mode: 'graceful', reason: 'end of session' })

    const second = counter()
    const b = await run(db, second)
    expect(second.ticks()).toBe(3)
    expect(b.logs.some((l) => l.includes('strategy state restored from the last checkpoint'))).toBe(true)
    await b.h.shutdown({ mode: 'graceful', reason: 'end of session' })

    const checkpoint = `${db}.checkpoint.json`
    const file = JSON.parse(readFileSync(checkpoint, 'utf8'))
    file.content.strategies.strategies.counter.state.ticks = 1_000
    writeFileSync(checkpoint, JSON.stringify(file))
    const third = counter()
    const c = await run(db, third)
    expect(third.ticks()).toBe(0)
    expect(c.logs.find((l) => l.includes('strategy state starts fresh'))).toMatch(/checksum mismatch/)
  })

  it("adopts orders at a venue that carry haltd's tag, flags foreign ones, and leaves the foreign ones alone", async () => {
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
    const err = await createHaltd(
      { db: { path: db }, admin: { enabled: false }, startup: { refuseToStartOnMismatch: true } },
      { gateways: [venue], logger: quiet(), env: {} },
    ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StartupMismatch)
    expect((err as StartupMismatch).message).toMatch(/gamma-sim BTC\/USDT:USDT: UNKNOWN_TO_US \(internal 0, venue 0\.01\)/)
    const log = openEventLog({ path: db, readonly: true })
    const types = [...log.read()].map((e) => e.type)
    log.close()
    expect(types[0]).toBe('run.started')
    expect(types).toContain('venue.positions-observed')
    expect(types.at(-1)).toBe('run.ended')
  })

  it('refuses new strategies and looser limits while deployments are locked, allows tighter ones, and takes both after the unlock', async () => {
    const idle = (id: string): Strategy => ({ id, onTick: () => [], snapshot: () => null, restore: () => undefined })
    const limits = { maxPosition: 1, maxOpenOrders: 4, maxOrdersPerSecond: 5 }
    const db = join(tempDir(), 'lock.db')
    const h = await createHaltd(
      { db: { path: db }, admin: { port: 0 } },
      { gateways: [sim('alpha-sim')], strategies: [{ strategy: idle('mm-1'), limits }], logger: quiet(), env: {} },
    )
    open.push(h)
    const admin = (path: string, body: unknown) =>
      fetch(`${h.admin!.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.admin!.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })

    expect((await admin('/deployments/lock', { reason: 'quarter-end freeze' })).status).toBe(202)
    const refused = (() => {
      try {
        h.strategies.register(idle('mm-2'), { limits })
      } catch (e) {
        return e
      }
    })()
    expect(refused).toBeInstanceOf(DeploymentsLocked)
    expect((refused as Error).message).toMatch(/registering strategy 'mm-2' refused: .*quarter-end freeze/)
    expect(() => h.strategies.setLimits('mm-1', { ...limits, maxPosition: 2 }, 'more room')).toThrow(DeploymentsLocked)
    expect(h.strategies.limits('mm-1')).toEqual(limits)
    // cutting risk needs no unlock
    expect(h.strategies.setLimits('mm-1', { ...limits, maxPosition: 0.5 }, 'less room')).toMatchObject({ maxPosition: 0.5 })
    expect(h.strategies.ids()).toEqual(['mm-1'])

    expect((await admin('/deployments/unlock', { reason: 'freeze over' })).status).toBe(202)
    h.strategies.register(idle('mm-2'), { limits })
    expect(h.strategies.setLimits('mm-1', limits, 'back to normal')).toEqual(limits)
    expect(h.strategies.ids()).toEqual(['mm-1', 'mm-2'])
    const changes = [...h.log.read()].filter((e) => e.type === 'strategy.limits-changed').map((e) => (e.data as { reason: string }).reason)
    expect(changes).toEqual(['registered', 'less room', 'registered', 'back to normal'])
  })

  it('refuses a bad config before it opens anything, listing every problem', async () => {
    const dir = tempDir()
    const err = await createHaltd({ db: { path: join(dir, 'never.db') }, admin: { port: 99_999 }, strategies: [{ kind: 'taker', id: 'x' }] } as never, {
      env: {},
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidConfig)
    const paths = (err as InvalidConfig).problems.map((p) => p.path)
    expect(paths).toEqual(expect.arrayContaining(['admin.port', 'strategies[0].markets', 'strategies[0].qty', 'strategies[0].limits']))
  })

  it('/reconciliation answers UNVERIFIED for a venue that did not answer the live ask, never ok beside "asked, no answer"', async () => {
    // given two venues answering, one of which will stop answering its open-orders and positions requests
    const db = join(tempDir(), 'evidence.db')
    const bravo = sim('bravo-sim')
    const h = await createHaltd(
      { db: { path: db }, admin: { enabled: true, port: 0, token: 'a-token-of-sixteen-chars' } },
      { gateways: [sim('alpha-sim'), bravo], logger: quiet(), env: {} },
    )
    open.push(h)
    await h.orders.submit({
      venue: 'bravo-sim',
      symbol: 'BTC/USDT:USDT',
      side: 'buy',
      type: 'limit',
      qty: 0.01,
      price: 40_000,
      origin: { kind: 'manual', id: 'engine' },
    })
    type Answer = { ok: boolean; verdict: string; unverified: { venue: string; why: string }[]; observed: Record<string, string> }
    const ask = async () => (await (await fetch(`${h.admin!.url}/reconciliation`, { headers: { authorization: `Bearer ${h.admin!.token}` } })).json()) as Answer
    // while both answer, the live ask verifies both
    expect(await ask()).toMatchObject({ ok: true, verdict: 'OK', unverified: [] })

    // when bravo stops answering (a 429 on every call stands in for a maintenance page)
    bravo.faults.set({ rateLimit: { probability: 1 } })
    const r = await ask()

    // then bravo is UNVERIFIED, saying why, and the whole answer is not OK
    expect(r.observed['bravo-sim']).toContain('asked, no answer')
    expect(r).toMatchObject({ ok: false, verdict: 'UNVERIFIED', unverified: [{ venue: 'bravo-sim', why: expect.stringContaining('asked, no answer') }] })
  })
})
