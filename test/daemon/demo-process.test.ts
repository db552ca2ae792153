import { spawnSync } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { adminInfoPath } from '../../src/admin/info-file.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { replayLog } from '../../src/core/log/projection-runner.js'
import { dist, repoRoot } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'
import { bearer, events, spawnDemo, spawnHaltd, waitFor, waitForAsync, whenUp } from './processes.js'

const GRACEFUL_STEPS = 13
const ENDS = ['shutdown.step-completed', 'shutdown.step-failed', 'shutdown.step-timed-out', 'shutdown.step-skipped']

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

/** A webhook receiver on 127.0.0.1 that keeps every JSON body it was sent. */
async function receiver(): Promise<{ url: string; bodies: { topic: string; text: string }[] }> {
  const bodies: { topic: string; text: string }[] = []
  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (c) => (text += c))
    req.on('end', () => {
      bodies.push(JSON.parse(text))
      res.writeHead(200).end('ok')
    })
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/haltd-test-secret`, bodies }
}

describe('haltd demo as a real process', { timeout: 90_000 }, () => {
  it('SIGTERM runs all 13 graceful steps, notifies the webhook, ends flat and exits 0', async () => {
    const hook = await receiver()
    const db = join(tempDir(), 'demo.db')
    const d = spawnDemo(db, [], { HALTD_WEBHOOK_URL: hook.url })
    const info = await whenUp(d)
    expect(statSync(adminInfoPath(db)).mode & 0o777).toBe(0o600)
    // let the strategies trade a little, so there is something to cancel and flatten
    await waitFor('some orders', () => events(db, ['order.accepted']).length >= 4, d)

    d.child.kill('SIGTERM')
    const { code } = await d.exit
    expect(code).toBe(0)

    const log = events(db)
    const shutdownId = (log.find((e) => e.type === 'shutdown.requested')!.data as { shutdownId: string }).shutdownId
    expect(log.find((e) => e.type === 'shutdown.requested')!.data).toMatchObject({ mode: 'graceful', origin: 'signal', reason: 'SIGTERM received' })
    const ended = log.filter((e) => ENDS.includes(e.type)).map((e) => (e.data as { step: number }).step)
    expect([...new Set(ended)].sort((a, b) => a - b)).toEqual(Array.from({ length: GRACEFUL_STEPS }, (_, i) => i + 1))
    for (const e of log.filter((e) => e.type === 'shutdown.step-started')) {
      const { step } = e.data as { step: number }
      expect(
        log.some((x) => x.seq > e.seq && ENDS.includes(x.type) && (x.data as { step: number }).step === step),
        `step ${step} has an end`,
      ).toBe(true)
    }
    expect(log.find((e) => e.type === 'shutdown.completed')!.data).toMatchObject({ shutdownId, outcome: 'clean', exitCode: 0 })
    expect(log.at(-1)).toMatchObject({ type: 'run.ended', data: { exitCode: 0 } })

    // the process log shows the steps as they ran, and never the admin token
    const stepLines = d.logs().filter((l) => typeof l.msg === 'string' && /^shutdown step \d+ /.test(l.msg as string))
    expect(stepLines.length).toBeGreaterThanOrEqual(GRACEFUL_STEPS)
    for (const line of d.stdout.filter((l) => l.startsWith('{'))) expect(line).not.toContain(info.token)
    for (const line of d.stdout.filter((l) => l.startsWith('{'))) expect(line).not.toContain('haltd-test-secret')

    // flat where flattening was asked: the replayed state holds no position and no live order
    const replayed = openEventLog({ path: db, readonly: true })
    const { state } = replayLog(replayed, { fromSnapshot: false })
    replayed.close()
    expect([...state.positions.values()].filter((p) => Math.abs(p.qty) > 1e-9)).toEqual([])
    expect(state.inFlight).toBe(0)

    expect(hook.bodies.map((b) => b.topic)).toEqual(expect.arrayContaining(['shutdown.announce', 'shutdown.completed']))
    expect(
      log.filter((e) => e.type === 'notification.sent' && (e.data as { sink: string }).sink === 'env-webhook').every((e) => (e.data as { ok: boolean }).ok),
    ).toBe(true)
    expect(existsSync(adminInfoPath(db))).toBe(false)

    // and the person who ran it reads the report and how it ended (piped: as JSON lines)
    const report = d.logs().find((l) => l.msg === 'shutdown report') as { report: { shutdownId: string; outcome: string }; text: string[] }
    expect(report.report).toMatchObject({ shutdownId, outcome: 'clean', exitCode: 0 })
    expect(report.text).toContain(`shutdown ${shutdownId} (graceful): clean, exit 0`)
    expect(report.text).toContain('positions: flat')
    expect(d.logs().find((l) => l.msg === 'demo exited')).toMatchObject({ exitCode: 0, meaning: 'shut down clean' })
  })

  it('SIGUSR2 runs the emergency path with resting orders, latches the kill switch and exits 3', async () => {
    const db = join(tempDir(), 'demo.db')
    const d = spawnDemo(db, ['--orders', '150'])
    await whenUp(d)
    await waitFor('the resting orders', () => d.logs().some((l) => l.msg === 'resting orders placed' && l.accepted === 150), d)

    d.child.kill('SIGUSR2')
    const { code } = await d.exit
    expect(code).toBe(3)

    const log = events(db)
    expect(log.find((e) => e.type === 'shutdown.requested')!.data).toMatchObject({ mode: 'emergency', origin: 'signal' })
    expect(log.find((e) => e.type === 'shutdown.completed')!.data).toMatchObject({ outcome: 'emergency', exitCode: 3 })
    expect(log.at(-1)).toMatchObject({ type: 'run.ended', data: { exitCode: 3 } })
    const replayed = openEventLog({ path: db, readonly: true })
    const { state } = replayLog(replayed, { fromSnapshot: false })
    replayed.close()
    expect(state.trading.killSwitch.latched).toBe(true)
    expect(state.trading.mode).toBe('HALTED')
    // every resting order was canceled on a venue's word, or is reported unconfirmed: none is left live
    const resting = [...state.orders.values()].filter((o) => o.origin.kind === 'manual')
    expect(resting.length).toBe(150)
    for (const o of resting) expect(['canceled', 'cancel-unconfirmed', 'filled']).toContain(o.status)

    // the next start comes up HALTED: the latch survives the restart
    const again = spawnDemo(db)
    const info = await whenUp(again)
    const status = async () =>
      (await (await fetch(`${info.url}/status`, { headers: bearer(info.token) })).json()) as {
        state: string
        mode: string
        killSwitch: { latched: boolean }
        strategies: { enabled: boolean }[]
      }
    expect(await status()).toMatchObject({ state: 'halted', mode: 'HALTED', killSwitch: { latched: true } })
    expect((await status()).strategies.every((s) => !s.enabled)).toBe(true)

    // an operator resets it, with a reason: trading resumes
    const reset = spawnSync(process.execPath, [dist('src/cli.js'), 'killswitch', 'reset', '--db', db, '--reason', 'audit read, venues checked'], {
      cwd: repoRoot,
      encoding: 'utf8',
    })
    expect(reset.status).toBe(0)
    const after = await waitForAsync(async () => {
      const s = await status()
      return s.state === 'running' ? s : undefined
    })
    expect(after).toMatchObject({ mode: 'ACTIVE', killSwitch: { latched: false } })
    expect(after.strategies.every((s) => s.enabled)).toBe(true)
    expect(events(db, ['killswitch.reset']).map((e) => e.data)).toEqual([
      expect.objectContaining({ reason: 'audit read, venues checked', by: 'local (admin)', origin: 'admin' }),
    ])
    again.child.kill('SIGTERM')
    await again.exit
  })

  it('the admin API of a running daemon refuses a missing or wrong token and malformed bodies; haltd stop ends it', async () => {
    const db = join(tempDir(), 'demo.db')
    const d = spawnDemo(db)
    const info = await whenUp(d)
    expect(new URL(info.url).hostname).toBe('127.0.0.1')
    const post = (body: unknown, headers: Record<string, string>) =>
      fetch(`${info.url}/shutdown`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

    expect((await post({ mode: 'emergency', reason: 'no token' }, {})).status).toBe(401)
    expect((await post({ mode: 'emergency', reason: 'wrong token' }, bearer('not-the-token-at-all'))).status).toBe(401)
    const malformed = await post({ mode: 'right-now', reason: 'x' }, bearer(info.token))
    expect(malformed.status).toBe(400)
    expect(((await malformed.json()) as { error: { problems: { path: string }[] } }).error.problems.map((p) => p.path)).toEqual(['mode'])
    expect(events(db, ['shutdown.requested'])).toEqual([])

    const status = spawnSync(process.execPath, [dist('src/cli.js'), 'status', '--db', db], { cwd: repoRoot, encoding: 'utf8' })
    expect(status.status).toBe(0)
    expect(status.stdout).toMatch(/^state running {2}mode ACTIVE/)
    // a pasted `[--emergency]` is refused, not silently taken for a graceful stop
    const pasted = spawnSync(process.execPath, [dist('src/cli.js'), 'stop', '--db', db, '[--emergency]'], { cwd: repoRoot, encoding: 'utf8' })
    expect(pasted.status).toBe(1)
    expect(pasted.stderr).toContain("unexpected argument '[--emergency]'")

    // async, so that this process reaps the daemon (its child) while `haltd stop` waits for it to go
    const stop = spawnHaltd(['stop', '--db', db, '--reason', 'end of test'], { db })
    expect((await stop.exit).code).toBe(0)
    expect(stop.stdout).toContain(`graceful shutdown requested (${info.url}): end of test`)
    expect(stop.stdout).toContain('stopped with exit code 0')
    expect((await d.exit).code).toBe(0)
    expect(events(db, ['shutdown.requested'])[0]!.data).toMatchObject({ mode: 'graceful', origin: 'admin', reason: '[by local (admin)] end of test' })
  })

  it('two demos with different logs run side by side, each on its own free port', async () => {
    const dir = tempDir()
    const a = spawnDemo(join(dir, 'a.db'))
    const b = spawnDemo(join(dir, 'b.db'))
    const [ia, ib] = await Promise.all([whenUp(a), whenUp(b)])
    expect(ia.url).not.toBe(ib.url)
    expect(ia.token).not.toBe(ib.token)
    for (const i of [ia, ib]) expect((await fetch(`${i.url}/health`, { headers: bearer(i.token) })).status).toBe(200)
    a.child.kill('SIGTERM')
    b.child.kill('SIGTERM')
    expect([(await a.exit).code, (await b.exit).code]).toEqual([0, 0])
  })
})

describe('haltd demo piped', { timeout: 60_000 }, () => {
  it('writes nothing but JSON objects to stdout: banner, status lines, the shutdown report and its exit', async () => {
    const db = join(tempDir(), 'demo.db')
    const d = spawnHaltd(['demo', '--db', db, '--port', '0', '--status-every', '1'], { db })
    await whenUp(d)
    await waitFor('two status lines', () => d.logs().filter((l) => l.msg === 'status').length >= 2, d)
    d.child.kill('SIGTERM')
    expect((await d.exit).code).toBe(0)

    const lines = d.stdout.filter((l) => l.trim() !== '')
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow()
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    const msgs = parsed.map((l) => l.msg)
    expect(msgs).toEqual(expect.arrayContaining(['demo ready', 'status', 'shutdown report', 'demo exited']))
    expect(parsed.find((l) => l.msg === 'status')).toMatchObject({ state: 'running', mode: 'ACTIVE', drain: 'Active', paused: false, venues: { total: 3 } })
    expect(parsed.find((l) => l.msg === 'shutdown report')).toMatchObject({ report: { outcome: 'clean', exitCode: 0 } })
    expect(parsed.find((l) => l.msg === 'demo ready')).toMatchObject({ db, admin: { url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:/) } })
  })
})
