import { statSync } from 'node:fs'

/** A file as the kernel names it: a path can come to name another file, its device and inode cannot. */
export type FileId = { dev: number; ino: number }

/** The file at `path`; undefined where there is none. Other errors (an unreadable folder) say nothing of it and are thrown. */
export function fileIdOf(path: string): FileId | undefined {
  try {
    const s = statSync(path)
    return { dev: s.dev, ino: s.ino }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw e
  }
}

export const sameFile = (a: FileId | undefined, b: FileId | undefined): boolean => a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino
