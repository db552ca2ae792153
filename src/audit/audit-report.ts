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
  /** The whole run, from the request. */
  durationMs: z.number().nullable(),
  /** The deadline of the procedure it ended in: the emergency's after an escalation, counted from the escalation. */
  deadlineMs: z.number().nullable(),
  /** Once completed, the time by procedure, each against its own deadline: an escalated shutdown's graceful part apart, its emergency from the escalation. */
  phases: z
    .strictObject({
      graceful: z.strictObject({ durationMs: z.number(), deadlineMs: z.number().optional(), withinDeadline: z.boolean().optional() }).optional(),
      emergency: z.strictObject({ durationMs: z.number(), deadlineMs: z.number().optional(), withinDeadline: z.boolean().optional() }).optional(),
    })
    .nullable(),
  commandsIssued: z.number().int(),
  commandsFailed: z.number().int(),
  /** Requests that arrived while it ran and changed nothing (a SIGTERM during the emergency): received, recorded, ignored. */
  ignoredRequests: z.number().int(),
  /** The first of them by what they asked (the count above has them all). */
  ignored: z.array(
    z.strictObject({
      mode: ShutdownMode,
      reason: z.string(),
      origin: z.string(),
      at: z.number().nullable(),
      seq: z.number().int().nullable(),
      /** How many requests alike the event records (those after the first of a kind are recorded together). */
      count: z.number().int().positive(),
    }),
  ),
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
  /** The books of the venue's account its latest lists did not show: the verdict is of the others. */
  unseen: z.array(z.strictObject({ book: z.string(), why: z.string(), refused: z.literal(true).optional() })).optional(),
})
export type VenueEvidenceRow = z.infer<typeof VenueEvidenceRow>

export const PositionRow = z.strictObject({
  venue: z.string(),
  symbol: z.string(),
  qty: z.number(),
  avgEntry: z.number(),
  realized: z.number(),
  /** 0 where `unpriced`: not known, not counted. */
  unrealized: z.number(),
  fees: z.number(),
  /** An open position on a market the log holds no price for: its unrealized P&L is unknown. */
  unpriced: z.literal(true).optional(),
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
  /**
   * How the run ended: its exit code, the instance it handed the engine over to, its lease expired
   * and another instance took the engine over (`leaseExpired`: the run's own end is not in this
   * log; its process may be alive), `crashed` (found without an end), or `open` (no end yet).
   */
  end: z.union([
    z.strictObject({ exitCode: z.number().int(), at: z.number() }),
    z.strictObject({ handedOverTo: z.string(), at: z.number() }),
    z.strictObject({
      leaseExpired: z.strictObject({ leader: z.string().nullable(), takenOverBy: z.string(), epoch: z.number().int() }),
      at: z.number(),
    }),
    z.literal('crashed'),
    z.literal('open'),
  ]),
  /** Where the run recorded that it no longer led the engine (`leadership.lost`): what it did after is not the engine's. */
  lostLead: z.strictObject({ seq: z.number().int(), at: z.number(), epoch: z.number().int(), reason: z.string(), leader: z.string().nullable() }).optional(),
})
export type RunRow = z.infer<typeof RunRow>

/**
 * What a shutdown left behind, the worst first: `NOT_LEADER` (it ran after its instance lost the
 * engine's lease: it sent nothing to the venues, and what this log shows of them is not the
 * engine's; the engine's stop is its leader's, in the leader's log), `UNFINISHED` (no completion in the log),
 * `RESIDUAL_EXPOSURE` (positions or live orders left where they were to be closed),
 * `ENGINE_RUNNING` (the trading engine's process, which haltd controls, was seen there by the
 * shutdown's last look at it), `ENGINE_NOT_SEEN_GONE` (that look could not tell, or none was made),
 * `CANCEL_UNCONFIRMED` (orders no venue confirmed canceled), `UNVERIFIED` (a venue without an
 * observation after its last order event), `MISMATCH` (a venue holds other than haltd),
 * `FAILED` (haltd recorded its own shutdown failed), `DEADLINE_MISSED`. The safe ones:
 * `FLAT_VERIFIED`, and `POSITIONS_KEPT` (verified, with positions kept as the shutdown was told).
 */
