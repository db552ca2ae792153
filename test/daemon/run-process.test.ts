import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { demoConfig } from '../../src/daemon/demo.js'
import { tempDir } from '../support/tmp.js'
import { bearer, events, spawnHaltd, waitFor, whenUp } from './processes.js'

/** The demo's config with venues whose cancels take seconds: a graceful shutdown then sits in step 5. */
function slowCancelConfig(dir: string): { file: string; db: string } {
  const db = join(dir, 'haltd.db')
  const config = demoConfig({ db, port: 0, seed: 7, orders: 0 })
  for (const v of config.venues ?? []) {
    if (v.kind === 'sim') v.faults = { latency: { minMs: 1, maxMs: 5 }, latencyByMethod: { cancel: 4_000, cancelAll: 4_000 } }
  }
  const file = join(dir, 'haltd.json')
  writeFileSync(file, JSON.stringify(config, null, 2))
  return { file, db }
}

const stepStarted = (db: string, step: number) => events(db, ['shutdown.step-started']).some((e) => (e.data as { step: number }).step === step)

describe('haltd run as a real process', { timeout: 120_000 }, () => {
  it('after kill -9 in the middle of a graceful shutdown, the next start comes up HALTED and finishes it', async () => {
    const { file, db } = slowCancelConfig(tempDir())
    const first = spawnHaltd(['run', '--config', file], { db })
    await whenUp(first)
    await waitFor('some orders', () => events(db, ['order.accepted']).length >= 4, first)
    first.child.kill('SIGTERM')
    await waitFor('graceful step 5 under way', () => stepStarted(db, 5), first)
    first.child.kill('SIGKILL')
    expect((await first.exit).signal).toBe('SIGKILL')
    const shutdownId = (events(db, ['shutdown.requested'])[0]!.data as { shutdownId: string }).shutdownId
    expect(events(db, ['shutdown.completed'])).toEqual([])
    // the log the kill left is intact: the audit says the shutdown is unfinished (3), not that the log fails a check (1)
    const audit = spawnHaltd(['audit', '--db', db], { db })
    expect((await audit.exit).code).toBe(3)
    expect(audit.stdout.join('\n')).toMatch(/UNFINISHED/)

    const second = spawnHaltd(['run', '--config', file], { db })
    await waitFor('the resume', () => second.logs().some((l) => l.msg === 'coming up HALTED: a shutdown was left unfinished; resuming it'), second)
    const { code } = await second.exit
    expect([0, 2]).toContain(code)

    const log = events(db)
    const firstRun = log.find((e) => e.type === 'run.started')!.data as { runId: string }
    expect(log.find((e) => e.type === 'run.crashed')!.data).toMatchObject({ runId: firstRun.runId })
    // the crash is recorded before anything the second run does
    const crashedAt = log.findIndex((e) => e.type === 'run.crashed')
    expect(log[crashedAt + 1]!.type).toBe('run.started')
    expect(log.filter((e) => e.type === 'shutdown.requested')).toHaveLength(1)
    expect(log.find((e) => e.type === 'shutdown.completed')!.data).toMatchObject({ shutdownId, exitCode: code })
    // no strategy order was sent by the second run: it came up HALTED
    const secondStart = log.findIndex((e) => e.type === 'run.started' && (e.data as { runId: string }).runId !== firstRun.runId)
    const strategyOrders = log
      .slice(secondStart)
      .filter((e) => e.type === 'order.submitted' && (e.data as { origin: { kind: string } }).origin.kind === 'strategy')
    expect(strategyOrders).toEqual([])
    // the resumed shutdown ran its remaining steps through to 13
    const steps = log
      .slice(secondStart)
      .filter((e) => e.type === 'shutdown.step-started')
      .map((e) => (e.data as { step: number }).step)
    expect(steps.at(-1)).toBe(13)
    expect(log.at(-1)).toMatchObject({ type: 'run.ended', data: { exitCode: code } })
  })

  it('given a db.path whose folder does not exist, says it made the folder and a new log there, then runs', async () => {
    const dir = tempDir()
    const db = join(dir, 'no-such-folder', 'haltd.db')
    const config = demoConfig({ db, port: 0, seed: 3, orders: 0 })
    const file = join(dir, 'haltd.json')
    writeFileSync(file, JSON.stringify(config, null, 2))
    const d = spawnHaltd(['run', '--config', file], { db })
    await whenUp(d)
    expect(d.stderr.join('')).toContain(
      `haltd run: ${join(dir, 'no-such-folder')} (the folder of db.path) did not exist: created it, and a new event log ${db} in it`,
    )
    d.child.kill('SIGTERM')
    expect((await d.exit).code).toBe(0)
  })

  it('a second SIGTERM during a graceful shutdown escalates it to the emergency path: exit 3', async () => {
    const { file, db } = slowCancelConfig(tempDir())
    const d = spawnHaltd(['run', '--config', file], { db })
    await whenUp(d)
    await waitFor('some orders', () => events(db, ['order.accepted']).length >= 4, d)
    d.child.kill('SIGTERM')
    await waitFor('graceful step 5 under way', () => stepStarted(db, 5), d)
    d.child.kill('SIGTERM')
    expect((await d.exit).code).toBe(3)
    const log = events(db)
    expect(log.find((e) => e.type === 'shutdown.escalated')!.data).toMatchObject({ to: 'emergency', origin: 'signal' })
    expect(log.find((e) => e.type === 'shutdown.completed')!.data).toMatchObject({ outcome: 'emergency', exitCode: 3 })
  })

  for (const [signal, code, outcome] of [
    ['SIGTERM', 0, 'clean'],
    ['SIGUSR2', 3, 'emergency'],
  ] as const) {
    it(`with power durability (each turn's appends one fsync'd group), ${signal} runs its shutdown to the end: exit ${code}, each step recorded once`, async () => {
      // given the demo's config with the durability the production example uses
      const dir = tempDir()
      const db = join(dir, 'haltd.db')
      const config = demoConfig({ db, port: 0, seed: 7, orders: 0 })
      const file = join(dir, 'haltd.json')
      writeFileSync(file, JSON.stringify({ ...config, db: { ...config.db, durability: 'power' } }))
      const d = spawnHaltd(['run', '--config', file], { db })
      await whenUp(d)
      await waitFor('some orders', () => events(db, ['order.accepted']).length >= 4, d)

      // when the signal comes
      d.child.kill(signal)

      // then the procedure runs once through and the process ends with its code
      expect((await d.exit).code).toBe(code)
      const log = events(db)
      expect(log.find((e) => e.type === 'shutdown.completed')!.data).toMatchObject({ outcome, exitCode: code })
      const started = log.filter((e) => e.type === 'shutdown.step-started').map((e) => (e.data as { step: number }).step)
      expect(started).toEqual([...new Set(started)])
      expect(log.at(-1)).toMatchObject({ type: 'run.ended', data: { exitCode: code } })
    })
  }

  it('the admin API turns a kill switch activation and reset into events with origin admin and their reasons', async () => {
    const { file, db } = slowCancelConfig(tempDir())
    const d = spawnHaltd(['run', '--config', file], { db })
    const info = await whenUp(d)
    const post = (path: string, body: object) =>
      fetch(info.url + path, { method: 'POST', headers: { ...bearer(info.token), 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect((await post('/killswitch/activate', { reason: 'desk says stop' })).status).toBe(202)
    const halted = (await (await fetch(`${info.url}/status`, { headers: bearer(info.token) })).json()) as { mode: string; gate: { halted: boolean } }
    expect(halted).toMatchObject({ mode: 'HALTED', gate: { halted: true } })
    const resume = await post('/resume', { reason: 'try to trade anyway' })
    expect(resume.status).toBe(409)
    expect((await post('/killswitch/reset', { reason: 'desk says go' })).status).toBe(202)
    const metrics = await (await fetch(`${info.url}/metrics`, { headers: bearer(info.token) })).text()
    expect(metrics).toContain('haltd_killswitch_latched 0')
    expect(metrics).toMatch(/haltd_trading_mode\{mode="ACTIVE"\} 1/)

    const ks = events(db, ['killswitch.activated', 'killswitch.reset']).map((e) => [e.type, e.data])
    expect(ks).toEqual([
      ['killswitch.activated', expect.objectContaining({ reason: 'desk says stop', by: 'local (admin)', origin: 'admin', action: 'HALTED' })],
      ['killswitch.reset', expect.objectContaining({ reason: 'desk says go', by: 'local (admin)', origin: 'admin' })],
    ])

    // the log over the WebSocket: from seq 1 to the head, then live
    const frames = await new Promise<{ kind: string; seq?: number; event?: { seq: number; type: string } }[]>((resolve, reject) => {
      const got: { kind: string; seq?: number; event?: { seq: number; type: string } }[] = []
      const ws = new WebSocket(`${info.url.replace('http', 'ws')}/events?from=1`, { headers: bearer(info.token) })
      ws.on('message', (m) => {
        // live frames can follow caught-up before the close takes effect: the catch-up ends there
        if (got.at(-1)?.kind === 'caught-up') return
        got.push(JSON.parse(String(m)))
        if (got.at(-1)!.kind === 'caught-up') {
          ws.close()
          resolve(got)
        }
      })
      ws.on('error', reject)
    })
    const head = frames.at(-1)!.seq!
    expect(frames.slice(0, -1).map((f) => f.event!.seq)).toEqual(Array.from({ length: head }, (_, i) => i + 1))
    expect(frames[0]!.event!.type).toBe('run.started')

    d.child.kill('SIGUSR2')
    expect((await d.exit).code).toBe(3)
  })

  it('a bad config fails before anything starts, listing every problem, exit 1', async () => {
    const dir = tempDir()
    const file = join(dir, 'bad.json')
    writeFileSync(
      file,
      JSON.stringify({ db: { path: join(dir, 'x.db') }, admin: { port: -1 }, venues: [{ kind: 'sim' }], shutdown: { emergency: { deadlineMs: 90_000 } } }),
    )
    const d = spawnHaltd(['run', '--config', file], { db: join(dir, 'x.db') })
    expect((await d.exit).code).toBe(1)
    const err = d.stderr.join('\n')
    for (const field of ['admin.port', 'venues[0].name', 'shutdown.emergency.deadlineMs']) expect(err).toContain(field)
    expect(events(join(dir, 'x.db'))).toEqual([])
  })
})
