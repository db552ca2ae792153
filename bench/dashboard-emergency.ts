/**
 * How long the dashboard takes to show a 10,000-order emergency, from the shutdown's first event
 * to the report on the page, and what streaming it costs the daemon (its event-loop delay while
 * the emergency runs), against the same emergency with no page open.
 *
 *   npm run build && node dist/bench/dashboard-emergency.js [--orders 10000] [--runs page,none,stuck]
 *
 * The demo daemon runs in this process (three simulated venues, its strategies trading), the
 * page in Chromium (/usr/bin/chromium) logged in as an operator, who presses "Emergency stop".
 * `stuck`: the page, and beside it a feed client that upgrades to /ui/feed and never reads.
 */
import { connect } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { chromium, type Browser } from 'playwright-core'
import { generateToken, hashToken } from '../src/admin/access.js'
import { createHaltd } from '../src/daemon/haltd.js'
import { demoConfig, restingOrderPlan } from '../src/daemon/demo.js'
import { createLogger } from '../src/daemon/logger.js'
import type { Envelope } from '../src/events/envelope.js'
import { SimExchange } from '../src/exchanges/sim/index.js'

/** The page's globals as the code run in it here uses them (the tsconfig has no DOM lib). */
type Node = { hidden: boolean; textContent: string | null }
declare const document: { getElementById(id: string): Node; querySelector(selector: string): Node | null }
declare class MutationObserver {
  constructor(f: () => void)
  observe(node: Node, options: object): void
}
type Seen = { shutdown?: number; report?: number }

const { values } = parseArgs({ options: { orders: { type: 'string', default: '10000' }, runs: { type: 'string', default: 'page,none' } } })
const ORDERS = Number(values.orders)
const ms = (ns: number) => Math.round(ns / 1e5) / 10

type Result = Record<string, number | string>

/** A feed client that never reads after its upgrade; returns its socket (destroyed at the end of the run). */
function neverReading(url: string, token: string) {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  socket.on('error', () => undefined)
  socket.write(
    `GET /ui/feed HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`,
  )
  return socket
}

async function run(mode: string, browser: Browser | undefined): Promise<Result> {
  const withPage = mode !== 'none'
  const dir = mkdtempSync(join(tmpdir(), 'haltd-dashboard-bench-'))
  const token = generateToken()
  const haltd = await createHaltd(
    {
      ...demoConfig({ db: join(dir, 'demo.db'), port: 0, seed: 3, orders: 0 }),
      signals: false,
      admin: { enabled: true, host: '127.0.0.1', port: 0, users: [{ name: 'olga', role: 'operator', tokenHash: hashToken(token) }] },
    },
    { logger: createLogger({ level: 'warn', format: 'json' }) },
  )
  const events: Envelope[] = []
  haltd.log.subscribe(1, (e) => events.push(e))

  const mids: Record<string, number> = {}
  for (const gw of haltd.venues.values()) {
    if (!(gw instanceof SimExchange)) continue
    for (const sym of ['BTC/USDT:USDT', 'ETH/USDT:USDT']) mids[`${gw.venue} ${sym}`] = gw.ticker(sym).mid
  }
  const plan = restingOrderPlan(ORDERS, mids)
  for (let i = 0; i < plan.length; i += 200) {
    await Promise.all(
      plan.slice(i, i + 200).map((o) => haltd.orders.submit({ ...o, type: 'limit', timeInForce: 'GTC', origin: { kind: 'manual', id: 'bench-resting' } })),
    )
  }

  const stuck = mode === 'stuck' ? neverReading(haltd.admin!.url, token) : undefined
  const page = withPage ? await browser!.newPage({ viewport: { width: 1400, height: 1000 } }) : undefined
  let frames = 0
  let bytes = 0
  if (page) {
    page.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        frames++
        bytes += typeof f.payload === 'string' ? Buffer.byteLength(f.payload) : f.payload.length
      }),
    )
    await page.goto(`${haltd.admin!.url}/`)
    await page.fill('#token', token)
    await page.click('#login-form button[type=submit]')
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="open-orders"]')?.textContent?.replace(/,/g, '')) >= n, ORDERS, {
      timeout: 60_000,
    })
    // the page notes, by the wall clock, when it first shows the shutdown and when the report
    await page.evaluate(() => {
      const seen: Seen = {}
      ;(globalThis as unknown as { seen: Seen }).seen = seen
      new MutationObserver(() => {
        if (!seen.shutdown && !document.getElementById('shutdown').hidden) seen.shutdown = Date.now()
        if (!seen.report && document.querySelector('[data-testid="report-headline"]')) seen.report = Date.now()
      }).observe(document.getElementById('app'), { subtree: true, childList: true, attributes: true })
    })
  }

  const lag = monitorEventLoopDelay({ resolution: 5 })
  const framesBefore = frames
  const bytesBefore = bytes
  const seqBefore = haltd.log.lastSeq
  lag.enable()
  if (page) {
    await page.click('#action-buttons button:text-is("Emergency stop")')
    await page.fill('#confirm-reason', 'bench: 10,000-order emergency')
    await page.click('#confirm-ok')
    await page.waitForFunction(() => (globalThis as unknown as { seen: Seen }).seen.report, undefined, { timeout: 120_000, polling: 50 })
  } else {
    await haltd.shutdown({ mode: 'emergency', reason: 'bench: 10,000-order emergency', origin: 'operator' })
  }
  await haltd.exited
  lag.disable()

  const first = events.find((e) => e.seq > seqBefore && e.type === 'shutdown.requested')!
  const completed = events.find((e) => e.seq > seqBefore && e.type === 'shutdown.completed')!
  const canceled = events.filter((e) => e.seq > seqBefore && e.type === 'order.canceled').length
  const result: Result = {
    run: mode === 'stuck' ? 'page + a client that never reads' : withPage ? 'page open' : 'no page',
    orders: ORDERS,
    canceled,
    eventsDuringEmergency: completed.seq - first.seq + 1,
    logFirstToCompletedMs: completed.ts - first.ts,
    loopDelayP50Ms: ms(lag.percentile(50)),
    loopDelayP99Ms: ms(lag.percentile(99)),
    loopDelayMaxMs: ms(lag.max),
  }
  if (page) {
    const seen = (await page.evaluate(() => (globalThis as unknown as { seen: Seen }).seen)) as Required<Seen>
    Object.assign(result, {
      pageShowsShutdownMs: seen.shutdown - first.ts,
      pageShowsReportMs: seen.report - first.ts,
      pageBehindLogMs: seen.report - completed.ts,
      feedFrames: frames - framesBefore,
      feedKiB: Math.round((bytes - bytesBefore) / 1024),
      reportHeadline: (await page.locator('[data-testid="report-headline"]').textContent()) ?? '',
    })
    await page.close()
  }
  stuck?.destroy()
  rmSync(dir, { recursive: true, force: true })
  return result
}

const runs = String(values.runs).split(',')
const browser = runs.some((r) => r !== 'none')
  ? await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    })
  : undefined
const results: Result[] = []
for (const r of runs) results.push(await run(r, browser))
await browser?.close()
console.table(results)
process.stdout.write(`${JSON.stringify(results)}\n`)
