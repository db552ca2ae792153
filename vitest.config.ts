import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'

// Files that start many real haltd processes and wait for all of them to trade: they need the
// machine's cores to themselves, so they run last, one at a time, each in a fresh process.
const ALONE = ['test/cluster/fleet-processes.test.ts']

const shared = {
  exclude: ['dist/**', 'node_modules/**'],
  testTimeout: 30_000,
  hookTimeout: 30_000,
  pool: 'forks',
  setupFiles: ['test/support/setup.ts'],
} as const

export default defineConfig({
  test: {
    // A worker per core, not vitest's cores - 1: most files wait on child processes, sockets and
    // timers, so on 2 cores two workers halved a 57-file run (158 s to 83 s); three took 67 s but
    // leave the deadline-checking tests less room on a loaded machine.
    maxWorkers: availableParallelism(),
    projects: [
      {
        test: {
          ...shared,
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: [...shared.exclude, ...ALONE],
          // One module graph per worker, shared by the files it runs: a fresh graph per file cost
          // more than most files' tests. What a file starts is put away by test/support/setup.ts,
          // which also fails a file that leaves the process changed for the next.
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'alone',
          include: ALONE,
          isolate: true,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})
