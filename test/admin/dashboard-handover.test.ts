import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashToken } from '../../src/admin/access.js'
import { createHaltd, createStandby, type Haltd, type Standby } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { launchBrowser, logIn, NAMES, type PageDocument, screenshot, testText, TOKENS } from './dashboard-support.js'

declare const document: PageDocument

const nats = natsForFile()
let browser: Browser
const haltds: Haltd[] = []
const standbys: Standby[] = []

const USERS = (['viewer', 'operator', 'admin'] as const).map((role) => ({ name: NAMES[role], role, tokenHash: hashToken(TOKENS[role]) }))
const dir = tempDir()
const config = (instance: string, engine = 'page-hop') => ({
  db: { path: join(dir, `${instance}.db`) },
  signals: false,
  admin: { enabled: true, host: '127.0.0.1', port: 0, users: USERS },
  nats: { servers: [nats.url], engine, instance, connectTimeoutMs: 1_000 },
  replication: { mode: 'sync' as const },
  failover: { leaseMs: 2_000 },
})
const ports = () => ({
  gateways: [
    new SimExchange({ venue: 'sim-a', seed: 3, mode: 'derivatives', symbols: [{ symbol: 'BTC/USDT:USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }] }),
  ],
  logger: createLogger({ destination: memoryDestination(), level: 'info' }),
  env: {},
})

beforeAll(async () => {
  browser = await launchBrowser()
}, 30_000)
afterAll(async () => {
  await browser?.close()
  for (const s of standbys) await s.close().catch(() => undefined)
  for (const h of haltds) await h.close().catch(() => undefined)
})

/** The handover's steps as the page shows them: step → status. */
const steps = (page: Page) =>
  page.$$eval('[data-testid="handover-steps"] li', (lis) =>
    Object.fromEntries(
      lis.map((li) => [
        (li as unknown as { dataset: { testid: string } }).dataset.testid.replace('handover-step-', ''),
        (li as unknown as { dataset: { status: string } }).dataset.status,
      ]),
    ),
  )
const buttons = (page: Page) =>
  page.$$eval('#action-buttons button', (bs) => Object.fromEntries(bs.map((b) => [b.textContent, !(b as unknown as { disabled: boolean }).disabled])))

async function handOver(page: Page, to: string, reason: string): Promise<string> {
  await page.click('#action-buttons button:text-is("Hand over to the standby")')
  await page.waitForSelector('#confirm[open]')
  await page.fill('#confirm-reason', reason)
  // a reason alone is not enough: the standby must be named
  expect(await page.isDisabled('#confirm-ok')).toBe(true)
  await page.fill('#confirm-to', to)
  await page.click('#confirm-ok')
  await page.waitForFunction(() => document.getElementById('action-result')?.textContent !== '', undefined, { timeout: 15_000 })
  const result = await testText(page, 'action-result')
  await page.evaluate(() => {
    document.getElementById('action-result')!.textContent = ''
  })
  return result
}

describe('the handover on the dashboard', () => {
  it('offers the handover to an admin once a standby follows, shows a rolled-back one and a completed one step by step', async () => {
    const a = await createHaltd(config('a'), ports())
    haltds.push(a)

    // a leader nobody follows offers no handover (the stream's followers are asked every 2 s)
    const alone = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    await logIn(alone, a.admin!.url, TOKENS.admin)
    await alone.waitForSelector('#action-buttons button:text-is("Pause")')
    await alone.waitForTimeout(1_500)
    expect(Object.keys(await buttons(alone))).not.toContain('Hand over to the standby')

    // a standby starts following: the button appears
    const b = await createStandby(config('b'), ports())
    standbys.push(b)
    await alone.waitForSelector('#action-buttons button:text-is("Hand over to the standby")', { timeout: 10_000 })
    await alone.close()

    // an operator sees the button and may not press it
    const operator = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    await logIn(operator, a.admin!.url, TOKENS.operator)
    await operator.waitForSelector('#action-buttons button:text-is("Hand over to the standby")')
    expect((await buttons(operator))['Hand over to the standby']).toBe(false)
    await operator.close()

    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } })
    await logIn(page, a.admin!.url, TOKENS.admin)
    await page.waitForSelector('#action-buttons button:text-is("Hand over to the standby")')
    expect(await page.isHidden('[data-testid="handover"]')).toBe(true)

    // to an instance that never takes the lease: every leader step, then the roll-back, and the page stays live
    expect(await handOver(page, 'nobody', 'try the page')).toMatch(/^Hand over to the standby: accepted: rolled-back \('nobody' did not take the lease/)
    await page.waitForFunction(() => document.querySelector('[data-testid="handover-banner"]')?.textContent?.startsWith('HANDOVER ROLLED BACK'))
    expect(await steps(page)).toEqual({
      'close-gate': 'completed',
      'settle-in-flight': 'completed',
      'flush-replication': 'completed',
      'release-lease': 'completed',
      'confirm-last-seq': 'not run',
      'take-lease': 'not run',
      'adopt-orders': 'not run',
      'open-gate': 'not run',
      'roll-back': 'completed',
    })
    expect(await testText(page, 'handover')).toContain('by adam (admin)')
    await screenshot(page, 'dashboard-handover-rolled-back')
    expect(a.gate.halted).toBe(false)

    // to the standby: a hands over and stops; b leads, and its page shows all eight steps done
    expect(await handOver(page, 'b', 'rolling restart')).toMatch(/^Hand over to the standby: accepted: handed-over/)
    expect(await a.exited).toBe(0)
    const leader = await b.promoted
    haltds.push(leader)
    const next = await browser.newPage({ viewport: { width: 1400, height: 1100 } })
    await logIn(next, leader.admin!.url, TOKENS.viewer)
    await next.waitForFunction(() => document.querySelector('[data-testid="handover-banner"]')?.textContent === 'HANDED OVER: a → b', undefined, {
      timeout: 10_000,
    })
    await next.waitForFunction(
      () =>
        (document.querySelector('[data-testid="handover-step-open-gate"]') as unknown as { dataset: { status: string } } | null)?.dataset.status ===
        'completed',
    )
    expect(Object.values(await steps(next))).toEqual(Array(8).fill('completed'))
    expect(await testText(next, 'handover')).toContain('rolling restart')
    await screenshot(next, 'dashboard-handover-completed')
  }, 60_000)
})

describe("a standby's dashboard", () => {
  it('shows the engine as the stream carried it, whom it follows and how far, and offers no action', async () => {
    const a = await createHaltd(config('lead', 'page-watch'), ports())
    haltds.push(a)
    const b = await createStandby(config('follow', 'page-watch'), ports())
    standbys.push(b)
    for (let i = 0; i < 3; i++) {
      const out = await a.orders.submit({
        venue: 'sim-a',
        symbol: 'BTC/USDT:USDT',
        side: 'buy',
        type: 'limit',
        qty: 0.01,
        price: 40_000 + i,
        origin: { kind: 'manual', id: 'engine' },
      })
      expect(out.status).toBe('accepted')
    }

    // given the standby followed the leader's three resting orders
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    await logIn(page, b.admin!.url, TOKENS.admin)
    // when an admin opens the standby's page, then it is live and says what it is
    await page.waitForFunction(() => document.querySelector('[data-testid="open-orders"]')?.textContent === '3', undefined, { timeout: 10_000 })
    expect(await testText(page, 'standby-banner')).toBe('STANDBY: follow follows engine page-watch; the leader is lead (epoch 1)')
    expect(await testText(page, 'standby-detail')).toMatch(
      /^following the stream · followed to seq [\d,]+ · 0 event\(s\) behind · read-only: act on the leader$/,
    )
    expect(await testText(page, 'state')).toBe('STANDBY')
    expect(await testText(page, 'summary')).toContain('closed: a standby sends no order')
    // and every action is offered disabled, even to an admin: the standby would refuse it
    await page.waitForSelector('#action-buttons button:text-is("Pause")')
    const offered = await buttons(page)
    expect(Object.keys(offered).length).toBeGreaterThan(0)
    expect(Object.values(offered).every((enabled) => enabled === false)).toBe(true)
    expect(await page.getAttribute('#action-buttons button:text-is("Pause")', 'title')).toBe('a standby takes no action: act on the leader (lead)')
    await screenshot(page, 'dashboard-standby')

    // the leader's page, by contrast, shows no standby banner
    const leaderPage = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    await logIn(leaderPage, a.admin!.url, TOKENS.admin)
    await leaderPage.waitForSelector('#action-buttons button:text-is("Pause")')
    expect(await leaderPage.isHidden('[data-testid="standby"]')).toBe(true)
    expect((await buttons(leaderPage)).Pause).toBe(true)

    // when the leader stops the engine on purpose, then past its lease the standby's page says why it leaves the engine stopped
    await a.shutdown({ mode: 'graceful', reason: 'end of day' })
    await a.exited
    await page.waitForSelector('[data-testid="standby-stopped"]', { timeout: 10_000 })
    expect(await testText(page, 'standby-stopped')).toMatch(/^the engine was stopped by its leader 'lead' \(run .*start a leader with haltd run/)
    expect(await testText(page, 'standby-banner')).toBe('STANDBY: follow follows engine page-watch; no instance holds the lease now')
    expect(b.status().role).toBe('standby')
  }, 60_000)
})