export const OutcomeVerdict = z.enum([
  'NOT_LEADER',
  'UNFINISHED',
  'RESIDUAL_EXPOSURE',
  'ENGINE_RUNNING',
  'ENGINE_NOT_SEEN_GONE',
  'CANCEL_UNCONFIRMED',
  'UNVERIFIED',
  'MISMATCH',
  'FAILED',
  'DEADLINE_MISSED',
  'POSITIONS_KEPT',
  'FLAT_VERIFIED',
])
export type OutcomeVerdict = z.infer<typeof OutcomeVerdict>

/** The verdicts an operator may read as "nothing left to do at the venues". */
export const SAFE_OUTCOMES: readonly OutcomeVerdict[] = ['FLAT_VERIFIED', 'POSITIONS_KEPT']

export const ExposureRow = z.strictObject({
  venue: z.string(),
  symbol: z.string(),
  /** haltd's position from the fills it recorded. */
  internal: z.number(),
  /** What the venue last reported (null when it never reported positions). */
  observed: z.number().nullable(),
  /** The seq of that report. */
  observedSeq: z.number().int().nullable(),
})
export type ExposureRow = z.infer<typeof ExposureRow>

export const LeftOrderRow = z.strictObject({ venue: z.string(), clientOrderId: z.string(), symbol: z.string(), status: z.string() })

export const NotificationRow = z.strictObject({
  seq: z.number().int(),
  ts: z.number(),
  sink: z.string(),
  topic: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
})
export type NotificationRow = z.infer<typeof NotificationRow>

/** P&L as the log gives it: summed over every market without conversion, in the currency those markets settle in. */
export const PnlSummary = z.strictObject({
  realized: z.number(),
  unrealized: z.number(),
  fees: z.number(),
  net: z.number(),
  /** The settlement currency of the markets traded; `mixed: A, B` when they differ (then the sums add unlike units); null before any trade. */
  currency: z.string().nullable(),
  /** The open positions (`venue symbol`) the log holds no price for, which `unrealized` and `net` leave out; absent where none. */
  unpriced: z.array(z.string()).optional(),
})
export type PnlSummary = z.infer<typeof PnlSummary>

/** One shutdown's outcome, read from the events recorded up to its completion. */
export const ShutdownOutcome = z.strictObject({
  shutdownId: z.string(),
  mode: ShutdownMode.nullable(),
  escalated: z.boolean(),
  verdict: OutcomeVerdict,
  safe: z.boolean(),
  /** Every reason the outcome is not FLAT_VERIFIED, worst first, in words. */
  concerns: z.array(z.strictObject({ verdict: OutcomeVerdict, what: z.string() })),
  /** What `shutdown.completed` recorded (null when the log holds none). */
  recorded: z.strictObject({ outcome: z.string(), exitCode: z.number().int() }).nullable(),
  requestedAt: z.number().nullable(),
  /** The seq and time the outcome is read at: the completion, or the log's last event for an unfinished shutdown. */
  atSeq: z.number().int(),
  at: z.number(),
  deadlineAt: z.number().nullable(),
  /** Positions left open after the shutdown, by haltd's fills and by the venue's last report. */
  exposure: z.array(ExposureRow),
  /** Whether closing them was asked (an emergency, or a graceful shutdown told to flatten). */
  flattenAsked: z.boolean(),
  ordersLeft: z.array(LeftOrderRow),
  ordersLeftTotal: z.number().int(),
  /** What happened between the request and the completion. */
  activity: z.strictObject({
    /** Orders recorded canceled (each order once). */
    ordersCanceled: z.number().int(),
    /** Fills that booked quantity: a trade its order's total already counted, or a total its trades already reached, is none. */
    fills: z.number().int(),
    /** Orders recorded cancel-unconfirmed at least once, each once however many of its cancels went unconfirmed. */
    cancelUnconfirmed: z.number().int(),
    /** Orders submitted (each order once). */
    ordersSubmitted: z.number().int(),
  }),
  /**
   * Orders the shutdown saw canceled whose final fill it could not learn (the venue's cancel
   * answer said nothing of it and no lookup told): the first of them, and how many.
   */
  fillUnknown: z.strictObject({ count: z.number().int(), orders: z.array(z.strictObject({ venue: z.string(), clientOrderId: z.string() })) }),
  /** Each `notification.sent` from the request until the next request or the next run. */
  notifications: z.array(NotificationRow),
  /** The reconciliation as of the completion: each venue's verdict and the observation it rests on, its age counted to the completion. */
  reconciliation: z.strictObject({
    verdict: z.enum(['OK', 'MISMATCH', 'UNVERIFIED']),
    evidence: z.array(VenueEvidenceRow),
    problems: z.array(ReconciliationRow),
  }),
  pnl: PnlSummary,
  /**
   * Set when the shutdown ended after its instance recorded it no longer led the engine
   * (`leadership.lost` at `lostAtSeq`): the verdict is `NOT_LEADER`. `sentAfter`: what its log
   * records going to a venue after the loss.
   */
  notLeader: z
    .strictObject({
      lostAtSeq: z.number().int(),
      instance: z.string(),
      epoch: z.number().int(),
      reason: z.string(),
      leader: z.string().nullable(),
      leaderEpoch: z.number().int().nullable(),
      sentAfter: z.strictObject({ cancels: z.number().int(), cancelAlls: z.number().int(), ordersAccepted: z.number().int() }),
    })
    .optional(),
})
export type ShutdownOutcome = z.infer<typeof ShutdownOutcome>

