import { join } from 'node:path'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import type { ExchangeGateway } from '../../src/exchanges/gateway.js'
import type { ShutdownReport } from '../../src/core/shutdown/index.js'
import { memoryDestination } from './memory-log.js'
import { tempDir } from './tmp.js'

/** A daemon around one venue's gateway whose emergency cancels everything on the account, as the venue drills run it. */
export async function drillDaemon(gateway: ExchangeGateway, cleanups: (() => Promise<unknown>)[]): Promise<Haltd> {
  const h = await createHaltd(
    { db: { path: join(tempDir(), `${gateway.venue}.db`) }, admin: { enabled: false }, shutdown: { emergency: { cancelScope: 'account' } } },
    { gateways: [gateway], logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} },
  )
  cleanups.push(() => h.close().catch(() => undefined))
  return h
}

/** Runs the emergency and prints how long it took, step by step, and what the venue still holds. */
export async function runEmergencyDrill(h: Haltd, label: string, leftAtVenue: () => number): Promise<ShutdownReport> {
  const started = performance.now()
  const report = await h.shutdown({ mode: 'emergency', reason: 'drill' })
  const ms = Math.round(performance.now() - started)
  const steps = report.steps.map((s) => `${s.name} ${s.durationMs} ms`).join(', ')
  console.info(`emergency at ${label}: ${ms} ms (${steps}), ${leftAtVenue()} left at the venue`)
  return report
}
