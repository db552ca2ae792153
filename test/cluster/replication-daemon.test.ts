import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { InvalidConfig } from '../../src/daemon/config.js'
import { createLogger } from '../../src/daemon/logger.js'
import { decodeStored, streamNameOf } from '../../src/cluster/replication/log-stream.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import type { OrderRequest } from '../../src/exchanges/gateway.js'
import { memoryDestination } from '../support/memory-log.js'
import { startNats } from '../support/nats-server.js'
import { tempDir } from '../support/tmp.js'

let server: Awaited<ReturnType<typeof startNats>>
let nc: NatsConnection
let engineNo = 0
const open: Haltd[] = []

beforeAll(async () => {
  server = await startNats()
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
})
afterAll(async () => {
  await nc.close()
  await server.close()
})
afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => undefined)
})

const SYMBOL = 'BTC/USDT:USDT'
const sim = () =>
  new SimExchange({ venue: 'sim-a', seed: 3, mode: 'derivatives', symbols: [{ symbol: SYMBOL, mid: 50_000, amountStep: 0.001, priceStep: 0.5 }] })

async function start(engine: string, replication: Record<string, unknown>, venue = sim()): Promise<Haltd> {
  const h = await createHaltd(
    {
      db: { path: join(tempDir(), 'primary.db') },
      admin: { enabled: true, port: 0, token: 'a-token-of-sixteen-chars' },
      nats: { servers: [server.url], engine, connectTimeoutMs: 1_000 },
      replication,
    },
    { gateways: [venue], logger: createLogger({ destination: memoryDestination(), level: 'fatal' }), env: {} },
  )
  open.push(h)
  return h
}

const order = (price: number) => ({
  venue: 'sim-a',
  symbol: SYMBOL,
  side: 'buy' as const,
  type: 'limit' as const,
  qty: 0.01,
  price,
  origin: { kind: 'manual' as const, id: 'engine' },
})

async function streamLastSeq(engine: string): Promise<number> {
  const jsm = await jetstreamManager(nc)
  return (await jsm.streams.info(streamNameOf(engine))).state.last_seq
}

async function streamHashes(engine: string): Promise<string[]> {
  const jsm = await jetstreamManager(nc)
  const out: string[] = []
  for (let seq = 1; seq <= (await streamLastSeq(engine)); seq++) {
    const m = await jsm.streams.getMessage(streamNameOf(engine), { seq })
    out.push(m ? decodeStored(m).row.hash : 'missing')
  }
  return out
}

describe('a primary with replication', { timeout: 30_000 }, () => {
  it('given no nats section, a replication section is refused naming what it needs', async () => {
    await expect(createHaltd({ db: { path: join(tempDir(), 'x.db') }, replication: { mode: 'sync' } }, { env: {} })).rejects.toBeInstanceOf(InvalidConfig)
  })

  it('in sync mode, an order reaches the venue only after the stream holds its order.submitted', async () => {
    const engine = `d-${++engineNo}`
    const venue = sim()
    const seenAtVenue: { clientOrderId: string; streamLast: number }[] = []
    const submit = venue.submit.bind(venue)
    venue.submit = async (request: OrderRequest) => {
      seenAtVenue.push({ clientOrderId: request.clientOrderId, streamLast: await streamLastSeq(engine) })
      return submit(request)
    }
    const h = await start(engine, { mode: 'sync' }, venue)
    for (let i = 0; i < 5; i++) expect((await h.orders.submit(order(40_000 + i))).status).toBe('accepted')

    const submittedSeqs = new Map(
      [...h.log.read({ types: ['order.submitted'] })].map((e) => [String((e.data as { clientOrderId: string }).clientOrderId), e.seq]),
    )
    expect(seenAtVenue).toHaveLength(5)
    for (const seen of seenAtVenue) expect(seen.streamLast).toBeGreaterThanOrEqual(submittedSeqs.get(seen.clientOrderId)!)
    expect(h.status().replication).toMatchObject({ mode: 'sync', state: 'live' })
  })

  it('in sync mode, a stream that cannot be reached closes the gate: the order is not sent, recorded NOT_SENT, and haltd goes HALTED', async () => {
    const engine = `d-${++engineNo}`
    const venue = sim()
    const sent: string[] = []
    const submit = venue.submit.bind(venue)
    venue.submit = async (request: OrderRequest) => {
      sent.push(request.clientOrderId)
      return submit(request)
    }
    const h = await start(engine, { mode: 'sync', ackTimeoutMs: 300 }, venue)
    expect((await h.orders.submit(order(40_000))).status).toBe('accepted')
    await server.stop()
    try {
      const outcome = await h.orders.submit(order(40_001))
      expect(outcome).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/^not sent: the stream did not acknowledge event \d+ within 300 ms/) })
      expect(sent).toHaveLength(1)
      expect(h.gate.halted).toBe(true)
      const rejected = [...h.log.read({ types: ['order.rejected'] })].at(-1)
      expect(rejected?.data).toMatchObject({ code: 'NOT_SENT' })
      await new Promise((r) => setTimeout(r, 20))
      expect(h.status().state).toBe('halted')
      expect((await h.orders.submit(order(40_002))).status).toBe('refused')
    } finally {
      await server.start()
    }
  })

  it('in async mode, the stream holds the log and /metrics reports the lag, 0 once caught up', async () => {
    const engine = `d-${++engineNo}`
    const h = await start(engine, { mode: 'async' })
    for (let i = 0; i < 20; i++) await h.orders.submit(order(40_000 + i))
    const deadline = Date.now() + 5_000
    while ((await streamLastSeq(engine)) < h.log.committedSeq && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(await streamHashes(engine)).toEqual([...h.log.readRaw()].map((r) => r.hash))
    const metrics = await (await fetch(`${h.admin!.url}/metrics`, { headers: { authorization: `Bearer ${h.admin!.token}` } })).text()
    expect(metrics).toMatch(/^haltd_replication_lag_events\{mode="async"\} 0$/m)
    expect(metrics).toMatch(/^haltd_replication_state\{state="live"\} 1$/m)
    expect(metrics).toMatch(new RegExp(`^haltd_replication_acked_seq ${h.log.committedSeq}$`, 'm'))
  })

  it('in async mode, orders are refused while the stream lags more than its bound, and pass again once it caught up', async () => {
    const engine = `d-${++engineNo}`
    const h = await start(engine, { mode: 'async', maxLagEvents: 5, ackTimeoutMs: 300 })
    await server.stop()
    try {
      for (let i = 0; i < 4; i++) await h.orders.submit(order(40_000 + i))
      const refused = await h.orders.submit(order(40_010))
      expect(refused).toMatchObject({ status: 'refused', reason: expect.stringMatching(/^replication is \d+ events behind \(the bound is 5\)$/) })
      expect(h.status().gate.fenced).toMatch(/replication is/)
    } finally {
      await server.start()
    }
    const deadline = Date.now() + 10_000
    while (h.status().replication!.lagEvents > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect((await h.orders.submit(order(40_020))).status).toBe('accepted')
  })

  it('a second primary on a log the stream does not hold is refused at start, naming the stream ahead of it', async () => {
    const engine = `d-${++engineNo}`
    const first = await start(engine, { mode: 'async' })
    await first.orders.submit(order(40_000))
    await first.close()
    await expect(start(engine, { mode: 'async' })).rejects.toThrow(/the stream of engine 'd-\d+' holds \d+ events and this log only \d+/)
  })
})
