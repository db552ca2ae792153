import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, launchBrowser, logIn, type PageDocument, screenshot, startDemo, testText, TOKENS, VENUES } from './dashboard-support.js'

declare const document: PageDocument

let demo: Demo
let browser: Browser

beforeAll(async () => {
  // venues slow enough (250-450 ms a call) that each step of the stop can be watched
  const venues = VENUES.map((name, i) => ({
    kind: 'sim' as const,
    name,
    seed: 31_000 + i,
    mode: 'derivatives' as const,
    symbols: [
      { symbol: 'BTC/USDT:USDT', mid: 64_000, amountStep: 0.001, priceStep: 0.1, spreadBps: 2, volatilityBps: 4 },
      { symbol: 'ETH/USDT:USDT', mid: 3_200, amountStep: 0.01, priceStep: 0.01, spreadBps: 3, volatilityBps: 6 },
    ],
    feedMs: 500,
    faults: { latency: { minMs: 250, maxMs: 450 } },
  }))
  ;[demo, browser] = await Promise.all([startDemo({ seed: 31, resting: 90, config: { venues } }), launchBrowser()])
}, 60_000)
afterAll(async () => {
  await browser?.close()
  await demo?.haltd.close()
})

type Seen = { banner: string; ordersNow: number; positionsNow: number; steps: Record<string, string> }

describe('the dashboard during a graceful shutdown', () => {
  it('starts the stop from the page and shows the steps against the deadline, the counts reaching their targets, then the report first', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    await logIn(page, demo.url, TOKENS.operator)
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="open-orders"]')?.textContent?.replace(/,/g, '')) >= 90)
    expect(await page.isHidden('[data-testid="shutdown"]')).toBe(true)

    await page.click('#action-buttons button:text-is("Graceful stop")')
    await page.fill('#confirm-reason', 'end of session')
    await page.click('#confirm-ok')
    await page.waitForSelector('[data-testid="shutdown"]:not([hidden])')

    // what the page shows, read every 50 ms until the report is there
    const seen: Seen[] = []
    let shot = ''
    const deadline = Date.now() + 45_000
    while (Date.now() < deadline) {
      const s = await page.evaluate(() => {
        const text = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? ''
        const steps: Record<string, string> = {}
        for (const li of document.querySelectorAll('[data-testid="steps"] li') as unknown as { dataset: { testid: string; status: string } }[]) {
          steps[li.dataset.testid] = li.dataset.status
        }
        return {
          banner: document.querySelector('[data-testid="shutdown"] .banner')?.textContent ?? '',
          ordersNow: Number(text('orders-now').replace(/,/g, '')),
          positionsNow: Number(text('positions-now').replace(/,/g, '')),
          steps,
          report: text('report-headline'),
        }
      })
      seen.push(s)
      // the runbook's screen, mid-way: the cancels or the wait under way
      const midway = (s.steps['step-5'] === 'running' && s.ordersNow > 0) || s.steps['step-7'] === 'running'
      if (!shot && midway) shot = await screenshot(page, 'dashboard-shutdown-running', false)
      if (s.report) break
      await page.waitForTimeout(50)
    }
    const last = seen.at(-1)!
    expect(last.banner).toBe('SHUTDOWN COMPLETE: graceful')
    expect(shot).not.toBe('')

    // in progress first, with the steps run in order: each seen running (or done) before the next started
    expect(seen[0]!.banner).toBe('SHUTDOWN IN PROGRESS: graceful')
    const firstRunning = (n: number) => seen.findIndex((s) => s.steps[`step-${n}`] !== 'pending')
    for (let n = 2; n <= 13; n++) expect(firstRunning(n), `step ${n}`).toBeGreaterThanOrEqual(firstRunning(n - 1))
    // and seen moving: a step running, and the count of finished steps growing through several values
    expect(seen.some((s) => Object.values(s.steps).includes('running'))).toBe(true)
    const finished = seen.map((s) => Object.values(s.steps).filter((x) => x === 'completed' || x === 'skipped').length)
    expect(new Set(finished).size).toBeGreaterThanOrEqual(2)
    expect(finished).toEqual([...finished].sort((a, b) => a - b))
    expect(Object.values(last.steps).every((status) => status === 'completed' || status === 'skipped')).toBe(true)

    // the counts move to their targets: open orders from the resting ones to 0, positions to 0 (the demo flattens)
    expect(Math.max(...seen.map((s) => s.ordersNow))).toBeGreaterThan(0)
    expect([last.ordersNow, await testText(page, 'orders-target')]).toEqual([0, '0'])
    expect([last.positionsNow, await testText(page, 'positions-target')]).toEqual([0, '0'])
    const ordersSeen = [...new Set(seen.map((s) => s.ordersNow))]
    expect(ordersSeen.length).toBeGreaterThan(1)

    // the time against the deadline (the graceful default: 5 min): once done, no time is "remaining"
    const clockText = ((await page.locator('[data-testid="shutdown"] .clock').textContent()) ?? '').replace(/\s+/g, ' ')
    expect(clockText).toMatch(/elapsed \d+(\.\d)? s.*within its deadline of 5 min 0 s/)
    expect(clockText).not.toContain('remaining')

    // after it: the outcome first, at the top of the page
    expect(await testText(page, 'report-headline')).toBe('VERIFIED FLAT')
    expect(await testText(page, 'report-outcome')).toBe('clean')
    const order = await page.evaluate(() =>
      [...(document.querySelectorAll('main section') as unknown as { id: string; hidden: boolean }[])].filter((s) => !s.hidden).map((s) => s.id),
    )
    expect(order.slice(0, 2)).toEqual(['report', 'shutdown'])
    // every venue's cancels answered (none pending) and reconciled; each issued one is counted
    // confirmed or failed (a cancel that lost its race with a fill, or timed out on a loaded
    // machine, is failed here, and settled by observation after)
    const venues = await page.$$eval('[data-testid="shutdown"] table tr', (rows) =>
      rows.slice(1).map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    )
    expect(venues.map((v) => [v[0], v[4], v[5]])).toEqual(VENUES.map((v) => [v, '0', 'OK']))
    for (const [, issued, confirmed, failed] of venues) expect(Number(confirmed) + Number(failed)).toBe(Number(issued))
    // those are commands (one cancel-all takes a venue's orders), and the header says so
    const header = await page.$$eval('[data-testid="shutdown"] table th', (cells) => cells.map((c) => c.textContent ?? ''))
    expect(header).toEqual(['venue', 'cancel commands', 'ok', 'failed or timed out', 'pending', 'reconciliation'])
    expect(venues.some((v) => Number(v[2]) > 0)).toBe(true)

    // the daemon has stopped; the page keeps the report and says so
    expect(await demo.haltd.exited).toBe(0)
    await page.waitForFunction(() => document.querySelector('[data-testid="link"]')?.textContent === 'haltd has stopped')
    expect(await testText(page, 'state')).toBe('STOPPED')
    await screenshot(page, 'dashboard-shutdown-report')
    const requested = demo.events.find((e) => e.type === 'shutdown.requested')
    expect(requested?.data).toMatchObject({ mode: 'graceful', reason: '[by olga (operator)] end of session', origin: 'admin' })
  }, 60_000)
})
