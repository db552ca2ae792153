import ccxt, { type Exchange } from 'ccxt'
import { describe, expect, it } from 'vitest'
import { CcxtGateway } from '../../src/exchanges/ccxt/gateway.js'

// Capabilities come from ccxt's own `has` flags plus the venue facts ccxt does not state.
// Constructing the real classes makes no request.
const gatewayFor = (exchange: Exchange) => new CcxtGateway({ venue: exchange.id, exchange })

describe('CcxtGateway capabilities for the venues haltd users run', () => {
  it.each([
    [
      'okx swap: no cancel-all, batches of 20, a countdown, cancel answers without fills',
      new ccxt.okx({ options: { defaultType: 'swap' } }),
      { massCancel: 'none', batchCancel: 20, deadMansSwitch: 'countdown', reduceOnly: true, positions: true, cancelAnswersOmitFills: true },
    ],
    [
      'kraken spot: one CancelAll for every pair, a countdown',
      new ccxt.kraken(),
      { massCancel: 'account', batchCancel: 50, deadMansSwitch: 'countdown', reduceOnly: false, positions: false },
    ],
    [
      'bybit linear: cancel-all per symbol, batches of 20, cancel-on-disconnect rather than a countdown, cancel answers without fills',
      new ccxt.bybit({ options: { defaultType: 'swap' } }),
      { massCancel: 'per-symbol', batchCancel: 20, deadMansSwitch: 'cancel-on-disconnect', reduceOnly: true, positions: true, cancelAnswersOmitFills: true },
    ],
    [
      'coinbase spot: no cancel-all, no switch',
      new ccxt.coinbase(),
      { massCancel: 'none', batchCancel: 10, deadMansSwitch: 'none', reduceOnly: false, positions: false },
    ],
    [
      'binance spot: batch cancel exists only for contracts',
      new ccxt.binance(),
      { massCancel: 'per-symbol', batchCancel: 0, deadMansSwitch: 'none', reduceOnly: false, positions: false },
    ],
    [
      'binanceusdm: countdownCancelAll',
      new ccxt.binanceusdm(),
      { massCancel: 'per-symbol', batchCancel: 10, deadMansSwitch: 'countdown', reduceOnly: true, positions: true },
    ],
  ] as const)('%s', (_name, exchange, expected) => {
    expect(gatewayFor(exchange).capabilities).toEqual({ cancelAnswersOmitFills: false, ...expected, streamingUpdates: false })
  })

  it('streams by default with a ccxt.pro class, and refuses to stream without one', () => {
    expect(gatewayFor(new ccxt.pro.okx()).capabilities.streamingUpdates).toBe(true)
    expect(() => new CcxtGateway({ venue: 'okx', exchange: new ccxt.okx(), stream: true })).toThrow(/cannot stream/)
  })

  it('lets a deployment correct a capability it knows better', () => {
    const gw = new CcxtGateway({ venue: 'okx', exchange: new ccxt.okx(), capabilities: { batchCancel: 5 } })
    expect(gw.capabilities.batchCancel).toBe(5)
  })
})

describe('CcxtGateway on venues that list open orders per symbol only', () => {
  it('refuses to answer "nothing open" without configured symbols (deribit), before any request', async () => {
    const gw = gatewayFor(new ccxt.deribit())
    await expect(gw.fetchOpenOrders()).rejects.toMatchObject({ kind: 'unsupported', message: expect.stringMatching(/configure the gateway's symbols/) })
    await gw.close()
  })
})
