#!/usr/bin/env node
// `npm start` on a fresh clone: install when node_modules is missing (npm ci also builds, through
// the prepare script), build when dist is missing. Nothing else, and no dependencies.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function run(args) {
  process.stderr.write(`haltd: running npm ${args.join(' ')}\n`)
  const r = spawnSync(npm, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

if (!existsSync(`${root}/node_modules/.package-lock.json`) && !existsSync(`${root}/node_modules/zod`)) run(['ci'])
if (!existsSync(`${root}/dist/src/cli.js`)) run(['run', 'build'])
