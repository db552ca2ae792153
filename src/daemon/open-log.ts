import type { Clock, IdSource } from '../events/clock.js'
import { openEventLog, type EventLog } from '../core/log/event-log.js'
import { readChainKeyFile } from '../core/log/chain-key.js'
import { createProjectionRunner, type ProjectionRunner } from '../core/log/projection-runner.js'
import type { HaltdConfig } from './config.js'
import type { Logger } from './logger.js'

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
    runner = createProjectionRunner({ log, snapshotEvery: config.db.snapshotEvery, clock, warn: (message) => logger.warn(message) })
  } catch (e) {
    log.close()
    throw e
  }
  // released with the log on close
  log.on('conflict', ({ key, stored, offered }) =>
    logger.warn(
      { key, storedSeq: stored.seq, storedType: stored.type, offeredType: offered.type, offered: offered.data },
      'an event reused a stored idempotency key with other content: the stored event stands, the new one was not written',
    ),
  )
  logger.info({ db: config.db.path, seq: log.lastSeq, snapshot: runner.restoredFrom?.seq, chain: log.chainKind, chainKeyId: log.chainKeyId }, 'event log open')
  return { log, runner }
}
