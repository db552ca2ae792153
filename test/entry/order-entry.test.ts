import Database from 'better-sqlite3'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { credentials, hashToken } from '../../src/admin/access.js'
import { MAX_ENTRY_STREAMS, startEntrySocket, type EntrySocket } from '../../src/admin/order-entry.js'
import { entryOrderId } from '../../src/core/execution/order-entry.js'
import { chainHash } from '../../src/core/log/event-log.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { manualClock, type Clock } from '../../src/events/clock.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

/**
 * An engine beside haltd enters its orders over the order-entry API: on the admin listener with
 * its `engine` credential, and on the Unix socket. Real daemon, real log, simulated venues.
 */

const ENGINE_TOKEN = 'engine-token-0123456789abcdef'
const VIEWER_TOKEN = 'viewer-token-0123456789abcdef'
const SYMBOL = 'BTC/USDT:USDT'

const open: Haltd[] = []
afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => undefined)
})

async function start(
  extra: {
    limits?: Record<string, number>
    venues?: string[]
    risk?: Record<string, unknown>
    dir?: string
    clock?: Clock
    maxUnsentBytes?: number
    /** How long the venue takes to answer a submit. */
    submitMs?: number
    /** The router's submit timeout. */
    submitTimeoutMs?: number
  } = {},
) {
  const dir = extra.dir ?? tempDir('haltd-entry-')
  const socketPath = join(dir, 'entry.sock')
  const gateways = (extra.venues ?? ['sim']).map(
    (venue) =>
      new SimExchange({
        venue,
        seed: 5,
        mode: 'derivatives',
        symbols: [{ symbol: SYMBOL, mid: 50_000, amountStep: 0.001, priceStep: 0.5 }],
        ...(extra.submitMs ? { faults: { latencyByMethod: { submit: extra.submitMs } } } : {}),
      }),
  )
  const h = await createHaltd(
    {
      db: { path: join(dir, 'events.db') },
      admin: {
        port: 0,
        users: [
          { name: 'pybot', role: 'engine', tokenHash: hashToken(ENGINE_TOKEN) },
          { name: 'vera', role: 'viewer', tokenHash: hashToken(VIEWER_TOKEN) },
        ],
      },
      orderEntry: {
        socketPath,
        ...(extra.maxUnsentBytes ? { maxUnsentBytes: extra.maxUnsentBytes } : {}),
        ...(extra.limits ? { limits: { maxPosition: 1e9, maxOpenOrders: 100, maxOrdersPerSecond: 1000, ...extra.limits } } : {}),
      },
      ...(extra.risk ? { risk: extra.risk } : {}),
      ...(extra.submitTimeoutMs ? { orders: { submitTimeoutMs: extra.submitTimeoutMs, lostRecheckMs: 10 } } : {}),
    },
    { gateways, logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {}, ...(extra.clock ? { clock: extra.clock } : {}) },
  )
  open.push(h)
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, token = ENGINE_TOKEN) => {
    const res = await fetch(`${h.admin!.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    return { status: res.status, body: (await res.json()) as Record<string, Wire> }
  }
  return { h, socketPath, call, gateways }
}

// biome-ignore lint/suspicious/noExplicitAny: JSON off the wire, read field by field in the assertions
type Wire = any

const limit = (over: Record<string, unknown> = {}) => ({ symbol: SYMBOL, type: 'limit', side: 'buy', amount: 0.01, price: 40_000, ...over })

/** A line-protocol client on the Unix socket: `ask` sends one request and resolves with its answer; stream lines are collected. */
async function socketClient(path: string) {
  const socket: Socket = connect(path)
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.setEncoding('utf8')
  const waiting = new Map<number, (line: Wire) => void>()
  const streamed: Wire[] = []
  let buf = ''
  let n = 0
  socket.on('data', (chunk: string) => {
    buf += chunk
    for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
      const line = JSON.parse(buf.slice(0, i))
      buf = buf.slice(i + 1)
      if (line.stream) streamed.push(line)
      else waiting.get(line.id)?.(line)
    }
  })
  const ask = (op: string, extra: Record<string, unknown> = {}) =>
    new Promise<Wire>((resolve) => {
      const id = ++n
      waiting.set(id, resolve)
      socket.write(`${JSON.stringify({ id, op, ...extra })}\n`)
    })
  return { socket, ask, streamed, close: () => socket.destroy() }
}

describe('order entry over the admin listener', { timeout: 30_000 }, () => {
  it('a submit is written ahead and sent; the answer carries haltd’s id, the venue’s id and both statuses', async () => {
    const { h, call } = await start()
    const r = await call('POST', '/engine/orders', limit({ clientOrderId: 'py-1' }))
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      outcome: 'accepted',
      duplicate: false,
      order: { id: entryOrderId('pybot', 'py-1'), clientOrderId: 'py-1', status: 'open', haltdStatus: 'open', amount: 0.01, price: 40_000, filled: 0 },
    })
    expect(r.body.order.venueOrderId).toEqual(expect.any(String))
    const submitted = [...h.log.read({ types: ['order.submitted'] })]
    expect(submitted).toHaveLength(1)
    expect(submitted[0]!.data).toMatchObject({ clientOrderId: r.body.order.id, origin: { kind: 'engine', id: 'pybot/py-1' } })
  })

  it('a retried submit never becomes two orders: in flight at once, or after the first answered', async () => {
    const { h, call } = await start()
    const burst = await Promise.all([1, 2, 3, 4, 5].map(() => call('POST', '/engine/orders', limit({ clientOrderId: 'again-1' }))))
    const later = await call('POST', '/engine/orders', limit({ clientOrderId: 'again-1' }))
    const ids = new Set([...burst, later].map((r) => r.body.order.id))
    expect(ids.size).toBe(1)
    expect(burst.filter((r) => !r.body.duplicate)).toHaveLength(1)
    expect(later.body).toMatchObject({ outcome: 'accepted', duplicate: true })
    expect([...h.log.read({ types: ['order.submitted'] })]).toHaveLength(1)
    expect((await h.venues.get('sim')!.fetchOpenOrders()).length).toBe(1)
    // the same id for another order is a conflict, named
    const reused = await call('POST', '/engine/orders', limit({ clientOrderId: 'again-1', amount: 0.02 }))
    expect(reused.status).toBe(409)
    expect(reused.body.error.message).toBe("clientOrderId 'again-1' was used for another order: it was amount 0.01")
    // so is a retry that changes how the order may execute
    for (const [change, said] of [
      [{ reduceOnly: true }, 'reduceOnly false'],
      [{ postOnly: true }, 'timeInForce GTC'],
      [{ timeInForce: 'IOC' }, 'timeInForce GTC'],
    ] as const) {
      const r = await call('POST', '/engine/orders', limit({ clientOrderId: 'again-1', ...change }))
      expect([r.status, r.body.error.message]).toEqual([409, `clientOrderId 'again-1' was used for another order: it was ${said}`])
    }
    // a market order retried as it was sent is the same order (the router gave it IOC)
    const market = { symbol: SYMBOL, type: 'market', side: 'buy', amount: 0.01, clientOrderId: 'again-m' }
    const first = await call('POST', '/engine/orders', market)
    const retried = await call('POST', '/engine/orders', market)
    expect([first.status, retried.status, retried.body.duplicate, retried.body.order.id]).toEqual([200, 200, true, first.body.order.id])
  })

  it('given a submit whose fate is unknown (the venue hangs), when the engine retries it, then the answer is unknown, never accepted', async () => {
    // given a venue that never answers a submit, nor a lookup
    const { call, gateways } = await start({ submitTimeoutMs: 300 })
    gateways[0]!.faults.set({ hang: ['submit', 'fetchOrder'] })
    const first = await call('POST', '/engine/orders', limit({ clientOrderId: 'hung-1' }))
    expect(first.body).toMatchObject({ outcome: 'unknown', duplicate: false })
    // when the engine sends it again
    const retried = await call('POST', '/engine/orders', limit({ clientOrderId: 'hung-1' }))
    // then nothing is sent again, and haltd still does not know whether the venue holds it
    expect(retried.status).toBe(200)
    expect(retried.body).toMatchObject({ outcome: 'unknown', duplicate: true, order: { haltdStatus: 'unknown' } })
  })

  it('given two submits under one client order id for different orders at once, the second is refused as a conflict, not answered with the first', async () => {
    const { h, call } = await start()
    const [buy, sell] = await Promise.all([
      call('POST', '/engine/orders', limit({ clientOrderId: 'twice-1' })),
      call('POST', '/engine/orders', limit({ clientOrderId: 'twice-1', side: 'sell', price: 90_000, amount: 0.5 })),
    ])
    expect(buy.body).toMatchObject({ outcome: 'accepted', duplicate: false })
    expect([sell.status, sell.body.error.message]).toEqual([
      409,
      "clientOrderId 'twice-1' was used for another order: it was side buy, amount 0.01, price 40000",
    ])
    expect([...h.log.read({ types: ['order.submitted'] })]).toHaveLength(1)
  })

  it('bad requests are 400s naming the field, and the daemon carries on', async () => {
    const { call } = await start()
    const cases: [unknown, string][] = [
      [limit({ price: undefined }), 'price: a limit order needs a price'],
      [limit({ amount: -1 }), 'amount:'],
      [limit({ venue: 'nowhere' }), "venue: no venue named 'nowhere' (configured: sim)"],
      [limit({ side: 'long' }), 'side:'],
      [limit({ clientOrderId: 'has space' }), 'clientOrderId: letters, digits and . _ : - only'],
      [limit({ type: 'market', postOnly: true, price: undefined }), 'postOnly: a market order cannot be post-only'],
      [limit({ leverage: 5 }), 'leverage'],
      [limit({ symbol: 'BTC\ud800/USDT' }), 'symbol: must not contain a lone UTF-16 surrogate'],
      ['{not json', 'the body is not JSON'],
    ]
    for (const [body, says] of cases) {
      const r = await call('POST', '/engine/orders', body)
      expect([r.status, r.body.error.message]).toEqual([400, expect.stringContaining(says)])
    }
    // the field is named once, the message is the whole of it
    expect((await call('POST', '/engine/orders', limit({ price: undefined }))).body.error).toEqual({
      code: 'INVALID_REQUEST',
      message: 'price: a limit order needs a price',
      problems: [{ path: 'price', message: 'a limit order needs a price' }],
    })
    // null is not an order, nor an empty request
    const nothing = await call('POST', '/engine/orders', 'null')
    expect([nothing.status, nothing.body.error.message]).toEqual([400, expect.stringMatching(/^\(body\): .*object/i)])
    const missing = await call('POST', '/engine/orders/cancel', { clientOrderId: 'never-sent' })
    expect([missing.status, missing.body.error.code]).toEqual([404, 'ORDER_NOT_FOUND'])
    expect((await call('POST', '/engine/orders', limit())).status).toBe(200)
  })

  it('lists, cancels one and cancels all of the engine’s own orders, and reads positions and balances', async () => {
    const { call } = await start()
    for (const id of ['a', 'b', 'c']) await call('POST', '/engine/orders', limit({ clientOrderId: id }))
    expect((await call('GET', '/engine/orders')).body.map((o: { clientOrderId: string }) => o.clientOrderId).sort()).toEqual(['a', 'b', 'c'])
    const one = await call('POST', '/engine/orders/cancel', { clientOrderId: 'a' })
    expect(one.body).toMatchObject({ result: 'canceled', order: { clientOrderId: 'a', status: 'canceled' } })
    expect((await call('GET', '/engine/order?clientOrderId=a')).body).toMatchObject({ status: 'canceled' })
    // a query naming a parameter twice is refused, not read as either
    const twice = await call('GET', '/engine/order?clientOrderId=a&clientOrderId=b')
    expect([twice.status, twice.body.error]).toEqual([
      400,
      {
        code: 'INVALID_REQUEST',
        message: 'clientOrderId: given more than once in the query (a, b): give it once',
        problems: [{ path: 'clientOrderId', message: 'given more than once in the query (a, b): give it once' }],
      },
    ])
    const all = await call('POST', '/engine/orders/cancel-all', {})
    expect(all.body.results).toEqual({ canceled: 2 })
    expect((await call('GET', '/engine/orders')).body).toEqual([])
    const taken = await call('POST', '/engine/orders', { symbol: SYMBOL, type: 'market', side: 'buy', amount: 0.005, clientOrderId: 'take-1' })
    expect(taken.body.order).toMatchObject({ status: 'closed', filled: 0.005 })
    const positions = (await call('GET', '/engine/positions')).body as unknown as { venue: string; symbol: string; qty: number }[]
    expect(positions.find((p) => p.symbol === SYMBOL)?.qty).toBeCloseTo(0.005, 9)
    expect((await call('GET', '/engine/balances')).status).toBe(200)
  })

  it('holds the engine to its limits, and the gate and kill switch apply as to any order', async () => {
    const { h, call } = await start({ limits: { maxOpenOrders: 2 } })
    await call('POST', '/engine/orders', limit({ clientOrderId: 'l1' }))
    await call('POST', '/engine/orders', limit({ clientOrderId: 'l2' }))
    const third = await call('POST', '/engine/orders', limit({ clientOrderId: 'l3' }))
    expect(third.body).toMatchObject({ outcome: 'refused', reason: 'engine pybot has 2 open orders, at its limit of 2' })
    expect((await call('POST', '/killswitch/activate', { reason: 'test' }, h.admin!.token)).status).toBe(202)
    const after = await call('POST', '/engine/orders', limit({ clientOrderId: 'l4' }))
    expect(after.body).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/halted/i) })
    await h.shutdown({ mode: 'emergency', reason: 'test' })
    // the emergency canceled the engine's orders as haltd's own, each on the venue's word
    const canceled = [...h.log.read({ types: ['order.canceled'] })].map((e) => (e.data as { clientOrderId: string }).clientOrderId).sort()
    expect(canceled).toEqual([entryOrderId('pybot', 'l1'), entryOrderId('pybot', 'l2')].sort())
  })

  it('keeps counting the orders of the last second across a restart: a burst after it is refused at the limit, and passes once the second is over', async () => {
    // given an engine that sent 3 orders, at its limit of 4 per second, on a log in a file
    const dir = tempDir('haltd-entry-restart-')
    const clock = manualClock(Date.parse('2026-01-05T10:00:00Z'))
    const first = await start({ dir, clock, limits: { maxOrdersPerSecond: 4 } })
    for (const id of ['r1', 'r2', 'r3']) {
      expect((await first.call('POST', '/engine/orders', limit({ clientOrderId: id }))).body.outcome).toBe('accepted')
      clock.advance(100)
    }
    await first.h.close()
    // when haltd comes back on the same file within that second
    clock.advance(300)
    const again = await start({ dir, clock, limits: { maxOrdersPerSecond: 4 } })
    // then one more order fits, and the next is refused naming the limit
    expect((await again.call('POST', '/engine/orders', limit({ clientOrderId: 'r4' }))).body.outcome).toBe('accepted')
    expect((await again.call('POST', '/engine/orders', limit({ clientOrderId: 'r5' }))).body).toMatchObject({
      outcome: 'refused',
      reason: "over engine pybot's limit of 4 orders per second",
    })
    // and once the first orders are a second old, their places are free again
    clock.advance(601)
    expect((await again.call('POST', '/engine/orders', limit({ clientOrderId: 'r6' }))).body.outcome).toBe('accepted')
  })

  it('counts no order stamped after the clock’s now at a restart: a clock set back does not hold the engine at its limit', async () => {
    // given an engine that sent 4 orders, its limit per second, while the clock ran ten minutes ahead
    const dir = tempDir('haltd-entry-clock-back-')
    const clock = manualClock(Date.parse('2026-01-05T10:10:00Z'))
    const first = await start({ dir, clock, limits: { maxOrdersPerSecond: 4 } })
    for (const id of ['b1', 'b2', 'b3', 'b4']) expect((await first.call('POST', '/engine/orders', limit({ clientOrderId: id }))).body.outcome).toBe('accepted')
    await first.h.close()
    // when haltd comes back on the same file with the clock set right, ten minutes earlier
    clock.set(Date.parse('2026-01-05T10:00:00Z'))
    const again = await start({ dir, clock, limits: { maxOrdersPerSecond: 4 } })
    // then the engine's next order passes: none was sent within the last second of this clock
    expect((await again.call('POST', '/engine/orders', limit({ clientOrderId: 'b5' }))).body.outcome).toBe('accepted')
  })

  it('starts over a log whose last second holds an order a newer haltd wrote in a shape this build cannot read', async () => {
    // given a log whose newest event is an order.submitted v9 without the origin this build reads
    const dir = tempDir('haltd-entry-newer-')
    const clock = manualClock(Date.parse('2026-01-05T10:00:00Z'))
    const first = await start({ dir, clock })
    expect((await first.call('POST', '/engine/orders', limit({ clientOrderId: 'n1' }))).body.outcome).toBe('accepted')
    await first.h.close()
    const db = new Database(join(dir, 'events.db'))
    const head = db.prepare('SELECT seq, hash, ts FROM events ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string; ts: number }
    const row = {
      seq: head.seq + 1,
      id: 'newer-1',
      type: 'order.submitted',
      v: 9,
      ts: head.ts,
      stream: 'order:sim:x',
      causationId: null,
      correlationId: null,
      data: JSON.stringify({ venue: 'sim', clientOrderId: 'x', placedBy: { engine: 'pybot', ref: 'n0' } }),
    }
    db.prepare('INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)').run(
      ...[row.seq, row.id, row.type, row.v, row.ts, row.stream, null, null, null, row.data, head.hash, chainHash(head.hash, row)],
    )
    db.close()
    // when haltd comes back on it within that second
    const again = await start({ dir, clock })
    // then it takes the engine's orders
    expect((await again.call('POST', '/engine/orders', limit({ clientOrderId: 'n2' }))).body.outcome).toBe('accepted')
  })

  it('holds each order to the engine’s notional per order, at its price or the market’s mark, naming the limit', async () => {
    const { h, call } = await start({ limits: { maxOrderNotional: 1_000 } })
    expect((await call('POST', '/engine/orders', limit({ clientOrderId: 'n1', amount: 0.02, price: 40_000 }))).body.outcome).toBe('accepted')
    expect((await call('POST', '/engine/orders', limit({ clientOrderId: 'n2', amount: 0.03, price: 40_000 }))).body).toMatchObject({
      outcome: 'refused',
      reason: "an order of 0.03 BTC/USDT:USDT at 40000 is 1200 notional, over engine pybot's limit of 1000 per order",
    })
    // a market order is judged at the market's last mark, and refused while haltd has none
    const market = { symbol: SYMBOL, type: 'market', side: 'buy', amount: 0.03 }
    expect((await call('POST', '/engine/orders', { ...market, clientOrderId: 'n3' })).body.reason).toBe(
      "engine pybot's limit of 1000 notional per order needs a price: no mark for sim BTC/USDT:USDT yet",
    )
    // and so is a sell limit, which may trade at any price above it: 0.001 at 1 is no proof of 1 notional
    expect((await call('POST', '/engine/orders', limit({ clientOrderId: 'n3s', side: 'sell', amount: 0.001, price: 1 }))).body.reason).toBe(
      "engine pybot's limit of 1000 notional per order needs the market's price for a sell (its limit is only the least it takes): no mark for sim BTC/USDT:USDT yet",
    )
    h.log.append({ type: 'market.mark', data: { venue: 'sim', symbol: SYMBOL, price: 50_000 } })
    expect((await call('POST', '/engine/orders', { ...market, clientOrderId: 'n4' })).body.reason).toBe(
      "an order of 0.03 BTC/USDT:USDT at 50000 is 1500 notional, over engine pybot's limit of 1000 per order",
    )
    expect((await call('POST', '/engine/orders', { ...market, amount: 0.01, clientOrderId: 'n5' })).body.outcome).toBe('accepted')
    // a sell limit far below the market would trade at the market: it is judged at the mark
    expect((await call('POST', '/engine/orders', limit({ clientOrderId: 'n6', side: 'sell', amount: 0.03, price: 1 }))).body).toMatchObject({
      outcome: 'refused',
      reason: "an order of 0.03 BTC/USDT:USDT at 50000 (the mark: its limit 1 would trade there) is 1500 notional, over engine pybot's limit of 1000 per order",
    })
    // and an order that can only reduce the position is not held to it: given a long of 0.03 bought in three
    for (const id of ['n8', 'n9']) expect((await call('POST', '/engine/orders', { ...market, amount: 0.01, clientOrderId: id })).body.outcome).toBe('accepted')
    // a reduce-only sell of all of it (1500 notional) passes
    expect((await call('POST', '/engine/orders', { ...market, side: 'sell', amount: 0.03, reduceOnly: true, clientOrderId: 'n7' })).body).toMatchObject({
      outcome: 'accepted',
    })
    expect([...h.log.read({ types: ['order.submitted'] })].map((e) => (e.data as { origin: { id: string } }).origin.id)).toEqual([
      'pybot/n1',
      'pybot/n5',
      'pybot/n8',
      'pybot/n9',
      'pybot/n7',
    ])
  })

  it('given a venue or a market haltd does not have in a read or a cancel-all, answers a bad request naming it, not "nothing open"', async () => {
    const { call, socketPath } = await start({ venues: ['sim', 'sim2'] })
    await call('POST', '/engine/orders', limit({ clientOrderId: 'kept', venue: 'sim' }))
    const cases: [string, 'GET' | 'POST', unknown, string][] = [
      ['/engine/orders?venue=simm', 'GET', undefined, "venue: no venue named 'simm' (configured: sim, sim2)"],
      ['/engine/orders?venue=sim&symbol=BTC/USDT', 'GET', undefined, "symbol: no market 'BTC/USDT' at sim (it has: BTC/USDT:USDT)"],
      ['/engine/orders?symbol=NOPE', 'GET', undefined, "symbol: no market 'NOPE' at any venue (sim has: BTC/USDT:USDT; sim2 has: BTC/USDT:USDT)"],
      ['/engine/orders/cancel-all', 'POST', { venue: 'sim', symbol: 'NOPE' }, "symbol: no market 'NOPE' at sim"],
      ['/engine/orders/cancel-all', 'POST', { venue: 'simm' }, "venue: no venue named 'simm'"],
      ['/engine/orders?foo=1', 'GET', undefined, '(query): Unrecognized key: "foo"'],
      ['/engine/positions?venue=sim', 'GET', undefined, '(query): Unrecognized key: "venue"'],
    ]
    for (const [path, method, body, says] of cases) {
      const r = await call(method, path, body)
      expect([path, r.status, r.body.error?.message]).toEqual([path, 400, expect.stringContaining(says)])
      expect(r.body.error.problems).toEqual([expect.objectContaining({ message: expect.any(String) })])
    }
    // a market the venue has, with nothing of the engine's on it, is simply empty; the order stands
    expect((await call('GET', '/engine/orders?venue=sim2&symbol=BTC/USDT:USDT')).body).toEqual([])
    expect((await call('GET', '/engine/orders?venue=sim')).body.map((o: { clientOrderId: string }) => o.clientOrderId)).toEqual(['kept'])

    // the socket answers the same
    const client = await socketClient(socketPath)
    await client.ask('auth', { token: ENGINE_TOKEN })
    const typo = await client.ask('open-orders', { body: { venue: 'simm' } })
    expect(typo).toMatchObject({ ok: false, status: 400, error: { code: 'INVALID_REQUEST', problems: [{ path: 'venue' }] } })
    expect((await client.ask('cancel-all', { body: { symbol: 'NOPE' } })).status).toBe(400)
    client.close()
  })

  it('refuses an order for a market the venue does not have, as a bad request naming the markets it has', async () => {
    const { h, call } = await start()
    const r = await call('POST', '/engine/orders', limit({ clientOrderId: 'u1', symbol: 'NOPE/USDT:USDT' }))
    expect(r.status).toBe(400)
    expect(r.body.error.message).toMatch(/^symbol: no market 'NOPE\/USDT:USDT' at sim \(it has: BTC\/USDT:USDT/)
    expect([...h.log.read({ types: ['order.submitted'] })]).toHaveLength(0)
  })

  it('counts a burst sent at once against the open-order limit, and frees a place when an order finishes', async () => {
    const { h, call } = await start({ limits: { maxOpenOrders: 2 } })
    const burst = await Promise.all(['b1', 'b2', 'b3', 'b4', 'b5'].map((id) => call('POST', '/engine/orders', limit({ clientOrderId: id }))))
    expect(burst.map((r) => r.body.outcome).sort()).toEqual(['accepted', 'accepted', 'refused', 'refused', 'refused'])
    expect((await h.venues.get('sim')!.fetchOpenOrders()).length).toBe(2)
    const placed = burst.find((r) => r.body.outcome === 'accepted')!.body.order.clientOrderId
    await call('POST', '/engine/orders/cancel', { clientOrderId: placed })
    expect((await call('POST', '/engine/orders', limit({ clientOrderId: 'b6' }))).body.outcome).toBe('accepted')
    // someone else's orders (haltd's own, by hand) take none of this engine's places
    await h.orders.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 30_000, origin: { kind: 'manual' } })
    expect((await call('GET', '/engine/orders')).body).toHaveLength(2)
    expect((await call('POST', '/engine/orders', limit({ clientOrderId: 'b7' }))).body.reason).toBe('engine pybot has 2 open orders, at its limit of 2')
  })

  it('counts a burst of orders sent at once against the position limit as if each before it had filled', async () => {
    // a venue that takes 100 ms to answer: the five are all on their way at once
    const { call } = await start({ limits: { maxPosition: 0.025 }, submitMs: 100 })
    const market = (id: string) => ({ symbol: SYMBOL, type: 'market', side: 'buy', amount: 0.01, clientOrderId: id })
    const burst = await Promise.all(['p1', 'p2', 'p3', 'p4', 'p5'].map((id) => call('POST', '/engine/orders', market(id))))
    expect(burst.map((r) => r.body.outcome).sort()).toEqual(['accepted', 'accepted', 'refused', 'refused', 'refused'])
    expect(burst.find((r) => r.body.outcome === 'refused')!.body.reason).toMatch(
      /^a fill would take sim BTC\/USDT:USDT to 0\.03\d*, over engine pybot's limit of 0\.025$/,
    )
    const positions = (await call('GET', '/engine/positions')).body as unknown as { venue: string; symbol: string; qty: number }[]
    expect(positions.find((p) => p.venue === 'sim' && p.symbol === SYMBOL)?.qty).toBeCloseTo(0.02, 9)
    // a sell, which takes the position down, still passes
    expect((await call('POST', '/engine/orders', { ...market('p6'), side: 'sell' })).body.outcome).toBe('accepted')
  })

  it('counts the engine’s resting orders on a side against the position limit as if they had filled; the other side and what it frees are its own', async () => {
    const { call } = await start({ limits: { maxPosition: 0.05 } })
    // given two resting sells of 0.02 (far above the market: they rest)
    const sell = (id: string) => limit({ clientOrderId: id, side: 'sell', amount: 0.02, price: 60_000 })
    expect((await call('POST', '/engine/orders', sell('r1'))).body.outcome).toBe('accepted')
    expect((await call('POST', '/engine/orders', sell('r2'))).body.outcome).toBe('accepted')
    // when a third would take the position to -0.06 if all filled, then it is refused, saying why
    expect((await call('POST', '/engine/orders', sell('r3'))).body).toMatchObject({
      outcome: 'refused',
      reason: "a fill would take sim BTC/USDT:USDT to -0.06 with the engine's resting sells filled too, over engine pybot's limit of 0.05",
    })
    // a resting buy is judged on the buy side alone
    expect((await call('POST', '/engine/orders', limit({ clientOrderId: 'r4', amount: 0.04, price: 30_000 }))).body.outcome).toBe('accepted')
    // and a cancelled sell frees its amount
    expect((await call('POST', '/engine/orders/cancel', { clientOrderId: 'r1' })).body).toMatchObject({ result: 'canceled' })
    expect((await call('POST', '/engine/orders', sell('r5'))).body.outcome).toBe('accepted')
  })

  it('a risk trigger trips on what the engine traded through order entry, and the engine’s next order is refused for it', async () => {
    const { h, call } = await start({ risk: { grossNotional: { max: 400, action: 'HALTED' } } })
    const taken = await call('POST', '/engine/orders', { symbol: SYMBOL, type: 'market', side: 'buy', amount: 0.01, clientOrderId: 'big-1' })
    expect(taken.body.order).toMatchObject({ status: 'closed', filled: 0.01 })
    const tripped = [...h.log.read({ types: ['killswitch.activated'] })]
    expect(tripped).toHaveLength(1)
    expect(tripped[0]!.data).toMatchObject({ trigger: 'grossNotional', action: 'HALTED', threshold: 400 })
    expect((tripped[0]!.data as { reading: number }).reading).toBeGreaterThan(400)
    const next = await call('POST', '/engine/orders', limit({ clientOrderId: 'after-1' }))
    expect(next.body).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/kill switch: gross position notional/) })
    expect([...h.log.read({ types: ['order.submitted'] })]).toHaveLength(1)
  })

  it('a viewer may not enter orders; without a credential nothing is said', async () => {
    const { call } = await start()
    const r = await call('POST', '/engine/orders', limit(), VIEWER_TOKEN)
    expect([r.status, r.body.error.message]).toEqual([403, 'POST /engine/orders needs the engine or admin role; vera is a viewer'])
    expect((await call('POST', '/engine/orders', limit(), 'nope-nope-nope-nope')).status).toBe(401)
  })
})

describe('order entry over the Unix socket, pipelined', { timeout: 30_000 }, () => {
  it('starts requests in the order sent and answers each when done: a slow venue answer holds back no other order, and a cancel behind its submit waits for it', async () => {
    const { h, socketPath, gateways } = await start()
    // the venue itself (haltd calls it through its timing wrapper, which reads a method on first use)
    const sim = gateways[0]!
    const calls: string[] = []
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    const slowId = entryOrderId('pybot', 'slow-1')
    const submit = sim.submit.bind(sim)
    const cancel = sim.cancel.bind(sim)
    sim.submit = async (o) => {
      calls.push(`submit ${o.clientOrderId === slowId ? 'slow-1' : 'other'}`)
      if (o.clientOrderId === slowId) await held
      return submit(o)
    }
    sim.cancel = async (ref) => {
      calls.push(`cancel ${ref.clientOrderId === slowId ? 'slow-1' : 'other'}`)
      return cancel(ref)
    }
    const c = await socketClient(socketPath)
    await c.ask('auth', { token: ENGINE_TOKEN })
    let slowAnswered = false
    const slow = c.ask('submit', { body: limit({ clientOrderId: 'slow-1' }) }).then((a) => {
      slowAnswered = true
      return a
    })
    const canceled = c.ask('cancel', { body: { clientOrderId: 'slow-1' } })
    const fast = await c.ask('submit', { body: limit({ clientOrderId: 'fast-1', price: 39_000 }) })
    expect(fast).toMatchObject({ ok: true, result: { outcome: 'accepted', order: { clientOrderId: 'fast-1' } } })
    expect(slowAnswered).toBe(false)
    // written ahead in the order sent, and nothing of the cancel sent while its order is on its way
    const submitted = [...h.log.read({ types: ['order.submitted'] })].map((e) => (e.data as { origin: { id: string } }).origin.id)
    expect(submitted).toEqual(['pybot/slow-1', 'pybot/fast-1'])
    expect(calls).toEqual(['submit slow-1', 'submit other'])
    release()
    expect((await slow).result).toMatchObject({ outcome: 'accepted', duplicate: false })
    expect((await canceled).result).toMatchObject({ result: 'canceled', order: { clientOrderId: 'slow-1', status: 'canceled' } })
    expect(calls).toEqual(['submit slow-1', 'submit other', 'cancel slow-1'])
    c.close()
  })
})

describe('order entry over the Unix socket', { timeout: 30_000 }, () => {
  it('is mode 0600, asks for a token first, answers each request by its id, and streams the engine’s own updates and fills', async () => {
    const { h, socketPath } = await start()
    expect(statSync(socketPath).mode & 0o777).toBe(0o600)
    const c = await socketClient(socketPath)
    expect(await c.ask('submit', { body: limit() })).toMatchObject({ ok: false, status: 401 })
    expect(await c.ask('auth', { token: VIEWER_TOKEN })).toMatchObject({
      ok: false,
      status: 403,
      error: { code: 'FORBIDDEN', message: 'order entry needs the engine or admin role; vera is a viewer' },
    })
    expect(await c.ask('auth', { token: ENGINE_TOKEN })).toMatchObject({ ok: true, result: { engine: 'pybot' } })
    expect(await c.ask('subscribe')).toMatchObject({ ok: true })
    const rest = await c.ask('submit', { body: limit({ clientOrderId: 's-1' }) })
    expect(rest).toMatchObject({ ok: true, result: { outcome: 'accepted', order: { clientOrderId: 's-1', status: 'open' } } })
    const take = await c.ask('submit', { body: { symbol: SYMBOL, type: 'market', side: 'sell', amount: 0.002, clientOrderId: 's-2' } })
    expect(take.result.order).toMatchObject({ status: 'closed', filled: 0.002 })
    // someone else's order (haltd's own, by hand) is not in this engine's stream
    await h.orders.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 30_000, origin: { kind: 'manual' } })
    await new Promise((r) => setTimeout(r, 50))
    const ids = new Set(c.streamed.map((l) => (l.order ?? l.fill).clientOrderId))
    expect(ids).toEqual(new Set(['s-1', 's-2']))
    expect(c.streamed.some((l) => l.stream === 'fill' && l.fill.clientOrderId === 's-2' && l.fill.amount > 0)).toBe(true)
    expect(c.streamed.some((l) => l.stream === 'order' && l.order.clientOrderId === 's-1' && l.order.status === 'open')).toBe(true)
    // a bad line is answered, the connection stays
    expect(await c.ask('submit', { body: limit({ amount: 0 }) })).toMatchObject({
      ok: false,
      status: 400,
      error: { message: expect.stringContaining('amount') },
    })
    expect(await c.ask('fly')).toMatchObject({ ok: false, status: 400, error: { message: expect.stringContaining('unknown op "fly"') } })
    expect(await c.ask('open-orders')).toMatchObject({ ok: true, result: [expect.objectContaining({ clientOrderId: 's-1' })] })
    c.close()
  })
})

describe('order entry over the Unix socket, a subscriber that stops reading', { timeout: 60_000 }, () => {
  it('given an engine subscribed that reads nothing while its orders move, its updates stop with one cut-off line past the bound; its requests are still answered and it can subscribe again', async () => {
    const { socketPath } = await start({ maxUnsentBytes: 64 * 1024, limits: { maxOpenOrders: 10_000, maxOrdersPerSecond: 100_000 } })
    const frozen = await socketClient(socketPath)
    const trader = await socketClient(socketPath)
    for (const c of [frozen, trader]) expect((await c.ask('auth', { token: ENGINE_TOKEN })).ok).toBe(true)
    expect((await frozen.ask('subscribe')).ok).toBe(true)
    // when the subscriber stops reading and its engine enters and cancels 1,500 orders
    frozen.socket.pause()
    const answers = await Promise.all(Array.from({ length: 1_500 }, (_, i) => trader.ask('submit', { body: limit({ clientOrderId: `f-${i}` }) })))
    expect(answers.every((a) => a.ok && a.result.outcome === 'accepted')).toBe(true)
    expect((await trader.ask('cancel-all', { body: {} })).ok).toBe(true)
    // then once it reads again, its updates end with a cut-off line naming the bound, and nothing after it
    frozen.socket.resume()
    const deadline = Date.now() + 20_000
    while (!frozen.streamed.some((l) => l.stream === 'cut-off') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const cut = frozen.streamed.findIndex((l) => l.stream === 'cut-off')
    expect(cut).toBeGreaterThan(0)
    expect(frozen.streamed[cut].message).toContain('over the 65536 bytes allowed')
    expect(frozen.streamed.slice(cut + 1)).toEqual([])
    // its own updates stopped short of all the orders' news, which the other connection's answers carried
    expect(frozen.streamed.slice(0, cut).every((l) => l.stream === 'order' || l.stream === 'fill')).toBe(true)
    expect(cut).toBeLessThan(3_000)
    // and its requests are still answered, and a new subscription gets what happens next
    expect((await frozen.ask('open-orders')).ok).toBe(true)
    expect((await frozen.ask('subscribe')).ok).toBe(true)
    expect((await trader.ask('submit', { body: limit({ clientOrderId: 'after-cut' }) })).result.outcome).toBe('accepted')
    const until = Date.now() + 5_000
    while (!frozen.streamed.slice(cut + 1).some((l) => l.order?.clientOrderId === 'after-cut') && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20))
    expect(frozen.streamed.slice(cut + 1).some((l) => l.order?.clientOrderId === 'after-cut')).toBe(true)
    frozen.close()
    trader.close()
  })
})

describe('order entry over HTTP, a stream that is not read', { timeout: 60_000 }, () => {
  it('given an engine on /engine/stream that reads nothing while its orders move, the stream ends with one cut-off line past the bound', async () => {
    const { h, socketPath } = await start({ maxUnsentBytes: 64 * 1024, limits: { maxOpenOrders: 10_000, maxOrdersPerSecond: 100_000 } })
    const url = new URL(h.admin!.url)
    const reader = connect(Number(url.port), url.hostname)
    await new Promise<void>((resolve, reject) => reader.once('connect', resolve).once('error', reject))
    let received = ''
    reader.setEncoding('utf8')
    reader.on('data', (chunk: string) => {
      received += chunk
    })
    const ended = new Promise<void>((resolve) => reader.once('end', () => resolve()))
    reader.write(`GET /engine/stream HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${ENGINE_TOKEN}\r\n\r\n`)
    const trader = await socketClient(socketPath)
    expect((await trader.ask('auth', { token: ENGINE_TOKEN })).ok).toBe(true)
    while (!received.includes('"hello"')) await new Promise((r) => setTimeout(r, 10))
    // when the stream's reader stops reading and its engine enters and cancels 3,000 orders
    reader.pause()
    for (let round = 0; round < 2; round++) {
      const answers = await Promise.all(Array.from({ length: 1_500 }, (_, i) => trader.ask('submit', { body: limit({ clientOrderId: `h-${round}-${i}` }) })))
      expect(answers.every((a) => a.ok && a.result.outcome === 'accepted')).toBe(true)
      expect((await trader.ask('cancel-all', { body: {} })).ok).toBe(true)
    }
    // then, read again, the stream ends, its last line the cut-off naming the bound
    reader.resume()
    await ended
    const lines = received
      .slice(received.indexOf('\r\n\r\n') + 4)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
    expect(lines.at(-1)).toMatchObject({ type: 'cut-off', message: expect.stringContaining('over the 65536 bytes allowed') })
    expect(lines.filter((l) => l.type === 'cut-off')).toHaveLength(1)
    // and the daemon trades on
    expect((await trader.ask('submit', { body: limit({ clientOrderId: 'after-http-cut' }) })).result.outcome).toBe('accepted')
    reader.destroy()
    trader.close()
  })
})

describe('order entry while haltd starts', { timeout: 30_000 }, () => {
  it('given the venues still being reconciled at startup, an engine’s order is refused saying so, and passes once haltd runs', async () => {
    const dir = tempDir('haltd-entry-starting-')
    const socketPath = join(dir, 'entry.sock')
    // a venue whose open-order list takes a second: startup reconciles through it
    const venue = new SimExchange({
      venue: 'sim',
      seed: 5,
      mode: 'derivatives',
      symbols: [{ symbol: SYMBOL, mid: 50_000, amountStep: 0.001, priceStep: 0.5 }],
      faults: { latencyByMethod: { fetchOpenOrders: 1_000 } },
    })
    const starting = createHaltd(
      {
        db: { path: join(dir, 'events.db') },
        admin: { port: 0, users: [{ name: 'pybot', role: 'engine', tokenHash: hashToken(ENGINE_TOKEN) }] },
        orderEntry: { socketPath },
      },
      { gateways: [venue], logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} },
    )
    while (!existsSync(socketPath)) await new Promise((r) => setTimeout(r, 5))
    const c = await socketClient(socketPath)
    expect((await c.ask('auth', { token: ENGINE_TOKEN })).ok).toBe(true)
    const early = await c.ask('submit', { body: limit({ clientOrderId: 'early-1' }) })
    expect(early).toMatchObject({
      ok: true,
      result: { outcome: 'refused', reason: 'haltd is starting: the venues are being reconciled; enter the order again once it runs' },
    })
    const h = await starting
    open.push(h)
    expect([...h.log.read({ types: ['order.submitted'] })]).toEqual([])
    expect(await c.ask('submit', { body: limit({ clientOrderId: 'early-1' }) })).toMatchObject({ ok: true, result: { outcome: 'accepted' } })
    c.close()
  })
})

describe('order entry over the Unix socket, a client that does not read its answers', { timeout: 60_000 }, () => {
  /** A socket of its own on the daemon's order entry, with the limits given. */
  async function entrySocket(h: Haltd, limits: Parameters<typeof startEntrySocket>[0]['limits']) {
    const known = credentials({ users: [{ name: 'pybot', role: 'engine', tokenHash: hashToken(ENGINE_TOKEN) }] })
    return startEntrySocket({
      path: join(tempDir('haltd-entry-held-'), 'entry.sock'),
      entry: h.orderEntry!,
      credentials: known,
      maxUnsentBytes: 1 << 20,
      limits,
    })
  }
  const connected = async (path: string) => {
    const c = connect(path)
    await new Promise<void>((resolve, reject) => c.once('connect', resolve).once('error', reject))
    c.on('error', () => undefined)
    c.setEncoding('utf8')
    return c
  }
  const lines = (text: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Wire)

  it('given a client that writes 200,000 requests and reads nothing, it is read no further past the bound, and once it reads, every request is answered once, in order', async () => {
    const { h } = await start()
    const sock = await entrySocket(h, { unsentBytes: 64 * 1024 })
    const c = await connected(sock.path)
    const warned: string[] = []
    const onWarning = (w: Error) => warned.push(`${w.name}: ${w.message}`)
    process.on('warning', onWarning)
    c.pause()
    // when it sends, without authenticating, line after line (each answered with a refusal), a hundred lines a write
    const count = 200_000
    let sent = 0
    for (let i = 1; i <= count; i += 100) {
      let text = ''
      for (let k = i; k < i + 100; k++) text += `{"id":${k}}\n`
      sent += text.length
      c.write(text)
    }
    await new Promise((r) => setTimeout(r, 500))
    // then most of what it sent is still its own to send: the daemon stopped reading it
    expect(c.writableLength).toBeGreaterThan(sent / 2)
    // and once it reads, every request gets its answer, in the order sent
    let received = ''
    let answered = 0
    const all = new Promise<void>((resolve) =>
      c.on('data', (chunk: string) => {
        received += chunk
        for (let at = chunk.indexOf('\n'); at !== -1; at = chunk.indexOf('\n', at + 1)) answered++
        if (answered === count) resolve()
      }),
    )
    c.resume()
    await all
    const answers = lines(received)
    expect(answers.length).toBe(count)
    expect(answers.every((a, i) => a.id === i + 1 && a.status === 401)).toBe(true)
    // and the daemon waited for its side to drain once at a time, not once per answer that ended meanwhile
    process.off('warning', onWarning)
    expect(warned.filter((w) => w.includes('drain listeners'))).toEqual([])
    c.destroy()
    await sock.close()
  })

  it('given a connection that never authenticates, it is told so and closed after the auth time', async () => {
    const { h } = await start()
    const sock = await entrySocket(h, { authMs: 200 })
    const c = await connected(sock.path)
    let received = ''
    c.on('data', (chunk: string) => (received += chunk))
    await new Promise<void>((resolve) => c.once('close', () => resolve()))
    expect(lines(received)).toEqual([{ id: null, ok: false, status: 408, error: { code: 'AUTH_TIMEOUT', message: 'no valid auth within 200 ms' } }])
    await sock.close()
  })

  it('given the connections at their limit, one more is refused with 503 and closed; the others go on', async () => {
    const { h } = await start()
    const sock = await entrySocket(h, { connections: 2 })
    const first = await connected(sock.path)
    const second = await connected(sock.path)
    const third = await connected(sock.path)
    let refused = ''
    third.on('data', (chunk: string) => (refused += chunk))
    await new Promise<void>((resolve) => third.once('close', () => resolve()))
    expect(lines(refused)).toEqual([
      { id: null, ok: false, status: 503, error: { code: 'TOO_MANY_CONNECTIONS', message: 'the order-entry socket takes at most 2 connections at once' } },
    ])
    const answer = new Promise<string>((resolve) => first.once('data', (chunk: string) => resolve(chunk)))
    first.write(`${JSON.stringify({ id: 1, op: 'auth', token: ENGINE_TOKEN })}\n`)
    expect(lines(await answer)).toEqual([{ id: 1, ok: true, result: { engine: 'pybot', role: 'engine' } }])
    for (const c of [first, second]) c.destroy()
    await sock.close()
  })

  it('given a file where the socket should be, it is refused naming the path and the file is left as it was', async () => {
    const { h } = await start()
    const path = join(tempDir('haltd-entry-taken-'), 'entry.sock')
    writeFileSync(path, 'someone else’s')
    const known = credentials({ users: [{ name: 'pybot', role: 'engine', tokenHash: hashToken(ENGINE_TOKEN) }] })
    await expect(startEntrySocket({ path, entry: h.orderEntry!, credentials: known, maxUnsentBytes: 1 << 20 })).rejects.toMatchObject({
      code: 'ENTRY_SOCKET_PATH_TAKEN',
      message: `the order-entry socket path ${path} is taken by a file, not a socket: haltd removes only a socket`,
    })
    expect(readFileSync(path, 'utf8')).toBe('someone else’s')
  })

  it('given a socket path whose directory does not exist (or is a file), it is refused naming the directory, not as a permission problem', async () => {
    const { h } = await start()
    const dir = tempDir('haltd-entry-nodir-')
    const known = credentials({ users: [{ name: 'pybot', role: 'engine', tokenHash: hashToken(ENGINE_TOKEN) }] })
    const missing = join(dir, 'run', 'haltd')
    await expect(
      startEntrySocket({ path: join(missing, 'entry.sock'), entry: h.orderEntry!, credentials: known, maxUnsentBytes: 1 << 20 }),
    ).rejects.toMatchObject({
      code: 'ENTRY_SOCKET_DIR_MISSING',
      message: `the order-entry socket's directory ${missing} does not exist: create it (mode 0700) or set orderEntry.socketPath elsewhere`,
    })
    const file = join(dir, 'plain')
    writeFileSync(file, '')
    await expect(startEntrySocket({ path: join(file, 'entry.sock'), entry: h.orderEntry!, credentials: known, maxUnsentBytes: 1 << 20 })).rejects.toMatchObject(
      {
        code: 'ENTRY_SOCKET_DIR_MISSING',
        message: expect.stringContaining(`${file} is a file, not a directory`),
      },
    )
  })

  it('given an authenticated connection, a second auth is refused and the connection stays who it was', async () => {
    const { socketPath } = await start()
    const c = await socketClient(socketPath)
    expect(await c.ask('auth', { token: ENGINE_TOKEN })).toMatchObject({ ok: true, result: { engine: 'pybot' } })
    expect(await c.ask('auth', { token: 'wrong-wrong-wrong-wrong' })).toMatchObject({ ok: false, status: 409, error: { code: 'ALREADY_AUTHENTICATED' } })
    expect(await c.ask('open-orders')).toMatchObject({ ok: true, result: [] })
    c.close()
  })
})

