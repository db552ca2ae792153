import { describe, expect, it } from 'vitest'
import type { EventInput } from '../../src/events/index.js'
import {
  evolve,
  initialState,
  type Fact,
  anomalies,
  killSwitch,
  marketsTraded,
  shutdowns,
  strategies,
  tradingState,
  venues,
} from '../../src/projections/index.js'
import { ev, given, when } from './given.js'

const t = (type: string, data: Record<string, unknown>): EventInput => ({ type, data })

describe('trading state and kill switch', () => {
  it('starts ACTIVE, follows state changes, and a kill switch raises the mode to its action and stays latched', () => {
    const s = given()
    expect(tradingState(s).mode).toBe('ACTIVE')
    when(s, t('trading.state-changed', { to: 'REDUCING', reason: 'limits', origin: 'admin' }))
    expect(tradingState(s).mode).toBe('REDUCING')
    when(
      s,
      t('killswitch.activated', {
        reason: 'drawdown 12%',
        origin: 'risk',
        by: 'risk-engine',
        trigger: 'drawdown',
        reading: 0.12,
        threshold: 0.1,
        action: 'HALTED',
      }),
    )
    expect(tradingState(s).mode).toBe('HALTED')
    expect(killSwitch(s)).toMatchObject({ latched: true, reason: 'drawdown 12%', by: 'risk-engine', trigger: 'drawdown', action: 'HALTED', seq: 2 })
    when(s, t('killswitch.reset', { reason: 'operator checked positions', origin: 'operator', by: 'alice' }))
    expect(killSwitch(s)).toMatchObject({ latched: false, lastReset: { by: 'alice', reason: 'operator checked positions' } })
    // a reset does not reopen trading by itself
    expect(tradingState(s).mode).toBe('HALTED')
  })

  it('never lowers the mode when a milder kill switch fires', () => {
    const s = given(
      t('trading.state-changed', { to: 'HALTED', reason: 'x', origin: 'admin' }),
      t('killswitch.activated', { reason: 'r', origin: 'risk', action: 'REDUCING' }),
    )
    expect(tradingState(s).mode).toBe('HALTED')
  })

  it('follows drain, pause and deployment locks', () => {
    const s = given(
      t('drain.started', { reason: 'deploy', origin: 'cli' }),
      t('trading.paused', { reason: 'news', origin: 'api' }),
      t('deployments.locked', { reason: 'shutdown', origin: 'shutdown' }),
    )
    expect(tradingState(s)).toMatchObject({ drain: { state: 'Draining' }, paused: { reason: 'news' }, deploymentsLocked: { reason: 'shutdown' } })
    when(
      s,
      t('drain.completed', { outcome: 'timed-out', inFlight: 2 }),
      t('trading.resumed', { reason: 'ok', origin: 'api' }),
      t('deployments.unlocked', { reason: 'done', origin: 'admin' }),
    )
    expect(tradingState(s)).toMatchObject({ drain: { state: 'Drained', outcome: 'timed-out', inFlightAtEnd: 2 }, paused: false, deploymentsLocked: false })
    when(s, t('drain.canceled', { reason: 'back', origin: 'cli' }))
    expect(tradingState(s).drain.state).toBe('Active')
  })
})

describe('strategies and venues', () => {
  it('records strategies enabled or disabled with their limits', () => {
    const s = given(
      t('strategy.limits-changed', { strategyId: 'mm', limits: { maxPosition: 5, maxOpenOrders: 10, maxOrdersPerSecond: 2 }, reason: 'init' }),
      t('strategy.disabled', { strategyId: 'trend', reason: 'shutdown step 4' }),
    )
    expect(strategies(s)).toMatchObject([
      { strategyId: 'mm', enabled: true, limits: { maxPosition: 5 } },
      { strategyId: 'trend', enabled: false, reason: 'shutdown step 4' },
    ])
  })

  it('records connections, market data and dead man’s switches per venue', () => {
    const s = given(
      t('venue.connected', { venue: 'okx', latencyMs: 12 }),
      t('marketdata.subscribed', { venue: 'okx', symbols: ['ETH/USDT', 'BTC/USDT'] }),
      t('venue.dead-mans-switch-armed', { venue: 'okx', timeoutMs: 60_000, method: 'cancelAllAfter' }),
      t('venue.disconnected', { venue: 'kraken', reason: 'ws closed' }),
      t('marketdata.unsubscribed', { venue: 'okx', symbols: ['ETH/USDT'] }),
    )
    expect(venues(s)).toMatchObject([
      { venue: 'kraken', connected: false, disconnectReason: 'ws closed', marketData: [] },
      { venue: 'okx', connected: true, latencyMs: 12, marketData: ['BTC/USDT'], deadMansSwitch: { armed: true, timeoutMs: 60_000 } },
    ])
  })
})

