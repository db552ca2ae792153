import fs from 'node:fs'

/**
 * Say `line` on stderr, where the operator reads what haltd cannot put anywhere else, as
 * `haltd: <line>`. Written to the descriptor itself: process.stderr reports a failed write (stderr
 * on a full disk, with the log beside it) as an 'error' event that no try catches and that ends
 * the process, in the middle of what the line was about. A line that cannot be written is lost;
 * the process log and the event log hold what they can.
 */
export function sayOnStderr(line: string): void {
  try {
    fs.writeSync(2, `haltd: ${line}\n`)
  } catch {
    // nowhere left to say it
  }
}
