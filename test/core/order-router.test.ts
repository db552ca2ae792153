import { afterEach, describe, expect, it, vi } from 'vitest'
import { openEventLog, type EventLog } from '../../src/index.js'
import { OrderGate, type GateView } from '../../src/core/execution/gate.js'
import { OrderRouter, type SubmitOutcome } from '../../src/core/execution/order-router.js'
import { createProjectionRunner } from '../../src/core/log/projection-runner.js'
import { order as projectedOrder } from '../../src/projections/index.js'
import { InvalidDeadMansSwitch, keepDeadMansSwitch, recordUpdates } from '../../src/core/execution/venue-recorder.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import type { ExchangeGateway, OrderRef, OrderRequest, VenueOrder } from '../../src/exchanges/gateway.js'
import { VenueError } from '../../src/exchanges/errors.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { fakeBinanceUsdm, faults, startFakeBinance } from '../support/fake-binance/index.js'
import { tempDb } from '../support/tmp.js'

const SYMBOL = 'BTC/USDT:USDT'
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function setup(
  options: {
    faults?: ConstructorParameters<typeof SimExchange>[0]['faults']
    view?: GateView
    position?: number
    stream?: boolean
    projections?: boolean
  } = {},
) {
  const log = openEventLog({ path: tempDb() })
  // the live projections, as the daemon hands them to its router; without them the router folds the order's stream itself
  const projections = options.projections ? createProjectionRunner({ log, warn: () => {} }) : undefined
  const sim = new SimExchange({
    venue: 'sim',
    seed: 7,
    mode: 'derivatives',
    symbols: [{ symbol: SYMBOL, mid: 100, amountStep: 0.001, priceStep: 0.01 }],
    faults: options.faults,
  })
  const view: GateView = options.view ?? { mode: 'ACTIVE', strategyBlock: undefined }
  const gate = new OrderGate(() => view)
  const router = new OrderRouter({
    log,
    gate,
    venues: new Map<string, ExchangeGateway>([['sim', sim]]),
    runTag: 'r1',
    positionOf: () => options.position ?? 0,
    submitTimeoutMs: 200,
    cancelTimeoutMs: 200,
    lostRecheckMs: 20,
    ...(projections ? { orderOf: (venue: string, clientOrderId: string) => projectedOrder(projections.state, venue, clientOrderId) } : {}),
  })
  const stop = options.stream === false ? () => {} : recordUpdates(log, sim)
  cleanups.push(async () => {
    stop()
    router.close()
    projections?.stop()
    await sim.close()
    log.close()
  })
  return { log, sim, gate, router, view }
}

const types = (log: EventLog) => [...log.read()].map((e) => e.type)
const strategy = { kind: 'strategy' as const, id: 'mm' }

/**
 * The sim as a venue whose submit answers time out while the order is still on its way to the
 * matching engine: the order reaches the venue only when `arrive()` is called. `onLookup` sees
 * each lookup by client order id after the venue answered it, and may replace the answer.
 */
function answerLostInFlight(
  sim: SimExchange,
  onLookup: (found: VenueOrder | undefined, look: number) => VenueOrder | undefined | Promise<VenueOrder | undefined> = (found) => found,
) {
  const deliver = sim.submit.bind(sim)
  const fetchOrder = sim.fetchOrder.bind(sim)
  const inFlight: OrderRequest[] = []
  const sent: string[] = []
  const lookups: ('found' | 'not found')[] = []
  sim.submit = async (order: OrderRequest) => {
    sent.push(order.clientOrderId)
    inFlight.push(order)
    throw new VenueError('sim', 'timeout', `submit ${order.clientOrderId}: no answer from the venue (it may have the order)`)
  }
  sim.fetchOrder = async (ref: OrderRef) => {
    const answer = await onLookup(await fetchOrder(ref), lookups.length + 1)
    lookups.push(answer ? 'found' : 'not found')
    return answer
  }
  const arrive = async () => {
    for (const order of inFlight.splice(0)) await deliver(order)
  }
  return { arrive, sent, lookups }
}

