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
  },
})
