import type { Clock, IdSource } from '../events/clock.js'
import { openEventLog, type EventLog } from '../core/log/event-log.js'
import { readChainKeyFile } from '../core/log/chain-key.js'
import { createProjectionRunner, type ProjectionRunner } from '../core/log/projection-runner.js'
import type { HaltdConfig } from './config.js'
import type { Logger } from './logger.js'

/**
 * Snapshot bytes per event between automatic snapshots (`snapshotBytesPerEvent`): a 30 MB state
 * (about 100,000 resting orders) is snapshotted every 250,000 events or so, which a restart
 * replays in about a second; a small one keeps `db.snapshotEvery`.
 */
const SNAPSHOT_BYTES_PER_EVENT = 128

/**
 * Open the event log for writing and bring its projections up to date (the newest valid snapshot,
 * then the tail). A log whose projections cannot be built is closed again before the error is thrown.
 */
export function openLogWithProjections(
  config: HaltdConfig,
  ports: { clock: Clock; ids: IdSource; logger: Logger },
): { log: EventLog; runner: ProjectionRunner } {
  const { clock, ids, logger } = ports
  const { path, durability, maxEventBytes, chainKeyFile } = config.db
  const log = openEventLog({
    path,
    durability,
    clock,
    ids,
    ...(maxEventBytes !== undefined ? { maxEventBytes } : {}),
    ...(chainKeyFile !== undefined ? { chainKey: readChainKeyFile(chainKeyFile) } : {}),
  })
  let runner: ProjectionRunner
  try {
    runner = createProjectionRunner({
      log,
      snapshotEvery: config.db.snapshotEvery,
      snapshotBytesPerEvent: SNAPSHOT_BYTES_PER_EVENT,
      clock,
      warn: (message) => logger.warn(message),
    })
  } catch (e) {
    log.close()
    throw e
  }
  // released with the log on close
  log.on('conflict', (conflict) => logConflict(logger, conflict))
  log.on('checkpoint-failed', ({ message }) =>
    logger.warn({ db: path, error: message }, 'a background WAL checkpoint failed; appends go on and the WAL grows until one succeeds'),
  )
  logger.info({ db: config.db.path, seq: log.lastSeq, snapshot: runner.restoredFrom?.seq, chain: log.chainKind, chainKeyId: log.chainKeyId }, 'event log open')
  return { log, runner }
}

type Conflict = { key: string; stored: { seq: number; type: string; data: unknown }; offered: { type: string; data: unknown } }

/**
 * A second confirmation of a cancel: a venue's stream and its REST answer both say canceled, and
 * whichever is recorded first stands. Expected on every cancel whose stream outruns its answer, so
 * not worth a warning; any other reuse of a key with other content is.
 */
export function isRepeatedCancelConfirmation(c: Pick<Conflict, 'stored' | 'offered'>): boolean {
  return c.stored.type === 'order.canceled' && c.offered.type === 'order.canceled'
}

function logConflict(logger: Logger, { key, stored, offered }: Conflict): void {
  if (isRepeatedCancelConfirmation({ stored, offered })) {
    const by = (d: unknown) => (d as { confirmedBy?: string }).confirmedBy ?? '?'
    logger.debug(
      { key, storedSeq: stored.seq, confirmedBy: by(stored.data), againBy: by(offered.data) },
      'a cancel already confirmed was confirmed again: the first confirmation stands',
    )
    return
  }
  logger.warn(
    { key, storedSeq: stored.seq, storedType: stored.type, offeredType: offered.type, offered: offered.data },
    'an event reused a stored idempotency key with other content: the stored event stands, the new one was not written',
  )
}
