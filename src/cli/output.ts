import { statSync, type Stats } from 'node:fs'
import { UsageError } from './args.js'
import { UNPRINTABLE } from '../events/text.js'

const statOf = (path: string): Stats | undefined => {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}

/**
 * Refuse an `--out` that is the log being read or one of its files (its WAL, shared memory, writer
 * lock, kept emergency): writing a report or an export there would destroy what it reports on.
 */
export function refuseLogAsOutput(out: string, db: string): void {
  const target = statOf(out)
  if (target === undefined) return
  if (target.isDirectory()) throw new UsageError(`--out ${out} is a directory: give a file`)
  for (const file of [db, `${db}-wal`, `${db}-shm`, `${db}.lock`, `${db}.unrecorded-emergency`]) {
    const f = statOf(file)
    if (f !== undefined && f.dev === target.dev && f.ino === target.ino)
      throw new UsageError(`--out ${out} is ${file === db ? 'the log being read' : `${file}, a file of the log being read`}: give another path`)
  }
}

/** What a failed write of `path` says: the path and the system's reason, without a stack. */
export const cannotWrite = (path: string, e: unknown): string => `cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`

const EACH_UNPRINTABLE = new RegExp(UNPRINTABLE.source, 'g')

/**
 * One line of text as it came (a venue's error, a reason), with every character that would break
 * the line or reorder it shown as its escape: text from outside never forges a line of its own.
 */
export const oneLine = (text: string): string =>
  text.replace(EACH_UNPRINTABLE, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u{${c.codePointAt(0)!.toString(16)}}`))

/**
 * JSON for a terminal: the characters JSON.stringify leaves as they are but a terminal acts on
 * (C1 controls, bidirectional overrides) written as their `\u` escapes, which any JSON reader
 * reads back as the same text.
 */
export const terminalJson = (value: unknown): string =>
  JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
