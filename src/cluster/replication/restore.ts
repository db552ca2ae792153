import { existsSync } from 'node:fs'
import type { NatsConnection } from '@nats-io/transport-node'
import { openEventLog, type VerifyResult } from '../../core/log/event-log.js'
import { HaltdError } from '../../events/errors.js'
import { startFollower } from './follower.js'

export class RestoreTargetExists extends HaltdError {
  constructor(readonly path: string) {
    super('RESTORE_TARGET_EXISTS', `${path} exists: a restore writes a new log, never over one (move it aside, or name another file)`)
  }
}

/**
 * Rebuild a log from the engine's stream into a new file on a clean node: every event as the stream
 * holds it, each link checked as it is stored, then the whole chain verified end to end.
 */
export async function restoreFromStream(input: {
  nc: NatsConnection
  engine: string
  path: string
  chainKey?: Buffer
  timeoutMs?: number
}): Promise<{ lastSeq: number; verify: VerifyResult }> {
  if (existsSync(input.path)) throw new RestoreTargetExists(input.path)
  const log = openEventLog({ path: input.path, ...(input.chainKey ? { chainKey: input.chainKey } : {}) })
  try {
    const follower = await startFollower({ nc: input.nc, log, engine: input.engine, timeoutMs: input.timeoutMs ?? 5_000 })
    try {
      await follower.catchUp(input.timeoutMs ?? 60_000)
    } finally {
      await follower.stop()
    }
    const broken = follower.status()
    if (broken.state === 'broken') throw new HaltdError('RESTORE_BROKEN', `restore stopped at seq ${broken.seq}: ${broken.reason}`)
    return { lastSeq: log.lastSeq, verify: log.verify() }
  } finally {
    log.close()
  }
}
