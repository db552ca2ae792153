import { existsSync } from 'node:fs'
import { adminInfoPath, readAdminInfo, type AdminInfo } from '../admin/info-file.js'
import type { AdminTarget } from '../admin/client.js'
import { UsageError } from './args.js'

/** Where `haltd demo` keeps its log unless told otherwise; `stop`/`status` look there last. */
export const DEMO_DB = 'data/haltd-demo.db'

export const TARGET_FLAGS = { url: 'string', token: 'string', db: 'string', 'admin-file': 'string' } as const

export const TARGET_HELP = `Which daemon (first that applies):
  --url URL --token TOKEN   the admin API directly (or HALTD_ADMIN_URL / HALTD_ADMIN_TOKEN)
  --admin-file FILE         the file a daemon writes next to its log (<db>.admin.json)
  --db FILE                 the daemon's log; its <db>.admin.json is read
  (none)                    ./${DEMO_DB}.admin.json, the demo's`

export type ResolvedTarget = AdminTarget & { info?: AdminInfo; db?: string }

/** Flags, then the environment, then the admin file of `--db` (or of the demo). */
export function resolveTarget(
  flags: { url?: string; token?: string; db?: string; 'admin-file'?: string },
  env: NodeJS.ProcessEnv = process.env,
): ResolvedTarget {
  const url = flags.url ?? env.HALTD_ADMIN_URL
  const token = flags.token ?? env.HALTD_ADMIN_TOKEN
  if (url && token && !flags['admin-file'] && !flags.db) return { url, token }
  if (url && !token) throw new UsageError('--url needs a token: --token TOKEN or HALTD_ADMIN_TOKEN')
  const file = flags['admin-file'] ?? adminInfoPath(flags.db ?? DEMO_DB)
  if (!flags['admin-file'] && !flags.db && !existsSync(file)) {
    throw new UsageError(`no daemon found: ${file} does not exist (pass --db FILE, --admin-file FILE, or --url and --token)`)
  }
  const info = readAdminInfo(file)
  return { url: url ?? info.url, token: token ?? info.token, info, db: info.db }
}
