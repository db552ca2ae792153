import { auditCommand, backupCommand, checkpointCommand, exportCommand, replayCommand } from './audit-commands.js'
import type { Command } from './command.js'
import { demoCommand, killswitchCommand, runCommand, statusCommand, stopCommand } from './daemon-commands.js'
import { fleetCommand } from './fleet-commands.js'
import { verifyCommand } from './log-commands.js'
import { tokenCommand } from './token-commands.js'
import { handoverCommand, restoreCommand, standbyCommand } from './cluster-commands.js'

/** Every `haltd` command, in the order the help lists them: running haltd and talking to it first, then the offline tools. */
export const COMMANDS: readonly Command[] = [
  demoCommand,
  runCommand,
  standbyCommand,
  handoverCommand,
  statusCommand,
  stopCommand,
  killswitchCommand,
  fleetCommand,
  auditCommand,
  replayCommand,
  exportCommand,
  verifyCommand,
  backupCommand,
  restoreCommand,
  checkpointCommand,
  tokenCommand,
]

/** The commands that work on a log file, with no daemon running. */
export const OFFLINE: ReadonlySet<string> = new Set(['audit', 'replay', 'export', 'verify', 'backup', 'restore', 'checkpoint', 'token'])

/** Checks whose exit 1 means "found something wrong": input they cannot use is a 2, never a 1. */
export const CHECKS: ReadonlySet<string> = new Set(['audit', 'verify', 'replay', 'backup', 'restore', 'checkpoint'])