describe('orders a venue reported in a shape haltd cannot record', () => {
  it('raises an unreadable order, and a trade of one, as anomalies naming the order, the trade and why, booking nothing', () => {
    const s = given(
      t('venue.order-unreadable', {
        venue: 'binance',
        what: 'order',
        clientOrderId: 'eng-8',
        venueOrderId: '4000008',
        symbol: 'BTC/USDT',
        reason: 'qty: Too small: expected number to be >0 (the venue gave 0)',
      }),
      t('venue.order-unreadable', { venue: 'binance', what: 'trade', venueOrderId: '4000009', reason: 'tradeId: Too big' }),
    )
    expect(anomalies(s)).toEqual([
      {
        seq: 1,
        ts: 1_000_000,
        kind: 'order-unreadable',
        venue: 'binance',
        clientOrderId: 'eng-8',
        detail: 'order eng-8 on BTC/USDT could not be recorded: qty: Too small: expected number to be >0 (the venue gave 0)',
      },
      expect.objectContaining({
        seq: 2,
        kind: 'order-unreadable',
        venue: 'binance',
        detail: 'a trade of venue order 4000009 could not be recorded: tradeId: Too big',
      }),
    ])
    expect(s.orders.size).toBe(0)
    expect(s.positions.size).toBe(0)
  })
})

describe('trades a venue reported without their market', () => {
  it('raises an unresolved trade as an anomaly naming the trade, its order and why, and books it to no position', () => {
    const s = given(
      t('venue.trade-unresolved', {
        venue: 'binance',
        tradeId: '900001',
        clientOrderId: 'eng-7',
        venueOrderId: '4000007',
        qty: 0.02,
        price: 50_000,
        marketsAsked: ['ETH/USDT'],
        reason: 'its order is on none of the 1 market(s) asked',
      }),
    )
    expect(anomalies(s)).toEqual([
      {
        seq: 1,
        ts: 1_000_000,
        kind: 'trade-unresolved',
        venue: 'binance',
        clientOrderId: 'eng-7',
        detail: 'trade 900001 of 0.02 @ 50000 for eng-7, booked to no position: its order is on none of the 1 market(s) asked',
      },
    ])
    expect(s.positions.size).toBe(0)
  })

  it('looks for their order on the markets of its orders newest first, then of its positions, then those observed, each once', () => {
    const s = given(
      ev.submitted('a', { venue: 'bn', symbol: 'BTC/USDT' }),
      ev.submitted('b', { venue: 'bn', symbol: 'SOL/USDT' }),
      ev.submitted('c', { venue: 'other', symbol: 'XRP/USDT' }),
      t('venue.positions-observed', {
        venue: 'bn',
        positions: [
          { symbol: 'ETH/USDT', qty: 1 },
          { symbol: 'BTC/USDT', qty: 2 },
        ],
      }),
      t('venue.markets-observed', {
        venue: 'bn',
        markets: [
          { symbol: 'DOGE/USDT', amountStep: 1 },
          { symbol: 'ADA/USDT', amountStep: 1 },
          { symbol: 'SOL/USDT', amountStep: 0.01 },
        ],
      }),
    )
    expect(marketsTraded(s, 'bn')).toEqual(['SOL/USDT', 'BTC/USDT', 'ETH/USDT', 'ADA/USDT', 'DOGE/USDT'])
    expect(marketsTraded(s, 'nowhere')).toEqual([])
  })
})

