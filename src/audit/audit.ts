import { specialFileKind } from '../core/log/special-file.js'
import { evolve, initialState, tradingState, type HaltdState } from '../projections/index.js'
import { openEventLog, outOfRangeRows, type EventLog, type StoredRow } from '../core/log/event-log.js'
import { checkAnchor, type LogAnchor } from '../core/log/anchor.js'
import { HaltdError, LogDamaged, NotAnEventLog } from '../core/log/errors.js'
import { salvageRows } from './salvage.js'
import { LightPages, storedRows, type LightRow } from './rows.js'
import { chainOnWorker, type ExternalChain } from './chain-thread.js'
import { createChainCheck, type ChainSummary } from './chain-check.js'
import { Findings, groupFindings } from './findings.js'
import { createInvariantCheck } from './invariants.js'
import type { AuditReport, Finding } from './audit-report.js'
import { createOutcomeTracker } from './shutdown-outcomes.js'
import { createRunTracker } from './run-rows.js'
import { factOf } from './schema-check.js'
import { killSwitchSummary, openOrderRows, pnlSummary, positionRows, reconciliationTable, shutdownSummary } from './state-view.js'
import { shutdowns } from '../projections/index.js'
import { createDecisionCheck } from './decision-check.js'

export type AuditOptions = {
  /** Walk the hash chain (default true); off only to measure what the chain costs. */
  verifyChain?: boolean
  /** How many findings and anomalies the report lists (counts stay exact). */
  keep?: number
  /** The report's timestamp (tests pin it). */
  now?: () => Date
  /** A head kept outside the log (`SEQ:HASH` from a checkpoint, a report or a notification): the log must still hold it. */
  expectHead?: LogAnchor
  /** A keyed log's chain key: without it the audit does all but check the chain, and says so. */
  chainKey?: Buffer
}

/** What the audit says of a keyed log it was given no key for. */
export const KEYED_WITHOUT_KEY = 'chain not verified: keyed log, give --key-file'

/**
 * Audit a log in one streaming pass: every stored row goes through the chain check, the schema
 * check, the invariants, the decision replay and the projections, then is dropped. Memory is the
 * projection state plus a bounded list of findings, whatever the log's length.
 */
export function auditLog(log: EventLog, options: AuditOptions = {}): AuditReport {
  const unverifiable = log.chainKind === 'hmac-sha256' && options.chainKey === undefined
  const report = auditRows(log.path, storedRows(log.database, 2000, 1, log.lastSeq), unverifiable ? { ...options, verifyChain: false } : options)
  noteChain(report, log, options)
  noteRowsOutOfRange(report, log)
  return report
}

/** Rows no page read reaches (a seq past 2^53 - 1, or below 1): the audit read less than the file holds. */
function noteRowsOutOfRange(report: AuditReport, log: EventLog): void {
  const outside = outOfRangeRows(log.database)
  if (outside === 0) return
  addFinding(report, {
    check: 'chain',
    kind: 'chain.seq-out-of-range',
    seq: null,
    message: `${outside} row(s) stored at a seq outside 1 to ${Number.MAX_SAFE_INTEGER}: no append writes there, so the file was edited, and the audit did not read them`,
  })
  report.chain.intact = false
}

/** Why the chain was not checked (a keyed log without its key), or how (under a key, a log that says it is plain). */
function noteChain(report: AuditReport, log: EventLog, options: AuditOptions): void {
  if (log.chainKind === 'hmac-sha256' && options.chainKey === undefined) {
    // nothing is claimed of a chain that was not checked
    report.coverage.chainNote = KEYED_WITHOUT_KEY
    report.chain = { intact: false, firstBadSeq: null, problem: KEYED_WITHOUT_KEY }
  } else if (log.chainKind === 'sha256' && options.chainKey !== undefined)
    report.coverage.chainNote =
      'chain checked under the key given, though the log says it is plain sha256: a log created without a key fails from seq 1; one rewritten without the key fails where the rewrite starts'
}

/**
 * The audit over any stream of stored rows (a log, or what can still be read of a damaged file).
 * With `external`, the chain is walked elsewhere, and without a chain walk (`verifyChain: false`)
 * it is not walked at all: then the rows need not carry ids and hashes, and come as SQLite's
 * pages of light rows (`LightPages`).
 */
