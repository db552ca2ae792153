import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One module graph per worker, shared by the files it runs: a fresh graph per file cost more
    // than most files' tests. What a file starts is put away by test/support/setup.ts, which also
    // fails a file that leaves the process changed for the next.
    isolate: false,
    setupFiles: ['test/support/setup.ts'],
    // A worker per core, not vitest's cores - 1: most files wait on child processes, sockets and
    // timers, so on 2 cores two workers halved a 57-file run (158 s to 83 s); three took 67 s but
    // leave the deadline-checking tests less room on a loaded machine.
    maxWorkers: availableParallelism(),
  },
})
