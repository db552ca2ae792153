import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { auditFile } from '../../src/audit/audit.js'
import { EARLY_EVENTS_KEPT } from '../../src/audit/invariants.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { GUARDIAN_ORIGIN } from '../../src/core/execution/guardian.js'
import { adoptionEvents } from '../../src/core/execution/unrecordable.js'
import { recordFills } from '../../src/core/execution/venue-recorder.js'
import { manualClock, sequentialIds } from '../../src/events/clock.js'
import type { EventInput } from '../../src/events/index.js'
import { dist } from '../support/paths.js'
import { tempDb } from '../support/tmp.js'
import { rechainFrom, swapRows, T0, tamper, tradingDay, writeLog } from './fixtures.js'

const cli = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { encoding: 'utf8' })

// tradingDay: seq 8 submits o-1 (buy 2 on binance), 9 accepts it, 10 and 11 fill it 1 and 1
const SUBMIT = 8
const FIRST_FILL = 10

function dayLog(): string {
  const path = tempDb()
  writeLog(path, tradingDay(4)).log.close()
  return path
}

const invariantFindings = (path: string) => auditFile(path).findings.filter((f) => f.check === 'invariant')

const submitted = (id: string, qty: number, origin: { kind: 'strategy' | 'adopted'; id?: string } = { kind: 'strategy', id: 'mm' }): EventInput => ({
  type: 'order.submitted',
  data: { venue: 'binance', clientOrderId: id, symbol: 'BTC/USDT', side: 'buy', type: 'limit', qty, price: 100, origin },
})
/** A run's start: by a build that refuses overfills (`true`), or by one from before that rule. */
const runStarted = (refusesOverfills: boolean): EventInput => ({
  type: 'run.started',
  data: { runId: 'r-1', version: '0.1.0', configHash: 'c0ffee', host: 'test', pid: 1, ...(refusesOverfills ? { refusesOverfills: true } : {}) },
})
const filled = (id: string, tradeId: string, qty: number, source?: 'order-total'): EventInput => ({
  type: 'order.filled',
  data: { venue: 'binance', clientOrderId: id, tradeId, qty, price: 100, fee: 0, ...(source ? { source } : {}) },
})

describe('audit: a log rewritten with its chain recomputed, holding what haltd never writes', () => {
  it('given a fill moved before its order’s submission and the chain recomputed, then the audit finds the order’s events out of order and time running backwards, exit 1', () => {
    const path = dayLog()
    tamper(path, (db) => {
      swapRows(db, SUBMIT, FIRST_FILL)
      rechainFrom(db, SUBMIT)
    })
    // the chain alone cannot tell: every link holds
    expect(cli('verify', '--db', path).status).toBe(0)

    const report = auditFile(path)
    expect(report.chain.intact).toBe(true)
    expect(report.verdict).toBe('findings')
    const found = report.findings.filter((f) => f.check === 'invariant')
    expect(found).toContainEqual(expect.objectContaining({ kind: 'invariant.order-event-before-submit', seq: SUBMIT }))
    const early = found.find((f) => f.kind === 'invariant.order-event-before-submit')!
    expect(early.message).toContain(`before the order's own order.submitted at seq ${FIRST_FILL}`)
    expect(early.message).toContain('booked to no position')
    // the accepted row (seq 9) now precedes the fill's time, and the submission (seq 10) precedes both
    expect(found.filter((f) => f.kind === 'invariant.time-backwards').map((f) => f.seq)).toEqual([SUBMIT + 1, FIRST_FILL])
    // the fold still notes the fill it could not book
    expect(report.anomalies.map((a) => a.kind)).toContain('fill-for-unknown-order')

    const run = cli('audit', '--db', path)
    expect(run.status).toBe(1)
    expect(run.stdout).not.toContain('every check passed')
    expect(run.stdout).toContain('invariant.order-event-before-submit')
    expect(run.stdout).toContain('invariant.time-backwards')
  })

  it('given a fill edited to five times its order’s quantity and the chain recomputed, then the audit finds an overfill booked as a fill, exit 1', () => {
    const path = dayLog()
    tamper(path, (db) => {
      const row = db.prepare('SELECT data FROM events WHERE seq = ?').get(FIRST_FILL) as { data: string }
      const data = JSON.parse(row.data) as { qty: number }
      expect(data.qty).toBe(1)
      data.qty = 10
      db.prepare('UPDATE events SET data = ? WHERE seq = ?').run(JSON.stringify(data), FIRST_FILL)
      rechainFrom(db, FIRST_FILL)
    })
    expect(cli('verify', '--db', path).status).toBe(0)
    const found = invariantFindings(path)
    expect(found).toEqual([expect.objectContaining({ kind: 'invariant.overfill-booked', seq: FIRST_FILL })])
    expect(found[0]!.message).toContain('trade t-1-1 of 10 is recorded as a fill of order o-1 on binance, which was for 2')
    const run = cli('audit', '--db', path)
    expect(run.status).toBe(1)
    expect(run.stdout).toContain('invariant.overfill-booked')
  })

  it('given an order total of more than its order, recorded as a fill, then it is an overfill too', () => {
    const path = tempDb()
    writeLog(path, [runStarted(true), submitted('o-1', 2), filled('o-1', 'total:3:o-1', 3, 'order-total')]).log.close()
    expect(invariantFindings(path)).toEqual([expect.objectContaining({ kind: 'invariant.overfill-booked', seq: 3 })])
  })

  it('given a run of an older build, which recorded a venue report of more than the order as a fill, then that fill is the fold’s anomaly, not a finding', () => {
    const path = tempDb()
    writeLog(path, [runStarted(false), submitted('o-1', 2), filled('o-1', 't-1', 5)]).log.close()
    const report = auditFile(path)
    expect(report.findings.filter((f) => f.check === 'invariant')).toEqual([])
    expect(report.anomalies.map((a) => a.kind)).toContain('overfill')
  })

  it('given a strategy order submitted after a venue report of it, then the report is out of order, whatever its kind', () => {
    const path = tempDb()
    writeLog(path, [
      { type: 'order.accepted', data: { venue: 'binance', clientOrderId: 'o-1', venueOrderId: 'V1' } },
      { type: 'order.canceled', data: { venue: 'binance', clientOrderId: 'o-1', confirmedBy: 'ack' } },
      submitted('o-1', 2),
    ]).log.close()
    const found = invariantFindings(path)
    expect(found).toEqual([expect.objectContaining({ kind: 'invariant.order-event-before-submit', seq: 1 })])
    expect(found[0]!.message).toContain('order.accepted of order o-1 on binance (and 1 more of its events)')
  })
})