export function auditRows(path: string, rows: Iterable<StoredRow>, options?: AuditOptions): AuditReport
export function auditRows(path: string, rows: Iterable<LightRow> | LightPages, options: AuditOptions & { verifyChain: false }): AuditReport
export function auditRows(path: string, rows: Iterable<LightRow> | LightPages, options: AuditOptions, external: ExternalChain): AuditReport
export function auditRows(
  path: string,
  rows: Iterable<LightRow & Partial<StoredRow>> | LightPages,
  options: AuditOptions = {},
  external?: ExternalChain,
): AuditReport {
  const keep = options.keep ?? 1000
  const findings = new Findings(keep)
  const chain = options.verifyChain === false || external ? undefined : createChainCheck(findings.add, options.chainKey)
  const invariants = createInvariantCheck(findings.add)
  const decisions = createDecisionCheck(findings.add)
  const runs = createRunTracker()
  const outcomes = createOutcomeTracker()
  const state: HaltdState = initialState()
  let events = 0
  let firstSeq: number | null = null
  let firstTs: number | null = null
  let lastSeq: number | null = null
  let lastTs: number | null = null
  let lastHash: string | null = null
  let unreadableAfterSeq: number | null = null

  /** One row through every check but the chain's, and into the state. */
  const pass = (seq: number, type: string, v: number, ts: number, data: string): void => {
    events++
    if (firstSeq === null) {
      firstSeq = seq
      firstTs = ts
    }
    lastSeq = seq
    lastTs = ts
    const fact = factOf(seq, type, v, ts, data, findings.add)
    if (!fact) {
      invariants.invalidRow({ seq, type, data })
      return
    }
    runs.observe(fact)
    invariants.before(fact, state)
    decisions.before(fact, state)
    const held = invariants.positionBefore(fact, state)
    outcomes.before(fact, state)
    evolve(state, fact)
    invariants.after(fact, state, held)
    outcomes.observe(fact, state)
  }

  try {
    if (rows instanceof LightPages) {
      for (const page of rows) for (const r of page) pass(r[0], r[1], r[2], r[3], r[4])
    } else {
      for (const row of rows) {
        lastHash = row.hash ?? null
        chain?.push(row as StoredRow)
        pass(row.seq, row.type, row.v, row.ts, row.data)
      }
    }
  } catch (e) {
    // the file ends or breaks part-way (truncated, corrupt page): report what was read, and where it stopped
    unreadableAfterSeq = lastSeq ?? 0
    findings.add({
      check: 'read',
      kind: 'read.unreadable',
      seq: unreadableAfterSeq + 1,
      message: `the log cannot be read past seq ${unreadableAfterSeq}: ${e instanceof Error ? e.message : String(e)}`,
    })
  }
  let summary: ChainSummary | undefined = chain?.finish()
  if (external) {
    const answer = external()
    summary = answer.summary
    findings.merge(answer.findings, answer.total, answer.byCheck)
    if (unreadableAfterSeq === null) lastHash = answer.summary.headHash
  }
  invariants.finish(state)
  decisions.finish()

  const trading = tradingState(state)
  const chainIntact = summary ? summary.intact : true
  const shutdownOutcomes = outcomes.finish(state)
  const last = shutdownOutcomes[0]
  return {
    tool: 'haltd audit',
    file: path,
    generatedAt: (options.now?.() ?? new Date()).toISOString(),
    log: { events, firstSeq, lastSeq, firstTs, lastTs, headHash: lastHash, unreadableAfterSeq },
    coverage: {
      chainVerified: summary !== undefined,
      rowsSchemaChecked: events,
      decisionsReplayed: decisions.decisions,
      flattenFills: invariants.flattenCoverage(),
    },
    chain: { intact: chainIntact && unreadableAfterSeq === null, firstBadSeq: summary?.firstBadSeq ?? null, problem: summary?.problem ?? null },
    runs: runs.rows(),
    shutdowns: shutdowns(state).map(shutdownSummary),
    reconciliation: reconciliationTable(state),
    positions: positionRows(state),
    pnl: pnlSummary(state),
    openOrders: openOrderRows(state),
    trading: { mode: trading.mode, killSwitch: killSwitchSummary(state) },
    anomalies: state.anomalies.slice(-keep).map((a) => ({ seq: a.seq, ts: a.ts, kind: a.kind, detail: a.detail })),
    anomaliesTotal: state.anomalyCount,
    findings: findings.kept,
    findingsTotal: findings.total,
    findingsByCheck: { ...findings.byCheck },
    findingGroups: groupFindings(findings.kept),
    verdict: unreadableAfterSeq !== null ? 'unreadable' : findings.total > 0 ? 'findings' : 'clean',
    outcomes: shutdownOutcomes,
    outcome: last ? { shutdownId: last.shutdownId, verdict: last.verdict, safe: last.safe } : null,
  }
}

