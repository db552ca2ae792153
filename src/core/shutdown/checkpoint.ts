import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { specialFileKind } from '../log/special-file.js'
import { dirname } from 'node:path'
import { z } from 'zod'
import { HaltdError } from '../../events/errors.js'

/**
 * The shutdown's checkpoint: positions, orders, balances, strategy state and config in one JSON
 * file with a sha256 checksum of its content. Written atomically (temp file, fsync, rename,
 * fsync of the directory), then read back and verified. On failure the fallback location is
 * tried; if both fail, the error carries how to rebuild the same state from the event log.
 */

export const CHECKPOINT_FORMAT = 'haltd-checkpoint'
export const CHECKPOINT_VERSION = 1

export const CheckpointContent = z.strictObject({
  shutdownId: z.string().optional(),
  createdAt: z.number().finite().nonnegative(),
  /** The log position the content reflects: replaying the log to this seq gives the same state. */
  atSeq: z.number().int().nonnegative(),
  logPath: z.string().optional(),
  /** The log's head when the checkpoint was written: an anchor kept outside the log (`haltd checkpoint verify FILE --db LOG`). */
  head: z.strictObject({ seq: z.number().int().nonnegative(), hash: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
  positions: z.array(z.strictObject({ venue: z.string(), symbol: z.string(), qty: z.number(), avgEntry: z.number().optional() })),
  orders: z.array(z.record(z.string(), z.unknown())),
  balances: z.record(z.string(), z.array(z.strictObject({ asset: z.string(), free: z.number(), used: z.number(), total: z.number() }))),
  strategies: z.unknown(),
  config: z.unknown(),
})
export type CheckpointContent = z.infer<typeof CheckpointContent>

const CheckpointFile = z.strictObject({
  format: z.literal(CHECKPOINT_FORMAT),
  version: z.number().int().positive(),
  checksum: z.string().regex(/^[0-9a-f]{64}$/),
  content: CheckpointContent,
})

export class CheckpointFailed extends HaltdError {
  constructor(
    readonly attempts: readonly { path: string; error: string }[],
    readonly recovery: string,
  ) {
    super('CHECKPOINT_FAILED', `checkpoint could not be written (${attempts.map((a) => `${a.path}: ${a.error}`).join('; ')}). ${recovery}`)
  }
}

/** JSON with object keys sorted at every level: the bytes the checksum covers. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {}
      for (const k of Object.keys(v as Record<string, unknown>).sort()) sorted[k] = (v as Record<string, unknown>)[k]
      return sorted
    }
    return v
  })
}

export const checksumOf = (content: unknown): string => createHash('sha256').update(canonicalJson(content)).digest('hex')

/** The largest checkpoint file read: far above any real one (a summary, not the orders), so a wrong path is not read whole. */
const MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024

export type CheckpointVerdict =
  | { ok: true; path: string; checksum: string; atSeq: number; content: CheckpointContent }
  | { ok: false; path: string; problem: string }

/** Read a checkpoint file and check its format, schema and checksum (`haltd checkpoint verify`). */
export function verifyCheckpoint(path: string): CheckpointVerdict {
  const special = specialFileKind(path)
  if (special !== undefined) return { ok: false, path, problem: `cannot read it: it is a ${special}, not a file` }
  let text: string
  try {
    const size = statSync(path).size
    if (size > MAX_CHECKPOINT_BYTES) return { ok: false, path, problem: `it is ${size} bytes; a checkpoint is at most ${MAX_CHECKPOINT_BYTES}` }
    text = readFileSync(path, 'utf8')
  } catch (e) {
    return { ok: false, path, problem: `cannot read it: ${e instanceof Error ? e.message : String(e)}` }
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return { ok: false, path, problem: `not JSON: ${e instanceof Error ? e.message : String(e)}` }
  }
  const parsed = CheckpointFile.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    return { ok: false, path, problem: `not a haltd checkpoint: ${issue.path.join('.') || '(root)'}: ${issue.message}` }
  }
  if (parsed.data.version > CHECKPOINT_VERSION) {
    return { ok: false, path, problem: `checkpoint version ${parsed.data.version} is newer than this haltd reads (${CHECKPOINT_VERSION})` }
  }
  const actual = checksumOf(parsed.data.content)
  if (actual !== parsed.data.checksum) {
    return { ok: false, path, problem: `checksum mismatch: the file says ${parsed.data.checksum}, the content hashes to ${actual}` }
  }
  return { ok: true, path, checksum: actual, atSeq: parsed.data.content.atSeq, content: parsed.data.content }
}

/** Temp file in the same directory, fsync, rename over the target, fsync the directory. */
export function writeFileAtomic(path: string, data: string): void {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true })
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`
  let fd: number | undefined
  try {
    fd = openSync(tmp, 'w', 0o600)
    writeSync(fd, data)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    renameSync(tmp, path)
  } catch (e) {
    if (fd !== undefined) closeSync(fd)
    rmSync(tmp, { force: true })
    throw e
  }
  // The rename is durable only once the directory entry is; some file systems refuse a directory fsync.
  try {
    const dfd = openSync(dir, 'r')
    try {
      fsyncSync(dfd)
    } finally {
      closeSync(dfd)
    }
  } catch {
    /* best effort */
  }
}

export type CheckpointWritten = {
  path: string
  checksum: string
  atSeq: number
  verified: boolean
  fallback: boolean
  attempts: { path: string; error: string }[]
}

export type CheckpointerOptions = {
  primary: string
  fallback?: string
  /** Where the event log lives, for the recovery note. */
  logPath?: string
}

export type Checkpointer = {
  readonly primary: string
  readonly fallback: string | undefined
  write(content: CheckpointContent, options: { verify: boolean }): CheckpointWritten
  /** The last checkpoint this checkpointer wrote, if any. */
  readonly last: CheckpointWritten | undefined
}

/** How to get the same state back without the file: the log has everything. */
export function recoveryNote(logPath: string | undefined, atSeq: number): string {
  const db = logPath ?? '<event log file>'
  return `Rebuild the state from the event log: \`haltd replay --db ${db} --until ${atSeq} --json\` gives the positions, orders and balances as of seq ${atSeq}.`
}

export function createCheckpointer(options: CheckpointerOptions): Checkpointer {
  let last: CheckpointWritten | undefined
  const attemptAt = (path: string, body: string, checksum: string, verify: boolean): void => {
    writeFileAtomic(path, body)
    if (!verify) return
    const verdict = verifyCheckpoint(path)
    if (!verdict.ok) throw new Error(`read back failed: ${verdict.problem}`)
    if (verdict.checksum !== checksum) throw new Error(`read back a different checksum (${verdict.checksum})`)
  }
  return {
    primary: options.primary,
    fallback: options.fallback,
    get last() {
      return last
    },
    write(input, { verify }) {
      const content = CheckpointContent.parse({ ...input, ...(options.logPath && input.logPath === undefined ? { logPath: options.logPath } : {}) })
      const checksum = checksumOf(content)
      const body = `${JSON.stringify({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, checksum, content }, null, 1)}\n`
      const attempts: { path: string; error: string }[] = []
      const targets = [options.primary, ...(options.fallback ? [options.fallback] : [])]
      for (const [i, path] of targets.entries()) {
        try {
          attemptAt(path, body, checksum, verify)
          last = { path, checksum, atSeq: content.atSeq, verified: verify, fallback: i > 0, attempts }
          return last
        } catch (e) {
          attempts.push({ path, error: e instanceof Error ? e.message : String(e) })
        }
      }
      throw new CheckpointFailed(attempts, recoveryNote(content.logPath, content.atSeq))
    },
  }
}
