import { z } from 'zod'

/**
 * Where this haltd meets the rest of the desk: a NATS server (or cluster) with JetStream. The hot
 * standby and the fleet are built on it; without this section haltd runs alone, as it always has.
 */
/** An engine's name across the desk: it names NATS subjects and keys, so their characters only. */
export const EngineName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'an engine name: letters, digits, dash and underscore, at most 64 (it names NATS subjects)')

export const NatsConfig = z.strictObject({
  /** Client URLs (`nats://host:4222`); more than one for a cluster, tried in turn. */
  servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s/]+$/, "a NATS URL such as 'nats://127.0.0.1:4222'")).min(1),
  /** This engine's name across the desk: its stream, its leadership key and its fleet row. */
  engine: EngineName,
  /** This process among the engine's (a primary and its standby differ); default `<host>-<pid>`. */
  instance: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, dot, dash and underscore, at most 64')
    .optional(),
  /** A token the server asks for (`HALTD_NATS_TOKEN` supplies it from the environment). */
  token: z.string().min(1).optional(),
  /** How long the first connection may take before haltd says NATS cannot be reached. */
  connectTimeoutMs: z.number().int().min(100).default(2_000),
  /**
   * How often haltd pings the server it is connected to; two pings unanswered and it calls the
   * connection dead and reconnects (default 5 s: a link cut silently is seen within about 10 s).
   */
  pingIntervalMs: z.number().int().min(100).max(600_000).optional(),
})
export type NatsConfig = z.output<typeof NatsConfig>
