#!/usr/bin/env node
// tsc compiles only TypeScript: the dashboard's plain HTML, CSS and JavaScript are copied beside
// the compiled module that serves them (src/admin/dashboard/assets.ts reads them from there).
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const from = join(root, 'src', 'admin', 'dashboard')
const to = join(root, 'dist', 'src', 'admin', 'dashboard')
mkdirSync(to, { recursive: true })
for (const file of readdirSync(from)) if (/^page\.(html|css|js)$/.test(file)) copyFileSync(join(from, file), join(to, file))
