import pTimeout from 'p-timeout'
import { HaltdError } from '../events/errors.js'
import { isOwnOrderId, type ExchangeGateway, type VenueOrder } from '../exchanges/gateway.js'
import { order as orderOf, reconciliation, type HaltdState, type ReconciliationRow, type TradingView } from '../projections/index.js'
import { quantity } from '../projections/money.js'
import type { EventLog } from '../core/log/event-log.js'
import type { OrderGate } from '../core/execution/gate.js'
import { observeVenue } from '../core/execution/venue-recorder.js'
import { pool } from '../core/execution/pool.js'
import { findUnfinishedShutdown, type ResumePoint } from '../core/shutdown/controller.js'
import type { ShutdownMode } from '../events/primitives.js'
import type { HaltdConfig } from './config.js'
import { keepSwitches, type SwitchesArmedAtStartup } from './dead-mans-switches.js'
import type { Logger } from './logger.js'
import { connectedVenues, connectVenues } from './venues.js'

export type StartupReconciliation = {
  /** Orders found at a venue with haltd's tag and unknown to the log: now in the log as `adopted`. */
  adopted: { venue: string; clientOrderId: string; symbol: string; qty: number }[]
  /** Orders at a venue that haltd never sent: left alone, shown here and in `/reconciliation`. */
  foreign: { venue: string; venueOrderId?: string; clientOrderId?: string; symbol: string; qty: number }[]
  /** Orders the log had live that the venue no longer lists, settled by asking the venue; and those whose answer was lost that it lists. */
  settled: { venue: string; clientOrderId: string; became: string }[]
  /** Rows still not OK once the above is done (foreign orders aside). */
  mismatches: ReconciliationRow[]
  /** Venues that could not be asked. */
  unreachable: { venue: string; error: string }[]
}

