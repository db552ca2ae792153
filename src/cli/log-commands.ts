import { openEventLog, type EventLog } from '../core/log/event-log.js'
import { readChainKeyFile } from '../core/log/chain-key.js'
import { ChainKeyMissing } from '../core/log/errors.js'
import { parseFlags, UsageError } from './args.js'
import type { Command } from './command.js'

export const verifyCommand: Command = {
  name: 'verify',
  summary: "walk a log file's hash chain and report the first bad seq",
  usage: [
    'haltd verify --db FILE [--key-file PATH]',
    '',
    "--key-file: the chain key of a keyed log (the daemon's db.chainKeyFile); without it a keyed log's chain cannot be checked.",
    'Exit 0 when the chain is intact, 1 when it is broken, 2 when it could not be checked (bad arguments, a file that is not a',
    'readable haltd log, a keyed log without its key, a key that does not match the log).',
  ].join('\n'),
  run: async (args) => {
    let db: string | undefined
    let keyFile: string | undefined
    try {
      const { flags } = parseFlags(args, { db: 'string', 'key-file': 'string' })
      db = flags.db
      keyFile = flags['key-file']
      if (!db) throw new UsageError('--db FILE is required')
    } catch (e) {
      // 1 means "the chain is broken": a caller must never read a bad invocation as that
      if (!(e instanceof UsageError)) throw e
      process.stderr.write(`haltd verify: ${e.message}\n`)
      return 2
    }
    let log: EventLog
    try {
      const chainKey = keyFile === undefined ? undefined : readChainKeyFile(keyFile)
      log = openEventLog({ path: db, readonly: true, ...(chainKey ? { chainKey } : {}) })
    } catch (e) {
      process.stderr.write(`haltd verify: ${e instanceof Error ? e.message : String(e)}\n`)
      return 2
    }
    try {
      let result: ReturnType<EventLog['verify']>
      try {
        result = log.verify()
      } catch (e) {
        if (e instanceof ChainKeyMissing) {
          process.stderr.write(`haltd verify: ${db}: chain not verified: keyed log, give --key-file\n`)
          return 2
        }
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
