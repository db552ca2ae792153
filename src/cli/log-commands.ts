import { openEventLog, type EventLog } from '../core/log/event-log.js'
import { parseFlags, UsageError } from './args.js'
import type { Command } from './command.js'

export const verifyCommand: Command = {
  name: 'verify',
  summary: "walk a log file's hash chain and report the first bad seq",
  usage:
    'haltd verify --db FILE\n\nExit 0 when the chain is intact, 1 when it is broken, 2 when it could not be checked (bad arguments, a file that is not a readable haltd log).',
  run: async (args) => {
    let db: string | undefined
    try {
      db = parseFlags(args, { db: 'string' }).flags.db
      if (!db) throw new UsageError('--db FILE is required')
    } catch (e) {
      // 1 means "the chain is broken": a caller must never read a bad invocation as that
      if (!(e instanceof UsageError)) throw e
      process.stderr.write(`haltd verify: ${e.message}\n`)
      return 2
    }
    let log: EventLog
    try {
      log = openEventLog({ path: db, readonly: true })
    } catch (e) {
      process.stderr.write(`haltd verify: ${e instanceof Error ? e.message : String(e)}\n`)
      return 2
    }
    try {
      let result: ReturnType<EventLog['verify']>
      try {
        result = log.verify()
      } catch (e) {
        // a page SQLite cannot read: the chain could not be checked, which is not the same as broken
        process.stderr.write(`haltd verify: ${db} cannot be read to its end: ${e instanceof Error ? e.message : String(e)}\n`)
        return 2
      }
      if (result.ok) {
        process.stdout.write(`ok: ${result.count} events, chain intact to seq ${result.lastSeq}\n`)
        return 0
      }
      process.stdout.write(`broken at seq ${result.seq}: ${result.problem} (intact to seq ${result.lastGoodSeq})\n`)
      return 1
    } finally {
      log.close()
    }
  },
}