const rejections = (log: EventLog) => [...log.read({ types: ['order.rejected'] })].map((e) => e.data as { code?: string; reason: string })

describe('order router', () => {
  it('writes order.submitted before the order leaves for the venue, then records the answer', async () => {
    const { log, sim, router } = setup()
    const seenAtVenue: string[][] = []
    const submit = sim.submit.bind(sim)
    sim.submit = (order: OrderRequest) => {
      seenAtVenue.push(types(log))
      return submit(order)
    }
    const outcome = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: strategy })
    expect(outcome.status).toBe('accepted')
    expect(outcome.clientOrderId).toMatch(/^hd0000r1[0-9a-z]+$/)
    expect(seenAtVenue).toEqual([['order.submitted']])
    expect(types(log)).toEqual(['order.submitted', 'order.accepted'])
  })

  it('records the fills that come back with a market order once each, from the ack and the stream alike', async () => {
    const { log, router } = setup()
    await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'market', qty: 2, origin: strategy })
    const fills = [...log.read({ types: ['order.filled'] })]
    expect(fills.length).toBeGreaterThan(0)
    expect(fills.reduce((s, e) => s + (e.data as { qty: number }).qty, 0)).toBeCloseTo(2, 9)
    expect(new Set(fills.map((e) => (e.data as { tradeId: string }).tradeId)).size).toBe(fills.length)
  })

  it('refuses strategy orders while strategies are blocked, counts them and logs nothing', async () => {
    const { log, router } = setup({ view: { mode: 'ACTIVE', strategyBlock: 'shutdown step 4' } })
    const outcome = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: strategy })
    expect(outcome).toEqual({ status: 'refused', reason: 'strategy orders are refused: shutdown step 4' })
    expect(router.refusedCount).toBe(1)
    expect(log.lastSeq).toBe(0)
  })

  it("lets only the shutdown's own reduce-only orders through a halted gate", async () => {
    const { router, gate } = setup({ position: 3 })
    gate.halt('SIGUSR2')
    const manual = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'sell', type: 'market', qty: 1, reduceOnly: true, origin: { kind: 'manual' } })
    expect(manual.status).toBe('refused')
    const notReduce = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'sell', type: 'market', qty: 1, origin: { kind: 'shutdown', id: 's1' } })
    expect(notReduce.status).toBe('refused')
    // the sim has no position, so the venue itself refuses the reduce-only order: what matters is that it passed the gate
    const flatten = await router.submit({
      venue: 'sim',
      symbol: SYMBOL,
      side: 'sell',
      type: 'market',
      qty: 1,
      reduceOnly: true,
      origin: { kind: 'shutdown', id: 's1' },
    })
    expect(flatten.status).not.toBe('refused')
  })

  it('refuses a reduce-only order that would increase or overshoot the projected position', async () => {
    const { router } = setup({ position: 2 })
    const wrongSide = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'market', qty: 1, reduceOnly: true, origin: { kind: 'shutdown' } })
    expect(wrongSide).toMatchObject({ status: 'refused', reason: expect.stringMatching(/would not reduce/) })
    const tooBig = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'sell', type: 'market', qty: 3, reduceOnly: true, origin: { kind: 'shutdown' } })
    expect(tooBig).toMatchObject({ status: 'refused', reason: expect.stringMatching(/exceeds the position/) })
  })

  it('records a venue rejection as order.rejected', async () => {
    const { log, router } = setup({ faults: { rejectRate: 1 } })
    const outcome = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: strategy })
    expect(outcome.status).toBe('rejected')
    expect(types(log)).toEqual(['order.submitted', 'order.rejected'])
  })

  it('never sends an order a second time when the log already holds its client order id, and books nothing against the first', async () => {
    const { log, sim, router } = setup()
    const sent: string[] = []
    const submit = sim.submit.bind(sim)
    sim.submit = (order: OrderRequest) => {
      sent.push(order.clientOrderId)
      return submit(order)
    }
    const order = {
      venue: 'sim',
      symbol: SYMBOL,
      side: 'buy' as const,
      type: 'limit' as const,
      qty: 1,
      price: 90,
      clientOrderId: 'hd0000r1again',
      origin: strategy,
    }
    expect(await router.submit(order)).toMatchObject({ status: 'accepted', clientOrderId: 'hd0000r1again' })
    const first = [...log.read({ types: ['order.submitted'] })][0]!
    expect(await router.submit(order)).toEqual({
      status: 'refused',
      reason: `not sent again: client order id hd0000r1again was submitted before (seq ${first.seq})`,
    })
    expect(sent).toEqual(['hd0000r1again'])
    expect(types(log)).toEqual(['order.submitted', 'order.accepted'])
    expect(sim.openOrderCount).toBe(1)
  })

  it('finds an order whose answer was lost by its client order id and never sends it twice', async () => {
    const { log, sim, router } = setup({ faults: { loseResponse: 1 } })
    const outcome = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: strategy })
    expect(outcome.status).toBe('accepted')
    expect(types(log)).toEqual(['order.submitted', 'order.accepted'])
    expect(sim.openOrderCount).toBe(1)
  })

  it('marks an order whose answer was lost status-unknown, then accepted once the venue shows it by client order id', async () => {
    const { log, sim, router } = setup({ faults: { loseResponse: 1 }, stream: false })
    const outcome = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: strategy })
    expect(outcome.status).toBe('accepted')
    expect(types(log)).toEqual(['order.submitted', 'order.status-unknown', 'order.accepted'])
    expect(sim.openOrderCount).toBe(1)
  })

  describe('when the submit answer is lost and the venue does not know the order at first', () => {
    const limitBuy = { venue: 'sim', symbol: SYMBOL, side: 'buy' as const, type: 'limit' as const, qty: 1, price: 90, origin: strategy }

    it('looks again, and records an order that reaches the venue by the second look as accepted, never rejected', async () => {
      const { log, sim, router } = setup({ stream: false })
      const venue = answerLostInFlight(sim, async (found, look) => {
        if (look === 1) await venue.arrive()
        return found
      })
      const outcome = await router.submit(limitBuy)
      expect(outcome).toMatchObject({ status: 'accepted', clientOrderId: venue.sent[0] })
      expect(venue.lookups).toEqual(['not found', 'found'])
      expect(types(log)).toEqual(['order.submitted', 'order.status-unknown', 'order.accepted'])
      expect(venue.sent).toHaveLength(1)
      expect(sim.openOrderCount).toBe(1)
    })

    it('records an order the venue never saw rejected as LOST only after every re-check, the reason naming the looks', async () => {
      const { log, sim, router } = setup()
      const venue = answerLostInFlight(sim)
      const outcome = await router.submit(limitBuy)
      expect(venue.lookups).toEqual(['not found', 'not found', 'not found'])
      expect(outcome).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/3 lookups by client order id over \d+ ms found nothing/) })
      expect(types(log)).toEqual(['order.submitted', 'order.status-unknown', 'order.rejected'])
      expect(rejections(log)).toEqual([
        { venue: 'sim', clientOrderId: venue.sent[0], code: 'LOST', reason: outcome.status === 'rejected' ? outcome.reason : '' },
      ])
      expect(rejections(log)[0]!.reason).toMatch(/^not at the venue after a lost answer \(sim: submit .*no answer from the venue/)
      expect(venue.sent).toHaveLength(1)
    })

    it("ends the re-checks as accepted when the venue's stream reports the order meanwhile, though no lookup sees it", async () => {
      const { log, sim, router } = setup()
      // the venue's lookups lag behind its matching engine
      const venue = answerLostInFlight(sim, (_found, look) => {
        if (look === 1) setTimeout(() => void venue.arrive(), 0)
        return undefined
      })
      const outcome = await router.submit(limitBuy)
      expect(outcome).toMatchObject({ status: 'accepted', clientOrderId: venue.sent[0] })
      expect(venue.lookups).toEqual(['not found'])
      expect(types(log)).toEqual(['order.submitted', 'order.status-unknown', 'order.accepted'])
      expect(venue.sent).toHaveLength(1)
    })

    it("takes the venue's fills as proof it had the order: a market order told of only through its fills is never called LOST", async () => {
      const { log, sim, router } = setup()
      // the order fills at once; the venue's stream tells of the fills, its lookups never see the order
      const venue = answerLostInFlight(sim, (_found, look) => {
        if (look === 1) setTimeout(() => void venue.arrive(), 0)
        return undefined
      })
      const outcome = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'market', qty: 1, origin: strategy })
      expect(outcome).toMatchObject({ status: 'accepted', clientOrderId: venue.sent[0], seen: 'filled' })
      expect(venue.lookups).toEqual(['not found'])
      expect(rejections(log)).toEqual([])
      expect(types(log)).toContain('order.filled')
      expect(venue.sent).toHaveLength(1)
    })

    it('does not take its own cancel, settled because the venue does not list the order, as proof the venue had it', async () => {
      const { log, sim, router } = setup()
      let cancelSent = false
      const venue = answerLostInFlight(sim, async (found) => {
        if (!cancelSent) {
          cancelSent = true
          // a shutdown cancels the order meanwhile; the venue answers not-found and does not list it
          await router.cancel({ venue: 'sim', clientOrderId: venue.sent[0]!, symbol: SYMBOL })
        }
        return found
      })
      const outcome = await router.submit(limitBuy)
      expect([...log.read({ types: ['order.canceled'] })].map((e) => (e.data as { confirmedBy: string }).confirmedBy)).toEqual(['open-orders'])
      expect(outcome).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/lookups by client order id over \d+ ms found nothing/) })
      expect(rejections(log).map((r) => r.code)).toEqual(['LOST'])
    })

    it('leaves the order status-unknown, never rejected, when the lookups themselves fail', async () => {
      const { log, sim, router } = setup()
      const venue = answerLostInFlight(sim, () => {
        throw new VenueError('sim', 'network', 'fetchOrder: connection reset')
      })
      const outcome = await router.submit(limitBuy)
      expect(outcome).toMatchObject({
        status: 'unknown',
        reason: expect.stringMatching(/3 of 3 lookups by client order id .*failed \(last: sim: fetchOrder: connection reset\)/),
      })
      expect(types(log)).toEqual(['order.submitted', 'order.status-unknown'])
      expect(venue.sent).toHaveLength(1)
    })
  })

  describe('reading what the venue said from the live projections', () => {
    const limitBuy = { venue: 'sim', symbol: SYMBOL, side: 'buy' as const, type: 'limit' as const, qty: 1, price: 90, origin: strategy }

    it("given a lost answer, when the venue's stream reports the order during the re-checks, then it is accepted, never rejected, sent once", async () => {
      const { log, sim, router } = setup({ projections: true })
      const venue = answerLostInFlight(sim, (_found, look) => {
        if (look === 1) setTimeout(() => void venue.arrive(), 0)
        return undefined
      })
      const outcome = await router.submit(limitBuy)
      expect(outcome).toMatchObject({ status: 'accepted', clientOrderId: venue.sent[0] })
      expect(venue.lookups).toEqual(['not found'])
      expect(types(log)).toEqual(['order.submitted', 'order.status-unknown', 'order.accepted'])
      expect(venue.sent).toHaveLength(1)
    })

    it('given a lost answer, when only the fills of a market order are heard of, then it is accepted as filled', async () => {
      const { log, sim, router } = setup({ projections: true })
      const venue = answerLostInFlight(sim, (_found, look) => {
        if (look === 1) setTimeout(() => void venue.arrive(), 0)
        return undefined
      })
      const outcome = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'market', qty: 1, origin: strategy })
      expect(outcome).toMatchObject({ status: 'accepted', clientOrderId: venue.sent[0], seen: 'filled' })
      expect(rejections(log)).toEqual([])
    })

    it('given a lost answer, when its own cancel is settled only by the venue not listing the order, then that is no proof and the order is LOST', async () => {
      const { log, sim, router } = setup({ projections: true })
      let cancelSent = false
      const venue = answerLostInFlight(sim, async (found) => {
        if (!cancelSent) {
          cancelSent = true
          await router.cancel({ venue: 'sim', clientOrderId: venue.sent[0]!, symbol: SYMBOL })
        }
        return found
      })
      const outcome = await router.submit(limitBuy)
      expect(outcome).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/lookups by client order id over \d+ ms found nothing/) })
      expect(rejections(log).map((r) => r.code)).toEqual(['LOST'])
    })

    it("given a lost answer, when the venue rejected the order meanwhile, then the outcome is the venue's rejection and its reason", async () => {
      const { log, router, sim } = setup({ projections: true })
      const venue = answerLostInFlight(sim, (_found, look) => {
        if (look === 1) log.append({ type: 'order.rejected', data: { venue: 'sim', clientOrderId: venue.sent[0]!, reason: 'margin is insufficient' } })
        return undefined
      })
      const outcome = await router.submit(limitBuy)
      expect(outcome).toEqual({ status: 'rejected', clientOrderId: venue.sent[0], reason: 'margin is insufficient' })
      expect(rejections(log).map((r) => r.reason)).toEqual(['margin is insufficient'])
    })
  })

  it("cancels on the venue's word only, and marks a cancel without an answer unconfirmed", async () => {
    const { log, sim, router } = setup()
    const a = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: strategy })
    const b = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 91, origin: strategy })
    if (a.status !== 'accepted' || b.status !== 'accepted') throw new Error('setup')
    expect(await router.cancel({ venue: 'sim', symbol: SYMBOL, clientOrderId: a.clientOrderId })).toBe('canceled')
    sim.faults.set({ hang: ['cancel'] })
    expect(await router.cancel({ venue: 'sim', symbol: SYMBOL, clientOrderId: b.clientOrderId }, { timeoutMs: 30 })).toBe('unconfirmed')
    const outcomes = [...log.read({ types: ['order.canceled', 'order.cancel-unconfirmed'] })].map((e) => [
      e.type,
      (e.data as { clientOrderId: string }).clientOrderId,
    ])
    expect(outcomes).toEqual([
      ['order.canceled', a.clientOrderId],
      ['order.cancel-unconfirmed', b.clientOrderId],
    ])
  })

  it('confirms a cancel the venue answers not-found by asking for the order', async () => {
    const { log, router } = setup()
    const outcome = await router.cancel({ venue: 'sim', symbol: SYMBOL, clientOrderId: 'hd-never-sent' })
    expect(outcome).toBe('canceled')
    const canceled = [...log.read({ types: ['order.canceled'] })]
    expect(canceled.map((e) => (e.data as { confirmedBy: string }).confirmedBy)).toEqual(['open-orders'])
  })

  it('closes the gate when the log cannot be written, so nothing trades blind', async () => {
    const { log, sim, gate, router } = setup()
    log.database.pragma(`max_page_count = ${log.database.pragma('page_count', { simple: true })}`)
    let outcome: SubmitOutcome | undefined
    for (let i = 0; i < 500; i++) {
      outcome = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 50 + (i % 40), origin: strategy })
      if (outcome.status === 'refused') break
    }
    expect(outcome).toMatchObject({ status: 'refused', reason: expect.stringMatching(/not sent/) })
    expect(gate.halted).toBe(true)
    const before = sim.openOrderCount
    log.database.pragma('max_page_count = 1073741823')
    const after = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: strategy })
    expect(after.status).toBe('refused')
    expect(sim.openOrderCount).toBe(before)
  })
})

