import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashToken } from '../../src/admin/access.js'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { launchBrowser, logIn, NAMES, type PageDocument, screenshot, testText, TOKENS } from './dashboard-support.js'

declare const document: PageDocument

const nats = natsForFile()
let browser: Browser
const engines: Haltd[] = []

const USERS = (['viewer', 'operator', 'admin'] as const).map((role) => ({ name: NAMES[role], role, tokenHash: hashToken(TOKENS[role]) }))

/** One engine of the desk: a haltd in this process on its own simulated venue, in the fleet of the test's NATS. */
async function engine(name: string): Promise<Haltd> {
  const venue = new SimExchange({
    venue: `${name}-sim`,
    seed: 5,
    mode: 'derivatives',
    symbols: [{ symbol: 'BTC/USDT:USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }],
  })
  const h = await createHaltd(
    {
      db: { path: join(tempDir(), `${name}.db`) },
      signals: false,
      admin: { enabled: true, host: '127.0.0.1', port: 0, users: USERS },
      nats: { servers: [nats.url], engine: name, instance: `${name}-i1`, connectTimeoutMs: 1_000 },
      fleet: { refreshMs: 200, ttlMs: 1_000 },
    },
    { gateways: [venue], logger: createLogger({ destination: memoryDestination(), level: 'info' }), env: {} },
  )
  engines.push(h)
  return h
}

beforeAll(async () => {
  browser = await launchBrowser()
}, 30_000)
afterAll(async () => {
  await browser?.close()
  for (const h of engines) await h.close().catch(() => undefined)
})

/** The fleet table as the page shows it: engine → [state, open orders, kill switch, sees fleet, reachable]. */
const fleetRows = (page: Page) =>
  page.$$eval('[data-testid="fleet-engines"] tr[data-engine]', (rows) =>
    Object.fromEntries(
      rows.map((r) => {
        const td = [...r.querySelectorAll('td')].map((c) => (c.textContent ?? '').trim())
        return [td[0], [td[2], td[3], td[6], td[7], td[8]?.split(' ')[0]]]
      }),
    ),
  )
const fleetButtons = (page: Page) =>
  page.$$eval('#fleet-buttons button', (bs) => Object.fromEntries(bs.map((b) => [b.textContent, !(b as unknown as { disabled: boolean }).disabled])))
async function waitForRow(page: Page, engine: string, pattern: string): Promise<void> {
  try {
    await page.waitForFunction(
      ([e, p]) => new RegExp(p!).test(document.querySelector(`[data-testid="fleet-engines"] tr[data-engine="${e}"]`)?.textContent ?? ''),
      [engine, pattern],
      { timeout: 10_000 },
    )
  } catch (e) {
    await screenshot(page, `dashboard-fleet-timeout-${engine}`)
    throw new Error(
      `${engine} never matched /${pattern}/: the page shows ${JSON.stringify(await fleetRows(page))}, ${await testText(page, 'fleet-read')}, link ${await testText(page, 'link')}`,
      { cause: e },
    )
  }
}

describe('the fleet on the dashboard', () => {
  it('shows every engine of the fleet, lets an operator set the fleet kill switch with a reason and an admin reset it; a viewer only sees', async () => {
    const a = await engine('desk-a')
    const b = await engine('desk-b')
    await b.orders.submit({
      venue: 'desk-b-sim',
      symbol: 'BTC/USDT:USDT',
      side: 'buy',
      type: 'limit',
      qty: 0.01,
      price: 40_000,
      origin: { kind: 'manual', id: 'engine' },
    })

    // a viewer on engine a's page: both engines, live, and no fleet action it may take
    const viewer = await browser.newPage({ viewport: { width: 1400, height: 1100 } })
    await logIn(viewer, a.admin!.url, TOKENS.viewer)
    await viewer.waitForSelector('[data-testid="fleet"]:not([hidden])')
    await waitForRow(viewer, 'desk-b', 'RUNNING')
    await waitForRow(viewer, 'desk-a', 'RUNNING')
    expect(await fleetRows(viewer)).toEqual({
      'desk-a': ['RUNNING', '0', 'off', 'yes', 'yes'],
      'desk-b': ['RUNNING', '1', 'off', 'yes', 'yes'],
    })
    expect(await testText(viewer, 'fleet-killswitch')).toContain('fleet kill switch off')
    expect(await fleetButtons(viewer)).toEqual({ 'Fleet kill switch: activate': false, 'Fleet kill switch: reset': false })
    const refused = await viewer.evaluate(async () => {
      const r = await fetch('/fleet/killswitch/activate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":"x"}' })
      return r.status
    })
    expect(refused).toBe(403)
    expect(b.gate.halted).toBe(false)

    // an operator sets it for engine b only, with a typed reason and a confirmation
    const operator = await browser.newPage({ viewport: { width: 1400, height: 1100 } })
    await logIn(operator, a.admin!.url, TOKENS.operator)
    await operator.waitForSelector('[data-testid="fleet"]:not([hidden])')
    await waitForRow(operator, 'desk-b', 'RUNNING')
    expect(await fleetButtons(operator)).toEqual({ 'Fleet kill switch: activate': true, 'Fleet kill switch: reset': false })
    await operator.click('#fleet-buttons button:text-is("Fleet kill switch: activate")')
    await operator.waitForSelector('#confirm[open]')
    expect(await operator.isDisabled('#confirm-ok')).toBe(true)
    expect(await operator.$$eval('#confirm-engines option', (os) => os.map((o) => o.textContent))).toEqual(['all', 'desk-a', 'desk-b'])
    await operator.selectOption('#confirm-engines', 'desk-b')
    await operator.selectOption('#confirm-choice', 'HALTED')
    await operator.fill('#confirm-reason', 'desk-b venue incident')
    await operator.click('#confirm-ok')
    await operator.waitForFunction(() => document.getElementById('action-result')?.textContent !== '')
    expect(await testText(operator, 'action-result')).toMatch(/^Fleet kill switch: activate: accepted/)

    // engine b halts and records who set it; the pages show it row by row
    await waitForRow(viewer, 'desk-b', 'HALTED')
    await waitForRow(viewer, 'desk-b', 'latched \\(fleet\\)')
    expect(b.gate.halted).toBe(true)
    expect(a.gate.halted).toBe(false)
    expect([...b.log.read({ types: ['killswitch.activated'] })].map((e) => e.data)).toEqual([
      expect.objectContaining({ scope: 'fleet', action: 'HALTED', reason: 'fleet kill switch: desk-b venue incident', by: 'olga (operator)' }),
    ])
    await viewer.waitForFunction(() => document.querySelector('[data-testid="fleet-killswitch"]')?.textContent?.includes('FLEET KILL SWITCH HALTED'))
    expect(await testText(viewer, 'fleet-killswitch')).toMatch(/FLEET KILL SWITCH HALTED desk-b: desk-b venue incident by olga \(operator\)/)
    expect((await fleetRows(viewer))['desk-a']).toEqual(['RUNNING', '0', 'off', 'yes', 'yes'])
    await screenshot(viewer, 'dashboard-fleet-killswitch')

    // an admin resets it; engine b trades again
    const admin = await browser.newPage({ viewport: { width: 1400, height: 1100 } })
    await logIn(admin, a.admin!.url, TOKENS.admin)
    await admin.waitForSelector('[data-testid="fleet"]:not([hidden])')
    await admin.waitForFunction(() => document.querySelector('[data-testid="fleet-killswitch"]')?.textContent?.includes('FLEET KILL SWITCH'))
    expect(await fleetButtons(admin)).toEqual({ 'Fleet kill switch: activate': true, 'Fleet kill switch: reset': true })
    await admin.click('#fleet-buttons button:text-is("Fleet kill switch: reset")')
    await admin.waitForSelector('#confirm[open]')
    expect(await admin.isHidden('#confirm-engines-label')).toBe(true)
    await admin.fill('#confirm-reason', 'incident closed')
    await admin.click('#confirm-ok')
    await admin.waitForFunction(() => document.getElementById('action-result')?.textContent !== '')
    expect(await testText(admin, 'action-result')).toMatch(/^Fleet kill switch: reset: accepted/)
    await waitForRow(viewer, 'desk-b', 'RUNNING')
    expect(b.gate.halted).toBe(false)
    expect(await testText(viewer, 'fleet-killswitch')).toMatch(/fleet kill switch off reset by adam \(admin\): incident closed/)

    // engine b stops: the page shows its last row (stopped, with its exit code), or, once that expired, that it is gone
    await b.close()
    await waitForRow(viewer, 'desk-b', 'STOPPED.*exit 0|gone')
    await screenshot(viewer, 'dashboard-fleet')
  }, 60_000)
})
