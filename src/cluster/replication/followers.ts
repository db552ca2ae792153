import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { streamNameOf } from './log-stream.js'

/**
 * How many readers follow the engine's stream (its consumers: each standby's, a restore's while
 * it runs), asked of the server in the background at most every `everyMs` while someone asks here.
 * The leader's own publisher is not a consumer. `undefined` until the first answer.
 */
export function streamFollowers(nc: NatsConnection, engine: string, options: { everyMs?: number; timeoutMs?: number } = {}): () => number | undefined {
  const everyMs = options.everyMs ?? 2_000
  const timeout = options.timeoutMs ?? 1_000
  let last: number | undefined
  let askedAt = Number.NEGATIVE_INFINITY
  let asking = false
  return () => {
    if (!asking && Date.now() - askedAt >= everyMs) {
      asking = true
      askedAt = Date.now()
      jetstreamManager(nc, { timeout })
        .then((jsm) => jsm.streams.info(streamNameOf(engine)))
        .then(
          (info) => {
            last = info.state.consumer_count
          },
          () => {
            // NATS out of reach: the last answer stands until one comes
          },
        )
        .finally(() => {
          asking = false
        })
    }
    return last
  }
}