/** `refuseToStartOnMismatch` is set and a venue disagrees with the log. */
export class StartupMismatch extends HaltdError {
  constructor(readonly report: StartupReconciliation) {
    const rows = report.mismatches.map(
      (r) =>
        `${r.venue} ${r.symbol}${r.clientOrderId ? ` ${r.clientOrderId}` : ''}: ${r.status} (internal ${quantity(r.internal)}, venue ${r.observed === null ? '—' : quantity(r.observed)})`,
    )
    const down = report.unreachable.map((u) => `${u.venue}: unreachable (${u.error})`)
    super('STARTUP_MISMATCH', `refusing to start: the venues disagree with the log:\n  ${[...rows, ...down].join('\n  ')}`)
  }
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/**
 * The startup sequence, once every part is wired and the admin API is up: is this run HALTED
 * (`haltedAtStartup`)? Connect every venue, keep their dead man's switches armed, reconcile with
 * every venue, reopen after a completed shutdown, deploy the strategies, start market data and the
 * risk monitor; then the daemon is running or halted, and an unfinished shutdown is resumed.
 * Returns the reconciliation's report.
 */
export async function startUp(input: {
  config: Pick<HaltdConfig, 'shutdown' | 'deadMansSwitch' | 'startup'>
  log: EventLog
  state: () => HaltdState
  gate: OrderGate
  venues: ReadonlyMap<string, ExchangeGateway>
  runId: string
  switches: SwitchesArmedAtStartup
  /** Build and register the run's strategies (disabled while halted); returns the ones that would have traded but for the halt. */
  deploy: (options: { halted: boolean }) => string[]
  marketData: { start(): void }
  risk: { start(): void }
  life: {
    holdBack(strategyIds: string[]): void
    set(to: 'running' | 'halted'): void
    resumeUnfinished(procedure: ShutdownMode): void
    /** A shutdown was asked for meanwhile: what is left of startup would undo it. */
    readonly stopRequested: boolean
  }
  cleanups: { push(cleanup: () => unknown): void }
  logger: Logger
  onError: (e: unknown) => void
}): Promise<StartupReconciliation> {
  const { config, log, state, gate, venues, switches, life, logger } = input
  const { unfinished, latched } = haltedAtStartup({ log, state: state(), gate, logger })
  const connectBudget = config.shutdown.graceful.budgets.reconcile ?? 15_000
  const report: StartupReconciliation = { adopted: [], foreign: [], settled: [], mismatches: [], unreachable: [] }
  // A signal or an operator may stop haltd while it connects or reconciles: the shutdown then owns
  // the venues, the gate and market data, and the rest of startup (reopen, deploy, market data,
  // risk, running) would undo what it did. Whatever startup meets once stopping is not its error.
  const stopping = () => {
    if (life.stopRequested) logger.warn('a shutdown was requested during startup: the rest of startup is skipped')
    return life.stopRequested
  }
  try {
    await connectVenues(log, venues, connectBudget, logger)
  } catch (e) {
    if (stopping()) return report
    throw e
  }
  if (stopping()) return report
  // An unfinished emergency arms its own, shorter countdown when it resumes.
  if (config.deadMansSwitch.keepArmed && unfinished?.procedure !== 'emergency') {
    const { timeoutMs, refreshMs } = config.deadMansSwitch
    switches.keep(keepSwitches(log, connectedVenues(venues, state()), { timeoutMs, refreshMs, onError: input.onError }))
    input.cleanups.push(() => switches.stopRefreshing())
  }
  try {
    Object.assign(
      report,
      await reconcileVenues({
        log,
        venues,
        state,
        timeoutMs: connectBudget,
        adoptTagged: config.startup.adoptTaggedOrders,
        logger,
        refuseOnMismatch: config.startup.refuseToStartOnMismatch && !unfinished,
      }),
    )
  } catch (e) {
    if (stopping()) return report
    throw e
  }
  if (stopping()) return report
  if (!unfinished && !latched) reopenAfterCompletedShutdown(log, state().trading, input.runId)
  const halted = gate.halted || unfinished !== undefined
  const wouldTrade = input.deploy({ halted })
  // Held back only by a latched kill switch: an operator's reset lets them trade.
  life.holdBack(unfinished ? [] : wouldTrade)
  input.marketData.start()
  input.risk.start()
  life.set(halted ? 'halted' : 'running')
  if (unfinished) life.resumeUnfinished(unfinished.procedure)
  return report
}

/**
 * What holds this run HALTED from its first instant: a latched kill switch (the risk monitor has
 * closed the gate already, with its latch, which its reset reopens), or a shutdown a previous run
 * left unfinished (the gate closes here; the shutdown is resumed once the venues are reconciled).
 */
export function haltedAtStartup(input: { log: EventLog; state: HaltdState; gate: OrderGate; logger: Logger }): {
  unfinished: ResumePoint | undefined
  latched: boolean
} {
  const { gate, logger } = input
  const unfinished = findUnfinishedShutdown(input.log)
  const latched = input.state.trading.killSwitch
  if (latched.latched) {
    logger.warn(
      { reason: latched.reason, action: latched.action },
      `coming up ${latched.action === 'REDUCING' ? 'REDUCING' : 'HALTED'}: the kill switch is latched (reset it with a reason: haltd killswitch reset)`,
    )
  }
  if (unfinished) {
    gate.halt(`resuming unfinished shutdown ${unfinished.shutdownId}`)
    logger.warn(
      { shutdownId: unfinished.shutdownId, procedure: unfinished.procedure, nextStep: unfinished.nextStep },
      'coming up HALTED: a shutdown was left unfinished; resuming it',
    )
  }
  return { unfinished, latched: latched.latched }
}

/**
 * `reconcileAtStartup`, with its outcome in the daemon's log; with `refuseOnMismatch`, a venue
 * that disagrees with the log (or cannot be asked) stops the startup.
 */
export async function reconcileVenues(
  input: Parameters<typeof reconcileAtStartup>[0] & { logger: Logger; refuseOnMismatch: boolean },
): Promise<StartupReconciliation> {
  const { logger } = input
  const report = await reconcileAtStartup(input)
  logger.info(
    {
      adopted: report.adopted.length,
      foreign: report.foreign.length,
      settled: report.settled.length,
      mismatches: report.mismatches.length,
      unreachable: report.unreachable.length,
    },
    'startup reconciliation done',
  )
  for (const f of report.foreign) logger.warn({ ...f }, 'foreign order at the venue (not sent by haltd): left alone')
  if (input.refuseOnMismatch && (report.mismatches.length > 0 || report.unreachable.length > 0)) throw new StartupMismatch(report)
  return report
}

/**
 * A shutdown that completed left trading HALTED and deployments locked: that was its run's
 * business. A new run starts ACTIVE unless something still holds it (the kill switch, an
 * unfinished shutdown: the caller's to check).
 */
export function reopenAfterCompletedShutdown(log: EventLog, trading: TradingView, runId: string): void {
  if (trading.mode !== 'ACTIVE' && trading.modeChange?.origin === 'shutdown') {
    log.append({ type: 'trading.state-changed', data: { to: 'ACTIVE', reason: `new run ${runId} after a completed shutdown`, origin: 'restart' } })
  }
  if (trading.deploymentsLocked && trading.deploymentsLocked.origin === 'shutdown') {
    log.append({ type: 'deployments.unlocked', data: { reason: `new run ${runId} after a completed shutdown`, origin: 'restart' } })
  }
}

/**
 * Startup reconciliation: ask every venue what it holds (recorded as observations), adopt the
 * orders that carry haltd's tag but are missing from the log, flag foreign ones, settle orders the
 * log thinks live but the venue no longer lists, and report what still does not match.
 */
/** Lookups in flight per venue while settling orders at startup. */
const SETTLE_IN_FLIGHT = 128

export async function reconcileAtStartup(input: {
  log: EventLog
  venues: ReadonlyMap<string, ExchangeGateway>
  state: () => HaltdState
  timeoutMs: number
  adoptTagged: boolean
}): Promise<StartupReconciliation> {
  const { log, venues, state, timeoutMs } = input
  const report: StartupReconciliation = { adopted: [], foreign: [], settled: [], mismatches: [], unreachable: [] }
  const reachable = new Set<string>()
  await Promise.all(
    [...venues.values()].map(async (gw) => {
      try {
        await pTimeout(observeVenue(log, gw), { milliseconds: timeoutMs, message: `no answer within ${timeoutMs} ms` })
        reachable.add(gw.venue)
      } catch (e) {
        report.unreachable.push({ venue: gw.venue, error: messageOf(e) })
        log.append({ type: 'venue.disconnected', data: { venue: gw.venue, reason: `startup reconciliation: ${messageOf(e)}` } })
      }
    }),
  )

  const missing: ReconciliationRow[] = []
  for (const row of reconciliation(state()).rows) {
    if (row.kind !== 'order' || !reachable.has(row.venue)) continue
    if (row.status === 'UNKNOWN_TO_US') {
      if (input.adoptTagged && isOwnOrderId(row.clientOrderId)) adopt(log, state(), row, report)
      else
        report.foreign.push({
          venue: row.venue,
          symbol: row.symbol,
          qty: row.observed ?? 0,
          ...(row.venueOrderId ? { venueOrderId: row.venueOrderId } : {}),
          ...(row.clientOrderId ? { clientOrderId: row.clientOrderId } : {}),
        })
    } else if (row.status === 'MISSING_AT_VENUE' && row.clientOrderId) {
      missing.push(row)
    } else if (row.clientOrderId && row.venueOrderId) {
      acceptListed(log, state(), { venue: row.venue, clientOrderId: row.clientOrderId, venueOrderId: row.venueOrderId }, report)
    }
  }
  // Orders the venue's list no longer shows, asked after in parallel per venue (the gateway keeps
  // to the venue's rate limits): a crash with thousands live must not restart one round trip each.
  await Promise.all(
    [...venues.values()].map((gw) =>
      pool(
        missing.filter((row) => row.venue === gw.venue),
        SETTLE_IN_FLIGHT,
        (row) => settle(log, state(), gw, row, timeoutMs, report),
      ),
    ),
  )

  const foreignIds = new Set(report.foreign.map((f) => `${f.venue} ${f.venueOrderId}`))
  report.mismatches = reconciliation(state()).rows.filter(
    (r) => r.status !== 'OK' && reachable.has(r.venue) && !(r.kind === 'order' && foreignIds.has(`${r.venue} ${r.venueOrderId}`)),
  )
  return report
}

/**
 * An order the last run sent whose answer never came back (it died waiting): the venue lists it,
 * and that list is the venue's answer. Recorded accepted with the venue's id, as a lookup would.
 */
function acceptListed(
  log: EventLog,
  state: HaltdState,
  listed: { venue: string; clientOrderId: string; venueOrderId: string },
  report: StartupReconciliation,
): void {
  const o = orderOf(state, listed.venue, listed.clientOrderId)
  if (!o || o.venueOrderId !== undefined || (o.status !== 'pending-new' && o.status !== 'unknown')) return
  log.append({ type: 'order.accepted', data: listed })
  report.settled.push({ venue: listed.venue, clientOrderId: listed.clientOrderId, became: 'accepted (listed open at the venue; its answer was lost)' })
}

function adopt(log: EventLog, state: HaltdState, row: ReconciliationRow, report: StartupReconciliation): void {
  const seen = state.venues.get(row.venue)?.openOrders?.orders.find((o) => o.venueOrderId === row.venueOrderId)
  if (!seen || !row.clientOrderId) return
  const remaining = Math.max(0, seen.qty - seen.filled)
  if (remaining <= 0) return
  // What is left to trade is what haltd now manages; fills before adoption are not in the log.
  log.append({
    type: 'order.submitted',
    data: {
      venue: row.venue,
      clientOrderId: row.clientOrderId,
      symbol: seen.symbol,
      side: seen.side,
      type: seen.price === undefined ? 'market' : 'limit',
      qty: remaining,
      price: seen.price,
      origin: { kind: 'adopted', id: 'startup-reconciliation' },
    },
  })
  log.append({ type: 'order.accepted', data: { venue: row.venue, clientOrderId: row.clientOrderId, venueOrderId: seen.venueOrderId } })
  report.adopted.push({ venue: row.venue, clientOrderId: row.clientOrderId, symbol: seen.symbol, qty: remaining })
}

async function settle(
  log: EventLog,
  state: HaltdState,
  gw: ExchangeGateway,
  row: ReconciliationRow,
  timeoutMs: number,
  report: StartupReconciliation,
): Promise<void> {
  const clientOrderId = row.clientOrderId!
  const key = { venue: row.venue, clientOrderId }
  let found: VenueOrder | undefined
  try {
    found = await pTimeout(gw.fetchOrder({ clientOrderId, symbol: row.symbol, ...(row.venueOrderId ? { venueOrderId: row.venueOrderId } : {}) }), {
      milliseconds: timeoutMs,
    })
  } catch {
    return
  }
  const known = orderOf(state, row.venue, clientOrderId)
  let became: string
  if (found === undefined) {
    // Not listed and not known: an order that was accepted is gone from the open-order list;
    // one whose answer never came back never arrived.
    if (known?.venueOrderId !== undefined || row.venueOrderId !== undefined) {
      log.append({ type: 'order.canceled', data: { ...key, confirmedBy: 'open-orders' } })
      became = 'canceled (missing from the venue)'
    } else {
      log.append({ type: 'order.rejected', data: { ...key, reason: 'not at the venue at startup', code: 'LOST' } })
      became = 'rejected (never reached the venue)'
    }
  } else if (found.status === 'canceled') {
    log.append({ type: 'order.canceled', data: { ...key, confirmedBy: 'open-orders' } })
    became = 'canceled'
  } else if (found.status === 'expired') {
    log.append({ type: 'order.expired', data: key })
    became = 'expired'
  } else if (found.status === 'rejected') {
    log.append({ type: 'order.rejected', data: { ...key, reason: 'rejected, as the venue reported at startup' } })
    became = 'rejected'
  } else {
    // Filled or still open at the venue: its fills are the venue's to report; the mismatch stays visible.
    became = `${found.status} at the venue (fills not yet in the log)`
  }
  report.settled.push({ venue: row.venue, clientOrderId, became })
}
