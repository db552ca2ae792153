/**
 * Where support modules put away what they started (temp dirs, servers, child processes), so that
 * nothing outlives the test, or the file, that made it.
 *
 * The suite runs without isolation: a worker imports each support module once and shares it among
 * the files it runs. A module-level `afterEach` would bind to whichever file imported the module
 * first and never run for the others, so support modules register here instead, and
 * test/support/setup.ts (a setup file, run for every test file) drains the registry.
 */

export type Cleanup = () => unknown

const perTest: Cleanup[] = []
const perFile: Cleanup[] = []
let inTest = false

/**
 * Run `cleanup` when the current test ends (after the file's own `afterEach` hooks), or, when
 * called outside a test (at a file's top level, in `beforeAll`), when the file ends.
 */
export function afterEachTest(cleanup: Cleanup): void {
  ;(inTest ? perTest : perFile).push(cleanup)
}

/** Called by the setup file around each test. */
export function testStarted(): void {
  inTest = true
}

/** Runs the current test's cleanups, newest first; every one runs even if an earlier one throws. */
export async function testEnded(): Promise<void> {
  inTest = false
  await drain(perTest)
}

/** Runs the file's cleanups, and any a test left behind, newest first. */
export async function fileEnded(): Promise<void> {
  inTest = false
  await drain(perTest)
  await drain(perFile)
}

async function drain(cleanups: Cleanup[]): Promise<void> {
  const errors: unknown[] = []
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup()
    } catch (e) {
      errors.push(e)
    }
  }
  if (errors.length === 1) throw errors[0]
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanups failed`)
}
