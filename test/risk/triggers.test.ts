import { afterEach, describe, expect, it } from 'vitest'
import { InvalidRiskConfig, KillSwitchNotLatched, ResetNeedsReason, ActivationNeedsReason, parseRiskConfig } from '../../src/core/risk/index.js'
import { activations, fill, mark, microtask, modeChanges, reject, riskRig, type RiskRig } from './rig.js'

const rigs: RiskRig[] = []
afterEach(() => {
  for (const r of rigs.splice(0)) r.close()
})
function make(config: unknown): RiskRig {
  const r = riskRig(config)
  rigs.push(r)
  return r
}

const strategyOrder = { origin: { kind: 'strategy' as const, id: 'mm' }, reduceOnly: false }
const reduceOnlyOrder = { origin: { kind: 'strategy' as const, id: 'mm' }, reduceOnly: true }

describe('drawdown trigger', () => {
  it('trips at the drawdown from peak mark-to-market equity, not below it, and records reading and threshold', () => {
    const r = make({ drawdown: { max: 15, action: 'HALTED' } })
    fill(r.log, 'a', 'buy', 1, 100)
    mark(r.log, 'a', 130) // equity 30: the peak
    mark(r.log, 'a', 115.01) // 14.99 below the peak
    expect(r.monitor.check()).toBeUndefined()
    expect(activations(r.log)).toEqual([])
    mark(r.log, 'a', 115) // 15 below the peak, while still 15 in profit since start
    expect(r.state().pnl.equity).toBe(15)
    expect(r.monitor.check()).toMatchObject({ trigger: 'drawdown', reading: 15, threshold: 15, action: 'HALTED' })
    expect(activations(r.log)).toEqual([expect.objectContaining({ trigger: 'drawdown', reading: 15, threshold: 15, action: 'HALTED', origin: 'risk' })])
  })

  it('does not trip on a loss since start that is smaller than the limit, however it came about', () => {
    const r = make({ drawdown: { max: 15 } })
    fill(r.log, 'a', 'buy', 1, 100)
    mark(r.log, 'a', 86) // equity −14, peak 0
    expect(r.monitor.check()).toBeUndefined()
    mark(r.log, 'a', 85)
    expect(r.monitor.check()).toMatchObject({ trigger: 'drawdown', reading: 15 })
  })

  it('measures a drawdown in percent of capital plus the peak', () => {
    const r = make({ drawdown: { max: 5, unit: 'percent', capital: 1_000 } })
    fill(r.log, 'a', 'buy', 10, 100)
    mark(r.log, 'a', 105) // peak 50: base 1,050; 5 % of it is 52.5
    mark(r.log, 'a', 99.76) // drawdown 52.4
    expect(r.monitor.check()).toBeUndefined()
    mark(r.log, 'a', 99.75) // drawdown 52.5
    expect(r.monitor.check()).toMatchObject({ trigger: 'drawdown', threshold: 5 })
    expect(activations(r.log)[0]!.reading).toBeCloseTo(5, 9)
  })
})

describe('gross notional trigger', () => {
  it('trips when Σ |position| × mark over every venue reaches the limit, not below it', () => {
    const r = make({ grossNotional: { max: 250 } })
    fill(r.log, 'a', 'buy', 1, 100)
    fill(r.log, 'b', 'sell', 2, 50) // a short counts by its size: 100 + 100
    expect(r.monitor.check()).toBeUndefined()
    mark(r.log, 'a', 149.99)
    expect(r.monitor.check()).toBeUndefined()
    mark(r.log, 'a', 150)
    expect(r.monitor.check()).toMatchObject({ trigger: 'grossNotional', reading: 250, threshold: 250, action: 'REDUCING' })
  })
})

describe('error burst trigger', () => {
  it('trips when rejects within the window reach the limit, and forgets the ones that left the window', () => {
    const r = make({ errorBurst: { max: 3, windowMs: 1_000 } })
    reject(r.log)
    reject(r.log)
    expect(r.monitor.check()).toBeUndefined()
    r.clock.advance(1_000) // both leave the window
    reject(r.log)
    reject(r.log)
    expect(r.monitor.check()).toBeUndefined()
    r.clock.advance(999)
    r.log.append({ type: 'venue.disconnected', data: { venue: 'a', reason: 'socket closed' } })
    expect(r.monitor.check()).toMatchObject({ trigger: 'errorBurst', reading: 3, threshold: 3 })
  })

  it("does not count a shutdown's own outcomes while it runs (unconfirmed cancels, venues it closes), and counts again once it completed", () => {
    const r = make({ errorBurst: { max: 3, windowMs: 1_000 } })
    const shutdownId = 'sd-risk'
    r.log.append({ type: 'shutdown.requested', data: { shutdownId, mode: 'graceful', reason: 'end of day', origin: 'operator', options: {} } })
    for (let i = 0; i < 10; i++) {
      r.log.append({ type: 'order.cancel-unconfirmed', data: { venue: 'a', clientOrderId: `o-${i}`, reason: 'the venue did not confirm' } })
      r.monitor.noteVenueError()
    }
    r.log.append({ type: 'venue.disconnected', data: { venue: 'a', reason: 'closed by the shutdown' } })
    expect(r.monitor.check()).toBeUndefined()
    r.log.append({ type: 'shutdown.completed', data: { shutdownId, outcome: 'residual-exposure', exitCode: 2, durationMs: 10 } })
    reject(r.log)
    reject(r.log)
    reject(r.log)
    expect(r.monitor.check()).toMatchObject({ trigger: 'errorBurst', reading: 3 })
  })

  it('trips by itself as the errors are appended, once the projections have them', async () => {
    const r = make({ errorBurst: { max: 2, windowMs: 1_000, action: 'HALTED' } })
    reject(r.log)
    r.monitor.noteVenueError()
    expect(r.gate.halted).toBe(false)
    await microtask()
    expect(r.gate.halted).toBe(true)
    expect(activations(r.log)).toHaveLength(1)
  })
})

