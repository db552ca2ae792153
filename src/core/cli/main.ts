import { HaltdError } from '../../events/errors.js'

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

export function helpText(): string {
  const width = Math.max(...[...commands.keys()].map((n) => n.length), 4)
  return [
    'haltd: an event-sourced shutdown daemon for trading engines',
    '',
    'usage: haltd <command> [options]      haltd <command> --help',
    '',
    'commands:',
    ...[...commands.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
  ].join('\n')
}

/** Run the CLI; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  await import('./commands.js')
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(helpText())
    return name === undefined ? 1 : 0
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
      return 1
    }
    throw e
  }
}
