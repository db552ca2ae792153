import { afterEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { openEventLog } from '../../src/core/log/event-log.js'
import type { Haltd } from '../../src/daemon/index.js'
import { tempDir } from '../support/tmp.js'
import { natsForFile } from '../support/nats-for-file.js'
import { fleetEngine, until } from './support/fleet.js'

const nats = natsForFile()
const engines: Haltd[] = []
afterEach(async () => {
  for (const h of engines.splice(0)) await h.close().catch(() => undefined)
})

const call = async (h: Haltd, method: 'GET' | 'POST', path: string, body?: unknown) => {
  const res = await fetch(`${h.admin!.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${h.admin!.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('the fleet through an engine admin API', { timeout: 30_000 }, () => {
  it('shows the fleet, activates and resets its kill switch signed with who asked, and refuses bad input saying why', async () => {
    const a = await fleetEngine(nats.url, 'adm-a', { admin: true })
    const b = await fleetEngine(nats.url, 'adm-b')
    engines.push(a, b)
    const view = await until('both engines in the view', async () => {
      const r = await call(a, 'GET', '/fleet')
      return (r.body.engines as unknown[]).length === 2 ? r : undefined
    })
    expect(view.status).toBe(200)
    expect((view.body.engines as { engine: string; reachable: boolean }[]).map((e) => [e.engine, e.reachable])).toEqual([
      ['adm-a', true],
      ['adm-b', true],
    ])

    const unknown = await call(a, 'POST', '/fleet/killswitch/activate', { reason: 'x', engines: ['adm-c'] })
    expect(unknown.status).toBe(409)
    expect(JSON.stringify(unknown.body)).toMatch(/unknown engine adm-c/)
    expect((await call(a, 'POST', '/fleet/killswitch/activate', { reason: '' })).status).toBe(400)
    expect((await call(a, 'POST', '/fleet/killswitch/activate', { reason: 'x', action: 'REDUCING' })).status).toBe(400)
    expect((await call(a, 'POST', '/fleet/killswitch/reset', { reason: 'nothing to reset' })).status).toBe(409)

    const on = await call(a, 'POST', '/fleet/killswitch/activate', { reason: 'desk incident', engines: ['adm-b'] })
    expect(on.status).toBe(202)
    await until('b halted', () => b.gate.halted)
    expect(a.gate.halted).toBe(false)
    const recorded = [...b.log.read({ types: ['killswitch.activated'] })][0]!.data
    expect(recorded).toMatchObject({ scope: 'fleet', by: expect.any(String), fleet: { instance: 'adm-a-i1' } })
    expect((await call(a, 'POST', '/fleet/killswitch/reset', { reason: 'all clear' })).status).toBe(202)
    await until('b trading again', () => !b.gate.halted)
  })

  it('an engine in no fleet answers 404 on the fleet routes', async () => {
    const solo = await fleetEngine(nats.url, 'solo', { admin: true, fleet: false })
    engines.push(solo)
    const r = await call(solo, 'GET', '/fleet')
    expect(r.status).toBe(404)
    expect(JSON.stringify(r.body)).toMatch(/in no fleet/)
  })

  it('a fleet stop asks each running engine for its procedure; each reports its exit code with the stop id', async () => {
    const a = await fleetEngine(nats.url, 'stop-a', { admin: true })
    const dbB = join(tempDir(), 'stop-b.db')
    const b = await fleetEngine(nats.url, 'stop-b', { db: dbB })
    engines.push(a, b)
    await until('both running', async () => {
      const r = await call(a, 'GET', '/fleet')
      return (
        (r.body.engines as { engine: string; row?: { state: string } }[]).filter((e) => e.engine.startsWith('stop-') && e.row?.state === 'RUNNING').length === 2
      )
    })
    const r = await call(a, 'POST', '/fleet/stop', { reason: 'end of day' })
    expect(r.status).toBe(202)
    const { id, engines: asked } = (r.body as { result: { id: string; engines: string[] } }).result
    expect(asked).toEqual(expect.arrayContaining(['stop-a', 'stop-b']))
    const codeB = await b.exited
    const logB = openEventLog({ path: dbB, readonly: true })
    const completed = [...logB.read({ types: ['shutdown.completed'] })].map((e) => e.data as { outcome: string; exitCode: number })
    const requested = [...logB.read({ types: ['shutdown.requested'] })].map((e) => e.data)
    logB.close()
    expect(completed).toEqual([expect.objectContaining({ exitCode: codeB })])
    expect(await a.exited).toBe(codeB)
    expect(requested).toEqual([expect.objectContaining({ mode: 'graceful', reason: expect.stringMatching(/^fleet stop by .+ on .*: end of day/) })])
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
  })
})
