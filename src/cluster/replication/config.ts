import { z } from 'zod'

/**
 * How the log leaves the node (needs the `nats` section). `async`: events are published as they
 * commit, pipelined, and orders are refused while more than `maxLagEvents` wait for the stream.
 * `sync`: an order leaves for a venue only once the stream acknowledged its `order.submitted`
 * (write-ahead to the replicated log); a stream that does not answer within `ackTimeoutMs` closes
 * the gate, as a local log that cannot be written does.
 */
export const ReplicationConfig = z.strictObject({
  mode: z.enum(['async', 'sync']).default('async'),
  /** Copies of the stream when haltd creates it: 1 on one server, 3 on a cluster of three. */
  replicas: z.number().int().min(1).max(5).default(1),
  /** Publishes unanswered at most; more committed events wait in the log. */
  maxInFlight: z.number().int().min(1).max(65_536).default(1_024),
  /** async: committed events the stream may lag behind before orders are refused until it catches up. */
  maxLagEvents: z.number().int().min(1).default(10_000),
  /**
   * How long one publish (and, in sync mode, one order's write-ahead) waits for the stream before
   * trading halts. Long enough to ride through a stream leader's election on a cluster of three
   * (nats-server's election timeout is 4 to 9 s, and a publish caught in it is asked again after a
   * quarter of this): meanwhile an order only waits, and still leaves only once the stream holds
   * its `order.submitted`. Measured by `npm run bench -- --scenario cluster-election`.
   */
  ackTimeoutMs: z.number().int().min(50).default(20_000),
})
export type ReplicationConfig = z.output<typeof ReplicationConfig>