describe('venue recorder', () => {
  it('records a connection lost and regained while running as venue.disconnected and venue.connected, once each', async () => {
    const { log, sim } = setup()
    sim.disconnect('cable pulled')
    sim.disconnect('cable pulled again')
    await expect(sim.fetchOpenOrders()).rejects.toMatchObject({ kind: 'network' })
    sim.reconnect()
    sim.reconnect()
    const seen = [...log.read({ types: ['venue.disconnected', 'venue.connected'] })].map((e) => [e.type, e.data])
    expect(seen).toEqual([
      ['venue.disconnected', { venue: 'sim', reason: 'cable pulled' }],
      ['venue.connected', { venue: 'sim' }],
    ])
  })

  it('given a mass cancel the venue confirms in one burst, every confirmation is recorded, in the order the venue pushed them', async () => {
    const { log, sim, router } = setup()
    const ids: string[] = []
    for (let i = 0; i < 300; i++) {
      const outcome = await router.submit({ venue: 'sim', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 50 - i * 0.01, origin: strategy })
      expect(outcome.status).toBe('accepted')
      ids.push(outcome.clientOrderId ?? '')
    }
    const before = log.lastSeq

    await sim.cancelAll({ scope: 'account' })

    const confirmations = [...log.read({ from: before + 1, types: ['order.canceled'] })]
    expect(confirmations.map((e) => (e.data as { clientOrderId: string }).clientOrderId).sort()).toEqual([...ids].sort())
    expect(confirmations.every((e) => (e.data as { confirmedBy: string }).confirmedBy === 'stream')).toBe(true)
    // one burst, one run of seqs: nothing of it was dropped or interleaved
    expect(confirmations.at(-1)!.seq - confirmations[0]!.seq).toBe(ids.length - 1)
  })

  it('given a burst in which the catalogue refuses one fact, the others are still recorded and the refusal is reported', async () => {
    const log = openEventLog({ path: tempDb() })
    const sim = new SimExchange({ venue: 'sim', seed: 1, mode: 'derivatives', symbols: [{ symbol: SYMBOL, mid: 100, amountStep: 0.001, priceStep: 0.01 }] })
    const errors: unknown[] = []
    const stop = recordUpdates(log, sim, (e) => errors.push(e))
    cleanups.push(async () => {
      stop()
      await sim.close()
      log.close()
    })

    sim.placeForeignOrder({ symbol: SYMBOL, side: 'buy', qty: 1, price: 50, clientOrderId: 'bad\uD800id' })
    sim.placeForeignOrder({ symbol: SYMBOL, side: 'buy', qty: 1, price: 49, clientOrderId: 'goodone' })
    // the market trades through both: their fills are one burst (a fill is recorded whoever placed
    // the order; a status of someone else's order is not)
    sim.setMid(SYMBOL, 40)
    await Promise.resolve()

    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ name: 'InvalidEvent' })
    expect([...log.read()].some((e) => (e.data as { clientOrderId?: string }).clientOrderId === 'goodone')).toBe(true)
  })

  it('stops recording connection changes once unsubscribed', () => {
    const log = openEventLog({ path: tempDb() })
    const sim = new SimExchange({ venue: 'sim', seed: 1, mode: 'derivatives', symbols: [{ symbol: SYMBOL, mid: 100, amountStep: 0.001, priceStep: 0.01 }] })
    cleanups.push(async () => {
      await sim.close()
      log.close()
    })
    const stop = recordUpdates(log, sim)
    stop()
    sim.disconnect()
    expect(log.lastSeq).toBe(0)
  })
})

