/** One `haltd` command: its name, a line for the help, its usage, and what it does (resolving with the exit code). */
export type Command = {
  name: string
  summary: string
  usage: string
  run: (args: string[]) => Promise<number>
}
