import { z } from 'zod'

/**
 * This haltd as one engine of a desk's fleet: it registers itself in the fleet's registry and
 * obeys the fleet kill switch. Meaningful only with a `nats` section: the fleet lives in JetStream.
 */
export const FleetConfig = z
  .strictObject({
    enabled: z.boolean().default(true),
    /**
     * What to do while NATS cannot be reached (the fleet kill switch cannot reach this engine
     * then): keep trading and say so (`keep`), or halt until the fleet is seen again (`halt`).
     */
    onDisconnect: z.enum(['keep', 'halt']).default('keep'),
    /** How often this engine's row in the registry is refreshed. */
    refreshMs: z.number().int().min(100).default(2_000),
    /** How long a row outlives its last refresh (the registry bucket's max age): a dead engine is gone after it. */
    ttlMs: z.number().int().min(1_000).default(10_000),
    /** Copies of the fleet's buckets in a NATS cluster (the first engine to create them decides). */
    replicas: z.union([z.literal(1), z.literal(3), z.literal(5)], { error: 'replicas is 1, 3 or 5' }).default(1),
    /**
     * A file holding the fleet's shared key (at least 32 bytes, e.g. `openssl rand -hex 32`): fleet
     * commands are signed with it, and this engine acts on none that is not. The same file goes to
     * every engine of the fleet and to the fleet commands (`--config`, or `--key-file`).
     */
    keyFile: z.string().min(1).optional(),
  })
  .superRefine((f, ctx) => {
    if (f.ttlMs < 2 * f.refreshMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['ttlMs'],
        message: `must be at least twice fleet.refreshMs (${f.refreshMs}), or a live engine's row expires between refreshes`,
      })
    }
  })
export type FleetConfig = z.output<typeof FleetConfig>
