import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { demoConfig } from '../../../src/daemon/demo.js'
import type { FleetRow } from '../../../src/cluster/fleet/row.js'
import { spawnHaltd, type Daemon } from '../../daemon/processes.js'
import { dist, repoRoot } from '../../support/paths.js'

/**
 * A real `haltd run` child on the demo's simulated venues, in the fleet of the NATS at `url`;
 * `within`: a command prefix it runs under (`ip netns exec NAME`); `nats`: more of its `nats` section.
 */
export function spawnFleetEngine(
  dir: string,
  engine: string,
  url: string,
  fleet: Record<string, unknown> = {},
  options: { seed?: number; within?: readonly string[]; nats?: Record<string, unknown> } = {},
): Daemon {
  const { seed = 1, within } = options
  const db = join(dir, `${engine}.db`)
  const config = {
    ...demoConfig({ db, port: 0, seed, orders: 0 }),
    log: { level: 'info', format: 'json' },
    nats: { servers: [url], engine, instance: `${engine}-1`, connectTimeoutMs: 500, ...options.nats },
    fleet: { refreshMs: 500, ttlMs: 3_000, ...fleet },
  }
  const file = join(dir, `${engine}.json`)
  writeFileSync(file, JSON.stringify(config))
  return spawnHaltd(['run', '--config', file], { db, ...(within ? { within } : {}) })
}

/**
 * `haltd fleet …` as an operator types it: its exit code and what it printed. Asynchronous: the
 * test process keeps serving what it runs (a proxy) meanwhile. `onLine` sees each line as it comes.
 * A command still running after `ms` is killed and fails naming itself and what it printed.
 */
export function fleetCli(
  url: string,
  args: string[],
  onLine?: (line: string) => void,
  ms = 40_000,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [dist('src/cli.js'), 'fleet', ...args, '--nats', url, '--by', 'ops-test'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    const text = d.toString('utf8')
    stdout += text
    if (onLine) for (const line of text.split('\n').filter(Boolean)) onLine(line)
  })
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`haltd fleet ${args.join(' ')} still running after ${ms} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`))
    }, ms)
    child.on('exit', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

export type FleetStatusJson = {
  engines: { engine: string; reachable: boolean; row?: FleetRow; why?: string }[]
  killSwitch: { state: string; id: string } | null
}

/** The fleet as `haltd fleet status --json` shows it. */
export async function fleetStatus(url: string): Promise<FleetStatusJson> {
  const r = await fleetCli(url, ['status', '--json'])
  if (r.status !== 0) throw new Error(`fleet status failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout)
}