describe('feed loss trigger', () => {
  it('trips when a watched venue has sent no market data for the limit, not a millisecond before', () => {
    const r = make({ feedLoss: { maxSilenceMs: 5_000 } })
    r.monitor.watchFeed('a')
    r.clock.advance(4_999)
    expect(r.monitor.check()).toBeUndefined()
    r.monitor.feedTick('a')
    r.clock.advance(4_999)
    expect(r.monitor.check()).toBeUndefined()
    r.clock.advance(1)
    expect(r.monitor.check()).toMatchObject({ trigger: 'feedLoss', reading: 5_000, threshold: 5_000, action: 'HALTED' })
    expect(String(activations(r.log)[0]!.reason)).toContain('no market data from a')
  })

  it('watches every venue the log says market data was subscribed for, and stops at unsubscribe', () => {
    const r = make({ feedLoss: { maxSilenceMs: 1_000 } })
    r.log.append({ type: 'marketdata.subscribed', data: { venue: 'b', symbols: ['BTC/USDT'] } })
    r.log.append({ type: 'marketdata.unsubscribed', data: { venue: 'b', symbols: ['BTC/USDT'] } })
    r.clock.advance(5_000)
    expect(r.monitor.check()).toBeUndefined()
    r.log.append({ type: 'marketdata.subscribed', data: { venue: 'b', symbols: ['BTC/USDT'] } })
    r.monitor.feedTick('b')
    r.clock.advance(1_000)
    expect(r.monitor.check()).toMatchObject({ trigger: 'feedLoss', reading: 1_000 })
  })
})

