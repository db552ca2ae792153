import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEachTest } from './after-each-test.js'

/** A fresh directory, removed after the test (or, made outside a test, after the file). */
export function tempDir(prefix = 'haltd-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  afterEachTest(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function tempDb(name = 'events.db'): string {
  return join(tempDir(), name)
}