/** One root cause and the findings after it that may follow from it (a log edited at a seq replays differently from there). */
export const FindingGroup = z.strictObject({
  root: Finding,
  consequences: z.array(Finding),
})
export type FindingGroup = z.infer<typeof FindingGroup>

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
    /**
     * Fills of shutdown orders judged against the position before them, and those that could not be:
     * a positions report taken after the order was sent may already hold the fill, and the two
     * readings (held, not held) disagree on whether it grew the position (seqs: the first 50).
     */
    flattenFills: z.strictObject({ judged: z.number().int(), unjudged: z.number().int(), unjudgedSeqs: z.array(z.number().int()) }),
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
    /** No venue in the final state (no orders, positions or observations): an OK here is about nothing, and the renderers say so. */
    nothingToReconcile: z.boolean(),
  }),
  positions: z.array(PositionRow),
  pnl: PnlSummary,
  openOrders: z.array(OpenOrderRow),
  trading: TradingSummary,
  anomalies: z.array(AnomalyRow),
  anomaliesTotal: z.number().int(),
  findings: z.array(Finding),
  /** All findings, including those beyond the kept list (memory stays flat on a badly broken log). */
  findingsTotal: z.number().int(),
  findingsByCheck: z.record(z.string(), z.number().int()),
  /** The kept findings by root cause: one edited row is one group, whatever follows from it. */
  findingGroups: z.array(FindingGroup),
  /** The first verdict: the log's integrity (chain, sequence, schemas, invariants, decisions). */
  verdict: z.enum(['clean', 'findings', 'unreadable']),
  /** The second verdict: each shutdown's outcome, newest first. */
  outcomes: z.array(ShutdownOutcome),
  /** The last shutdown's outcome verdict (null when the log holds no shutdown): what the headline and the exit code say. */
  outcome: z.strictObject({ shutdownId: z.string(), verdict: OutcomeVerdict, safe: z.boolean() }).nullable(),
})
export type AuditReport = z.infer<typeof AuditReport>

/** `haltd audit`'s exit codes: integrity first, then the last shutdown's outcome. */
export const AUDIT_EXIT = {
  /** The log is intact, and its last shutdown (if any) ended flat and verified, or kept its positions as told, verified. */
  clean: 0,
  /** The log fails a check (chain, sequence, schema, invariant, decision), whatever its shutdowns' outcome. */
  findings: 1,
  /** The input cannot be read as a haltd log (or its chain could not be checked). */
  unreadable: 2,
  /**
   * The log is intact and its last shutdown is not safe: residual exposure, unverified venues,
   * unconfirmed cancels, a mismatch, a missed deadline, a failure, or no completion; or it ran on an
   * instance that no longer led the engine, so this log cannot show the engine stopped safely (its
   * leader's log can).
   */
  unsafeOutcome: 3,
} as const

/** The exit code for both verdicts: an integrity problem wins (an outcome read from a damaged log is in doubt itself). */
export function exitCodeOf(report: Pick<AuditReport, 'verdict' | 'outcome'>): 0 | 1 | 2 | 3 {
  if (report.verdict === 'unreadable') return AUDIT_EXIT.unreadable
  if (report.verdict === 'findings') return AUDIT_EXIT.findings
  return report.outcome && !report.outcome.safe ? AUDIT_EXIT.unsafeOutcome : AUDIT_EXIT.clean
}
