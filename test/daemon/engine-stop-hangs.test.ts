import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { auditFile } from '../../src/audit/audit.js'
import { demoConfig } from '../../src/daemon/demo.js'
import { tempDir } from '../support/tmp.js'
import type { Envelope } from '../../src/events/index.js'
import { events, spawnHaltd, waitFor, whenUp } from './processes.js'

/** Each engine action in the log with how it ended: each completion paired with the request of its id. */
function engineActions(log: Envelope[]): { action: string; result: string | undefined; after: string[] }[] {
  const out: { id: string; action: string; result: string | undefined; after: string[] }[] = []
  for (const e of log) {
    const data = e.data as { actionId: string; action?: string; result?: string; type?: string }
    if (e.type === 'engine.action-requested') out.push({ id: data.actionId, action: data.action!, result: undefined, after: [] })
    else if (e.type === 'engine.action-completed') {
      const open = out.find((a) => a.id === data.actionId && a.result === undefined)
      if (!open) throw new Error(`seq ${e.seq}: an engine action's end names no open request (${data.actionId})`)
      open.result = data.result
    } else for (const a of out) if (a.result === undefined) a.after.push(e.type)
  }
  return out.map(({ id: _, ...a }) => a)
}

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

describe('a graceful stop of the engine that never answers, before the cancels', { timeout: 120_000 }, () => {
  it('given an engine whose stop hangs and step 4 with its default budget, when haltd shuts down gracefully, then the stop is given its own short budget, ends timed-out within it, step 4 says the engine was not stopped, and the cancels go out', async () => {
    // given an engine reached by a command that never answers, and step 4 with its default budget (10 s)
    const dir = tempDir()
    const db = join(dir, 'haltd.db')
    const config = demoConfig({ db, port: 0, seed: 7, orders: 0 })
    config.engine = { stop: { command: ['sleep', '600'] }, gone: { command: ['test', '-e', join(dir, 'never')] } } as typeof config.engine
    config.shutdown = {
      ...config.shutdown,
      graceful: { ...config.shutdown?.graceful, budgets: { 'stop services': 2_000, 'health check': 1_000 } },
    } as typeof config.shutdown
    const file = join(dir, 'haltd.json')
    writeFileSync(file, JSON.stringify(config))
    const d = spawnHaltd(['run', '--config', file], { db })
    await whenUp(d)

    // when it is asked to shut down gracefully
    process.kill(d.pid, 'SIGTERM')
    const exit = await d.exit

    // then the shutdown recorded the stop's own budget (the config's default), and step 4's stop carried it
    const requested = events(db, ['shutdown.requested'])[0]?.data as { options: { engine?: { stopMs?: number } } }
    expect(requested.options.engine?.stopMs).toBe(2_000)
    const log = events(db, [
      'shutdown.command-issued',
      'shutdown.command-completed',
      'shutdown.step-timed-out',
      'shutdown.step-started',
      'engine.action-completed',
    ])
    const issued = log.find(
      (e) =>
        e.type === 'shutdown.command-issued' &&
        (e.data as { step: number }).step === 4 &&
        (e.data as { command: { kind: string } }).command.kind === 'control-engine',
    )
    expect((issued!.data as { command: unknown }).command).toEqual({ kind: 'control-engine', action: 'stop', timeoutMs: 2_000 })
    // and the stop ended timed-out within that budget, not the step's
    const stop = log.find((e) => e.type === 'engine.action-completed')?.data as { action: string; result: string; durationMs: number }
    expect(stop).toMatchObject({ action: 'stop', result: 'timed-out' })
    expect(stop.durationMs).toBeLessThanOrEqual(2_000)
    const completed = log.find(
      (e) => e.type === 'shutdown.command-completed' && (e.data as { commandId: string }).commandId === (issued!.data as { commandId: string }).commandId,
    )
    expect(completed?.data).toMatchObject({ outcome: 'timed-out' })
    // step 4 ended timed-out naming the stop, and only then did the cancel step start
    const step4 = log.find((e) => e.type === 'shutdown.step-timed-out' && (e.data as { step: number }).step === 4)
    expect(JSON.stringify((step4!.data as { remaining?: unknown }).remaining)).toContain('stop the engine: timed-out')
    const step5 = log.find((e) => e.type === 'shutdown.step-started' && (e.data as { step: number }).step === 5)
    expect(step5!.seq).toBeGreaterThan(step4!.seq)
    // the engine was never seen gone: the shutdown says it may still trade
    expect(exit.code).toBe(2)
    expect(auditFile(db).findings.filter((f) => f.kind.startsWith('decision'))).toEqual([])
  })
})

describe('an engine action out when the graceful shutdown is escalated', { timeout: 120_000 }, () => {
  it('given a graceful stop of the engine that never answers, when SIGUSR2 escalates to emergency, then that stop ends abandoned in the log right after the escalation, and every engine action has an end', async () => {
    // given an engine whose stop command hangs, and a graceful shutdown waiting on it at step 4
    const dir = tempDir()
    const db = join(dir, 'haltd.db')
    const config = demoConfig({ db, port: 0, seed: 6, orders: 0 })
    config.engine = { stop: { command: ['sleep', '600'] }, gone: { command: ['test', '-e', join(dir, 'never')] } } as typeof config.engine
    const file = join(dir, 'haltd.json')
    writeFileSync(file, JSON.stringify(config))
    const d = spawnHaltd(['run', '--config', file], { db })
    await whenUp(d)
    process.kill(d.pid, 'SIGTERM')
    await waitFor('the graceful stop of the engine under way', () => events(db, ['engine.action-requested']).length > 0, d)

    // when the emergency takes over
    process.kill(d.pid, 'SIGUSR2')
    expect((await d.exit).code).toBe(3)

    // then no engine action is left without its end, and the graceful's stop ended abandoned, not
    // waited for, before the emergency acted on the engine
    const log = events(db, ['engine.action-requested', 'engine.action-completed', 'shutdown.escalated'])
    const actions = engineActions(log)
    expect(actions.filter((a) => a.result === undefined)).toEqual([])
    expect(actions[0]).toEqual({ action: 'stop', result: 'abandoned', after: ['shutdown.escalated'] })
    const abandoned = log.find((e) => e.type === 'engine.action-completed')
    expect(abandoned?.data).toMatchObject({ action: 'stop', result: 'abandoned', error: 'abandoned: the shutdown was escalated to emergency' })
    // the emergency then acted on the engine itself
    expect(actions.slice(1).map((a) => a.action)).toContain('freeze')
    // and the audit finds every engine action of the shutdown ended
    expect(auditFile(db).findings.filter((f) => f.kind === 'invariant.engine-action-never-ended')).toEqual([])
  })
})
