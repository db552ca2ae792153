import { type Stats, statSync } from 'node:fs'

/** What a file is, named for a message: `file`, `directory`, `FIFO`, `device`, `socket`, `symbolic link` (from lstat) or `special file`. */
export function kindOfFile(s: Stats): string {
  if (s.isFile()) return 'file'
  if (s.isDirectory()) return 'directory'
  if (s.isFIFO()) return 'FIFO'
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'device'
  if (s.isSocket()) return 'socket'
  if (s.isSymbolicLink()) return 'symbolic link'
  return 'special file'
}

/**
 * What `path` is when it is there and not a regular file (a directory, a FIFO, a device, a
 * socket), named for a message; undefined for a regular file or nothing at all. A FIFO or a
 * device would block an open, or read without end.
 */
export function specialFileKind(path: string): string | undefined {
  let s: Stats
  try {
    s = statSync(path)
  } catch {
    return undefined
  }
  return s.isFile() ? undefined : kindOfFile(s)
}
