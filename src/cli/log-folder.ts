import { existsSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * The log's folder, made where it is missing, and said so: a typo in `db.path` would otherwise
 * start a new, empty log without a word, and haltd would know nothing of the orders it placed.
 */
export function logFolder(command: string, path: string): void {
  const dir = dirname(path)
  if (existsSync(dir)) return
  mkdirSync(dir, { recursive: true })
  process.stderr.write(`haltd ${command}: ${dir} (the folder of db.path) did not exist: created it, and a new event log ${path} in it\n`)
}
