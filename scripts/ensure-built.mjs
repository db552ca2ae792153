#!/usr/bin/env node
// `npm start` on a fresh clone: install when node_modules is missing (npm ci also builds, through
// the prepare script), and build when dist is missing or older than a source file (after a pull).
// Nothing else, and no dependencies.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const built = join(root, 'dist/src/cli.js')

function run(args) {
  process.stderr.write(`haltd: running npm ${args.join(' ')}\n`)
  const r = spawnSync(npm, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

/** The newest modification time of the .ts files under a folder. */
function newest(dir) {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) latest = Math.max(latest, newest(path))
    else if (entry.name.endsWith('.ts')) latest = Math.max(latest, statSync(path).mtimeMs)
  }
  return latest
}

if (!existsSync(join(root, 'node_modules/.package-lock.json')) && !existsSync(join(root, 'node_modules/zod'))) run(['ci'])
if (!existsSync(built) || newest(join(root, 'src')) > statSync(built).mtimeMs) run(['run', 'build'])
