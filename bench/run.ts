/**
 * `npm run bench [-- options]`: finds every scenario in dist/bench/scenarios, runs the chosen
 * ones, prints the environment and a table, and writes bench/results/latest.{json,html}.
 * A missed target is reported, never fatal; the exit code is non-zero only when a scenario (or
 * a scenario file) fails, or the options are wrong.
 */
import Database from 'better-sqlite3'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { peakRss, type BenchContext, type BenchScenario } from './harness.js'
import { renderHtml } from './report-html.js'
import { REPORT_FORMAT, renderTable, reportResults, settleComparisons, type Environment, type Report, type ScenarioRun } from './report.js'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, '..', '..')

const HELP = `usage: npm run bench -- [options]      (or: node dist/bench/run.js [options])

  --quick            a fast smoke run: small counts, few repetitions
  --json             print the report as JSON on stdout (progress goes to stderr)
  --scenario NAME    run only scenarios whose name or file contains NAME (repeatable)
  --list             list the scenarios found and exit
  --out DIR          where latest.json and latest.html go (default bench/results)
  --tmp DIR          where scenarios get their scratch directories (default the OS temp dir)
  --help             this text

Scenarios are the files dist/bench/scenarios/*.js exporting \`scenarios\` (see bench/harness.ts).
Targets are reported (✓ met, ✗ missed, ? not judged), never enforced.`

type Found = { file: string; scenario: BenchScenario }

class UsageError extends Error {}

function isScenario(x: unknown): x is BenchScenario {
  if (typeof x !== 'object' || x === null) return false
  const s = x as Record<string, unknown>
  return typeof s.name === 'string' && typeof s.description === 'string' && typeof s.run === 'function'
}

/** Import every compiled scenario file; a broken file is a failure to report, not to hide. */
async function discover(): Promise<{ found: Found[]; broken: ScenarioRun[] }> {
  const dir = join(here, 'scenarios')
  let files: string[]
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.js'))
      .sort()
  } catch {
    files = []
  }
  const found: Found[] = []
  const broken: ScenarioRun[] = []
  for (const file of files) {
    const stem = basename(file, '.js')
    try {
      const mod = (await import(pathToFileURL(join(dir, file)).href)) as { scenarios?: unknown }
      if (mod.scenarios === undefined) continue // a helper module, e.g. baselines
      if (!Array.isArray(mod.scenarios) || !mod.scenarios.every(isScenario)) {
        throw new Error('`scenarios` must be an array of { name, description, run }')
      }
      for (const scenario of mod.scenarios) found.push({ file: stem, scenario })
    } catch (e) {
      broken.push({
        name: `(${stem})`,
        description: `scenario file ${file} could not be loaded`,
        file: stem,
        durationMs: 0,
        peakRssBytes: peakRss(),
        error: errorText(e),
        results: [],
      })
    }
  }
  const seen = new Set<string>()
  for (const { scenario, file } of found) {
    if (seen.has(scenario.name)) throw new UsageError(`two scenarios are named '${scenario.name}' (one in ${file}.js)`)
    seen.add(scenario.name)
  }
  return { found, broken }
}

