import { z } from 'zod'

/**
 * One leader per engine, by a lease in a JetStream key-value bucket (needs the `nats` section).
 * `role`: a `primary` takes the lease at start (refused while another instance holds it); a
 * `standby` follows the stream and takes it when it is handed over, or once it expired.
 */
export const FailoverConfig = z
  .strictObject({
    role: z.enum(['primary', 'standby']).default('primary'),
    /** The lease: the bucket's TTL. A leader that has not renewed within it is no longer leader. */
    leaseMs: z.number().int().min(500).max(600_000).default(5_000),
    /** The leader refuses every order this long before its lease could expire elsewhere (its own monotonic clock); default a quarter of the lease. */
    fenceMarginMs: z.number().int().min(50).optional(),
    /** The state a standby comes up in after the leader died: `halted` (the kill switch latched, an operator resets it) or `active`. */
    onUnplanned: z.enum(['halted', 'active']).default('halted'),
    /** What a planned handover may take, all steps together, before it rolls back to the primary. */
    handoverBudgetMs: z.number().int().min(100).default(5_000),
    /** Copies of the leadership bucket when haltd creates it (3 on a cluster of three). */
    replicas: z.number().int().min(1).max(5).default(1),
  })
  .refine((f) => f.fenceMarginMs === undefined || f.fenceMarginMs < f.leaseMs, {
    message: 'fenceMarginMs must be shorter than leaseMs',
    path: ['fenceMarginMs'],
  })
export type FailoverConfig = z.output<typeof FailoverConfig>

export const fenceMarginOf = (f: FailoverConfig): number => f.fenceMarginMs ?? Math.floor(f.leaseMs / 4)
