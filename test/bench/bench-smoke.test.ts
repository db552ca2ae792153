import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../support/tmp.js'
import { dist, repoRoot } from '../support/paths.js'

type Run = { code: number; stdout: string; stderr: string }

function bench(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [dist('bench/run.js'), ...args], { cwd: repoRoot, timeout: 55_000, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

type Result = { name: unknown; unit: unknown; value: unknown; skipped?: unknown; percentiles?: Record<string, unknown>; targetMet: unknown }

describe('npm run bench -- --quick (smoke: it finishes and writes valid reports, no timing is judged)', () => {
  it('runs the append scenario, exits 0 and writes latest.json and latest.html with every figure finite', async () => {
    const out = tempDir('haltd-bench-smoke-')
    const run = await bench(['--quick', '--json', '--scenario', 'append', '--out', out])
    // stderr is in the comparison so a failure shows why
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(/failed:|Error/) })

    const fromStdout = JSON.parse(run.stdout)
    const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'))
    expect(fromStdout).toEqual(report)

    expect(report.format).toBe('haltd-bench/1')
    expect(report.quick).toBe(true)
    expect(report.environment.node).toBe(process.version)
    expect(report.environment.cpuCount).toBeGreaterThan(0)
    expect(report.environment.sqlite).toMatch(/^3\.\d+\.\d+$/)

    expect(report.scenarios.map((s: { name: string }) => s.name)).toEqual(['append'])
    const [append] = report.scenarios
    expect(append.error).toBeUndefined()
    const results = append.results as Result[]
    const names = results.map((r) => r.name)
    for (const expected of [
      'raw insert autocommit',
      'append per-event (process)',
      'raw ndjson writeSync',
      'raw insert 1000/tx',
      'append batch 1000 (process)',
      'raw insert 1000/tx FULL',
      'append power burst 1000/turn',
      'emmett-sqlite append per-event',
      'append per-event power awaited',
    ]) {
      expect(names).toContain(expected)
    }
    for (const r of results) {
      expect(typeof r.name === 'string' && r.name.length > 0).toBe(true)
      expect(['events/s', 'ops/s', 'ms', 'bytes']).toContain(r.unit)
      if (r.skipped !== undefined) {
        // a result that could not be measured carries its reason and no number
        expect(typeof r.skipped === 'string' && r.skipped.length > 0).toBe(true)
        expect(r.value).toBeNull()
        continue
      }
      expect(Number.isFinite(r.value) && (r.value as number) > 0).toBe(true)
      if (r.percentiles) {
        for (const p of ['p50', 'p99', 'p999']) expect(Number.isFinite(r.percentiles[p])).toBe(true)
      }
      expect([true, false, null]).toContain(r.targetMet)
    }
    const perEvent = results.find((r) => r.name === 'append per-event (process)') as Result & { ratio: number; baseline: string }
    expect(perEvent.baseline).toBe('raw insert autocommit')
    expect(Number.isFinite(perEvent.ratio)).toBe(true)
    expect(typeof perEvent.targetMet).toBe('boolean')

    const html = readFileSync(join(out, 'latest.html'), 'utf8')
    expect(html).toMatch(/^<!doctype html>/)
    expect(html).toContain('<svg')
    expect(html).toContain('append per-event (process)')
    expect(html).not.toMatch(/<script|<link|@import|src="http/)
  }, 60_000)

  it('refuses a scenario name that matches nothing, naming the ones it found, and writes nothing', async () => {
    const out = tempDir('haltd-bench-smoke-')
    const run = await bench(['--quick', '--scenario', 'no-such-scenario', '--out', out])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("no scenario matches 'no-such-scenario'")
    expect(run.stderr).toContain('append')
    expect(existsSync(join(out, 'latest.json'))).toBe(false)
  }, 30_000)

  it('lists the discovered scenarios with --list', async () => {
    const run = await bench(['--list'])
    expect(run.stdout).toMatch(/^append\s+append\.js/m)
  }, 30_000)
})
