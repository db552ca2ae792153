import { describe, expect, it } from 'vitest'
import { foldShutdown } from '../../src/core/shutdown/decider.js'
import { buildShutdownReport, formatShutdownReport } from '../../src/core/shutdown/report.js'
import { reportLine } from '../../src/core/shutdown/graceful.js'
import { worldOf } from '../../src/core/shutdown/world.js'
import { tradingStatus } from '../../src/daemon/status.js'
import { dashboardView } from '../../src/admin/dashboard/view.js'
import { ev, given } from '../projections/given.js'
import { requested } from './given.js'

// haltd polls the tickers of a venue's `symbols` only: a position on any other market (an engine
// trading a market haltd was not told of, seen by following the whole account) has no price. Its
// unrealized P&L is unknown, and the reports say so rather than count it as 0.

/** Long 1 BTC/USDT at 100, marked at 110; long 2 ETH/USDT at 50, never marked. */
function oneMarketUnpriced() {
  return given(
    ev.submitted('c-btc', { symbol: 'BTC/USDT', qty: 1, price: 100 }),
    ev.accepted('c-btc'),
    ev.filled('c-btc', 't-1', 1, 100),
    ev.submitted('c-eth', { symbol: 'ETH/USDT', qty: 2, price: 50 }),
    ev.accepted('c-eth'),
    ev.filled('c-eth', 't-2', 2, 50),
    ev.mark(110, 'BTC/USDT'),
  )
}

describe('a position haltd has no price for is reported unpriced, never valued at 0', () => {
  it('given one position marked and one never priced, the shutdown’s world names the unpriced one only', () => {
    const world = worldOf(oneMarketUnpriced())

    expect(world.positions.map((p) => [p.symbol, p.unpriced ?? false])).toEqual([
      ['BTC/USDT', false],
      ['ETH/USDT', true],
    ])
  })

  it('given such a position at the end of a shutdown, the report names it UNPRICED, and its P&L line says the unrealized total leaves it out', () => {
    const world = worldOf(oneMarketUnpriced())

    const report = buildShutdownReport(foldShutdown([requested()]), world)
    const text = formatShutdownReport(report)

    expect(report.positions.find((p) => p.symbol === 'ETH/USDT')).toMatchObject({ qty: 2, unpriced: true })
    expect(text).toContain('position sim-a ETH/USDT: 2 (UNPRICED: haltd has no price for it)')
    expect(text).toMatch(/position sim-a BTC\/USDT: 1$/m)
    expect(text).toMatch(
      /^P&L: realized 0\.00, fees 0\.00, unrealized 10\.00 \(not counting 1 UNPRICED position\(s\), haltd having no price for them: sim-a ETH\/USDT\)$/m,
    )
  })

  it('given such a position, the closing notification’s P&L says the unrealized total leaves it out; a shutdown recorded before the rule replays its line as it ran', () => {
    const world = worldOf(oneMarketUnpriced())

    // as the controller records every new shutdown
    expect(reportLine(world, undefined, { reportNamesUnpriced: true })).toContain(
      'unrealized 10.00 (not counting 1 UNPRICED position(s), haltd having no price for them: sim-a ETH/USDT), fees 0.00',
    )
    // a request stored without the field reads as false: its message as it was decided then
    const old = foldShutdown([requested()]).options
    expect(old.reportNamesUnpriced).toBe(false)
    expect(reportLine(world, undefined, old)).toContain('unrealized 10.00, fees 0.00')
  })

  it('given every open position priced, nothing is said of prices', () => {
    const priced = given(
      ev.submitted('c-btc', { symbol: 'BTC/USDT', qty: 1, price: 100 }),
      ev.accepted('c-btc'),
      ev.filled('c-btc', 't-1', 1, 100),
      ev.mark(110, 'BTC/USDT'),
    )

    expect(formatShutdownReport(buildShutdownReport(foldShutdown([requested()]), worldOf(priced)))).not.toMatch(/UNPRICED/)
  })

  it('given such a position, the daemon’s status marks it unpriced, and only it', () => {
    const status = tradingStatus(oneMarketUnpriced())

    expect(status.positions.map((p) => [p.symbol, p.unpriced ?? false])).toEqual([
      ['BTC/USDT', false],
      ['ETH/USDT', true],
    ])
  })

  it('given such a position, the dashboard shows it unpriced and says how many positions its P&L leaves out', () => {
    const state = oneMarketUnpriced()
    const status = { state: 'RUNNING', gate: { halted: false }, strategies: [], ...tradingStatus(state) }

    const view = dashboardView({ state, status, venues: [], risk: [], now: Date.now(), since: 0 })

    expect(view.positions.find((p) => p.symbol === 'ETH/USDT')).toMatchObject({ unpriced: true })
    expect(view.positions.find((p) => p.symbol === 'BTC/USDT')).not.toHaveProperty('unpriced')
    expect(view.pnl.unpriced).toBe(1)
  })
})
