import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, launchBrowser, logIn, type PageDocument, screenshot, startDemo, testText, TOKENS } from './dashboard-support.js'

declare const document: PageDocument
declare const localStorage: { length: number }
declare const sessionStorage: { length: number }

let demo: Demo
let browser: Browser

beforeAll(async () => {
  ;[demo, browser] = await Promise.all([startDemo({ seed: 21 }), launchBrowser()])
}, 30_000)
afterAll(async () => {
  await browser?.close()
  await demo?.haltd.close()
})

const eventsOf = (type: string) => [...demo.haltd.log.read()].filter((e) => e.type === type)

async function session(token: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } })
  const page = await context.newPage()
  await logIn(page, demo.url, token)
  return { context, page }
}

/** Every action button on the page: its label and whether it is enabled. */
const buttons = (page: Page) =>
  page.$$eval('#action-buttons button', (bs) => Object.fromEntries(bs.map((b) => [b.textContent, !(b as unknown as { disabled: boolean }).disabled])))

async function act(page: Page, label: string, reason: string, choice?: string): Promise<string> {
  await page.click(`#action-buttons button:text-is("${label}")`)
  await page.waitForSelector('#confirm[open]')
  // no reason, no confirmation
  expect(await page.isDisabled('#confirm-ok')).toBe(true)
  if (choice) await page.selectOption('#confirm-choice', choice)
  await page.fill('#confirm-reason', reason)
  await page.click('#confirm-ok')
  await page.waitForFunction(() => document.getElementById('action-result')?.textContent !== '')
  const result = await testText(page, 'action-result')
  await page.evaluate(() => {
    document.getElementById('action-result')!.textContent = ''
  })
  return result
}