/** Exact names win; otherwise every scenario whose name or file contains the word. */
function select(found: Found[], wanted: string[], broken: ScenarioRun[]): Found[] {
  if (wanted.length === 0) return found
  const chosen = new Set<Found>()
  for (const w of wanted) {
    const exact = found.filter((f) => f.scenario.name === w)
    const needle = w.toLowerCase()
    const matches = exact.length > 0 ? exact : found.filter((f) => f.scenario.name.toLowerCase().includes(needle) || f.file.toLowerCase().includes(needle))
    if (matches.length === 0 && !broken.some((b) => b.file.toLowerCase().includes(needle))) {
      throw new UsageError(`no scenario matches '${w}'; found: ${found.map((f) => f.scenario.name).join(', ') || 'none'}`)
    }
    for (const m of matches) chosen.add(m)
  }
  return found.filter((f) => chosen.has(f))
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

function environment(scratch: string): Environment {
  const cpu = cpus()
  const db = new Database(':memory:')
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v
  db.close()
  const status = git(['status', '--porcelain', '--untracked-files=no'])
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cpuCount: cpu.length,
    totalMemoryBytes: totalmem(),
    sqlite,
    gitCommit: git(['rev-parse', 'HEAD']) ?? 'unknown',
    gitDirty: status === undefined ? null : status.length > 0,
    tmpDir: scratch,
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e)
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      scenario: { type: 'string', multiple: true, default: [] },
      list: { type: 'boolean', default: false },
      out: { type: 'string' },
      tmp: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  if (values.help) {
    process.stdout.write(`${HELP}\n`)
    return 0
  }
  // With --json, stdout carries the report alone.
  const say = (msg: string) => (values.json ? process.stderr : process.stdout).write(`${msg}\n`)

  const { found, broken } = await discover()
  if (values.list) {
    for (const f of found) say(`${f.scenario.name.padEnd(24)} ${f.file}.js  ${f.scenario.description}`)
    for (const b of broken) say(`${b.name.padEnd(24)} BROKEN: ${b.error?.split('\n')[0]}`)
    return broken.length > 0 ? 1 : 0
  }
  const chosen = select(found, values.scenario, broken)
  // A broken file counts when it may hold a chosen scenario: always, unless names were given.
  const wanted = values.scenario.map((w) => w.toLowerCase())
  const relevant = broken.filter((b) => wanted.length === 0 || wanted.some((w) => b.file.toLowerCase().includes(w)))
  const scratch = resolve(values.tmp ?? tmpdir())
  const env = environment(scratch)
  const startedAt = new Date().toISOString()
  say(
    `haltd bench${values.quick ? ' --quick' : ''}: node ${env.node}, ${env.cpuCount} × ${env.cpuModel}, ` +
      `${(env.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, SQLite ${env.sqlite}, ` +
      `git ${env.gitCommit.slice(0, 12)}${env.gitDirty ? ' (dirty)' : ''}, scratch in ${scratch}`,
  )

  const runs: ScenarioRun[] = [...relevant]
  // A scenario (or a library it drives) that prints must not corrupt the JSON on stdout.
  if (values.json) console.log = console.info = console.error
  for (const { file, scenario } of chosen) {
    say(`▶ ${scenario.name}`)
    const dir = mkdtempSync(join(scratch, `haltd-bench-${scenario.name.replace(/[^a-z0-9]+/gi, '-')}-`))
    const ctx: BenchContext = { quick: values.quick, tmpDir: dir, log: (msg) => say(`  · ${msg}`) }
    const t0 = performance.now()
    const run: ScenarioRun = { name: scenario.name, description: scenario.description, file, durationMs: 0, peakRssBytes: 0, results: [] }
    try {
      const results = await scenario.run(ctx)
      if (!Array.isArray(results)) throw new Error(`scenario ${scenario.name} returned ${typeof results}, not an array of results`)
      run.results = reportResults(scenario.name, results)
    } catch (e) {
      run.error = errorText(e)
      say(`  ✗ ${scenario.name} failed: ${run.error}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    run.durationMs = performance.now() - t0
    run.peakRssBytes = peakRss()
    runs.push(run)
  }

  const targets = settleComparisons(runs)
  const report: Report = {
    format: REPORT_FORMAT,
    startedAt,
    finishedAt: new Date().toISOString(),
    quick: values.quick,
    argv,
    environment: env,
    scenarios: runs,
    targets,
  }
  const outDir = resolve(values.out ?? join(repoRoot, 'bench', 'results'))
  mkdirSync(outDir, { recursive: true })
  const json = JSON.stringify(report, null, 2)
  writeFileSync(join(outDir, 'latest.json'), `${json}\n`)
  writeFileSync(join(outDir, 'latest.html'), renderHtml(report))
  if (values.json) process.stdout.write(`${json}\n`)
  else say(renderTable(report))
  say(`\nwrote ${join(outDir, 'latest.json')} and latest.html`)
  return runs.some((r) => r.error !== undefined) ? 1 : 0
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    const usage = e instanceof UsageError || (e instanceof Error && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n${usage ? 'see --help\n' : ''}`)
    process.exitCode = usage ? 2 : 1
  },
)
