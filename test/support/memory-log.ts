import { Writable } from 'node:stream'

/** A logger that keeps lines in memory: what a test reads back. */
export function memoryDestination(): Writable & { lines: string[] } {
  const lines: string[] = []
  const w = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  }) as Writable & { lines: string[] }
  w.lines = lines
  return w
}