describe('the dashboard, by role', () => {
  it('shows a viewer the demo trading live, offers no action, and the API refuses the viewer with 403', async () => {
    const { context, page } = await session(TOKENS.viewer)
    expect(await testText(page, 'me')).toBe('vera (viewer)')
    // live from the feed: three venues connected with round trips, the strategies, orders open
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="venues"] tr').length === 4)
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="open-orders"]')?.textContent?.replace(/,/g, '')) > 0)
    const venues = await page.$$eval('[data-testid="venues"] tr', (rows) => rows.slice(1).map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)))
    expect(venues.map((v) => [v[0], v[1]])).toEqual([
      ['binance-sim', 'yes'],
      ['okx-sim', 'yes'],
      ['kraken-sim', 'yes'],
    ])
    for (const v of venues) expect(v[2]).toMatch(/^\d+ ms$/)
    expect(await page.$$eval('[data-testid="strategies"] tr', (rows) => rows.length)).toBe(5)
    expect(await page.$$eval('[data-testid="risk"] tr td:first-child', (tds) => tds.map((td) => td.textContent))).toEqual(['drawdown', 'errorBurst'])
    const seqBefore = Number(((await page.locator('[data-testid="summary"] dd').last().textContent()) ?? '').replace(/,/g, ''))
    await page.waitForFunction(
      (seq) => Number(document.querySelector('[data-testid="summary"] dd:last-child')?.textContent?.replace(/,/g, '')) > seq,
      seqBefore,
    )
    expect(await page.$$eval('[data-testid="events"] li', (li) => li.length)).toBeGreaterThan(5)
    await screenshot(page, 'dashboard-viewer')

    // every button is there and disabled; clicking one opens nothing
    const offered = await buttons(page)
    expect(Object.keys(offered)).toEqual([
      'Graceful stop',
      'Emergency stop',
      'Kill switch: activate',
      'Kill switch: reset',
      'Pause',
      'Resume',
      'Drain: start',
      'Drain: cancel',
    ])
    expect(Object.values(offered).every((enabled) => !enabled)).toBe(true)
    await page.click('#action-buttons button:text-is("Emergency stop")', { force: true })
    expect(await page.isVisible('#confirm[open]')).toBe(false)

    // and the API behind it says no, naming the role needed, and logs it
    const refused = await page.evaluate(async () => {
      const r = await fetch('/shutdown', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mode: 'emergency', reason: 'x' }),
      })
      return { status: r.status, body: await r.json() }
    })
    expect(refused).toEqual({
      status: 403,
      body: { error: { code: 'FORBIDDEN', message: 'POST /shutdown needs the operator or admin role; vera is a viewer' } },
    })
    expect(eventsOf('shutdown.requested')).toEqual([])
    expect(demo.logLines.some((l) => l.includes('admin request refused') && l.includes('"user":"vera"') && l.includes('"route":"POST /shutdown"'))).toBe(true)
    expect(eventsOf('access.refused').map((e) => e.data)).toEqual([
      { route: 'POST /shutdown', name: 'vera', role: 'viewer', why: 'role', needs: ['operator', 'admin'], count: 1, since: expect.any(Number) },
    ])

    // the session is a cookie no script can read; no token in the URL or in storage
    const [cookie] = await context.cookies()
    expect(cookie).toMatchObject({ name: 'haltd_session', httpOnly: true, sameSite: 'Strict', path: '/' })
    expect(cookie!.value).not.toContain(TOKENS.viewer)
    expect(await page.evaluate(() => [document.cookie, localStorage.length, sessionStorage.length])).toEqual(['', 0, 0])
    expect(page.url()).toBe(`${demo.url}/`)
    expect(await page.content()).not.toContain(TOKENS.viewer)
    await context.close()
  }, 30_000)

  it('lets an operator pause and latch the kill switch from the page, with a typed reason, recorded by name and role', async () => {
    const { context, page } = await session(TOKENS.operator)
    const offered = await buttons(page)
    expect(offered['Kill switch: reset']).toBe(false)
    expect(offered.Pause && offered['Graceful stop'] && offered['Kill switch: activate']).toBe(true)

    // a cancelled confirmation does nothing
    await page.click('#action-buttons button:text-is("Pause")')
    await page.fill('#confirm-reason', 'changed my mind')
    await page.click('#confirm-cancel')
    expect(eventsOf('trading.paused')).toEqual([])

    expect(await act(page, 'Pause', 'funding window')).toMatch(/^Pause: accepted/)
    expect(eventsOf('trading.paused').map((e) => (e.data as { reason: string }).reason)).toEqual(['[by olga (operator)] funding window'])
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="summary"] dt')].find((dt) => dt.textContent === 'paused')?.nextElementSibling?.textContent === 'yes',
    )
    await page.waitForFunction(() => document.querySelector('[data-testid="recent-actions"]')?.textContent?.includes('trading.paused'))

    expect(await act(page, 'Kill switch: activate', 'venue incident', 'REDUCING')).toMatch(/accepted/)
    expect(eventsOf('killswitch.activated').map((e) => e.data)).toEqual([
      expect.objectContaining({ reason: 'venue incident', action: 'REDUCING', by: 'olga (operator)' }),
    ])
    await page.waitForFunction(() => document.querySelector('[data-testid="killswitch"]')?.textContent === 'KILL SWITCH REDUCING')
    await screenshot(page, 'dashboard-operator')
    await context.close()
  }, 30_000)

  it('lets an admin reset the kill switch and resume; the page shows it', async () => {
    const { context, page } = await session(TOKENS.admin)
    expect(Object.values(await buttons(page)).every(Boolean)).toBe(true)
    expect(await act(page, 'Kill switch: reset', 'incident closed')).toMatch(/accepted/)
    expect(eventsOf('killswitch.reset').map((e) => e.data)).toEqual([expect.objectContaining({ reason: 'incident closed', by: 'adam (admin)' })])
    expect(await act(page, 'Resume', 'window over')).toMatch(/accepted/)
    await page.waitForFunction(() => document.querySelector('[data-testid="killswitch"]')?.textContent === 'kill switch off')
    await page.waitForFunction(() => document.querySelector('[data-testid="mode"]')?.textContent === 'ACTIVE')
    // a refusal from the state (409) shows its reason on the page
    expect(await act(page, 'Kill switch: reset', 'again')).toMatch(/^Kill switch: reset: refused \(409\)/)
    await page.click('#logout')
    await page.waitForSelector('#login:not([hidden])')
    expect(await context.cookies()).toEqual([])
    await context.close()
  }, 30_000)
})
