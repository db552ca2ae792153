import type { EventLog } from '../core/log/event-log.js'
import { verifyCheckpoint } from '../core/shutdown/checkpoint.js'

export type StrategyStateRestore = { restored: string[]; unknown: string[]; path: string; atSeq: number } | { skipped: string }

/**
 * The strategies' state from the newest checkpoint the log records, read back and checked
 * against the checksum the log holds for it. Only the state: limits come from this run's config,
 * not from a shutdown that may have cut them (step 3). Anything wrong (no checkpoint, the file
 * gone, edited or replaced, a strategy refusing its saved state) leaves the strategies fresh and
 * says why; a restart never fails for it.
 */
export function restoreStrategyState(log: EventLog, host: { restoreState(input: unknown): { restored: string[]; unknown: string[] } }): StrategyStateRestore {
  let last: { path: string; checksum: string; atSeq: number } | undefined
  for (const e of log.read({ stream: 'checkpoint', types: ['checkpoint.written'] })) if (e.type === 'checkpoint.written') last = e.data
  if (!last) return { skipped: 'no checkpoint in the log' }
  const file = verifyCheckpoint(last.path)
  if (!file.ok) return { skipped: `checkpoint ${last.path}: ${file.problem}` }
  if (file.checksum !== last.checksum)
    return { skipped: `checkpoint ${last.path} is not the one the log recorded at seq ${last.atSeq} (checksum ${file.checksum}, expected ${last.checksum})` }
  if (file.content.strategies === undefined || file.content.strategies === null) return { skipped: `checkpoint ${last.path} holds no strategy state` }
  try {
    return { ...host.restoreState(file.content.strategies), path: last.path, atSeq: file.atSeq }
  } catch (e) {
    return { skipped: `checkpoint ${last.path}: ${e instanceof Error ? e.message : String(e)}` }
  }
}
