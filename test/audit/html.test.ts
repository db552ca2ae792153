import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dist } from '../support/paths.js'
import { shutdownLog } from './sample-log.js'

/**
 * Debian's chromium, installed here when missing and possible (root with apt), within a budget
 * so a slow or unreachable package mirror costs the suite at most that much: the lists and the
 * packages are fetched first (safe to stop mid-way), then unpacked from apt's cache, a local step
 * that is never stopped half-way (that could leave dpkg half-configured). Where it cannot be
 * installed the rendering test is skipped, saying why.
 */
const INSTALL_BUDGET_MS = Number(process.env.HALTD_CHROMIUM_INSTALL_BUDGET_MS ?? 240_000)
const UNPACK_LIMIT_MS = 600_000
// No recommends: they pull in udev, mesa, printing and a desktop notifier, none of which a headless render needs.
const PACKAGES = ['chromium', 'fonts-liberation']

type Found = { bin?: string; reason?: string }

const which = (name: string): string | undefined => {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : undefined
}

/** Run a command with a time limit, keeping only the tail of its stderr (apt prints a lot). */
function run(cmd: string, args: string[], limitMs: number): Promise<{ ok: boolean; why: string }> {
  if (limitMs <= 0) return Promise.resolve({ ok: false, why: 'no time left in the install budget' })
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    let tail = ''
    child.stderr!.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-400)))
    const timer = setTimeout(() => child.kill('SIGTERM'), limitMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      resolve({ ok: false, why: e.message })
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve(code === 0 ? { ok: true, why: '' } : { ok: false, why: signal ? `stopped after ${(limitMs / 1000).toFixed(1)} s` : `exit ${code}: ${tail.trim()}` })
    })
  })
}

async function findOrInstallChromium(): Promise<Found> {
  const found = which('chromium') ?? which('chromium-browser')
  if (found) return { bin: found }
  if (process.env.HALTD_NO_BROWSER_INSTALL === '1') return { reason: 'chromium is not installed and HALTD_NO_BROWSER_INSTALL=1 forbids installing it' }
  if (process.getuid?.() !== 0) return { reason: 'chromium is not installed and installing it needs root' }
  if (!which('apt-get')) return { reason: 'chromium is not installed and apt-get is not available' }
  const deadline = Date.now() + INSTALL_BUDGET_MS
  const left = () => deadline - Date.now()
  const apt = ['-q', '-o', 'Acquire::Retries=1', '-o', 'Acquire::http::Timeout=20', '-o', 'Acquire::https::Timeout=20', '-o', 'DPkg::Lock::Timeout=60']
  const update = await run('apt-get', [...apt, 'update'], Math.min(left(), 120_000))
  // lists left from an earlier update may still name a version the mirror has: try even if the update failed
  const fetched = await run('apt-get', [...apt, 'install', '-y', '--no-install-recommends', '--download-only', ...PACKAGES], left())
  if (!fetched.ok) {
    return { reason: `chromium could not be fetched within the ${INSTALL_BUDGET_MS / 1000} s install budget (${fetched.why})${update.ok ? '' : `; apt-get update: ${update.why}`}` }
  }
  const installed = await run('apt-get', [...apt, 'install', '-y', '--no-install-recommends', ...PACKAGES], UNPACK_LIMIT_MS)
  if (!installed.ok) return { reason: `installing chromium failed: ${installed.why}` }
  const bin = which('chromium')
  return bin ? { bin } : { reason: 'chromium installed but not found on PATH' }
}

function headless(bin: string, args: string[]): string {
  const profile = mkdtempSync(join(tmpdir(), 'haltd-chromium-'))
  return execFileSync(
    bin,
    [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, ...args,
    ],
    { encoding: 'utf8', timeout: 120_000, maxBuffer: 32 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
  )
}

describe('audit: the HTML report', () => {
  let html = ''
  let page = ''
  // the install (where needed) goes on while the page is made and the other tests run
  let installing: Promise<Found> = Promise.resolve({})
  beforeAll(() => {
    installing = findOrInstallChromium()
  })
  // one page for every test here (tempDir() is emptied after each test)
  const dir = mkdtempSync(join(tmpdir(), 'haltd-html-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  beforeAll(async () => {
    const db = await shutdownLog('graceful', { flatten: 'conservative' })
    page = join(dir, 'report.html')
    const run = spawnSync(process.execPath, [dist('src/cli.js'), 'audit', '--db', db, '--format', 'html', '--out', page], { encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    html = readFileSync(page, 'utf8')
  }, 120_000)

  it('is one self-contained page: inline CSS and SVG, no scripts, nothing fetched', () => {
    expect(html).toMatch(/^<!doctype html>/)
    expect(html).toContain('<style>')
    expect(html).toContain('<svg class="timeline"')
    expect(html).not.toMatch(/<script|<link |src=|url\(|@import/i)
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/)
  })

  it('charts every step of the shutdown and tables reconciliation, positions and findings', () => {
    const bars = html.match(/<rect class="bar /g) ?? []
    expect(bars).toHaveLength(13)
    for (const id of ['findings', 'reconciliation', 'positions']) expect(html).toMatch(new RegExp(`<h2>[^<]*</h2>(<table id="${id}"|<p class="empty">)`))
    expect(html).toContain('5. cancel orders and flatten')
  })

  it('renders in headless Chromium: the DOM holds the chart and tables, the screenshot is a real page', async (ctx) => {
    const chromium = await installing
    if (!chromium.bin) {
      console.warn(`skipping the headless Chromium rendering test: ${chromium.reason}`)
      ctx.skip(`chromium unavailable: ${chromium.reason}`)
    }
    const dom = headless(chromium.bin!, ['--dump-dom', `file://${page}`])
    expect((dom.match(/<rect class="bar /g) ?? []).length).toBe(13)
    expect(dom).toContain('<table id="reconciliation"')
    expect((dom.match(/<tr/g) ?? []).length).toBeGreaterThanOrEqual(13 + 4)
    expect(dom).toContain('CLEAN')

    const png = join(dir, 'report.png')
    headless(chromium.bin!, [`--screenshot=${png}`, '--window-size=1200,900', `file://${page}`])
    expect(existsSync(png)).toBe(true)
    expect(statSync(png).size).toBeGreaterThan(30_000)
  }, INSTALL_BUDGET_MS + UNPACK_LIMIT_MS + 300_000)
})
