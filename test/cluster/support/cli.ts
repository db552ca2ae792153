import { spawn } from 'node:child_process'
import { dist, repoRoot } from '../../support/paths.js'

/** A `haltd` command as an operator types it, asynchronous: this process serves the fake venues meanwhile. */
export function haltdCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [dist('src/cli.js'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')))
  return new Promise((resolve) => child.on('exit', (status) => resolve({ status, stdout, stderr })))
}
