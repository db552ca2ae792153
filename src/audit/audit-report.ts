import { z } from 'zod'
import { ShutdownMode, ShutdownStatus, StepStatus } from '../events/index.js'

/**
 * The audit report: one schema for what every renderer prints and what `--format json` emits,
 * so a tool reading the JSON and a person reading the HTML see the same facts.
 */

export const Check = z.enum(['read', 'chain', 'sequence', 'schema', 'invariant', 'decision'])
export type Check = z.infer<typeof Check>

export const Finding = z.strictObject({
  check: Check,
  /** A stable string per kind of problem, e.g. `chain.payload-edited`, `invariant.order-after-gate-closed`. */
  kind: z.string().min(1),
  /** The seq the problem is at; null when it belongs to no single event. */
  seq: z.number().int().nullable(),
  message: z.string(),
})
export type Finding = z.infer<typeof Finding>

export const TimelineStep = z.strictObject({
  /** The step's number in its procedure (1–13 graceful, 1–5 emergency). */
  number: z.number().int(),
  name: z.string(),
  startedAt: z.number().nullable(),
  endedAt: z.number().nullable(),
  durationMs: z.number().nullable(),
  /** Where the step stands (the report calls it the step's status). */
  outcome: StepStatus,
  note: z.string().optional(),
})
export type TimelineStep = z.infer<typeof TimelineStep>

export const ShutdownSummary = z.strictObject({
  shutdownId: z.string(),
  mode: ShutdownMode.nullable(),
  /** The runbook's system status as of the report (SHUTTING_DOWN_SOON until the gate closes, …). */
  status: ShutdownStatus.nullable(),
  reason: z.string(),
  origin: z.string().nullable(),
  requestedAt: z.number().nullable(),
  escalatedAt: z.number().nullable(),
  completedAt: z.number().nullable(),
  outcome: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  durationMs: z.number().nullable(),
  deadlineMs: z.number().nullable(),
  commandsIssued: z.number().int(),
  commandsFailed: z.number().int(),
  steps: z.array(TimelineStep),
})
export type ShutdownSummary = z.infer<typeof ShutdownSummary>

export const ReconciliationRow = z.strictObject({
  kind: z.string(),
  symbol: z.string(),
  internal: z.number().nullable(),
  /** venue → what that venue reported; null where it reported nothing. */
  venues: z.record(z.string(), z.number().nullable()),
  status: z.string(),
  detail: z.string().optional(),
})
export type ReconciliationRow = z.infer<typeof ReconciliationRow>

export const VenueEvidenceRow = z.strictObject({
  venue: z.string(),
  verdict: z.enum(['OK', 'MISMATCH', 'UNVERIFIED']),
  observedSeq: z.number().int().nullable(),
  observedTs: z.number().nullable(),
  ageMs: z.number().nullable(),
  lastOrderSeq: z.number().int().nullable(),
  newerThanLastOrder: z.boolean(),
  why: z.string().optional(),
})
export type VenueEvidenceRow = z.infer<typeof VenueEvidenceRow>

export const PositionRow = z.strictObject({
  venue: z.string(),
  symbol: z.string(),
  qty: z.number(),
  avgEntry: z.number(),
  realized: z.number(),
  unrealized: z.number(),
  fees: z.number(),
})
export type PositionRow = z.infer<typeof PositionRow>

export const OpenOrderRow = z.strictObject({
  venue: z.string(),
  clientOrderId: z.string(),
  symbol: z.string(),
  side: z.string(),
  qty: z.number(),
  filledQty: z.number(),
  price: z.number().nullable(),
  status: z.string(),
  origin: z.string(),
})
export type OpenOrderRow = z.infer<typeof OpenOrderRow>

export const AnomalyRow = z.strictObject({ seq: z.number().int(), ts: z.number(), kind: z.string(), detail: z.string() })

export const RunRow = z.strictObject({
  runId: z.string(),
  startedAt: z.number(),
  startedSeq: z.number().int(),
  pid: z.number().int(),
  version: z.string(),
  /** How the run ended: its exit code, `crashed` (found without an end), or `running` (no end yet). */
  end: z.union([z.strictObject({ exitCode: z.number().int(), at: z.number() }), z.literal('crashed'), z.literal('open')]),
})
export type RunRow = z.infer<typeof RunRow>

export const TradingSummary = z.strictObject({
  mode: z.string(),
  killSwitch: z.strictObject({ latched: z.boolean(), reason: z.string().nullable() }),
})

export const AuditReport = z.strictObject({
  tool: z.literal('haltd audit'),
  file: z.string(),
  generatedAt: z.string(),
  log: z.strictObject({
    events: z.number().int(),
    firstSeq: z.number().int().nullable(),
    lastSeq: z.number().int().nullable(),
    firstTs: z.number().nullable(),
    lastTs: z.number().nullable(),
    headHash: z.string().nullable(),
    /** Set when the file stopped being readable part-way: the last seq read. */
    unreadableAfterSeq: z.number().int().nullable(),
  }),
  /** What was checked, so a clean verdict can be told from a vacuous one. */
  coverage: z.strictObject({
    chainVerified: z.boolean(),
    /** Why the chain was not checked, or how it was (a keyed log without its key; a key given for a log that says it is plain). */
    chainNote: z.string().optional(),
    rowsSchemaChecked: z.number().int(),
    decisionsReplayed: z.number().int(),
  }),
  chain: z.strictObject({ intact: z.boolean(), firstBadSeq: z.number().int().nullable(), problem: z.string().nullable() }),
  runs: z.array(RunRow),
  shutdowns: z.array(ShutdownSummary),
  reconciliation: z.strictObject({
    venues: z.array(z.string()),
    rows: z.array(ReconciliationRow),
    /** OK only when every venue's observation is newer than its last order event and every row matches. */
    verdict: z.enum(['OK', 'MISMATCH', 'UNVERIFIED']),
    unverified: z.array(z.strictObject({ venue: z.string(), why: z.string() })),
    /** The observation each venue's verdict rests on. */
    evidence: z.array(VenueEvidenceRow),
  }),
  positions: z.array(PositionRow),
  pnl: z.strictObject({ realized: z.number(), unrealized: z.number(), fees: z.number(), net: z.number() }),
  openOrders: z.array(OpenOrderRow),
  trading: TradingSummary,
  anomalies: z.array(AnomalyRow),
  anomaliesTotal: z.number().int(),
  findings: z.array(Finding),
  /** All findings, including those beyond the kept list (memory stays flat on a badly broken log). */
  findingsTotal: z.number().int(),
  findingsByCheck: z.record(z.string(), z.number().int()),
  verdict: z.enum(['clean', 'findings', 'unreadable']),
})
export type AuditReport = z.infer<typeof AuditReport>

/** The exit code a verdict maps to: 0 clean, 1 findings, 2 unreadable input. */
export function exitCodeOf(verdict: AuditReport['verdict']): 0 | 1 | 2 {
  return verdict === 'clean' ? 0 : verdict === 'findings' ? 1 : 2
}