describe('order entry over the Unix socket, closing', { timeout: 30_000 }, () => {
  it('sends an answer written in the same turn as the socket closes before the connection ends', async () => {
    // given a socket whose server is closed while it reads a request (the last of two sent at once)
    const { h } = await start()
    const known = credentials({ users: [{ name: 'pybot', role: 'engine', tokenHash: hashToken(ENGINE_TOKEN) }] })
    let sock!: EntrySocket
    sock = await startEntrySocket({
      path: join(tempDir('haltd-entry-close-'), 'entry.sock'),
      entry: h.orderEntry!,
      credentials: {
        ...known,
        token: (t) => {
          if (t === 'close-now') void sock.close()
          return known.token(t)
        },
      },
      maxUnsentBytes: 1 << 20,
    })
    const client = connect(sock.path)
    await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject))
    let received = ''
    client.setEncoding('utf8')
    client.on('data', (chunk: string) => {
      received += chunk
    })
    const ended = new Promise<void>((resolve) => client.once('close', () => resolve()))
    client.on('error', () => undefined)
    // when the first is answered and the second closes the server in that same turn
    client.write(`${JSON.stringify({ id: 1, op: 'positions' })}\n${JSON.stringify({ id: 2, op: 'auth', token: 'close-now' })}\n`)
    await ended
    // then the first answer reached the client before the connection ended
    expect(
      received
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    ).toEqual([{ id: 1, ok: false, status: 401, error: { code: 'UNAUTHORIZED', message: 'authenticate first: {"op":"auth","token":"…"}' } }])
  })
})

