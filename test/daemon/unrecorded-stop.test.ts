import { afterEach, describe, expect, it } from 'vitest'
import { cancelEverywhereUnrecorded } from '../../src/daemon/unrecorded-stop.js'
import { createLogger } from '../../src/daemon/logger.js'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'
import { engineRests, fakeBybitClient, startFakeBybit } from '../support/fake-bybit/index.js'
import { memoryDestination } from '../support/memory-log.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('the stop haltd makes when it cannot write its log', () => {
  it('given a Bybit account whose spot book fails the whole time, cancels the other books within the budget and names the spot book whose orders are unknown', async () => {
    // given the engine's orders on spot and linear, and Bybit's spot book answering "system error"
    const venue = await startFakeBybit()
    const gateway = new CcxtGateway({
      venue: 'bybit',
      exchange: fakeBybitClient(venue, { enableRateLimit: false }),
      symbols: ['BTC/USDT:USDT'],
      wholeAccount: true,
      stream: false,
      pollIntervalMs: 3_600_000,
      retry: { baseDelayMs: 10, maxDelayMs: 50 },
    })
    await gateway.connect()
    cleanups.push(async () => {
      await gateway.close()
      await venue.close()
    })
    engineRests(venue, 'linear', 'BTCUSDT', 'eng-lin-btc', 40_000, 0.001)
    engineRests(venue, 'spot', 'BTCUSDT', 'eng-spot-btc', 40_000, 0.001)
    venue.failBook({ category: 'spot' }, { retCode: 10016, retMsg: 'Internal system error.' }, 1_000_000)
    const logged = memoryDestination()

    // when
    const lines = await cancelEverywhereUnrecorded({
      venues: new Map([['bybit', gateway]]),
      scope: 'account',
      budgetMs: 1_500,
      logger: createLogger({ destination: logged, level: 'fatal' }),
    })

    // then the linear order is gone, and the line says what is unknown and why
    expect(venue.account.open('linear')).toEqual([])
    expect(venue.account.open('spot').map((o) => o.clientOrderId)).toEqual(['eng-spot-btc'])
    expect(lines).toEqual([
      expect.stringMatching(
        /^cancel-all at bybit \(account\): 1 canceled, 0 not confirmed; book\(s\) whose cancel-all failed, their orders unknown: spot \(its list failed .*10016.*\) \(not recorded in the log\)$/,
      ),
    ])
    expect(logged.lines.join('\n')).toContain('book(s) whose cancel-all failed, their orders unknown: spot')
  })
})
