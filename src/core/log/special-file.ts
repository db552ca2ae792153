import { statSync } from 'node:fs'

/**
 * What `path` is when it is there and not a regular file (a directory, a FIFO, a device, a
 * socket), named for a message; undefined for a regular file or nothing at all. A FIFO or a
 * device would block an open, or read without end.
 */
export function specialFileKind(path: string): string | undefined {
  let s: ReturnType<typeof statSync>
  try {
    s = statSync(path)
  } catch {
    return undefined
  }
  if (s.isFile()) return undefined
  if (s.isDirectory()) return 'directory'
  if (s.isFIFO()) return 'FIFO'
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'device'
  if (s.isSocket()) return 'socket'
  return 'special file'
}
