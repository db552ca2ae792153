#!/usr/bin/env node
import { main } from './cli/main.js'

/**
 * Leave once the command is done, its output written. Waiting for the process to empty itself
 * could wait for ever: a NATS client whose connect timed out against a server that took the
 * socket and never answered (a paused or overloaded one) leaves that socket open. `run` and
 * `standby` resolve only when the daemon has ended.
 */
function leave(code: number): void {
  process.exitCode = code
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
}

main(process.argv.slice(2)).then(leave, (error: unknown) => {
  process.stderr.write(`haltd: ${error instanceof Error ? error.message : String(error)}\n`)
  leave(1)
})
