import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dist } from '../support/paths.js'
import { shutdownLog } from './sample-log.js'

/**
 * Debian's chromium renders the page. The suite never installs anything: `.ci/run` installs
 * chromium (apt-get), and a developer without it sees this test skipped with a loud warning
 * saying how to get it. Under CI a missing browser is a failure, not a skip.
 */
const BROWSER_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser']

type Found = { bin?: string; reason?: string }

function findChromium(): Found {
  const bin = BROWSER_PATHS.find((p) => existsSync(p))
  return bin ? { bin } : { reason: `no chromium at ${BROWSER_PATHS.join(' or ')} (install it: apt-get install chromium fonts-liberation; .ci/run does)` }
}

function headless(bin: string, args: string[]): string {
  const profile = mkdtempSync(join(tmpdir(), 'haltd-chromium-'))
  return execFileSync(
    bin,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      ...args,
    ],
    { encoding: 'utf8', timeout: 120_000, maxBuffer: 32 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
  )
}

describe('audit: the HTML report', () => {
  let html = ''
  let page = ''
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
    const chromium = findChromium()
    if (!chromium.bin) {
      if (process.env.CI) throw new Error(`the headless Chromium rendering test needs a browser: ${chromium.reason}`)
      console.warn(`\n*** SKIPPED: the headless Chromium rendering test: ${chromium.reason} ***\n`)
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
  }, 300_000)
})
