/**
 * Facts that break a rule are still facts: the projections apply what they can and record here
 * what was odd about it, so status and audit can show it. Kinds are stable strings.
 */
export type AnomalyKind =
  | 'fill-for-unknown-order'
  | 'report-for-unknown-order'
  | 'duplicate-submit'
  | 'duplicate-fill'
  | 'overfill'
  | 'fill-after-cancel'
  | 'fill-after-reject'
  | 'fill-after-expiry'
  | 'cancel-after-fill'
  | 'duplicate-report'
  | 'out-of-order-report'
  | 'invalid-transition'
  | 'shutdown-event-without-request'
  | 'step-end-without-start'
  | 'projection-error'
  /** A trade the venue reported without its market, whose order haltd could not find: recorded, booked nowhere. */
  | 'trade-unresolved'
  /** An order (or a trade of one) the venue reported in a shape haltd cannot record: not adopted, booked nowhere. */
  | 'order-unreadable'
  /** A stored event this build cannot read (written by a newer haltd, or damaged): skipped. */
  | 'unreadable-event'

export type Anomaly = {
  seq: number
  ts: number
  kind: AnomalyKind
  detail: string
  venue?: string
  clientOrderId?: string
  shutdownId?: string
}

/** What an entity reducer calls to report an anomaly; the top-level evolve stamps seq and ts. */
export type AnomalySink = (kind: AnomalyKind, detail: string, where?: { venue?: string; clientOrderId?: string; shutdownId?: string }) => void

/** Only the newest anomalies stay in the live state (the audit replays the log for all of them). */
export const ANOMALIES_KEPT = 10_000
