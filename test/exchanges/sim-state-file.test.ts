import { rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { manualClock } from '../../src/events/clock.js'
import { InvalidSimConfig, SimExchange, type OrderUpdate, type SimExchangeOptions } from '../../src/exchanges/index.js'
import { mountSmallDisk } from '../support/small-disk.js'
import { tempDir } from '../support/tmp.js'

const BTC = 'BTC/USDT:USDT'
const ETH = 'ETH/USDT:USDT'
const SYMBOLS = [
  { symbol: BTC, mid: 64000, amountStep: 0.001, priceStep: 0.1 },
  { symbol: ETH, mid: 3000, amountStep: 0.01, priceStep: 0.01 },
]

const made: SimExchange[] = []
afterEach(async () => {
  for (const s of made.splice(0)) await s.close()
})

function sim(stateFile: string, over: Partial<SimExchangeOptions> = {}): SimExchange {
  const s = new SimExchange({ venue: 'binance-sim', seed: 42, mode: 'derivatives', symbols: SYMBOLS, stateFile, ...over })
  made.push(s)
  return s
}

let n = 0
const id = (): string => `hd-f${++n}`

describe('a simulated venue with a state file outlives the object that ran it', () => {
  it('given orders, a position and a moved price, when the venue is made again on the same file (without close), then it holds the same', async () => {
    const file = join(tempDir(), 'venues')
    const before = sim(file)
    const resting = await before.submit({ clientOrderId: id(), symbol: BTC, side: 'buy', type: 'limit', qty: 0.002, price: 50_000 })
    await before.submit({ clientOrderId: id(), symbol: ETH, side: 'buy', type: 'market', qty: 0.5 })
    const gone = await before.submit({ clientOrderId: id(), symbol: BTC, side: 'sell', type: 'limit', qty: 0.001, price: 90_000 })
    await before.cancel({ clientOrderId: gone.clientOrderId, symbol: BTC })
    before.setMid(ETH, 3_100)
    const positions = await before.fetchPositions()
    const balances = await before.fetchBalances()
    // no close(): a killed process never gets to say goodbye

    const after = sim(file)
    expect(after.restored).toBe(true)
    expect(await after.fetchPositions()).toEqual(positions)
    expect(await after.fetchBalances()).toEqual(balances)
    expect((await after.fetchOpenOrders()).map((o) => o.clientOrderId)).toEqual([resting.clientOrderId])
    expect(await after.fetchOrder({ clientOrderId: gone.clientOrderId, symbol: BTC })).toMatchObject({ status: 'canceled' })
    expect(after.ticker(ETH).mid).toBe(3_100)
    // its ids go on from where they were, even with the same id epoch
    const next = await after.submit({ clientOrderId: id(), symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 50_000 })
    expect(next.venueOrderId).not.toBe(resting.venueOrderId)
    expect([resting.venueOrderId, gone.venueOrderId]).not.toContain(next.venueOrderId)
  })

  it('given resting orders placed in an order their ids do not sort in, when the venue is made again, then it holds them in the order they came (their time priority)', async () => {
    const file = join(tempDir(), 'venues')
    const before = sim(file)
    for (const clientOrderId of ['hd-zulu', 'hd-alpha', 'hd-mike'])
      await before.submit({ clientOrderId, symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 50_000 })
    const listed = (await before.fetchOpenOrders()).map((o) => o.clientOrderId)
    expect(listed).toEqual(['hd-zulu', 'hd-alpha', 'hd-mike'])

    const after = sim(file)
    expect((await after.fetchOpenOrders()).map((o) => o.clientOrderId)).toEqual(listed)
  })

  it('given no state file yet, the venue starts afresh, says so, and makes the file readable by the owner only', () => {
    const file = join(tempDir(), 'venues')
    const s = sim(file)
    expect(s.restored).toBe(false)
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })

  it('given several venues on one file, each gets back its own', async () => {
    const file = join(tempDir(), 'venues')
    await sim(file, { venue: 'a-sim' }).submit({ clientOrderId: id(), symbol: BTC, side: 'buy', type: 'market', qty: 0.003 })
    await sim(file, { venue: 'b-sim' }).submit({ clientOrderId: id(), symbol: BTC, side: 'sell', type: 'market', qty: 0.001 })
    expect((await sim(file, { venue: 'a-sim' }).fetchPositions()).map((p) => p.qty)).toEqual([0.003])
    expect((await sim(file, { venue: 'b-sim' }).fetchPositions()).map((p) => p.qty)).toEqual([-0.001])
  })

  it('reports an update only once the change it reports is saved', async () => {
    const file = join(tempDir(), 'venues')
    const s = sim(file)
    const seenOnDisk: boolean[] = []
    s.onUpdate((u: OrderUpdate) => {
      if (u.kind !== 'fill') return
      // a second venue object reads the file as it is when the listener hears of the fill
      const reader = new SimExchange({ venue: 'binance-sim', seed: 42, mode: 'derivatives', symbols: SYMBOLS, stateFile: file })
      void reader.fetchOrder({ clientOrderId: u.clientOrderId, symbol: BTC }).then((o) => {
        seenOnDisk.push((o?.filled ?? 0) > 0)
        return reader.close()
      })
    })
    await s.submit({ clientOrderId: id(), symbol: BTC, side: 'buy', type: 'market', qty: 0.002 })
    await new Promise((r) => setTimeout(r, 10))
    expect(seenOnDisk.length).toBeGreaterThan(0)
    expect(seenOnDisk.every(Boolean)).toBe(true)
  })

  it('given a cancel-all-after armed when the process died, when the venue comes back after its time, then its orders were canceled as the venue would have', async () => {
    const file = join(tempDir(), 'venues')
    const clock = manualClock(1_000_000)
    const before = sim(file, { clock })
    const o = await before.submit({ clientOrderId: id(), symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 50_000 })
    expect(await before.armDeadMansSwitch(60_000)).toMatchObject({ armed: true })

    clock.advance(61_000)
    const after = sim(file, { clock })
    expect(await after.fetchOpenOrders()).toEqual([])
    expect(await after.fetchOrder({ clientOrderId: o.clientOrderId, symbol: BTC })).toMatchObject({ status: 'canceled' })
  })

  it('given a cancel-all-after armed when the venue was closed (a clean exit), when it comes back after its time, then its orders were canceled: the countdown ran on at the venue', async () => {
    const file = join(tempDir(), 'venues')
    const clock = manualClock(1_000_000)
    const before = sim(file, { clock })
    const o = await before.submit({ clientOrderId: id(), symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 50_000 })
    await before.armDeadMansSwitch(60_000)
    await before.close()

    clock.advance(61_000)
    const after = sim(file, { clock })
    expect(await after.fetchOrder({ clientOrderId: o.clientOrderId, symbol: BTC })).toMatchObject({ status: 'canceled' })
  })

  it('given a cancel-all-after still counting, when the venue comes back in time, then its orders rest and it stays armed', async () => {
    const file = join(tempDir(), 'venues')
    const clock = manualClock(1_000_000)
    const before = sim(file, { clock })
    await before.submit({ clientOrderId: id(), symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 50_000 })
    await before.armDeadMansSwitch(60_000)
    clock.advance(1_000)
    const after = sim(file, { clock })
    expect(await after.fetchOpenOrders()).toHaveLength(1)
    expect(after.deadMansSwitchArmed).toBe(true)
  })

  it('given a file that is not a state file, the venue refuses to start, naming the file', () => {
    const file = join(tempDir(), 'venues')
    writeFileSync(file, 'not a database, just text that is long enough to be read as a header '.repeat(20))
    expect(() => sim(file)).toThrow(InvalidSimConfig)
    expect(() => sim(file)).toThrow(file)
  })

  it('given a resting order on a symbol the config no longer lists, the venue refuses to start, naming both', async () => {
    const file = join(tempDir(), 'venues')
    const o = await sim(file).submit({ clientOrderId: id(), symbol: ETH, side: 'buy', type: 'limit', qty: 0.1, price: 2_000 })
    expect(() => sim(file, { symbols: [SYMBOLS[0]!] })).toThrow(new RegExp(`${o.clientOrderId}.*${ETH.replace('/', '\\/')}`))
  })

  const disk = mountSmallDisk('512k')
  afterAll(() => {
    if (!('skipped' in disk)) disk.unmount()
  })
  it.skipIf('skipped' in disk)(
    'given a full disk, the venue goes on answering from memory and says its file is behind; with room again the next change saves all of it',
    async () => {
      if ('skipped' in disk) return
      const file = join(disk.dir, 'venues')
      const told: string[] = []
      const s = sim(file, { onUnsaved: (why) => told.push(why) })
      disk.fill()
      const placed: string[] = []
      for (let i = 0; i < 300 && s.unsaved === undefined; i++) {
        const ack = await s.submit({ clientOrderId: id(), symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 40_000 })
        placed.push(ack.clientOrderId)
      }
      expect(s.unsaved).toContain(file)
      expect(s.unsaved).toMatch(/full/)
      // and says so once, however many saves fail after it
      await s.submit({ clientOrderId: id(), symbol: BTC, side: 'buy', type: 'limit', qty: 0.001, price: 40_000 }).then((a) => placed.push(a.clientOrderId))
      expect(told).toEqual([s.unsaved])
      // a cancel still reaches it: its storage is not the client's problem
      expect(await s.cancel({ clientOrderId: placed[0]!, symbol: BTC })).toMatchObject({ outcome: 'canceled' })

      rmSync(join(disk.dir, 'filler'))
      await s.cancel({ clientOrderId: placed[1]!, symbol: BTC })
      expect(s.unsaved).toBeUndefined()
      expect(told).toHaveLength(1)
      const again = new SimExchange({ venue: 'binance-sim', seed: 42, mode: 'derivatives', symbols: SYMBOLS, stateFile: file })
      made.push(again)
      const open = (await again.fetchOpenOrders()).map((o) => o.clientOrderId)
      expect(open).toEqual(placed.slice(2))
    },
  )
})
