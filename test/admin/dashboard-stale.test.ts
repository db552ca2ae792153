import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnDemo, whenUp } from '../daemon/processes.js'
import { tempDir } from '../support/tmp.js'
import { launchBrowser, logIn, type PageDocument, testText } from './dashboard-support.js'

type PageGlobals = { document: PageDocument & { body: { className: string } } }

/** Waits until the page's link line starts with `prefix`. */
const linkStarts = (page: Page, prefix: string) =>
  page.waitForFunction((p) => ((globalThis as unknown as PageGlobals).document.getElementById('link')?.textContent ?? '').startsWith(p), prefix, {
    timeout: 15_000,
  })
const bodyClass = (page: Page) => page.evaluate(() => (globalThis as unknown as PageGlobals).document.body.className)

let browser: Browser
beforeAll(async () => {
  browser = await launchBrowser()
})
afterAll(async () => {
  await browser?.close()
})

describe('the dashboard of a daemon that stops answering', { timeout: 90_000 }, () => {
  it('given a daemon frozen with SIGSTOP while its page is open, then the page says its view is stale, and live again once the daemon runs', async () => {
    // given the demo as a real process and its dashboard open in Chromium
    const db = join(tempDir(), 'demo.db')
    const d = spawnDemo(db)
    const info = await whenUp(d)
    const page = await browser.newPage()
    await logIn(page, info.url, info.token)
    await linkStarts(page, 'live')

    // when the daemon is frozen: its socket stays open and nothing comes
    d.child.kill('SIGSTOP')
    try {
      // then within a few heartbeats the page says so, rather than show the old view as current
      await linkStarts(page, 'stale')
      expect(await testText(page, 'link')).toMatch(/^stale: no word from haltd for \d/)
      expect(await bodyClass(page)).toContain('stale')
    } finally {
      d.child.kill('SIGCONT')
    }

    // and when it runs again, the next frame makes it live
    await linkStarts(page, 'live')
    expect(await bodyClass(page)).not.toContain('stale')
    d.child.kill('SIGTERM')
    expect((await d.exit).code).toBe(0)
  })
})
