import pTimeout from 'p-timeout'
import type { ExchangeGateway } from '../exchanges/gateway.js'
import type { Logger } from './logger.js'
import { sayOnStderr } from './stderr.js'

/**
 * The stop haltd makes when it cannot write its log: a shutdown procedure needs its stream, but
 * the operator asked to stop and orders are resting at the venues. Every venue is asked to cancel
 * what haltd owns there (or the whole account, as the emergency's scope says), in parallel,
 * within the budget; nothing of it can be recorded, so each outcome goes to the process log and
 * to stderr, where the operator reads it. A venue that does not answer in time keeps its dead
 * man's switch armed, which cancels there anyway.
 */
export async function cancelEverywhereUnrecorded(input: {
  venues: ReadonlyMap<string, ExchangeGateway>
  scope: 'own' | 'account'
  budgetMs: number
  logger: Logger
}): Promise<string[]> {
  const lines = await Promise.all(
    [...input.venues.values()].map(async (gw) => {
      try {
        // the gateway's retries of a failing book end before the budget does, so its answer for the others arrives
        const r = await pTimeout(
          gw.cancelAll({ scope: input.scope }, { timeoutMs: Math.max(1, input.budgetMs - Math.max(200, Math.floor(input.budgetMs / 10))) }),
          { milliseconds: input.budgetMs },
        )
        const failedBooks = (r.books ?? []).filter((b) => b.outcome === 'failed').map((b) => `${b.book} (${b.detail ?? 'failed'})`)
        const books = failedBooks.length > 0 ? `; book(s) whose cancel-all failed, their orders unknown: ${failedBooks.join(', ')}` : ''
        return `cancel-all at ${gw.venue} (${input.scope}): ${r.canceled.length} canceled, ${r.failed.length + (r.unanswered?.length ?? 0)} not confirmed${books} (not recorded in the log)`
      } catch (e) {
        return `cancel-all at ${gw.venue} (${input.scope}) failed: ${e instanceof Error ? e.message : String(e)} (not recorded in the log)`
      }
    }),
  )
  for (const line of lines) {
    input.logger.fatal(line)
    sayOnStderr(line)
  }
  return lines
}
