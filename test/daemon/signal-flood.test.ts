import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { auditFile } from '../../src/audit/audit.js'
import { renderText } from '../../src/audit/render/text.js'
import { IGNORED_COALESCE_MS } from '../../src/core/shutdown/controller.js'
import { demoConfig } from '../../src/daemon/demo.js'
import { tempDir } from '../support/tmp.js'
import { events, spawnHaltd, waitFor, whenUp } from './processes.js'

describe('a flood of signals during an emergency', { timeout: 120_000 }, () => {
  it('given an emergency held at its first step, when hundreds of SIGTERM and SIGUSR2 arrive, then each kind is recorded once as it comes and the rest counted and recorded together, every received signal counted in the log and the audit', async () => {
    // given an emergency that stays a few seconds in its first step (an engine whose freeze hangs)
    const dir = tempDir()
    const db = join(dir, 'haltd.db')
    const config = demoConfig({ db, port: 0, seed: 8, orders: 0 })
    config.engine = {
      freeze: { command: ['sleep', '600'] },
      stop: { command: ['true'] },
      gone: { command: ['true'] },
    } as typeof config.engine
    config.shutdown = { ...config.shutdown, emergency: { ...config.shutdown?.emergency, budgets: { halt: 4_000 } } } as typeof config.shutdown
    const file = join(dir, 'haltd.json')
    writeFileSync(file, JSON.stringify(config))
    const d = spawnHaltd(['run', '--config', file], { db })
    await whenUp(d)
    process.kill(d.pid, 'SIGUSR2')
    await waitFor('the emergency freezing the engine', () => events(db, ['engine.action-requested']).length > 0, d)

    // when signals flood in while it runs
    for (let i = 0; i < 150; i++) {
      process.kill(d.pid, 'SIGTERM')
      process.kill(d.pid, 'SIGUSR2')
      if (i % 10 === 9) await sleep(20)
    }
    const exit = await d.exit
    expect(exit.code).toBe(3)

    // then every signal haltd says it received during the emergency is counted in the log, by kind
    const received = (signal: string) => d.logs().filter((l) => l.signal === signal && String(l.msg).includes('ignored: emergency already under way')).length
    const ignored = events(db, ['shutdown.request-ignored']).map((e) => e.data as { reason: string; count?: number })
    const counted = (reason: string) => ignored.filter((e) => e.reason === reason).reduce((n, e) => n + (e.count ?? 1), 0)
    expect(received('SIGTERM')).toBeGreaterThan(1)
    expect(counted('SIGTERM received during emergency shutdown')).toBe(received('SIGTERM'))
    expect(counted('SIGUSR2 received during emergency shutdown')).toBe(received('SIGUSR2'))
    // the first of each kind on its own, the others together: at most one event per kind per coalescing window
    for (const reason of ['SIGTERM received during emergency shutdown', 'SIGUSR2 received during emergency shutdown'])
      expect(ignored.find((e) => e.reason === reason)?.count).toBeUndefined()
    const { durationMs } = events(db, ['shutdown.completed'])[0]!.data as { durationMs: number }
    expect(ignored.length).toBeLessThanOrEqual(2 * (2 + Math.ceil(durationMs / IGNORED_COALESCE_MS)))
    expect(ignored.length).toBeLessThan(received('SIGTERM') + received('SIGUSR2'))

    // and the audit counts them all, re-deciding each record without a divergence
    const audit = auditFile(db)
    expect(audit.findings.filter((f) => f.check === 'decision')).toEqual([])
    expect(renderText(audit)).toContain(`${received('SIGTERM') + received('SIGUSR2')} further request(s) received and ignored`)
  })
})
