import { userInfo } from 'node:os'

/**
 * Who is at the terminal, for the records a command signs (a fleet latch's `by`, a stop's reason):
 * the login name as the shell gives it, else the account the process runs as (a systemd unit, a
 * container or `sudo -i` may leave `$USER` unset). Undefined only where neither is known.
 */
export function operatorName(): string | undefined {
  const fromShell = process.env.USER?.trim() || process.env.LOGNAME?.trim()
  let name = fromShell
  if (!name) {
    try {
      name = userInfo().username.trim() || undefined
    } catch {
      // a uid with no passwd entry (some containers): no name to give
    }
  }
  return name
}
