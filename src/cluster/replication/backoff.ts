/** The wait before try `n` (from 0) of a retry schedule: its steps in turn, then its last step for good. */
export function backoffAt(steps: readonly number[], n: number): number {
  return steps[Math.max(0, Math.min(n, steps.length - 1))]!
}