describe('shutdown progress', () => {
  const sd = 'sd-1'
  it('records mode, reason, origin, each step with start, end, outcome, duration and its commands', () => {
    const s = given(
      t('shutdown.requested', { shutdownId: sd, mode: 'graceful', reason: 'SIGTERM', origin: 'signal' }),
      t('shutdown.step-started', { shutdownId: sd, step: 1, name: 'announce' }),
      t('shutdown.step-completed', { shutdownId: sd, step: 1, name: 'announce' }),
      t('shutdown.step-started', { shutdownId: sd, step: 5, name: 'cancel open orders' }),
      t('shutdown.command-issued', { shutdownId: sd, commandId: 'k1', step: 5, command: { kind: 'cancel', clientOrderId: 'a' } }),
      t('shutdown.command-issued', { shutdownId: sd, commandId: 'k2', step: 5, command: { kind: 'cancel', clientOrderId: 'b' } }),
      t('shutdown.command-completed', { shutdownId: sd, commandId: 'k1', outcome: 'ok' }),
      t('shutdown.command-completed', { shutdownId: sd, commandId: 'k2', outcome: 'timed-out' }),
      t('shutdown.step-timed-out', { shutdownId: sd, step: 5, name: 'cancel open orders', budgetMs: 2000 }),
      t('shutdown.escalated', { shutdownId: sd, to: 'emergency', reason: 'second SIGTERM', origin: 'signal' }),
      t('shutdown.completed', { shutdownId: sd, outcome: 'emergency', exitCode: 2, durationMs: 9000 }),
    )
    const [p] = shutdowns(s)
    expect(p).toMatchObject({
      shutdownId: sd,
      mode: 'emergency',
      reason: 'SIGTERM',
      origin: 'signal',
      requestedAt: 1_000_000,
      escalation: { reason: 'second SIGTERM' },
      commandsIssued: 2,
      commandsCompleted: 2,
      commandsFailed: 1,
      completed: { outcome: 'emergency', exitCode: 2 },
    })
    expect(p!.steps).toMatchObject([
      { step: 1, name: 'announce', startedAt: 1_001_000, endedAt: 1_002_000, durationMs: 1000, outcome: 'completed' },
      {
        step: 5,
        name: 'cancel open orders',
        startedAt: 1_003_000,
        endedAt: 1_008_000,
        durationMs: 5000,
        outcome: 'timed-out',
        budgetMs: 2000,
        commandsIssued: 2,
        commandsCompleted: 2,
        commandsFailed: 1,
      },
    ])
    expect(anomalies(s)).toEqual([])
  })

  it('reports steps of an unrequested shutdown and a step that ends without a start', () => {
    const s = given(t('shutdown.step-failed', { shutdownId: 'ghost', step: 7, name: 'reconcile', error: 'venue down' }))
    expect(shutdowns(s)[0]!.steps).toMatchObject([{ step: 7, startedAt: null, outcome: 'failed', error: 'venue down' }])
    expect(anomalies(s).map((a) => a.kind)).toEqual(['shutdown-event-without-request', 'step-end-without-start'])
  })
})

describe('stored events a projection cannot use', () => {
  it('skips event types and versions newer than this build and malformed data, recording each as an anomaly, never throwing', () => {
    const s = initialState()
    expect(() => evolve(s, { seq: 1, ts: 5, type: 'future.thing', data: { x: 1 } } as unknown as Fact)).not.toThrow()
    expect(anomalies(s)).toMatchObject([
      { kind: 'unreadable-event', seq: 1, detail: expect.stringMatching(/'future\.thing' is not an event type this build knows/) },
    ])
    expect(() => evolve(s, { seq: 2, ts: 6, type: 'venue.markets-observed', data: { venue: 'v' } } as unknown as Fact)).not.toThrow()
    expect(anomalies(s)[1]).toMatchObject({ kind: 'projection-error', seq: 2 })
    evolve(s, {
      seq: 3,
      ts: 7,
      type: 'market.mark',
      v: 4,
      data: { venue: 'v', symbol: 'X', px: 'high' },
      unreadable: 'version 4 is newer than this build reads (v1)',
    } as unknown as Fact)
    expect(anomalies(s)[2]).toMatchObject({
      kind: 'unreadable-event',
      seq: 3,
      detail: 'market.mark v4 not applied: version 4 is newer than this build reads (v1)',
    })
    expect(s.marks.size).toBe(0)
    expect(s.venues.size).toBe(0)
    expect(s.seq).toBe(3)
  })
})