describe('audit: what haltd writes on purpose is no finding', () => {
  it('given an honest day of trading, then the new checks find nothing', () => {
    expect(auditFile(dayLog()).findings).toEqual([])
  })

  it('given a foreign fill the venue recorder recorded, of an order haltd never submits, then it is an anomaly, not a finding', () => {
    const path = tempDb()
    const { log } = writeLog(path, [submitted('o-1', 2)])
    recordFills(log, 'binance', [{ clientOrderId: 'foreign-1', tradeId: 'ft-1', qty: 5, price: 100, fee: 0 }], log)
    log.close()
    const report = auditFile(path)
    expect(report.findings).toEqual([])
    expect(report.anomalies.map((a) => a.kind)).toEqual(['fill-for-unknown-order'])
  })

  it('given trades of an order recorded before the guardian adopted it, then the adoption is no finding', () => {
    const path = tempDb()
    const { log } = writeLog(path, [])
    recordFills(log, 'binance', [{ clientOrderId: 'acct-7', tradeId: 'at-1', qty: 1, price: 100, fee: 0 }], log)
    log.appendBatch(
      adoptionEvents(
        'binance',
        { venueOrderId: 'V7', clientOrderId: 'acct-7', symbol: 'BTC/USDT', side: 'buy', qty: 3, filled: 1, status: 'open' },
        GUARDIAN_ORIGIN,
      ),
    )
    recordFills(log, 'binance', [{ clientOrderId: 'acct-7', tradeId: 'at-2', qty: 2, price: 100, fee: 0 }], log)
    log.close()
    expect(auditFile(path).findings).toEqual([])
  })

  it('given the venue recorder offered a fill of more than its order, then it recorded the venue’s unreadable report instead, and the log audits clean', () => {
    const path = tempDb()
    const { log } = writeLog(path, [submitted('o-1', 0.01)])
    recordFills(log, 'binance', [{ clientOrderId: 'o-1', tradeId: 'big', qty: 0.05, price: 100, fee: 0 }], log)
    log.close()
    const report = auditFile(path)
    expect(report.findings).toEqual([])
    expect(report.anomalies).toEqual([expect.objectContaining({ kind: 'order-unreadable' })])
  })

  it('given an order total beside the trades it counts, then nothing is a finding', () => {
    const path = tempDb()
    writeLog(path, [submitted('o-1', 2), filled('o-1', 't-1', 1), filled('o-1', 'total:2:o-1', 2, 'order-total'), filled('o-1', 't-2', 1)]).log.close()
    expect(auditFile(path).findings).toEqual([])
  })

  it('given two trades that only together come to more than their order, then it is the overfill anomaly, not a finding (the recorder judges each trade)', () => {
    const path = tempDb()
    writeLog(path, [submitted('o-1', 2), filled('o-1', 't-1', 1.5), filled('o-1', 't-2', 1.5)]).log.close()
    const report = auditFile(path)
    expect(report.findings).toEqual([])
    expect(report.anomalies.map((a) => a.kind)).toEqual(['overfill'])
  })

  it('given the wall clock stepped back while haltd wrote (NTP), then the log stamps no earlier time and the audit finds nothing', () => {
    const path = tempDb()
    const clock = manualClock(T0)
    const log = openEventLog({ path, clock, ids: sequentialIds('ev') })
    log.append(submitted('o-1', 2))
    clock.set(T0 - 60_000)
    log.append(filled('o-1', 't-1', 1))
    log.append(filled('o-1', 't-2', 1))
    log.close()
    expect(auditFile(path).findings).toEqual([])
  })

  it('given more orders with early events than the audit remembers, then the oldest are forgotten and memory stays flat', () => {
    const path = tempDb()
    const foreign = Array.from({ length: EARLY_EVENTS_KEPT + 1 }, (_, i) => filled(`f-${i}`, `ft-${i}`, 1))
    // the first foreign order is forgotten by the time haltd submits one under its id: no finding
    writeLog(path, [...foreign, submitted('f-0', 1), submitted(`f-${EARLY_EVENTS_KEPT}`, 1)], 1).log.close()
    const found = invariantFindings(path)
    expect(found).toEqual([expect.objectContaining({ kind: 'invariant.order-event-before-submit', seq: EARLY_EVENTS_KEPT + 1 })])
  })
})
