import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Daemon, spawnDemo, spawnHaltd, whenUp } from '../daemon/processes.js'
import { freePort } from '../support/nats-server.js'
import { tempDir } from '../support/tmp.js'
import { launchBrowser, logIn, type PageDocument, testText } from './dashboard-support.js'

type PageGlobals = { document: PageDocument & { body: { className: string } } }

/** Waits until the page's link line starts with `prefix`. */
const linkStarts = (page: Page, prefix: string) =>
  page.waitForFunction((p) => ((globalThis as unknown as PageGlobals).document.getElementById('link')?.textContent ?? '').startsWith(p), prefix, {
    timeout: 15_000,
  })
const hidden = (page: Page, id: string) =>
  page.evaluate((i) => (globalThis as unknown as { document: { getElementById(id: string): { hidden: boolean } } }).document.getElementById(i).hidden, id)
/** The demo on a port of its own, so a restarted one is found where the page looks. */
const demoOn = (db: string, port: number): Daemon => spawnHaltd(['demo', '--db', db, '--port', String(port), '--seed', '1', '--status-every', '0'], { db })

const bodyClass = (page: Page) => page.evaluate(() => (globalThis as unknown as PageGlobals).document.body.className)

let browser: Browser
beforeAll(async () => {
  browser = await launchBrowser()
})
afterAll(async () => {
  await browser?.close()
})

/** The demo on a port of its own (to start again on), and its dashboard open, live and showing its first view in Chromium. */
async function demoWithItsPage() {
  const db = join(tempDir(), 'demo.db')
  const port = await freePort()
  const d = demoOn(db, port)
  const info = await whenUp(d)
  const page = await browser.newPage()
  await logIn(page, info.url, info.token)
  await linkStarts(page, 'live')
  // the link is live as the socket opens; the view is drawn from the first frame after it
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.getElementById('state')?.textContent !== '…', undefined, {
    timeout: 15_000,
  })
  return { db, port, d, page }
}

/** The demo started again on its log and port, once the page left open shows its login. */
async function startedAgainUnder(page: Page, db: string, port: number) {
  const again = demoOn(db, port)
  await whenUp(again)
  await page.waitForFunction(
    () => !(globalThis as unknown as { document: { getElementById(id: string): { hidden: boolean } } }).document.getElementById('login').hidden,
    undefined,
    { timeout: 45_000 },
  )
  return again
}

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

  it('given a daemon killed with SIGKILL under its page, then the page greys its view and says since when it has had no word; and when haltd starts again, the page asks for a login to see it', async () => {
    // given the demo and its dashboard open
    const { db, port, d, page } = await demoWithItsPage()
    expect(await testText(page, 'state')).toBe('RUNNING')

    // when the daemon dies without a word
    d.child.kill('SIGKILL')
    await d.exit

    // then the page does not go on showing RUNNING as current: the view is greyed and says since when it is old
    await linkStarts(page, 'disconnected')
    expect(await testText(page, 'link')).toMatch(/no word from haltd since \d\d:\d\d:\d\d/)
    expect(await bodyClass(page)).toContain('stale')

    // when haltd is started again, then the page finds it and, its session gone with the old process, asks for a login
    const again = await startedAgainUnder(page, db, port)
    expect(await page.locator('#login-error').textContent()).toMatch(/log in/)
    // (its exit code is not this test's: the demo's simulated venues died with the first process, so
    // what the log holds from them may not reconcile)
    again.child.kill('SIGTERM')
    await again.exit
  })

  it('given an emergency that ended the run under the page, then the page keeps the report, says haltd stopped, and finds haltd when it is started again', async () => {
    const { db, port, d, page } = await demoWithItsPage()

    // when the emergency runs and the process exits
    d.child.kill('SIGUSR2')
    expect((await d.exit).code).toBe(3)

    // then the report stays, and every part of the page says the run has stopped
    await linkStarts(page, 'haltd has stopped')
    expect(await testText(page, 'state')).toBe('STOPPED')
    expect(await page.locator('#summary dd').first().textContent()).toBe('stopped')
    expect(await hidden(page, 'app')).toBe(false)
    // the demo's strategies keep their own switch on through an emergency: shown behind the closed gate, sending nothing
    expect(await page.$$eval('[data-testid="strategy-enabled"]', (cells) => cells.map((c) => c.textContent))).toContain('yes, gate closed: sends nothing')
    // and the shutdown's clock says how it ended against its deadline, with nothing "remaining"
    expect(await testText(page, 'deadline')).toMatch(/^(within|past) its deadline of /)
    // and no action is offered to a daemon that is gone: every button is off, saying why
    const buttons = await page.$$eval('button[data-action]', (bs) =>
      bs.map((b) => ({ disabled: (b as unknown as { disabled: boolean }).disabled, title: b.getAttribute('title') })),
    )
    expect(buttons.length).toBeGreaterThan(0)
    expect(buttons.every((b) => b.disabled && b.title?.startsWith('haltd does not answer'))).toBe(true)

    // when it is started again (it comes up HALTED, latched), then the page finds it and asks for a login
    const again = await startedAgainUnder(page, db, port)
    expect(await page.locator('#login-error').textContent()).toMatch(/restarted/)
    again.child.kill('SIGTERM')
    await again.exit
  })

  it('given the session ended in another tab, then the page asks for a login saying the session ended, not that haltd went away', async () => {
    const d = spawnDemo(join(tempDir(), 'demo.db'))
    const info = await whenUp(d)
    const context = await browser.newContext()
    try {
      const page = await context.newPage()
      await logIn(page, info.url, info.token)
      await linkStarts(page, 'live')
      // when another tab of the same browser logs out
      const other = await context.newPage()
      await other.goto(`${info.url}/`)
      await other.waitForSelector('#app:not([hidden])')
      await other.click('#logout')
      // then the first page asks for a login, and says why
      await page.waitForSelector('#login:not([hidden])')
      expect(await page.locator('#login-error').textContent()).toBe('the session has ended: log in again')
      expect(await bodyClass(page)).not.toContain('stale')
    } finally {
      await context.close()
    }
    d.child.kill('SIGTERM')
    expect((await d.exit).code).toBe(0)
  })
})