describe('order router over CcxtGateway and the fake Binance venue', () => {
  async function ccxtSetup() {
    const log = openEventLog({ path: tempDb() })
    const venue = await startFakeBinance()
    const exchange = await fakeBinanceUsdm(venue)
    const gateway = new CcxtGateway({ venue: 'binanceusdm', exchange, symbols: [SYMBOL], retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 } })
    const gate = new OrderGate(() => ({ mode: 'ACTIVE', strategyBlock: undefined }))
    const router = new OrderRouter({ log, gate, venues: new Map<string, ExchangeGateway>([['binanceusdm', gateway]]), runTag: 'r2', lostRecheckMs: 20 })
    cleanups.push(async () => {
      router.close()
      await gateway.close()
      await venue.close()
      log.close()
    })
    await gateway.connect()
    return { log, venue, router }
  }

  it('an order the venue accepted whose answer was lost is recorded accepted, found by client order id, sent once', async () => {
    const { log, venue, router } = await ccxtSetup()
    venue.faults.inject('POST /fapi/v1/order', faults.loseResponse(), 1)
    const outcome = await router.submit({ venue: 'binanceusdm', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 40_000, origin: strategy })
    expect(outcome.status).toBe('accepted')
    if (outcome.status !== 'accepted') return
    expect(types(log)).toEqual(['order.submitted', 'order.accepted'])
    expect(venue.engine.open('futures').map((o) => [o.clientOrderId, String(o.orderId)])).toEqual([[outcome.clientOrderId, outcome.venueOrderId]])
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(1)
  })

  it('given a venue that looks orders up by its own id only, an order whose answer was lost is found in its open orders, and then in its closed ones', async () => {
    // given a venue refusing a lookup by client order id (as Kraken's QueryOrders, which wants a txid)
    const { log, venue, router } = await ccxtSetup()
    venue.faults.inject('GET /fapi/v1/order', faults.error(400, -1102, "Mandatory parameter 'orderId' was not sent, was empty/null, or malformed."))
    // when a resting order's answer is lost
    venue.faults.inject('POST /fapi/v1/order', faults.loseResponse(), 1)
    const resting = await router.submit({ venue: 'binanceusdm', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 40_000, origin: strategy })
    // then it is found where the venue lists it, and recorded accepted
    expect(resting).toMatchObject({ status: 'accepted' })
    expect(venue.faults.hits('GET /fapi/v1/order')).toBe(1)
    // and a market order filled at once, its answer lost, is found among the closed ones
    venue.faults.inject('POST /fapi/v1/order', faults.loseResponse(), 1)
    const market = await router.submit({ venue: 'binanceusdm', symbol: SYMBOL, side: 'buy', type: 'market', qty: 0.01, origin: strategy })
    expect(market).toMatchObject({ status: 'accepted' })
    expect(venue.faults.hits('GET /fapi/v1/allOrders')).toBeGreaterThan(0)
    expect(types(log).filter((t) => t === 'order.rejected')).toEqual([])
    // after three refusals in a row the gateway asks the lists at once: fetchOrder by client id is not asked again
    expect(venue.faults.hits('GET /fapi/v1/order')).toBe(2)
    venue.faults.inject('POST /fapi/v1/order', faults.loseResponse(), 1)
    await router.submit({ venue: 'binanceusdm', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 40_001, origin: strategy })
    venue.faults.inject('POST /fapi/v1/order', faults.loseResponse(), 1)
    await router.submit({ venue: 'binanceusdm', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 40_002, origin: strategy })
    expect(venue.faults.hits('GET /fapi/v1/order')).toBe(3)
  })

  it('a submit the venue answers 429 placed nothing: it is recorded rejected at once, never status-unknown, and not looked up', async () => {
    // given a venue answering the order with "too many requests" and a Retry-After
    const { log, venue, router } = await ccxtSetup()
    venue.faults.inject('POST /fapi/v1/order', faults.rateLimited({ retryAfterS: 1 }), 1)
    // when an order is entered
    const outcome = await router.submit({ venue: 'binanceusdm', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 40_000, origin: strategy })
    // then it is rejected, saying why, with nothing in doubt and no lookup sent
    expect(outcome).toMatchObject({ status: 'rejected', reason: expect.stringContaining('binanceusdm') })
    expect(types(log)).toEqual(['order.submitted', 'order.rejected'])
    expect([...log.read({ types: ['order.rejected'] })][0]!.data).toMatchObject({ code: '-1003' })
    expect(venue.faults.hits('GET /fapi/v1/order')).toBe(0)
    expect(venue.engine.open('futures')).toEqual([])
  })

  it('when neither the answer nor a lookup gets through, the order stays status-unknown, never rejected', async () => {
    const { log, venue, router } = await ccxtSetup()
    venue.faults.inject('POST /fapi/v1/order', faults.loseResponse(), 1)
    venue.faults.inject('GET /fapi/v1/order', faults.unavailable())
    const outcome = await router.submit({ venue: 'binanceusdm', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 40_000, origin: strategy })
    expect(outcome).toMatchObject({ status: 'unknown', reason: expect.stringMatching(/fate is unknown/) })
    expect(types(log)).toEqual(['order.submitted', 'order.status-unknown'])
    expect(venue.faults.hits('POST /fapi/v1/order')).toBe(1)
  })
})

