import { hostname } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { events, waitFor, waitForAsync, type Daemon } from '../daemon/processes.js'
import { startNats } from '../support/nats-server.js'
import { tempDir } from '../support/tmp.js'
import { fleetCli, fleetStatus, spawnFleetEngine, type FleetStatusJson } from './support/fleet-processes.js'
import { linkProxy } from './support/proxy.js'

const closing: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c().catch(() => undefined)
})

const count = (s: FleetStatusJson, f: (row: NonNullable<FleetStatusJson['engines'][number]['row']>) => boolean) =>
  s.engines.filter((e) => e.reachable && e.row && f(e.row)).length
const strategyOrdersBetween = (d: Daemon, from: number, to: number) =>
  events(d.db, ['order.submitted']).filter((e) => e.seq > from && e.seq < to && (e.data as { origin: { kind: string } }).origin.kind === 'strategy')

describe('the fleet kill switch over real haltd processes', { timeout: 90_000 }, () => {
  it('halts the engines that see it while they trade; one cut from NATS trades on and halts once back; NATS restarts with it latched; an engine started meanwhile comes up HALTED; a reset sets all trading', async () => {
    const nats = await startNats()
    closing.push(() => nats.close())
    const proxy = await linkProxy(nats.port)
    closing.push(() => proxy.close())
    const dir = tempDir()
    const direct = ['f1', 'f2', 'f3', 'f4'].map((n, i) => spawnFleetEngine(dir, n, nats.url, {}, i + 1))
    const cut = spawnFleetEngine(dir, 'f5', proxy.url, {}, 5)
    const five = [...direct, cut]

    // given five engines in the registry, running and trading
    await waitForAsync(async () => ((await fleetStatus(nats.url).catch(() => undefined)) ?? { engines: [] }).engines.length >= 5 || undefined, 40_000)
    await waitForAsync(async () => (count(await fleetStatus(nats.url), (r) => r.state === 'RUNNING') === 5 ? true : undefined), 40_000)
    await waitFor('orders on every engine', () => five.every((d) => events(d.db, ['order.accepted']).length > 0))

    // when one engine's link to NATS is cut, and the switch is activated for all
    proxy.cut()
    await waitFor('f5 to know it cannot see the fleet', () => cut.logs().some((l) => /cannot see the fleet/.test(String(l.msg))), cut)
    const activated = await fleetCli(nats.url, ['killswitch', 'activate', '--reason', 'bad deploy', '--all'])
    expect(activated.stderr).toBe('')
    expect(activated.status).toBe(0)
    expect(activated.stdout).toMatch(/SET \(HALTED, all engines\) by ops-test/)

    // then the four that see it record it once, with its origin, and their gates close
    await waitFor('the four halted', () => direct.every((d) => events(d.db, ['killswitch.activated']).length === 1))
    for (const d of direct) {
      expect(events(d.db, ['killswitch.activated'])[0]!.data).toMatchObject({
        scope: 'fleet',
        action: 'HALTED',
        by: 'ops-test',
        fleet: { host: hostname(), engines: 'all' },
      })
    }
    // and the cut one trades on (onDisconnect: keep)
    const before = events(cut.db, ['order.submitted']).length
    await waitFor('f5 trading on', () => events(cut.db, ['order.submitted']).length > before, cut)
    expect(events(cut.db, ['killswitch.activated'])).toEqual([])

    // when NATS restarts while the switch is set, it is still set (file-backed JetStream)
    await nats.stop()
    await nats.start()
    const after = await waitForAsync(async () => (await fleetStatus(nats.url).catch(() => undefined)) ?? undefined)
    expect(after.killSwitch?.state).toBe('active')

    // an engine started now comes up HALTED
    const late = spawnFleetEngine(dir, 'f6', nats.url, {}, 6)
    await waitFor('f6 halted from its start', () => events(late.db, ['killswitch.activated']).length === 1, late)
    expect(events(late.db, ['order.submitted']).filter((e) => (e.data as { origin: { kind: string } }).origin.kind === 'strategy')).toEqual([])

    // the cut engine, back in view, sees the switch and halts
    await proxy.restore()
    await waitFor('f5 halted once back', () => events(cut.db, ['killswitch.activated']).length === 1, cut)
    const all = [...five, late]
    const halted = await waitForAsync(async () => {
      const s = await fleetStatus(nats.url)
      return count(s, (r) => r.state === 'HALTED' && r.killSwitch.latched && r.fleetSeen) === 6 ? s : undefined
    })
    expect(halted.engines.map((e) => e.engine).sort()).toEqual(['f1', 'f2', 'f3', 'f4', 'f5', 'f6'])

    // a reset: every engine records it and trades again
    const reset = await fleetCli(nats.url, ['killswitch', 'reset', '--reason', 'rolled back'])
    expect(reset.status).toBe(0)
    await waitFor('every engine reset', () => all.every((d) => events(d.db, ['killswitch.reset']).length === 1))
    await waitForAsync(async () => (count(await fleetStatus(nats.url), (r) => r.state === 'RUNNING' && !r.killSwitch.latched) === 6 ? true : undefined))
    // no strategy order passed a closed gate
    for (const d of direct) {
      const from = events(d.db, ['killswitch.activated'])[0]!.seq
      const to = events(d.db, ['killswitch.reset'])[0]!.seq
      expect(strategyOrdersBetween(d, from, to)).toEqual([])
    }
    const history = await fleetCli(nats.url, ['killswitch', 'history', '--json'])
    expect((JSON.parse(history.stdout) as { state: string; by: string }[]).map((h) => [h.state, h.by])).toEqual([
      ['active', 'ops-test'],
      ['reset', 'ops-test'],
    ])
    for (const d of all) d.child.kill('SIGKILL')
  })
})
