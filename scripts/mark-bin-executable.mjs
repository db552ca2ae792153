#!/usr/bin/env node
// tsc writes files 0644, and npm links (and chmods) the bins of dependencies only, never the
// package's own: without this, `npx haltd` in a fresh clone answers "Permission denied".
import { chmodSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
for (const path of Object.values(bin)) chmodSync(join(root, path), 0o755)
