#!/usr/bin/env node
// `npm run bench`: the peer event store the benchmark compares with lives in bench/peer with its
// own lockfile, so `npm ci` for haltd never compiles its node-sqlite3 binding. Install it there
// once (and again when its lockfile changes).
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const peer = fileURLToPath(new URL('../bench/peer/', import.meta.url))
const installed = join(peer, 'node_modules', '.package-lock.json')
const lock = join(peer, 'package-lock.json')
if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) process.exit(0)
process.stderr.write('bench: installing the peer baseline (bench/peer: emmett-sqlite, which compiles node-sqlite3)\n')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const r = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: peer, stdio: 'inherit' })
// The bench still runs without it: the peer's rows are reported as skipped, with the reason.
if (r.status !== 0) process.stderr.write('bench: the peer baseline could not be installed; its comparisons are skipped\n')
