// A child process that writes a log the way a busy haltd does: COUNT market marks at once, then
// says `ready SEQ` on stdout and goes on appending a batch every few milliseconds until killed.
// Usage: node live-writer-child.js DB COUNT
import { openEventLog } from '../../src/core/log/event-log.js'
import { mark } from '../support/events.js'

const [path, count = '10000'] = process.argv.slice(2)
if (!path) throw new Error('usage: live-writer-child DB COUNT')
const log = openEventLog({ path })
const batch = Array.from({ length: 1000 }, (_, i) => mark(100 + (i % 7)))
while (log.lastSeq < Number(count)) log.appendBatch(batch)
process.stdout.write(`ready ${log.lastSeq}\n`)
setInterval(() => log.appendBatch(batch.slice(0, 200)), 5)
