// A child for the watchdog tests. Usage: node watchdog-child.js blocked|busy-free|disarmed|idle
import { createWatchdog } from '../../src/daemon/watchdog.js'

const mode = process.argv[2]
const watchdog = createWatchdog({ onFire: (reason) => process.stdout.write(`fired: ${reason}\n`) })
const long = mode === 'idle'
watchdog.arm({ exitAtMs: long ? 60_000 : 300, killAtMs: long ? 60_000 : 900, code: 3, reason: 'deadline' })
process.stdout.write('armed\n')
if (mode === 'blocked') {
  // The main thread never yields again: only the worker thread can end the process.
  for (;;) {
    /* stuck */
  }
} else if (mode === 'busy-free') {
  setInterval(() => {}, 1_000)
} else if (mode === 'disarmed') {
  watchdog.disarm()
  setTimeout(() => process.exit(0), 1_500)
}
// idle: nothing keeps the event loop alive but the watchdog, which must not
