import { describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { helpText } from '../../src/cli/main.js'
import { dist } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'

await import('../../src/cli/commands.js')
const hasDemo = /^\s+demo\s/m.test(helpText())
if (!hasDemo) console.warn('skipping the demo audit tests: `haltd demo` is not registered in this build')

const cli = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })

/** Run the demo until it has traded (open orders in a status line), send `signal`, and return its exit code and log. */
async function demoRun(signal: NodeJS.Signals, db = join(tempDir('haltd-demo-'), 'demo.db')): Promise<{ code: number | null; db: string }> {
  const child = spawn(process.execPath, [dist('src/cli.js'), 'demo', '--db', db, '--port', '0', '--seed', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! })
      lines.on('line', (line) => {
        // piped, the status line is a JSON object like the log lines around it
        const status = line.startsWith('{') ? (JSON.parse(line) as { msg?: string; state?: string; openOrders?: number }) : undefined
        if (status?.msg === 'status' && status.state === 'running' && (status.openOrders ?? 0) > 0) resolve()
      })
      child.on('exit', (code) => reject(new Error(`the demo exited (${code}) before it traded`)))
    })
    child.kill(signal)
    return { code: await exited, db }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
  }
}

describe.skipIf(!hasDemo)('audit: logs of real demo runs audit clean', () => {
  it('SIGTERM: the graceful shutdown, all 13 steps, audits clean (exit 0)', async () => {
    const { code, db } = await demoRun('SIGTERM')
    expect(code).toBe(0)
    const run = cli('audit', '--db', db, '--format', 'json')
    expect(run.status, run.stdout.slice(0, 4000)).toBe(0)
    const report = JSON.parse(run.stdout)
    expect(report.verdict).toBe('clean')
    expect(report.coverage.decisionsReplayed).toBeGreaterThan(10)
    expect(report.shutdowns).toHaveLength(1)
    expect(report.shutdowns[0]).toMatchObject({ mode: 'graceful', origin: 'signal', outcome: 'clean' })
    expect(report.shutdowns[0].steps.map((s: { number: number }) => s.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
    expect(report.runs).toHaveLength(1)
    expect(report.runs[0].end).toMatchObject({ exitCode: 0 })
  }, 120_000)

  it('a second run on the same log trades, stops clean and audits clean: the restarted venues repeat no trade id', async () => {
    const first = await demoRun('SIGTERM')
    expect(first.code).toBe(0)
    const second = await demoRun('SIGTERM', first.db)
    expect(second.code).toBe(0)
    const run = cli('audit', '--db', first.db, '--format', 'json')
    expect(run.status, run.stdout.slice(0, 4000)).toBe(0)
    const report = JSON.parse(run.stdout)
    expect(report.verdict).toBe('clean')
    expect(report.runs.map((r: { end?: { exitCode: number } }) => r.end?.exitCode)).toEqual([0, 0])
    expect(report.shutdowns.map((s: { outcome: string }) => s.outcome)).toEqual(['clean', 'clean'])
  }, 180_000)

  it('SIGUSR2: the emergency path leaves an intact log, kill switch latched, within its deadline (exit 3); what it left open is its outcome', async () => {
    const { code, db } = await demoRun('SIGUSR2')
    expect(code).toBe(3)
    const run = cli('audit', '--db', db, '--format', 'json')
    const report = JSON.parse(run.stdout)
    expect(report.verdict).toBe('clean')
    // the emergency cancels and never flattens: positions the demo held are residual exposure, and the exit code says so
    const last = report.outcomes[0]
    expect(last.safe).toBe(last.concerns.length === 0)
    expect(run.status, run.stdout.slice(0, 4000)).toBe(last.safe ? 0 : 3)
    if (last.exposure.length > 0) expect(last.verdict).toBe('RESIDUAL_EXPOSURE')
    expect(report.shutdowns[0]).toMatchObject({ mode: 'emergency', outcome: 'emergency' })
    expect(report.shutdowns[0].durationMs).toBeLessThanOrEqual(report.shutdowns[0].deadlineMs)
    expect(report.trading.killSwitch.latched).toBe(true)
  }, 120_000)
})
