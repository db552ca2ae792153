// The admin API in a process of its own, for the fuzz test: a client that could end the process
// ends this one, and the test sees it exit. It prints `ready <port>`, then answers each IPC
// message with how many actions the backend performed and the log's last seq.
// Usage: node fuzz-server-child.js DB TOKEN
import { openEventLog } from '../../src/core/log/event-log.js'
import { createLogger } from '../../src/daemon/logger.js'
import { startAdminServer, type AdminBackend } from '../../src/admin/index.js'
import { logBackend } from './log-backend.js'

const [path, token] = process.argv.slice(2)
if (!path || !token) throw new Error('usage: fuzz-server-child DB TOKEN')

const ACTIONS = new Set<string>([
  'shutdown',
  'killswitchActivate',
  'killswitchReset',
  'drainStart',
  'drainCancel',
  'drainForce',
  'pause',
  'resume',
  'lockDeployments',
  'unlockDeployments',
])
const log = openEventLog({ path })
const inner = logBackend(log)
let actions = 0
/** Every action method counted as it is called, whatever it then does. */
const backend = new Proxy(inner, {
  get(target, key, receiver) {
    const value = Reflect.get(target, key, receiver)
    if (typeof key === 'string' && ACTIONS.has(key) && typeof value === 'function') {
      return (...args: unknown[]) => {
        actions++
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    }
    return value
  },
}) as AdminBackend

// Errors only (a 500 is logged as one): the test reads them from stderr.
const logger = createLogger({ destination: process.stderr, level: 'error' })
// every case comes from loopback, most with a wrong token: the limit on those (tested on its own) would refuse the rest
const server = await startAdminServer({ backend, token, port: 0, logger, tokenLimit: { maxFailures: Number.MAX_SAFE_INTEGER } })
process.on('message', () => process.send?.({ actions, lastSeq: log.lastSeq, clients: server.clients }))
process.stdout.write(`ready ${server.port}\n`)
