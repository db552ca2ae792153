import { HaltdError } from '../events/errors.js'

export type Command = {
  name: string
  summary: string
  usage: string
  run: (args: string[]) => Promise<number>
}

const commands = new Map<string, Command>()

export function registerCommand(command: Command): void {
  commands.set(command.name, command)
}

/** Running haltd and talking to it first, then the offline tools; anything else after them. */
const ORDER = ['demo', 'run', 'status', 'stop', 'killswitch', 'audit', 'replay', 'export', 'verify', 'backup', 'checkpoint']
const rank = (name: string) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length)
const OFFLINE: ReadonlySet<string> = new Set(['audit', 'replay', 'export', 'verify', 'backup', 'checkpoint'])
/** Checks whose exit 1 means "found something wrong": input they cannot use is a 2, never a 1. */
const CHECKS: ReadonlySet<string> = new Set(['audit', 'verify', 'backup', 'checkpoint'])

export function helpText(): string {
  const width = Math.max(...[...commands.keys()].map((n) => n.length), 4)
  const line = (c: Command) => `  ${c.name.padEnd(width)}  ${c.summary}`
  const all = [...commands.values()].sort((a, b) => rank(a.name) - rank(b.name))
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
    'exit codes: 0 ok; 1 an error or bad input (2 for audit, verify, backup and checkpoint, where 1 means findings);',
    'run and demo: 0 clean, 2 residual exposure or unconfirmed cancels, 3 emergency, 1 crash or bad config',
    '',
  ].join('\n')
}

/** Run the CLI; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  await import('./commands.js')
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
    const { HALTD_VERSION } = await import('../daemon/haltd.js')
    process.stdout.write(`haltd ${HALTD_VERSION}\n`)
    return 0
  }
  const command = commands.get(name)
  if (!command) {
    process.stderr.write(`haltd: unknown command '${name}'\n\n${helpText()}`)
    return 1
  }
  if (rest.includes('--help') || rest.includes('-h')) {
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