describe('actions and the latch', () => {
  it('REDUCING lets only reduce-only orders through the gate', () => {
    const r = make({ grossNotional: { max: 100, action: 'REDUCING' } })
    fill(r.log, 'a', 'buy', 1, 100)
    r.monitor.check()
    expect(r.state().trading.mode).toBe('REDUCING')
    expect(modeChanges(r.log)).toEqual(['REDUCING'])
    expect(r.gate.halted).toBe(false)
    expect(r.gate.refusal(strategyOrder)).toMatch(/REDUCING/)
    expect(r.gate.refusal(reduceOnlyOrder)).toBeUndefined()
  })

  it('HALTED closes the gate synchronously within the check, before anything else runs', () => {
    const r = make({ drawdown: { max: 1, action: 'HALTED' } })
    fill(r.log, 'a', 'buy', 1, 100)
    mark(r.log, 'a', 99)
    r.monitor.check()
    expect(r.gate.halted).toBe(true)
    expect(r.gate.latchReason).toMatch(/^kill switch: drawdown/)
    expect(r.gate.refusal(reduceOnlyOrder)).toMatch(/halted/)
    expect(r.state().trading.mode).toBe('HALTED')
    expect(r.state().trading.killSwitch).toMatchObject({ latched: true, trigger: 'drawdown', action: 'HALTED' })
  })

  it('EMERGENCY halts and starts the emergency path once', () => {
    const r = make({ errorBurst: { max: 1, windowMs: 1_000, action: 'EMERGENCY' } })
    reject(r.log)
    r.monitor.check()
    reject(r.log)
    r.monitor.check()
    expect(r.gate.halted).toBe(true)
    expect(r.emergencies).toHaveLength(1)
    expect(r.emergencies[0]).toMatch(/^kill switch: 1 rejects or venue errors/)
  })

  it('stays latched: a breach that persists is not recorded again, a more severe one escalates', () => {
    const r = make({ grossNotional: { max: 100, action: 'REDUCING' }, drawdown: { max: 10, action: 'HALTED' } })
    fill(r.log, 'a', 'buy', 1, 100)
    r.monitor.check()
    r.monitor.check()
    expect(activations(r.log).map((a) => a.action)).toEqual(['REDUCING'])
    mark(r.log, 'a', 90)
    expect(r.monitor.check()).toMatchObject({ trigger: 'drawdown', action: 'HALTED' })
    expect(activations(r.log).map((a) => a.action)).toEqual(['REDUCING', 'HALTED'])
    expect(modeChanges(r.log)).toEqual(['REDUCING', 'HALTED'])
  })

  it('trips on the most severe of the triggers breached at the same check', () => {
    const r = make({ grossNotional: { max: 100, action: 'REDUCING' }, errorBurst: { max: 1, windowMs: 1_000, action: 'EMERGENCY' } })
    fill(r.log, 'a', 'buy', 1, 100)
    reject(r.log)
    expect(r.monitor.check()).toMatchObject({ trigger: 'errorBurst', action: 'EMERGENCY' })
    expect(activations(r.log).map((a) => a.trigger)).toEqual(['errorBurst'])
    expect(r.monitor.check()).toBeUndefined()
  })

  it('never lowers a mode someone else raised', () => {
    const r = make({ grossNotional: { max: 100, action: 'REDUCING' } })
    r.log.append({ type: 'trading.state-changed', data: { to: 'HALTED', reason: 'graceful shutdown', origin: 'shutdown' } })
    fill(r.log, 'a', 'buy', 1, 100)
    r.monitor.check()
    expect(activations(r.log)).toHaveLength(1)
    expect(modeChanges(r.log)).toEqual(['HALTED'])
    expect(r.state().trading.mode).toBe('HALTED')
  })

  it('refuses a reset without a reason, and a reset when nothing is latched', () => {
    const r = make({ drawdown: { max: 1 } })
    expect(() => r.monitor.reset({ reason: 'x' })).toThrow(KillSwitchNotLatched)
    fill(r.log, 'a', 'buy', 1, 100)
    mark(r.log, 'a', 99)
    r.monitor.check()
    const before = r.log.lastSeq
    expect(() => r.monitor.reset({ reason: '   ', by: 'alice' })).toThrow(ResetNeedsReason)
    expect(() => r.monitor.reset(undefined as never)).toThrow(ResetNeedsReason)
    expect(r.log.lastSeq).toBe(before)
    expect(r.monitor.latched).toBe(true)
  })

  it('an operator reset with a reason unlatches, returns trading to ACTIVE and reopens the gate', () => {
    const r = make({ drawdown: { max: 1 } })
    fill(r.log, 'a', 'buy', 1, 100)
    mark(r.log, 'a', 99)
    r.monitor.check()
    r.monitor.reset({ reason: 'mark feed glitch confirmed with the venue', by: 'alice' })
    expect(r.monitor.latched).toBe(false)
    expect(r.gate.halted).toBe(false)
    expect(r.gate.refusal(strategyOrder)).toBeUndefined()
    expect([...r.log.read({ types: ['killswitch.reset'] })].map((e) => e.data)).toEqual([
      { reason: 'mark feed glitch confirmed with the venue', origin: 'operator', by: 'alice', equity: -1, peakEquity: 0, scope: 'local' },
    ])
    expect(r.state().trading).toMatchObject({ mode: 'ACTIVE', killSwitch: { latched: false, lastReset: { by: 'alice' } } })
  })

  it('after a reset, measures drawdown from the equity at the reset, so it trips again on a fresh loss of the limit', () => {
    const r = make({ drawdown: { max: 10 } })
    fill(r.log, 'a', 'buy', 1, 100)
    mark(r.log, 'a', 120)
    mark(r.log, 'a', 110)
    r.monitor.check()
    r.monitor.reset({ reason: 'reviewed', by: 'alice' })
    expect(r.monitor.check()).toBeUndefined()
    mark(r.log, 'a', 100.01)
    expect(r.monitor.check()).toBeUndefined()
    mark(r.log, 'a', 100)
    expect(r.monitor.check()).toMatchObject({ trigger: 'drawdown', reading: 10 })
  })

  it('a reset reopens only the latch the kill switch set, not one a shutdown set', () => {
    const r = make({ drawdown: { max: 1 } })
    r.gate.halt('SIGUSR2')
    fill(r.log, 'a', 'buy', 1, 100)
    mark(r.log, 'a', 99)
    r.monitor.check()
    r.monitor.reset({ reason: 'reviewed' })
    expect(r.gate.halted).toBe(true)
    expect(r.gate.latchReason).toBe('SIGUSR2')
  })

  it('can be activated by hand with a reason, and names the one who did', () => {
    const r = make({})
    expect(() => r.monitor.activate({ reason: '' })).toThrow(ActivationNeedsReason)
    r.monitor.activate({ reason: 'venue outage announced', by: 'bob', origin: 'admin' })
    expect(activations(r.log)).toEqual([{ reason: 'venue outage announced', by: 'bob', origin: 'admin', trigger: 'manual', action: 'HALTED', scope: 'local' }])
    expect(r.gate.halted).toBe(true)
  })
})

describe('risk config', () => {
  it('is off unless configured, and lists every bad field', () => {
    expect(parseRiskConfig({})).toEqual({ checkIntervalMs: 500 })
    let problems: string[] = []
    try {
      parseRiskConfig({ drawdown: { max: 5, unit: 'percent' }, errorBurst: { max: 0, windowMs: 100 }, feedLoss: { maxSilenceMs: 1, action: 'PANIC' } })
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidRiskConfig)
      problems = (e as InvalidRiskConfig).problems.map((p) => p.path)
    }
    expect(problems.sort()).toEqual(['risk.drawdown.capital', 'risk.errorBurst.max', 'risk.feedLoss.action'])
  })
})
