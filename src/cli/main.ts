import { HaltdError } from '../events/errors.js'
import type { Command } from './command.js'
import { CHECKS, COMMANDS, OFFLINE } from './commands.js'

export function helpText(all: readonly Command[] = COMMANDS): string {
  const width = Math.max(...all.map((c) => c.name.length), 4)
  const line = (c: Command) => `  ${c.name.padEnd(width)}  ${c.summary}`
  return [
    'haltd: an event-sourced shutdown daemon for trading engines',
    '',
    'usage: haltd <command> [options]      haltd <command> --help      haltd --version',
    '',
    'the daemon:',
    ...all.filter((c) => !OFFLINE.has(c.name)).map(line),
    '',
    'offline, on a log file:',
    ...all.filter((c) => OFFLINE.has(c.name)).map(line),
    '',
    'exit codes: 0 ok; 1 an error or bad input (2 for audit, verify, replay, backup and checkpoint, where 1 means findings, or for replay a state left incomplete);',
    'run and demo: 0 clean, 2 residual exposure, unconfirmed cancels or an engine not seen gone, 3 emergency, 1 crash or bad config',
    '',
  ].join('\n')
}

/** Whether a command's arguments ask for its usage (printed to stdout) rather than its work. */
export const asksForUsage = (rest: readonly string[]): boolean => rest.includes('--help') || rest.includes('-h')

/** Run the CLI; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined) {
    process.stderr.write(helpText())
    return 1
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(helpText())
    return 0
  }
  if (name === '--version' || name === '-V') {
    const { HALTD_VERSION } = await import('../daemon/index.js')
    process.stdout.write(`haltd ${HALTD_VERSION}\n`)
    return 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) {
    process.stderr.write(`haltd: unknown command '${name}'\n\n${helpText()}`)
    return 1
  }
  if (asksForUsage(rest)) {
    process.stdout.write(`${command.usage}\n`)
    return 0
  }
  try {
    return await command.run(rest)
  } catch (e) {
    if (e instanceof HaltdError) {
      process.stderr.write(`haltd ${name}: ${e.message}\n`)
      return CHECKS.has(name) ? 2 : 1
    }
    throw e
  }
}