/** A finding found after the pass (an anchor the log no longer holds, a file that did not read whole). */
function addFinding(report: AuditReport, finding: Finding): void {
  report.findings.push(finding)
  report.findingsTotal++
  report.findingsByCheck[finding.check] = (report.findingsByCheck[finding.check] ?? 0) + 1
  report.findingGroups = groupFindings(report.findings)
  if (report.verdict === 'clean') report.verdict = 'findings'
}

/**
 * Open a log file read-only and audit it. A haltd log too damaged to open (a truncated file, a
 * corrupt page) is audited as far as its rows can be read, with verdict `unreadable` and the seq
 * where reading stopped. Throws `NotAnEventLog` when the file is not a haltd log at all.
 */
export function auditFile(path: string, options: AuditOptions = {}): AuditReport {
  // not salvaged either: a copy of a FIFO or a device would block, or never end
  const special = specialFileKind(path)
  if (special !== undefined) throw new NotAnEventLog(path, `it is a ${special}, not a file`)
  let log: EventLog
  try {
    log = openEventLog({ path, readonly: true, ...(options.chainKey ? { chainKey: options.chainKey } : {}) })
  } catch (e) {
    if (!(e instanceof NotAnEventLog)) throw e
    return auditSalvaged(path, options, e, `the file cannot be opened as a log (${e.message})`)
  }
  try {
    const toSeq = log.lastSeq
    const unverifiable = log.chainKind === 'hmac-sha256' && options.chainKey === undefined
    const external = options.verifyChain === false || unverifiable ? undefined : chainOnWorker(path, toSeq, options.keep ?? 1000, options.chainKey)
    const report = external
      ? auditRows(path, new LightPages(log.database, toSeq), options, external)
      : options.verifyChain === false
        ? withoutChain(path, log, toSeq, { ...options, verifyChain: false })
        : auditLog(log, options)
    if (external) noteChain(report, log, options)
    // auditLog notes them itself
    if (external || options.verifyChain === false) noteRowsOutOfRange(report, log)
    if (options.expectHead) checkExpectedHead(report, log, options.expectHead)
    return report
  } catch (e) {
    // A file that opens but breaks while it is read (a corrupt page in the middle) is audited as
    // far as its rows can be read, like one that does not open at all.
    if (e instanceof HaltdError && !(e instanceof LogDamaged)) throw e
    log.close()
    return auditSalvaged(path, options, e, `the file breaks while it is read (${e instanceof Error ? e.message : String(e)})`)
  } finally {
    if (!log.isClosed) log.close()
  }
}

/**
 * The audit without its chain walk, reading what the main thread reads when the chain is walked
 * on another thread, so the difference between the two is what the chain costs.
 */
function withoutChain(path: string, log: EventLog, toSeq: number, options: AuditOptions & { verifyChain: false }): AuditReport {
  const report = auditRows(path, new LightPages(log.database, toSeq), options)
  // light rows carry no hashes: the head is the log's own, where every row was read
  if (report.log.unreadableAfterSeq === null) report.log.headHash = log.headHash
  return report
}

/** A log that no longer holds an anchor kept outside it was rewritten, however intact its own chain. */
function checkExpectedHead(report: AuditReport, log: EventLog, anchor: LogAnchor): void {
  const check = checkAnchor(log, anchor)
  if (check.ok) return
  addFinding(report, { check: 'chain', kind: `chain.${check.kind}`, seq: anchor.seq, message: check.problem })
}

/** The audit of what can still be read of a damaged file, with verdict `unreadable` and why. */
function auditSalvaged(path: string, options: AuditOptions, cause: unknown, why: string): AuditReport {
  const salvage = salvageRows(path)
  if (!salvage) throw cause
  try {
    const unverifiable = salvage.keyed && options.chainKey === undefined
    const report = auditRows(path, salvage.rows, unverifiable ? { ...options, verifyChain: false } : options)
    if (unverifiable) report.coverage.chainNote = KEYED_WITHOUT_KEY
    // the file did not read whole, so even a fully read prefix is not all of it
    if (report.verdict !== 'unreadable') {
      addFinding(report, { check: 'read', kind: 'read.unreadable', seq: null, message: `${why}; ${report.log.events} events could be read` })
      report.log.unreadableAfterSeq = report.log.lastSeq ?? 0
      report.chain.intact = false
      report.verdict = 'unreadable'
    }
    return report
  } finally {
    salvage.close()
  }
}
