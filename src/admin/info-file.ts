import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { z } from 'zod'
import { HaltdError } from '../events/errors.js'

/**
 * Where a running daemon tells local tools how to reach it: `<db>.admin.json`, mode 0600, so
 * only the account that runs haltd can read the token.
 */
export const AdminInfo = z.object({
  url: z.string().url(),
  token: z.string().min(1),
  pid: z.number().int().positive(),
  db: z.string(),
  startedAt: z.string(),
})
export type AdminInfo = z.infer<typeof AdminInfo>

export const adminInfoPath = (db: string): string => `${db}.admin.json`

export class NoAdminInfo extends HaltdError {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super('NO_ADMIN_INFO', `cannot read ${path}: ${detail} (is the daemon running? pass --url and --token, or HALTD_ADMIN_URL and HALTD_ADMIN_TOKEN)`)
  }
}

export function writeAdminInfo(path: string, info: AdminInfo): void {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 })
  // The mode argument is filtered by the umask; the token file must be 0600 whatever it is.
  chmodSync(tmp, 0o600)
  renameSync(tmp, path)
}

export function readAdminInfo(path: string): AdminInfo {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new NoAdminInfo(path, (e as NodeJS.ErrnoException).code ?? (e as Error).message)
  }
  const parsed = AdminInfo.safeParse(
    (() => {
      try {
        return JSON.parse(text)
      } catch {
        return undefined
      }
    })(),
  )
  if (!parsed.success) throw new NoAdminInfo(path, 'not an admin info file')
  return parsed.data
}

/** Remove the file, but only if it is still ours (another daemon may have taken the db since). */
export function removeAdminInfo(path: string, pid = process.pid): void {
  try {
    if (readAdminInfo(path).pid === pid) rmSync(path, { force: true })
  } catch {
    // Already gone or not ours to remove.
  }
}
