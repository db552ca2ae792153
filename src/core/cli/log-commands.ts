import { openEventLog } from '../event-log.js'
import { parseFlags, UsageError } from './args.js'
import { registerCommand } from './main.js'

registerCommand({
  name: 'verify',
  summary: 'walk a log file\'s hash chain and report the first bad seq',
  usage: 'haltd verify --db FILE\n\nExit 0 when the chain is intact, 1 when it is broken, 2 when the file is unreadable.',
  run: async (args) => {
    const { flags } = parseFlags(args, { db: 'string' })
    if (!flags.db) throw new UsageError('--db FILE is required')
    let log
    try {
      log = openEventLog({ path: flags.db, readonly: true })
    } catch (e) {
      process.stderr.write(`haltd verify: ${e instanceof Error ? e.message : String(e)}\n`)
      return 2
    }
    try {
      const result = log.verify()
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
})
