// A child process for the writer-lock and open-failure tests: opens the log, says what happened
// as one JSON line on stdout, and then either holds the log open until it is killed or closes it.
// Holding, it looks after its files once a second as the daemon does, and says what it found as
// a JSON line ({ retaken } or { lost }).
// Usage: node log-open-child.js DB write|read [hold]
import { openEventLog } from '../../src/core/log/event-log.js'

const [path, mode = 'write', hold] = process.argv.slice(2)
if (!path) throw new Error('usage: log-open-child DB write|read [hold]')
try {
  const log = openEventLog({ path, readonly: mode === 'read' })
  if (mode === 'write') log.append({ type: 'market.mark', data: { venue: 'sim-a', symbol: 'BTC/USDT', price: 100 } })
  process.stdout.write(`${JSON.stringify({ open: true, pid: process.pid, lastSeq: log.lastSeq })}\n`)
  if (hold === 'hold') {
    log.on('lock-retaken', ({ message }) => process.stdout.write(`${JSON.stringify({ retaken: message })}\n`))
    const watch = setInterval(() => {
      const lost = log.checkFile()
      if (lost === undefined) return
      process.stdout.write(`${JSON.stringify({ lost })}\n`)
      clearInterval(watch)
    }, 1000)
    setInterval(() => log.lastSeq, 60_000)
  } else log.close()
} catch (e) {
  const error = e as { name?: string; code?: string; message?: string; holder?: unknown; reason?: unknown }
  process.stdout.write(
    `${JSON.stringify({ open: false, name: error.name, code: error.code, message: error.message, holder: error.holder, reason: error.reason })}\n`,
  )
  process.exitCode = 3
}
