import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A small tmpfs a test can fill: the disk-full fault, for real. */
export type SmallDisk = {
  dir: string
  /** Write a file beside whatever lives there until the disk refuses (ENOSPC); returns the bytes written. */
  fill(): number
  unmount(): void
}

/**
 * Mount a tmpfs of `size` (root only). Undefined, with the reason, where mounting is not permitted;
 * under CI that is an error, since the tests that need it would silently not run.
 */
export function mountSmallDisk(size = '2m'): SmallDisk | { skipped: string } {
  const dir = mkdtempSync(join(tmpdir(), 'haltd-disk-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' })
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    const why = `cannot mount a tmpfs (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`
    if (process.env.CI) throw new Error(`${why}: the disk-full tests need it under CI`)
    return { skipped: why }
  }
  return {
    dir,
    fill() {
      const fd = openSync(join(dir, 'filler'), 'a')
      let written = 0
      try {
        // Big chunks first, then smaller ones, down to a page: tmpfs hands out whole pages.
        for (const size of [256 * 1024, 16 * 1024, 4096, 512]) {
          const chunk = Buffer.alloc(size, 0x5a)
          for (;;) {
            try {
              written += writeSync(fd, chunk)
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break
              throw e
            }
          }
        }
      } finally {
        closeSync(fd)
      }
      return written
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
