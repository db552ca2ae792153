#!/usr/bin/env node
import { asksForUsage, main } from './cli/main.js'
import { CHECKS } from './cli/commands.js'

const command = process.argv[2]
/**
 * Their stdout is the process log: its loss is the logger's matter, and their exit code says how the
 * shutdown ended. Their usage (`haltd run --help`) is output like any other command's.
 */
const DAEMONS = new Set(['run', 'demo', 'standby'])
const runsDaemon = command !== undefined && DAEMONS.has(command) && !asksForUsage(process.argv.slice(3))

/** The first write of stdout that failed (a full disk; a closed pipe is the reader's choice): what the command printed is not all there. */
let outputLost: Error | undefined
process.stdout.on('error', (e) => {
  outputLost ??= e
})

/**
 * stderr that takes no write (its reader gone, `2>&-` on a pipe, a full disk) has no one left to
 * tell: its lines are lost, and the exit code still says how the command ended. Unheard, the
 * failed write would end the process as a crash (exit 1) in the middle of what it was saying.
 */
process.stderr.on('error', () => undefined)

/**
 * Leave once the command is done, its output written. Waiting for the process to empty itself
 * could wait for ever: a NATS client whose connect timed out against a server that took the
 * socket and never answered (a paused or overloaded one) leaves that socket open. `run` and
 * `standby` resolve only when the daemon has ended. Output that could not be written turns a
 * command's success into a failure: a report or an export cut short is not the command's answer.
 */
function leave(code: number): void {
  process.exitCode = code
  process.stdout.write('', (e) => {
    const failedWrite = outputLost ?? e ?? undefined
    // a reader that closed the pipe (`| head`) took what it wanted: that is its choice, not a loss
    const lost = (failedWrite as NodeJS.ErrnoException | undefined)?.code === 'EPIPE' ? undefined : failedWrite
    // the code a command gives when it could not do its work; one that gave it has said why
    const failed = CHECKS.has(command ?? '') || command === 'export' ? 2 : 1
    let exit = code
    if (lost && command !== undefined && !runsDaemon && code !== failed) {
      exit = failed
      process.exitCode = exit
      process.stderr.write(`haltd ${command}: the output could not be written (${lost.message}): what it printed is not all there\n`)
    }
    // a stderr that failed is done: waiting for it to drain would wait for nothing
    if (process.stderr.destroyed) process.exit(exit)
    else process.stderr.write('', () => process.exit(exit))
  })
}

main(process.argv.slice(2)).then(leave, (error: unknown) => {
  process.stderr.write(`haltd: ${error instanceof Error ? error.message : String(error)}\n`)
  leave(1)
})
