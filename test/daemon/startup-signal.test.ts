import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { adminInfoPath } from '../../src/admin/info-file.js'
import { demoConfig } from '../../src/daemon/demo.js'
import type { Envelope } from '../../src/events/index.js'
import { tempDir } from '../support/tmp.js'
import { events, spawnHaltd, waitFor, whenUp } from './processes.js'

/** The demo's config; with `connectMs`, every venue takes that long to answer its connect, and 4 s to answer a cancel: a shutdown outlasts the connect. */
function config(dir: string, db: string, connectMs?: number): string {
  const c = demoConfig({ db, port: 0, seed: 11, orders: 0 })
  if (connectMs !== undefined)
    for (const v of c.venues ?? [])
      if (v.kind === 'sim') v.faults = { latency: { minMs: 1, maxMs: 5 }, latencyByMethod: { connect: connectMs, cancel: 4_000, cancelAll: 4_000 } }
  const file = join(dir, `haltd-${connectMs ?? 'fast'}.json`)
  writeFileSync(file, JSON.stringify(c))
  return file
}

/** What this run appended after its shutdown was requested that only a startup that carried on would. */
function startupAfterRequest(log: Envelope[]): string[] {
  const lastRun = log.findLastIndex((e) => e.type === 'run.started')
  const requested = log.findIndex((e, i) => i > lastRun && e.type === 'shutdown.requested')
  expect(requested).toBeGreaterThan(lastRun)
  return log
    .slice(requested)
    .filter(
      (e) =>
        (e.type === 'trading.state-changed' && (e.data as { to: string }).to === 'ACTIVE') ||
        e.type === 'deployments.unlocked' ||
        e.type === 'marketdata.subscribed' ||
        e.type === 'strategy.enabled',
    )
    .map((e) => e.type)
}

describe('a signal while haltd is still starting', { timeout: 120_000 }, () => {
  it('SIGUSR2 during the startup connect runs the emergency and startup does not reopen trading, unlock deployments or subscribe market data after it: exit 3', async () => {
    const dir = tempDir()
    const db = join(dir, 'haltd.db')
    // A first run that ends with a completed graceful shutdown: the next startup would reopen trading.
    const first = spawnHaltd(['run', '--config', config(dir, db)], { db })
    await whenUp(first)
    first.child.kill('SIGTERM')
    expect([0, 2]).toContain((await first.exit).code)

    const second = spawnHaltd(['run', '--config', config(dir, db, 1_500)], { db })
    // The admin file is written before startup connects; the signal handlers are in by then.
    await waitFor('the admin API', () => existsSync(adminInfoPath(db)), second)
    const sentAt = Date.now()
    second.child.kill('SIGUSR2')
    const { code } = await second.exit
    const exitMs = Date.now() - sentAt
    expect(code).toBe(3)

    const log = events(db)
    const lastRun = log.findLastIndex((e) => e.type === 'run.started')
    expect(log.slice(lastRun).find((e) => e.type === 'shutdown.requested')!.data).toMatchObject({ mode: 'emergency', origin: 'signal' })
    expect(log.slice(lastRun).find((e) => e.type === 'killswitch.activated' || e.type === 'shutdown.completed')).toBeDefined()
    expect(startupAfterRequest(log)).toEqual([])
    expect(log.at(-1)).toMatchObject({ type: 'run.ended', data: { exitCode: 3 } })
    expect(second.logs().some((l) => l.msg === 'a shutdown was requested during startup: the rest of startup is skipped')).toBe(true)
    console.info(`SIGUSR2 during a 1.5 s connect: exit ${code} after ${exitMs} ms; ${log.length - lastRun} events in the second run`)
  })

  it('SIGTERM before the first venue connected runs the graceful shutdown and startup does not subscribe market data or enable strategies after it', async () => {
    const dir = tempDir()
    const db = join(dir, 'haltd.db')
    const d = spawnHaltd(['run', '--config', config(dir, db, 1_500)], { db })
    await waitFor('the admin API', () => existsSync(adminInfoPath(db)), d)
    expect(events(db, ['venue.connected'])).toEqual([])
    d.child.kill('SIGTERM')
    const { code } = await d.exit
    expect(code).not.toBeNull()
    expect([0, 2]).toContain(code)
    const log = events(db)
    expect(startupAfterRequest(log)).toEqual([])
    expect(log.at(-1)).toMatchObject({ type: 'run.ended', data: { exitCode: code } })
  })
})
