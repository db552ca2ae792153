import { createLogger } from '../../src/daemon/logger.js'

// stdout touched as the CLI touches it: for a pipe, Node then makes the descriptor non-blocking
process.stdout.on('error', () => {})
const log = createLogger({ level: 'info' })
const lines = Number(process.argv[2] ?? 2000)
for (let i = 0; i < lines; i++) log.info({ i, pad: 'x'.repeat(1000) }, 'line')