describe("keeping a venue's dead man's switch", () => {
  function sim(deadMansSwitch: 'countdown' | 'none' = 'countdown') {
    const log = openEventLog({ path: tempDb() })
    const venue = new SimExchange({
      venue: 'sim',
      seed: 5,
      mode: 'derivatives',
      symbols: [{ symbol: SYMBOL, mid: 100, amountStep: 0.001, priceStep: 0.01 }],
      capabilities: { deadMansSwitch },
    })
    cleanups.push(async () => {
      await venue.close()
      log.close()
    })
    const arms: number[] = []
    const arm = venue.armDeadMansSwitch.bind(venue)
    venue.armDeadMansSwitch = (ms: number) => {
      arms.push(ms)
      return arm(ms)
    }
    let refresh: (() => void) | undefined
    let canceled = false
    const every = (_ms: number, fn: () => void) => {
      refresh = fn
      return () => {
        canceled = true
      }
    }
    return { log, venue, arms, every, refresh: () => refresh?.(), timerCanceled: () => canceled }
  }
  const switchEvents = (log: EventLog) =>
    [...log.read({ types: ['venue.dead-mans-switch-armed', 'venue.dead-mans-switch-disarmed'] })].map((e) => [e.type, e.data])

  it('arms it once on record, refreshes it on every interval without flooding the log, and disarms it on record', async () => {
    const { log, venue, arms, every, refresh, timerCanceled } = sim()
    const keeper = keepDeadMansSwitch(log, venue, { timeoutMs: 60_000, refreshMs: 20_000, every })
    expect(await keeper.ready).toBe(true)
    refresh()
    refresh()
    await vi.waitFor(() => expect(arms).toEqual([60_000, 60_000, 60_000]))
    expect(venue.deadMansSwitchArmed).toBe(true)
    expect(switchEvents(log)).toEqual([['venue.dead-mans-switch-armed', { venue: 'sim', timeoutMs: 60_000, method: 'countdown' }]])
    await keeper.disarm()
    expect(timerCanceled()).toBe(true)
    expect(venue.deadMansSwitchArmed).toBe(false)
    expect(switchEvents(log).map(([type]) => type)).toEqual(['venue.dead-mans-switch-armed', 'venue.dead-mans-switch-disarmed'])
  })

  it('stop() leaves it armed, so the venue cancels everything once haltd stops refreshing', async () => {
    const { log, venue, every } = sim()
    await venue.submit({ clientOrderId: 'hd-dms-1', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 90 })
    const keeper = keepDeadMansSwitch(log, venue, { timeoutMs: 50, refreshMs: 10, every })
    await keeper.ready
    keeper.stop()
    await vi.waitFor(() => expect(venue.openOrderCount).toBe(0), { timeout: 5_000, interval: 10 })
    expect(switchEvents(log).map(([type]) => type)).toEqual(['venue.dead-mans-switch-armed'])
  })

  it('records nothing where the venue has no switch, and names a refresh interval that cannot keep it alive', async () => {
    const { log, venue, every } = sim('none')
    const keeper = keepDeadMansSwitch(log, venue, { timeoutMs: 60_000, refreshMs: 20_000, every })
    expect(await keeper.ready).toBe(false)
    await keeper.disarm()
    expect(switchEvents(log)).toEqual([])
    expect(() => keepDeadMansSwitch(log, venue, { timeoutMs: 10_000, refreshMs: 10_000 })).toThrow(InvalidDeadMansSwitch)
    expect(() => keepDeadMansSwitch(log, venue, { timeoutMs: 10_000, refreshMs: 10_000 })).toThrow(/refreshMs must be positive and below timeoutMs/)
  })
})