describe('haltd’s id for an engine’s order', () => {
  it('is the same derivation from release to release, so a retry after an upgrade finds the order it sent', () => {
    expect(entryOrderId('pybot', 'py-1')).toBe('hd3nzctyj6oh1l8usb')
    expect(entryOrderId('desk-7', 'a.b:c_9')).toBe('hd2cxk7id3u4ph0jfw')
    expect(entryOrderId('e', 'x'.repeat(64))).toBe('hd223hlm8b85nwscpc')
    expect(entryOrderId('pybot', 'py-2')).not.toBe(entryOrderId('pybot', 'py-1'))
  })
})

describe('order entry: what it holds open, and markets it does not know', () => {
  it(`given ${MAX_ENTRY_STREAMS} order-update streams open, one more is refused with 503 until one closes`, async () => {
    const { h } = await start()
    const open = async () => {
      const controller = new AbortController()
      const res = await fetch(`${h.admin!.url}/engine/stream`, { headers: { authorization: `Bearer ${ENGINE_TOKEN}` }, signal: controller.signal })
      return { res, controller }
    }
    const streams = []
    for (let i = 0; i < MAX_ENTRY_STREAMS; i++) streams.push(await open())
    expect(streams.every((s) => s.res.status === 200)).toBe(true)
    const refused = await open()
    expect(refused.res.status).toBe(503)
    expect(((await refused.res.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_STREAMS')
    // when one stream goes, another may come
    streams.pop()!.controller.abort()
    let again = await open()
    for (let i = 0; i < 50 && again.res.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 20))
      again = await open()
    }
    expect(again.res.status).toBe(200)
    for (const s of [...streams, again]) s.controller.abort()
  })

  it('answers a ticker for a market the venue does not have with 400 naming the symbol, and a known one with its last mark', async () => {
    const { call } = await start()
    const unknown = await call('GET', `/engine/ticker?venue=sim&symbol=${encodeURIComponent('NOPE/USDT:USDT')}`)
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.message).toMatch(/^symbol: no market 'NOPE\/USDT:USDT' at sim \(it has: BTC\/USDT:USDT\)/)
    const known = await call('GET', `/engine/ticker?venue=sim&symbol=${encodeURIComponent(SYMBOL)}`)
    expect(known.status).toBe(200)
    expect(known.body).toMatchObject({ venue: 'sim', symbol: SYMBOL })
  })
})
