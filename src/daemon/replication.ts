import type { NatsConnection } from '@nats-io/transport-node'
import type { ReplicationConfig } from '../cluster/replication/config.js'
import { startPublisher, type ReplicationPublisher, type ReplicationStatus } from '../cluster/replication/publisher.js'
import type { EventLog } from '../core/log/event-log.js'
import type { OrderGate } from '../core/execution/gate.js'
import type { Envelope } from '../events/envelope.js'
import type { Logger } from './logger.js'
import type { Notifier } from './notify/index.js'

export type Replication = {
  readonly mode: ReplicationConfig['mode']
  /** `halted`: why replication closed the gate, which stays closed until haltd restarts, even once the stream answers again. */
  status(): ReplicationStatus & { mode: ReplicationConfig['mode']; halted?: string }
  /** The router's second write-ahead in sync mode; absent in async mode. */
  readonly writeAhead: ((submitted: Envelope) => Promise<void>) | undefined
  /** Wait until the stream holds everything committed (a handover, a clean stop). */
  flush(timeoutMs: number): Promise<void>
  stop(): Promise<void>
}

/**
 * The log leaves the node: publish every committed event to the engine's stream. A stream that
 * refuses this writer halts trading at once (another haltd writes there); in sync mode so does a
 * stream that does not acknowledge an order's write-ahead in time, as a local log fault does; in
 * async mode orders wait while the stream lags more than its bound behind.
 */
export async function startReplication(input: {
  nc: NatsConnection
  engine: string
  config: ReplicationConfig
  log: EventLog
  gate: OrderGate
  logger: Logger
  onError: (e: unknown) => void
  epoch?: () => number
  /** Why this instance may not publish now (it is not the leader), or undefined. */
  fence?: () => string | undefined
  /** The stream's last seq, confirmed by a standby that followed it to here (its start checks are skipped). */
  streamSeq?: number | undefined
  /** Read when a fault comes: they are wired after replication starts. */
  lifecycle: () => { readonly state: string; set(to: 'halted'): void }
  notifier: () => Notifier
}): Promise<Replication> {
  const { config, gate, logger } = input
  let halted: string | undefined
  const halt = (why: string) => {
    halted ??= why
    gate.halt(why)
    logger.fatal({ reason: why }, 'HALTED: replication failed; trading stops, haltd stays up for the operator')
    setImmediate(() => {
      try {
        const life = input.lifecycle()
        if (life.state === 'running') life.set('halted')
        input
          .notifier()
          .notify({ topic: 'replication.failed', text: `HALTED: ${why}`, severity: 'critical' })
          .catch(input.onError)
      } catch (e) {
        input.onError(e)
      }
    })
  }
  const publisher: ReplicationPublisher = await startPublisher({
    nc: input.nc,
    log: input.log,
    engine: input.engine,
    replicas: config.replicas,
    maxInFlight: config.maxInFlight,
    ackTimeoutMs: config.ackTimeoutMs,
    ...(input.epoch ? { epoch: input.epoch } : {}),
    ...(input.fence ? { fence: input.fence } : {}),
    ...(input.streamSeq !== undefined ? { streamSeq: input.streamSeq } : {}),
    onFenced: (reason) => halt(`the stream refused this haltd's events: ${reason}`),
    onState: (state, reason) => {
      if (state === 'recovering') logger.warn({ reason }, 'replication: a publish failed; catching up once the stream answers')
      else if (state === 'blocked') logger.error({ reason }, 'replication: an event cannot be replicated; publishing waits at it until the limit is raised')
      else if (state === 'live') logger.info('replication: the stream answers again')
    },
  })
  const offFence =
    config.mode === 'async'
      ? gate.fence(() => {
          const lag = input.log.committedSeq - publisher.status().ackedSeq
          return lag > config.maxLagEvents ? `replication is ${lag} events behind (the bound is ${config.maxLagEvents})` : undefined
        })
      : () => {}
  const writeAhead =
    config.mode === 'sync'
      ? async (submitted: Envelope) => {
          try {
            await publisher.waitFor(submitted.seq, config.ackTimeoutMs)
          } catch (e) {
            halt(`the replicated log did not take the order at seq ${submitted.seq}: ${e instanceof Error ? e.message : String(e)}`)
            throw e
          }
        }
      : undefined
  return {
    mode: config.mode,
    status: () => ({ ...publisher.status(), mode: config.mode, ...(halted !== undefined ? { halted } : {}) }),
    writeAhead,
    flush: (timeoutMs) => publisher.flush(timeoutMs),
    async stop() {
      offFence()
      await publisher.stop()
    },
  }
}
