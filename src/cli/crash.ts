import type { Haltd } from '../daemon/index.js'

/**
 * A crash is a crash: close the gate, say why, and leave the run open so the next start records it.
 * `code` is the daemon's crash exit code, passed in because the daemon is loaded lazily by the commands.
 */
export function exitOnCrash(haltd: Haltd, code: number): void {
  const crash = (e: unknown) => {
    haltd.gate.halt('crash')
    haltd.logger.fatal({ err: e }, 'haltd crashed')
    process.exit(code)
  }
  process.on('uncaughtException', crash)
  process.on('unhandledRejection', crash)
}
