import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { hashToken, type AdminUser } from '../../src/admin/access.js'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { DEMO_VENUES, demoConfig, restingOrderPlan } from '../../src/daemon/demo.js'
import { createLogger } from '../../src/daemon/logger.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import type { Envelope } from '../../src/events/envelope.js'
import { memoryDestination } from '../support/memory-log.js'
import { repoRoot } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'

/** One credential per role, as an operator would hand them out. */
export const TOKENS = {
  viewer: 'vera-viewer-token-0123456789abcdef',
  operator: 'olga-operator-token-0123456789abcdef',
  admin: 'adam-admin-token-0123456789abcdef',
} as const
export const NAMES = { viewer: 'vera', operator: 'olga', admin: 'adam' } as const
const USERS: AdminUser[] = (['viewer', 'operator', 'admin'] as const).map((role) => ({ name: NAMES[role], role, tokenHash: hashToken(TOKENS[role]) }))

/** `events`: every event as published, still readable once the daemon has stopped and closed its log. */
export type Demo = { haltd: Haltd; url: string; logLines: string[]; events: Envelope[] }

/** The demo daemon in this process: three simulated venues, four strategies, the three users above. */
export async function startDemo(options: { seed?: number; resting?: number; config?: object; admin?: object } = {}): Promise<Demo> {
  const db = join(tempDir(), 'demo.db')
  const base = demoConfig({ db, port: 0, seed: options.seed ?? 7, orders: 0 })
  const dest = memoryDestination()
  const haltd = await createHaltd(
    {
      ...base,
      signals: false,
      log: { level: 'info' },
      admin: { enabled: true, host: '127.0.0.1', port: 0, users: USERS, ...options.admin },
      ...options.config,
    },
    { logger: createLogger({ destination: dest, level: 'info' }) },
  )
  const events: Envelope[] = []
  haltd.log.subscribe(1, (e) => events.push(e))
  if (options.resting) await placeResting(haltd, options.resting)
  return { haltd, url: haltd.admin!.url, logLines: dest.lines, events }
}

async function placeResting(haltd: Haltd, n: number): Promise<void> {
  const mids: Record<string, number> = {}
  for (const gw of haltd.venues.values()) {
    if (!(gw instanceof SimExchange)) continue
    for (const sym of ['BTC/USDT:USDT', 'ETH/USDT:USDT']) mids[`${gw.venue} ${sym}`] = gw.ticker(sym).mid
  }
  const plan = restingOrderPlan(n, mids)
  for (let i = 0; i < plan.length; i += 100) {
    await Promise.all(
      plan.slice(i, i + 100).map((o) => haltd.orders.submit({ ...o, type: 'limit', timeInForce: 'GTC', origin: { kind: 'manual', id: 'demo-resting' } })),
    )
  }
}

export const VENUES = DEMO_VENUES

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync('/usr/bin/chromium')) throw new Error('the dashboard tests need Chromium at /usr/bin/chromium (apt-get install -y chromium fonts-liberation)')
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  })
}

/** The login form, as a person fills it in. */
export async function logIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`)
  await page.fill('#token', token)
  await page.click('#login-form button[type=submit]')
  await page.waitForSelector('#app:not([hidden])')
}

const ARTIFACTS = join(repoRoot, 'test-artifacts')
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const path = join(ARTIFACTS, `${name}.png`)
  await page.screenshot({ path, fullPage })
  return path
}

/** The text of a `data-testid` element. */
export const testText = async (page: Page, id: string) => (await page.locator(`[data-testid="${id}"]`).first().textContent()) ?? ''

/** The page's globals as the code run in the browser here uses them (the tsconfig has no DOM lib). */
export type PageElement = {
  textContent: string | null
  disabled?: boolean
  nextElementSibling: PageElement | null
  querySelectorAll(selector: string): PageElement[]
}
export type PageDocument = {
  cookie: string
  querySelector(selector: string): PageElement | null
  querySelectorAll(selector: string): PageElement[]
  getElementById(id: string): PageElement | null
}
