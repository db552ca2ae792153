import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, launchBrowser, logIn, screenshot, startDemo, TOKENS } from './dashboard-support.js'

let demo: Demo
let browser: Browser
let other: Server
let otherUrl: string

/**
 * A page on another port of the same host: the same *site* as the admin API (so a SameSite
 * cookie still goes along), another *origin*. It tries to read and to act with the admin's
 * session, each way a page can: fetch with credentials, a no-cors POST, a form post, WebSockets.
 */
const attackerPage = (target: string) => `<!doctype html><html><body>
<iframe name="sink" title="sink"></iframe>
<form id="f" method="post" action="${target}/pause" enctype="text/plain" target="sink"><input name='{"reason":"form post","x":"' value='"}'></form>
<script>
const results = {}
const tryRead = async (path) => {
  try { const r = await fetch('${target}' + path, { credentials: 'include' }); return 'read ' + r.status + ' ' + (await r.text()).slice(0, 40) }
  catch (e) { return 'blocked: ' + e.name }
}
const tryWs = (path) => new Promise((resolve) => {
  const ws = new WebSocket('${target.replace('http', 'ws')}' + path)
  let got = 0
  ws.onmessage = () => { got++ }
  ws.onclose = () => resolve('closed after ' + got + ' messages')
  setTimeout(() => { ws.close(); resolve('still open after ' + got + ' messages') }, 3000)
})
;(async () => {
  results.status = await tryRead('/status')
  results.session = await tryRead('/session')
  try {
    const r = await fetch('${target}/killswitch/activate', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ reason: 'no-cors post', action: 'EMERGENCY' }) })
    results.post = 'sent, ' + r.type
  } catch (e) { results.post = 'blocked: ' + e.name }
  try {
    const r = await fetch('${target}/shutdown', { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'emergency', reason: 'cors post' }) })
    results.corsPost = 'read ' + r.status
  } catch (e) { results.corsPost = 'blocked: ' + e.name }
  document.getElementById('f').submit()
  results.feed = await tryWs('/ui/feed')
  results.events = await tryWs('/events?from=1')
  results.done = true
  window.results = results
})()
</script></body></html>`

beforeAll(async () => {
  ;[demo, browser] = await Promise.all([startDemo({ seed: 41 }), launchBrowser()])
  other = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' })
    res.end(attackerPage(demo.url))
  })
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
  otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`
}, 30_000)
afterAll(async () => {
  await browser?.close()
  other?.close()
  await demo?.haltd.close()
})

const acted = () =>
  [...demo.haltd.log.read()].filter(
    (e) => ['killswitch.activated', 'shutdown.requested', 'trading.paused'].includes(e.type) || (e.data as { origin?: string }).origin === 'admin',
  )

describe('the dashboard against another origin', () => {
  it("lets a page on another port neither read nor act with an admin's session", async () => {
    const context = await browser.newContext()
    const own = await context.newPage()
    await logIn(own, demo.url, TOKENS.admin)
    // the session works from its own page: what follows fails for the origin, not for the cookie
    expect(await own.evaluate(async () => (await fetch('/status')).status)).toBe(200)
    const [cookie] = await context.cookies()
    expect(cookie).toMatchObject({ name: 'haltd_session', sameSite: 'Strict', httpOnly: true })

    const page = await context.newPage()
    const refusedBefore = demo.logLines.filter((l) => l.includes('admin request refused') && l.includes('"why":"cross-origin"')).length
    await page.goto(otherUrl)
    await page.waitForFunction('window.results && window.results.done', undefined, { timeout: 15_000 })
    const results = (await page.evaluate('window.results')) as Record<string, string>
    await screenshot(page, 'dashboard-cross-origin')

    // reading: the browser withholds the answer (no CORS grant), and the API refused it anyway
    expect(results.status).toBe('blocked: TypeError')
    expect(results.session).toBe('blocked: TypeError')
    // acting: a no-cors POST and a form post reach the API and are refused; a JSON POST is stopped at its preflight
    expect(results.post).toBe('sent, opaque')
    expect(results.corsPost).toBe('blocked: TypeError')
    // the live feeds: refused at the upgrade, not one message
    expect(results.feed).toBe('closed after 0 messages')
    expect(results.events).toBe('closed after 0 messages')

    expect(acted()).toEqual([])
    const refusals = demo.logLines.filter((l) => l.includes('admin request refused') && l.includes('"why":"cross-origin"')).slice(refusedBefore)
    // the two reads, the no-cors post, the form post, the two upgrades: each refused by its Origin
    expect(refusals.length).toBeGreaterThanOrEqual(6)
    for (const line of refusals) expect(JSON.parse(line)).toMatchObject({ user: 'adam', role: 'admin', origin: otherUrl })
    await context.close()
  }, 30_000)
})
