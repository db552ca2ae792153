import { connect, type Socket } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, launchBrowser, logIn, type PageDocument, screenshot, startDemo, testText, TOKENS } from './dashboard-support.js'

declare const document: PageDocument

/**
 * Soak only (`npm run soak`): on loopback the kernel holds about 4 MB for a socket that is not
 * read before a byte waits in the daemon, so the feed has to send for tens of seconds first.
 */
const SOAK = process.env.HALTD_SOAK === '1'
const ORDERS = 2_000
const HIGH_WATER = 32 * 1024
let demo: Demo
let browser: Browser

/** A feed client that upgrades to `/ui/feed` and then never reads: the kernel's buffers fill, then the server's. */
function neverReading(url: string, token: string): Promise<{ socket: Socket; received: () => Promise<number> }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        [
          'GET /ui/feed HTTP/1.1',
          `Host: ${hostname}:${port}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Version: 13',
          `Authorization: Bearer ${token}`,
          '',
          '',
        ].join('\r\n'),
      )
      resolve({
        socket,
        // read everything that was left for it, once the server is gone
        received: () =>
          new Promise((done) => {
            let bytes = 0
            socket.on('data', (c: Buffer) => {
              bytes += c.length
            })
            socket.on('close', () => done(bytes))
            socket.resume()
          }),
      })
    })
    socket.on('error', reject)
  })
}

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)

describe.skipIf(!SOAK)('the dashboard feed and a client that never reads', () => {
  beforeAll(async () => {
    // frames as often as the feed allows and a small high-water mark, so the client that never reads falls behind sooner
    ;[demo, browser] = await Promise.all([
      startDemo({ seed: 41, resting: ORDERS, admin: { feed: { intervalMs: 10, share: 1, highWater: HIGH_WATER } } }),
      launchBrowser(),
    ])
  }, 90_000)
  afterAll(async () => {
    await browser?.close()
    await demo?.haltd.close()
  })

  it(`given a feed client that stops reading during a ${ORDERS}-order emergency, its unsent data stays bounded, frames for it are skipped, and the page still shows the report`, async () => {
    const stuck = await neverReading(demo.url, TOKENS.viewer)
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    let pageFrames = 0
    let pageBytes = 0
    let largestFrame = 0
    page.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        const n = typeof f.payload === 'string' ? Buffer.byteLength(f.payload) : f.payload.length
        pageFrames++
        pageBytes += n
        largestFrame = Math.max(largestFrame, n)
      }),
    )
    await logIn(page, demo.url, TOKENS.operator)
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="open-orders"]')?.textContent?.replace(/,/g, '')) >= n, ORDERS)

    // what the server holds for its pages, read until it stops: first until the client that never reads is behind (the demo trades on)
    const samples: { skipped: number; unsent: number; peak: number; feeds: number }[] = []
    let polling = true
    const poll = (async () => {
      while (polling) {
        try {
          const r = await fetch(`${demo.url}/metrics`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })
          const text = await r.text()
          samples.push({
            skipped: metric(text, 'haltd_dashboard_frames_skipped_total'),
            unsent: metric(text, 'haltd_dashboard_unsent_bytes'),
            peak: metric(text, 'haltd_dashboard_unsent_bytes_peak'),
            feeds: metric(text, 'haltd_dashboard_feeds'),
          })
        } catch {
          return // the daemon has stopped
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    const waitingSince = Date.now()
    const behind = waitingSince + 90_000
    while (!((samples.at(-1)?.skipped ?? 0) > 0) && Date.now() < behind) await new Promise((r) => setTimeout(r, 50))
    const skippedBefore = samples.at(-1)?.skipped ?? 0
    const behindAfterMs = Date.now() - waitingSince
    const pageFramesBefore = pageFrames
    expect(skippedBefore, 'the client that never reads fell behind before the emergency').toBeGreaterThan(0)

    await page.click('#action-buttons button:text-is("Emergency stop")')
    await page.fill('#confirm-reason', 'slow reader drill')
    await page.click('#confirm-ok')
    await page.waitForSelector('[data-testid="report-headline"]', { timeout: 60_000 })
    expect(await demo.haltd.exited).toBe(3)
    polling = false
    await poll

    // the page got the whole story: the emergency's report, every order canceled
    expect(await testText(page, 'report-headline')).not.toBe('')
    expect(await testText(page, 'orders-now')).toBe('0')
    await screenshot(page, 'dashboard-slow-feed-report', false)
    const canceled = demo.events.filter((e) => e.type === 'order.canceled').length
    expect(canceled).toBeGreaterThanOrEqual(ORDERS)

    // the client that never read: both feeds were open, frames for it were skipped, and what waited for it stayed under the mark plus a frame
    expect(samples.length).toBeGreaterThan(3)
    expect(Math.max(...samples.map((s) => s.feeds))).toBe(2)
    const last = samples.at(-1)!
    // frames for it kept being skipped during the emergency too
    expect(last.skipped).toBeGreaterThan(skippedBefore)
    expect(last.peak).toBeGreaterThan(HIGH_WATER)
    for (const s of samples) expect(s.unsent).toBeLessThanOrEqual(HIGH_WATER + largestFrame)
    expect(last.peak).toBeLessThanOrEqual(HIGH_WATER + largestFrame)
    // the page that reads kept getting frames all along: one reader that stopped holds back no other
    const emergencyFrames = pageFrames - pageFramesBefore
    expect(emergencyFrames).toBeGreaterThan(1)
    const stuckBytes = await stuck.received()
    process.stdout.write(
      `slow feed: behind after ${behindAfterMs} ms; page ${pageFrames} frames (${emergencyFrames} after the other fell behind) ${Math.round(pageBytes / 1024)} KiB (largest ${Math.round(largestFrame / 1024)} KiB); never-reading client ${Math.round(stuckBytes / 1024)} KiB; skipped ${last.skipped}; peak unsent ${Math.round(last.peak / 1024)} KiB\n`,
    )
  }, 200_000)
})
