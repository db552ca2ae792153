import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'
import { fileEnded, testEnded, testStarted } from './after-each-test.js'

/**
 * Runs before every test file (vitest `setupFiles`). The files of a worker share one module graph
 * and one process, so whatever a file leaves behind the next one inherits: this drains the cleanup
 * registry after each test and each file, and fails the file that leaves the process changed (an
 * environment variable, or a listener for a signal or for the process's exit).
 */

const WATCHED_EVENTS = ['exit', 'beforeExit', 'SIGTERM', 'SIGINT', 'SIGUSR2', 'SIGHUP', 'uncaughtException', 'unhandledRejection', 'warning'] as const

type ProcessShape = { env: Record<string, string | undefined>; listeners: Record<string, number> }

function processShape(): ProcessShape {
  return {
    env: { ...process.env },
    listeners: Object.fromEntries(WATCHED_EVENTS.map((e) => [e, process.listenerCount(e)])),
  }
}

/** What changed between two shapes, in words; the environment is put back as it was. */
function leftBehind(before: ProcessShape, after: ProcessShape): string[] {
  const changes: string[] = []
  for (const key of new Set([...Object.keys(before.env), ...Object.keys(after.env)])) {
    if (before.env[key] === after.env[key]) continue
    changes.push(`environment variable ${key} ${before.env[key] === undefined ? 'set' : after.env[key] === undefined ? 'removed' : 'changed'}`)
    if (before.env[key] === undefined) delete process.env[key]
    else process.env[key] = before.env[key]
  }
  for (const event of WATCHED_EVENTS) {
    const added = (after.listeners[event] ?? 0) - (before.listeners[event] ?? 0)
    if (added > 0) changes.push(`${added} more process '${event}' listener(s)`)
  }
  return changes
}

let atStart: ProcessShape

beforeAll(() => {
  atStart = processShape()
})
beforeEach(() => testStarted())
afterEach(() => testEnded())
afterAll(async () => {
  await fileEnded()
  const changes = leftBehind(atStart, processShape())
  if (changes.length > 0) throw new Error(`this file left the shared test process changed: ${changes.join('; ')}`)
})
