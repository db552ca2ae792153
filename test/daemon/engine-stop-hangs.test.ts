import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { demoConfig } from '../../src/daemon/demo.js'
import { tempDir } from '../support/tmp.js'
import { events, spawnHaltd, whenUp } from './processes.js'

describe('an engine whose stop never answers, beside a running daemon', { timeout: 120_000 }, () => {
  it('given a stop command that hangs while the engine leaves, when haltd shuts down gracefully, then step 11 still looks after the stop, sees the engine gone, and the shutdown ends clean', async () => {
    // given an engine reached by commands: each stop hangs (as a wedged control endpoint would);
    // the second one, at step 11, is the one after which the engine is gone
    const dir = tempDir()
    const db = join(dir, 'haltd.db')
    const asked = join(dir, 'stop-asked')
    const gone = join(dir, 'engine-gone')
    const config = demoConfig({ db, port: 0, seed: 5, orders: 0 })
    config.engine = {
      stop: { command: ['sh', '-c', `if [ -e '${asked}' ]; then touch '${gone}'; fi; touch '${asked}'; exec sleep 600`] },
      gone: { command: ['test', '-e', gone] },
    } as typeof config.engine
    config.shutdown = {
      ...config.shutdown,
      graceful: { ...config.shutdown?.graceful, budgets: { 'disable strategies and close the gate': 1_500, 'stop services': 4_000 } },
    } as typeof config.shutdown
    const file = join(dir, 'haltd.json')
    writeFileSync(file, JSON.stringify(config))
    const d = spawnHaltd(['run', '--config', file], { db })
    await whenUp(d)

    // when it is asked to shut down gracefully
    process.kill(d.pid, 'SIGTERM')
    const exit = await d.exit

    // then the hung stop at step 11 spent its share only: the look after it ran and saw the engine gone
    const acts = events(db, ['engine.action-completed']).map((e) => {
      const data = e.data as { action: string; result: string }
      return `${data.action}:${data.result}`
    })
    expect(acts).toEqual(['stop:timed-out', 'check:done', 'stop:timed-out', 'check:gone'])
    const terminate = events(db, ['shutdown.command-issued', 'shutdown.command-completed'])
    const issued = terminate.find((e) => e.type === 'shutdown.command-issued' && (e.data as { command: { action?: string } }).command.action === 'terminate')
    const commandId = (issued?.data as { commandId: string } | undefined)?.commandId
    const completed = terminate.find((e) => e.type === 'shutdown.command-completed' && (e.data as { commandId: string }).commandId === commandId)
    expect(completed?.data).toMatchObject({ outcome: 'ok', detail: { gone: true, stoppedBy: 'stop' } })
    expect(exit.code).toBe(0)
  })
})
