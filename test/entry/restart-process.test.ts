import { writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { hashToken } from '../../src/admin/access.js'
import { entryOrderId } from '../../src/core/execution/order-entry.js'
import { ccxtMarkets, faults, startFakeBinance, type FakeBinance } from '../support/fake-binance/index.js'
import { tempDir } from '../support/tmp.js'
import { events, spawnHaltd, waitFor, whenUp, type Daemon } from '../daemon/processes.js'

/**
 * An engine beside `haltd run` (a real process) across a restart of haltd: haltd is killed (-9)
 * while an order is at the venue and its answer still on the way, comes back on the same log and
 * config, and the engine retries what it had asked. The venue is the fake Binance USD-M, reached
 * over HTTP by the real ccxt inside haltd, and outlives both runs.
 */

const TOKEN = 'restart-engine-token-0123456789'
const PERP = 'BTC/USDT:USDT'
const cleanups: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

// biome-ignore lint/suspicious/noExplicitAny: JSON off the wire, read field by field in the assertions
type Wire = any

/** Binance USD-M's REST endpoints, all at the local venue. */
const fapiAt = (origin: string) => ({
  api: Object.fromEntries(
    [
      ['fapiPublic', 'v1'],
      ['fapiPublicV2', 'v2'],
      ['fapiPublicV3', 'v3'],
      ['fapiPrivate', 'v1'],
      ['fapiPrivateV2', 'v2'],
      ['fapiPrivateV3', 'v3'],
    ].map(([key, version]) => [key, `${origin}/fapi/${version}`]),
  ),
})

function configFor(venue: FakeBinance, dir: string) {
  return {
    db: { path: join(dir, 'events.db') },
    admin: { port: 0, users: [{ name: 'pybot', role: 'engine', tokenHash: hashToken(TOKEN) }] },
    venues: [
      {
        kind: 'ccxt',
        name: 'bn',
        exchange: 'binanceusdm',
        apiKey: venue.apiKey,
        secret: venue.secret,
        symbols: [PERP],
        urls: fapiAt(venue.origin),
        options: {
          enableRateLimit: false,
          markets: ccxtMarkets('futures', [...venue.engine.symbols.values()]),
          options: { fetchCurrencies: false, fetchMargins: false },
        },
      },
    ],
    orderEntry: {
      socketPath: join(dir, 'entry.sock'),
      // this engine's own limits, by its credential's name: the config is what carries them over a restart
      engines: { pybot: { maxPosition: 0.015, maxOpenOrders: 2, maxOrdersPerSecond: 50, maxOrderNotional: 300 } },
    },
    shutdown: { graceful: { flatten: 'none' } },
  }
}

/** The socket's line protocol: `ask` answers by id; `send` does not wait. */
async function entryClient(path: string) {
  const socket: Socket = connect(path)
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.setEncoding('utf8')
  const waiting = new Map<number, (line: Wire) => void>()
  let buf = ''
  let n = 0
  socket.on('data', (chunk: string) => {
    buf += chunk
    for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
      const line = JSON.parse(buf.slice(0, i))
      buf = buf.slice(i + 1)
      waiting.get(line.id)?.(line)
    }
  })
  socket.on('error', () => undefined)
  const send = (op: string, extra: Record<string, unknown> = {}) => {
    const id = ++n
    const answered = new Promise<Wire>((resolve) => waiting.set(id, resolve))
    socket.write(`${JSON.stringify({ id, op, ...extra })}\n`)
    return answered
  }
  const ask = (op: string, extra: Record<string, unknown> = {}) => send(op, extra)
  expect(await ask('auth', { token: TOKEN })).toMatchObject({ ok: true, result: { engine: 'pybot' } })
  cleanups.push(() => socket.destroy())
  return { ask, send }
}

const limit = (clientOrderId: string, price: number) => ({ symbol: PERP, type: 'limit', side: 'buy', amount: 0.001, price, clientOrderId })

describe('order entry across a restart of haltd (real processes)', { timeout: 90_000 }, () => {
  it('a submit retried after haltd died mid-order returns the same order, the venue holds one, and the engine’s limits still hold', async () => {
    const venue = await startFakeBinance()
    cleanups.push(() => venue.close())
    const dir = tempDir('haltd-entry-restart-')
    const config = configFor(venue, dir)
    const file = join(dir, 'haltd.json')
    writeFileSync(file, JSON.stringify(config))
    const db = config.db.path
    const start = async (): Promise<Daemon> => {
      const d = spawnHaltd(['run', '--config', file], { db })
      cleanups.push(async () => {
        if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL')
        await d.exit
      })
      await whenUp(d)
      return d
    }

    // given an order accepted, and one the venue took whose answer never came back
    const first = await start()
    const before = await entryClient(config.orderEntry.socketPath)
    expect((await before.ask('submit', { body: limit('keep-1', 40_000) })).result).toMatchObject({ outcome: 'accepted', duplicate: false })
    venue.faults.inject('POST /fapi/v1/order', faults.processThenHang(), 1)
    void before.send('submit', { body: limit('mid-1', 40_100) })
    await waitFor(
      'the order written ahead and at the venue',
      () => events(db, ['order.submitted']).length === 2 && venue.engine.open('futures').length === 2,
      first,
    )

    // when haltd dies with the answer in flight and comes back on the same log and config
    first.child.kill('SIGKILL')
    expect((await first.exit).signal).toBe('SIGKILL')
    await start()
    const after = await entryClient(config.orderEntry.socketPath)

    // then the retried submits find the orders, and nothing more reaches the venue
    const atVenue = venue.engine.find('futures', { clientOrderId: entryOrderId('pybot', 'mid-1') })!
    const retried = await after.ask('submit', { body: limit('mid-1', 40_100) })
    expect(retried).toMatchObject({
      ok: true,
      result: {
        outcome: 'accepted',
        duplicate: true,
        order: { id: entryOrderId('pybot', 'mid-1'), clientOrderId: 'mid-1', venueOrderId: String(atVenue.orderId), status: 'open' },
      },
    })
    expect((await after.ask('submit', { body: limit('keep-1', 40_000) })).result).toMatchObject({ outcome: 'accepted', duplicate: true })
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(2)
    expect(venue.engine.open('futures')).toHaveLength(2)
    expect(events(db, ['order.submitted'])).toHaveLength(2)

    // and the engine's limits hold as before, each named in its refusal
    expect((await after.ask('submit', { body: limit('new-3', 39_900) })).result).toEqual({
      outcome: 'refused',
      duplicate: false,
      reason: 'engine pybot has 2 open orders, at its limit of 2',
    })
    expect((await after.ask('cancel', { body: { clientOrderId: 'keep-1' } })).result).toMatchObject({ result: 'canceled' })
    expect((await after.ask('submit', { body: { symbol: PERP, type: 'market', side: 'buy', amount: 0.02, clientOrderId: 'big-4' } })).result).toEqual({
      outcome: 'refused',
      duplicate: false,
      // mid-1 still rests (a buy of 0.001): counted as filled, across the restart too
      reason: "a fill would take bn BTC/USDT:USDT to 0.021 with the engine's resting buys filled too, over engine pybot's limit of 0.015",
    })
    expect((await after.ask('submit', { body: { ...limit('big-5', 40_000), amount: 0.01 } })).result).toEqual({
      outcome: 'refused',
      duplicate: false,
      reason: "an order of 0.01 BTC/USDT:USDT at 40000 is 400 notional, over engine pybot's limit of 300 per order",
    })
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(2)
  })
})
