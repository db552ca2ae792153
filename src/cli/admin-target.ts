import { existsSync, readFileSync } from 'node:fs'
import { adminInfoPath, readAdminInfo, type AdminInfo } from '../admin/info-file.js'
import type { AdminTarget } from '../admin/client.js'
import { UsageError } from './args.js'

/** Where `haltd demo` keeps its log unless told otherwise; `stop`/`status` look there last. */
export const DEMO_DB = 'data/haltd-demo.db'

export const TARGET_FLAGS = { url: 'string', token: 'string', 'token-file': 'string', db: 'string', 'admin-file': 'string' } as const

export const TARGET_HELP = `Which daemon (first that applies):
  --url URL --token TOKEN   the admin API directly (or HALTD_ADMIN_URL / HALTD_ADMIN_TOKEN); a
                            --token shows in the process list to every local user, so prefer
  --token-file FILE         the token as the file's first line, or HALTD_ADMIN_TOKEN
  --admin-file FILE         the file a daemon writes next to its log (<db>.admin.json)
  --db FILE                 the daemon's log; its <db>.admin.json is read
  (none)                    ./${DEMO_DB}.admin.json, the demo's`

export type ResolvedTarget = AdminTarget & { info?: AdminInfo; db?: string }

/** Flags, then the environment, then the admin file of `--db` (or of the demo). */
export function resolveTarget(
  flags: { url?: string; token?: string; 'token-file'?: string; db?: string; 'admin-file'?: string },
  env: NodeJS.ProcessEnv = process.env,
): ResolvedTarget {
  const url = flags.url ?? env.HALTD_ADMIN_URL
  if (flags.token !== undefined && flags['token-file'] !== undefined) throw new UsageError('give --token or --token-file, not both')
  const token = flags.token ?? (flags['token-file'] !== undefined ? tokenFromFile(flags['token-file']) : env.HALTD_ADMIN_TOKEN)
  if (url && token && !flags['admin-file'] && !flags.db) return { url, token }
  if (url && !token) throw new UsageError('--url needs a token: --token TOKEN or HALTD_ADMIN_TOKEN')
  const file = flags['admin-file'] ?? adminInfoPath(flags.db ?? DEMO_DB)
  if (!flags['admin-file'] && !flags.db && !existsSync(file)) {
    throw new UsageError(`no daemon found: ${file} does not exist (pass --db FILE, --admin-file FILE, or --url and --token)`)
  }
  const info = readAdminInfo(file)
  return { url: url ?? info.url, token: token ?? info.token, info, db: info.db }
}

/** The token in `path`'s first line: out of the process list, where any local user reads a `--token`. */
function tokenFromFile(path: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new UsageError(`--token-file ${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e))}`)
  }
  const token = text.split(/\r?\n/, 1)[0]?.trim() ?? ''
  if (token === '') throw new UsageError(`--token-file ${path} holds no token on its first line`)
  return token
}
