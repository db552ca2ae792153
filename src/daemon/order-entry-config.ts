import { z } from 'zod'
import { DEFAULT_ENTRY_LIMITS, EntryLimits } from '../core/execution/order-entry.js'

/**
 * The config's `orderEntry` section: an engine beside haltd enters its orders through haltd, on
 * the admin listener (`/engine/...`) for the `engine` role, and on a Unix domain socket.
 */
export const OrderEntryConfig = z.strictObject({
  enabled: z.boolean().default(true),
  /** The Unix domain socket (mode 0600); none when absent. */
  socketPath: z
    .string()
    .min(1)
    // sun_path holds 108 bytes with the terminating NUL: a longer path cannot be listened on
    .refine((p) => Buffer.byteLength(p) <= 107, { error: (i) => `a Unix socket path is at most 107 bytes; this one is ${Buffer.byteLength(String(i.input))}` })
    .optional(),
  /** Every engine's limits unless `engines` names its own (by the credential's name). */
  limits: EntryLimits.prefault(DEFAULT_ENTRY_LIMITS),
  engines: z.record(z.string(), EntryLimits).default({}),
  /**
   * Updates an engine's subscription may leave unread (on the socket or `/engine/stream`) before
   * they stop with a `cut-off` line: a frozen engine does not grow haltd's memory.
   */
  maxUnsentBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .default(16 * 1024 * 1024),
})
export type OrderEntryConfig = z.output<typeof OrderEntryConfig>
