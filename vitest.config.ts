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
    // One core is left to the haltd processes, nats-servers and browsers the tests start: on 2 cores,
    // two workers halved a 57-file run (158 s to 83 s) but failed deadline-checking tests on a loaded machine.
    maxWorkers: Math.max(1, availableParallelism() - 1),
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
