import { beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { helpText } from '../../src/cli/main.js'
import { dist } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'

await import('../../src/cli/commands.js')
const hasDemo = /^\s+demo\s/m.test(helpText())
if (!hasDemo) console.warn('skipping the demo audit tests: `haltd demo` is not registered in this build')

type AuditRun = { status: number | null; stdout: string }

/** `haltd audit --format json` on a log; asynchronous, so a demo running alongside is not held up. */
const audit = (db: string): Promise<AuditRun> =>
  new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [dist('src/cli.js'), 'audit', '--db', db, '--format', 'json'],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (_e, stdout) => resolve({ status: child.exitCode, stdout }),
    )
  })

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
  // Each demo run mostly waits for seconds until it has traded: the cases share three runs, the
  // second on the first one's log, each audited as it ends; the emergency's runs alongside.
  let first: { code: number | null; auditAfterIt: AuditRun }
  let second: { code: number | null; auditOfBoth: AuditRun }
  let emergency: { code: number | null; audit: AuditRun }

  beforeAll(async () => {
    const graceful = async () => {
      const one = await demoRun('SIGTERM')
      first = { code: one.code, auditAfterIt: await audit(one.db) }
      const two = await demoRun('SIGTERM', one.db)
      second = { code: two.code, auditOfBoth: await audit(one.db) }
    }
    const urgent = async () => {
      const three = await demoRun('SIGUSR2')
      emergency = { code: three.code, audit: await audit(three.db) }
    }
    await Promise.all([graceful(), urgent()])
  }, 300_000)

  it('SIGTERM: the graceful shutdown, all 13 steps, audits clean (exit 0)', () => {
    expect(first.code).toBe(0)
    const { status, stdout } = first.auditAfterIt
    const report = JSON.parse(stdout)
    expect(status, stdout.slice(0, 4000)).toBe(0)
    expect(report.verdict).toBe('clean')
    expect(report.coverage.decisionsReplayed).toBeGreaterThan(10)
    expect(report.shutdowns).toHaveLength(1)
    expect(report.shutdowns[0]).toMatchObject({ mode: 'graceful', origin: 'signal', outcome: 'clean' })
    expect(report.shutdowns[0].steps.map((s: { number: number }) => s.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
    expect(report.runs).toHaveLength(1)
    expect(report.runs[0].end).toMatchObject({ exitCode: 0 })
  })

  it('a second run on the same log trades, stops clean and audits clean: the restarted venues repeat no trade id', () => {
    expect(first.code).toBe(0)
    expect(second.code).toBe(0)
    const { status, stdout } = second.auditOfBoth
    const report = JSON.parse(stdout)
    expect(status, stdout.slice(0, 4000)).toBe(0)
    expect(report.verdict).toBe('clean')
    expect(report.runs.map((r: { end?: { exitCode: number } }) => r.end?.exitCode)).toEqual([0, 0])
    expect(report.shutdowns.map((s: { outcome: string }) => s.outcome)).toEqual(['clean', 'clean'])
  })

  it('SIGUSR2: the emergency path leaves an intact log, kill switch latched, within its deadline (exit 3); what it left open is its outcome', () => {
    expect(emergency.code).toBe(3)
    const { status, stdout } = emergency.audit
    const report = JSON.parse(stdout)
    expect(report.verdict).toBe('clean')
    // the emergency cancels and never flattens: positions the demo held are residual exposure, and the exit code says so
    const last = report.outcomes[0]
    expect(last.safe).toBe(last.concerns.length === 0)
    expect(status, stdout.slice(0, 4000)).toBe(last.safe ? 0 : 3)
    if (last.exposure.length > 0) expect(last.verdict).toBe('RESIDUAL_EXPOSURE')
    expect(report.shutdowns[0]).toMatchObject({ mode: 'emergency', outcome: 'emergency' })
    expect(report.shutdowns[0].durationMs).toBeLessThanOrEqual(report.shutdowns[0].deadlineMs)
    expect(report.trading.killSwitch.latched).toBe(true)
  })
})
