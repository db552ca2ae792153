import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** Compiled entry points (npm test builds before running vitest). */
export const dist = (p: string) => join(repoRoot, 'dist', p)
