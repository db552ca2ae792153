import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { ChainKeyFileRefused } from './errors.js'

/**
 * The keyed chain: each link is HMAC-SHA256(key, prevHash + header + data) instead of sha256, so
 * rewriting the log with recomputed links needs the key, which lives outside the data directory.
 * Whether a log is keyed is recorded in its meta table when it is created, with the key's id.
 */
export type ChainKind = 'sha256' | 'hmac-sha256'

/** The shortest key accepted: 32 bytes, as long as the digest, so the key is not the weak part. */
export const MIN_CHAIN_KEY_BYTES = 32

/**
 * What the log records of its key: the first 16 hex digits of sha256(key). It tells a wrong key
 * from a forged chain without giving away anything that helps forge one (the key is at least 32
 * random bytes; its hash does not make links).
 */
export const chainKeyId = (key: Buffer): string => createHash('sha256').update(key).digest('hex').slice(0, 16)

/** Why a key file cannot be used, or undefined when it can: missing, too short, readable by group or others. */
export function chainKeyFileProblem(path: string): string | undefined {
  let mode: number
  let size: number
  try {
    const st = statSync(path)
    if (!st.isFile()) return 'it is not a regular file'
    mode = st.mode
    size = st.size
  } catch (e) {
    return `it cannot be read (${e instanceof Error ? e.message : String(e)})`
  }
  if ((mode & 0o077) !== 0)
    return `it is readable or writable by group or others (mode ${(mode & 0o777).toString(8).padStart(3, '0')}): a key others can read protects nothing; chmod 600 it`
  if (size < MIN_CHAIN_KEY_BYTES) return `it holds ${size} bytes, fewer than the ${MIN_CHAIN_KEY_BYTES} a chain key needs (e.g. head -c 32 /dev/urandom)`
  return undefined
}

/** A chain key file's bytes, after the checks of `chainKeyFileProblem`. Throws `ChainKeyFileRefused`. */
export function readChainKeyFile(path: string): Buffer {
  const problem = chainKeyFileProblem(path)
  if (problem) throw new ChainKeyFileRefused(path, problem)
  const key = readFileSync(path)
  if (key.length < MIN_CHAIN_KEY_BYTES) throw new ChainKeyFileRefused(path, `it holds ${key.length} bytes, fewer than ${MIN_CHAIN_KEY_BYTES}`)
  return key
}
