import { join } from 'node:path'
import { Kvm } from '@nats-io/kv'
import { afterEach, describe, expect, it } from 'vitest'
import { activateFleetKillSwitch, FleetKillSwitchRefused, fleetKillSwitchHistory, resetFleetKillSwitch } from '../../src/cluster/fleet/control.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import type { Haltd } from '../../src/daemon/index.js'
import { FLEET_OUT_OF_VIEW, FLEET_SWITCH_UNREADABLE } from '../../src/daemon/fleet.js'
import { fleetOperator } from '../../src/cluster/fleet/operator.js'
import { describeKillSwitch } from '../../src/cli/fleet-commands.js'
import { memoryDestination } from '../support/memory-log.js'
import { startNats } from '../support/nats-server.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { fleetEngine, operatorView, until } from './support/fleet.js'
import { linkProxy } from './support/proxy.js'

const nats = natsForFile()
const engines: Haltd[] = []
afterEach(async () => {
  for (const h of engines.splice(0)) await h.close().catch(() => undefined)
})

const order = { venue: 'alpha-sim', symbol: 'BTC/USDT:USDT', side: 'buy', type: 'limit', qty: 0.01, price: 40_000, origin: { kind: 'manual' } } as const
const operator = { by: 'ops-anna', host: 'desk-7', instance: 'cli-1' }
const fleetEvents = (h: Haltd, type: 'killswitch.activated' | 'killswitch.reset' | 'fleet.disconnected' | 'fleet.reconnected') =>
  [...h.log.read({ types: [type] })].map((e) => e.data as { scope: string; fleet?: { id: string; host: string }; by?: string; action?: string })

async function started(name: string, options: Parameters<typeof fleetEngine>[2] = {}): Promise<Haltd> {
  const h = await fleetEngine(nats.url, name, options)
  engines.push(h)
  return h
}

describe('the fleet kill switch', { timeout: 30_000 }, () => {
  it('given three engines, when the switch names two, those two close their gates and record it once with its origin; the third trades on; a reset reopens them, recorded', async () => {
    const [alpha, beta, gamma] = [await started('ks-alpha'), await started('ks-beta'), await started('ks-gamma')]
    const op = await operatorView(nats.url)
    try {
      const known = new Set(['ks-alpha', 'ks-beta', 'ks-gamma'])
      const ks = await activateFleetKillSwitch(op.buckets.control, {
        ...operator,
        action: 'HALTED',
        engines: ['ks-alpha', 'ks-beta'],
        reason: 'bad deploy',
        known,
      })
      await until('alpha and beta halted', () => alpha!.gate.halted && beta!.gate.halted)
      expect(gamma!.gate.halted).toBe(false)
      for (const h of [alpha!, beta!]) {
        expect(fleetEvents(h, 'killswitch.activated')).toEqual([
          expect.objectContaining({
            scope: 'fleet',
            action: 'HALTED',
            by: 'ops-anna',
            fleet: expect.objectContaining({ id: ks.id, host: 'desk-7', instance: 'cli-1', engines: ['ks-alpha', 'ks-beta'] }),
          }),
        ])
        expect(h.status().killSwitch).toMatchObject({ latched: true, by: 'ops-anna' })
        await expect(h.orders.submit(order)).resolves.toMatchObject({ status: 'refused' })
      }
      expect(fleetEvents(gamma!, 'killswitch.activated')).toEqual([])
      expect((await gamma!.orders.submit(order)).status).toBe('accepted')

      // the same activation written again (a second put of the same value) is the same action: recorded once
      await op.buckets.control.put('killswitch', JSON.stringify(ks))
      await new Promise((r) => setTimeout(r, 400))
      expect(fleetEvents(alpha!, 'killswitch.activated')).toHaveLength(1)

      const reset = await resetFleetKillSwitch(op.buckets.control, { ...operator, reason: 'rolled back' })
      await until('alpha and beta trading again', () => !alpha!.gate.halted && !beta!.gate.halted)
      expect(fleetEvents(alpha!, 'killswitch.reset')).toEqual([
        expect.objectContaining({ scope: 'fleet', by: 'ops-anna', fleet: expect.objectContaining({ id: reset.id }) }),
      ])
      expect((await alpha!.orders.submit(order)).status).toBe('accepted')
      expect(fleetEvents(gamma!, 'killswitch.reset')).toEqual([])
      // the bucket's history holds both, with who and from where
      const history = await fleetKillSwitchHistory(op.buckets.control)
      expect(history.slice(-2).map((h) => [h.value.state, h.value.by, h.value.host])).toEqual([
        ['active', 'ops-anna', 'desk-7'],
        ['reset', 'ops-anna', 'desk-7'],
      ])
    } finally {
      await op.nc.close()
    }
  })

  it('refuses an unknown engine name, an empty reason and a reset of a switch that is not set, each saying what is wrong', async () => {
    const op = await operatorView(nats.url)
    try {
      const known = new Set(['ks-alpha'])
      await expect(activateFleetKillSwitch(op.buckets.control, { ...operator, action: 'HALTED', engines: ['ks-alhpa'], reason: 'x', known })).rejects.toThrow(
        /unknown engine ks-alhpa \(the fleet knows: ks-alpha\)/,
      )
      await expect(activateFleetKillSwitch(op.buckets.control, { ...operator, action: 'HALTED', engines: 'all', reason: '  ', known })).rejects.toThrow(
        FleetKillSwitchRefused,
      )
      await expect(resetFleetKillSwitch(op.buckets.control, { ...operator, reason: 'nothing set' })).rejects.toThrow(/not set/)
    } finally {
      await op.nc.close()
    }
  })

  it('given two operators activating at once, one is written and the other refused as written meanwhile; a write the bucket refuses for another reason is not said to be anyone else’s', async () => {
    const op = await operatorView(nats.url)
    try {
      const known = new Set<string>()
      const activate = (reason: string) => activateFleetKillSwitch(op.buckets.control, { ...operator, action: 'HALTED', engines: 'all', reason, known })
      // both read the key before either writes: compare-and-set lets one through
      const both = await Promise.allSettled([activate('desk one'), activate('desk two')])
      expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      const refused = both.find((r) => r.status === 'rejected') as PromiseRejectedResult
      expect(refused.reason).toBeInstanceOf(FleetKillSwitchRefused)
      expect(String(refused.reason.message)).toContain('written by someone else meanwhile')

      // a bucket that takes no value this large: the write fails, and it says why, not that someone else wrote
      const tiny = await new Kvm(op.nc).create(`tiny-${Date.now()}`, { history: 5, maxValueSize: 64 })
      const failed = await activateFleetKillSwitch(tiny, { ...operator, action: 'HALTED', engines: 'all', reason: 'too large', known }).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(failed).toBeInstanceOf(Error)
      expect(failed).not.toBeInstanceOf(FleetKillSwitchRefused)
      expect(failed!.message).not.toContain('someone else')
    } finally {
      await op.nc.close()
    }
  })

  it('given the switch set and its value then overwritten with what is no switch, the engine stays latched and says so once, the view says UNREADABLE, and a reset over it reopens the engine', async () => {
    // given an engine the fleet switch latched
    const dest = memoryDestination()
    const h = await started('ks-garbled', { destination: dest })
    const op = await operatorView(nats.url)
    const view = fleetOperator(op.buckets, { host: 'desk-7' })
    try {
      await activateFleetKillSwitch(op.buckets.control, {
        ...operator,
        action: 'HALTED',
        engines: ['ks-garbled'],
        reason: 'bad deploy',
        known: new Set(['ks-garbled']),
      })
      await until('the engine halted', () => h.gate.halted)

      // when the key is overwritten with garbage, and then with a value missing its id
      const garbage = await op.buckets.control.put('killswitch', 'garbage{')
      await until('the engine says it cannot read it', () =>
        dest.lines.some((l) => l.includes(`the value at revision ${garbage} cannot be read (it is not JSON)`)),
      )
      await op.buckets.control.put(
        'killswitch',
        JSON.stringify({ state: 'active', action: 'HALTED', engines: 'all', reason: 'x', at: 'now', by: 'a', host: 'b' }),
      )
      await until('the engine says it cannot read that either', () => dest.lines.some((l) => l.includes('cannot be read (it is not a fleet kill switch (id: ')))

      // then the engine keeps its latch, and the view names the value rather than say "never set"
      expect(h.gate.halted).toBe(true)
      expect(h.status().killSwitch).toMatchObject({ latched: true })
      const seen = (await view.view()).killSwitch
      expect(seen).toMatchObject({ state: 'unreadable', why: expect.stringMatching(/^it is not a fleet kill switch \(id: /) })
      expect(describeKillSwitch(seen)).toMatch(/^fleet kill switch: UNREADABLE \(revision \d+: it is not a fleet kill switch/)

      // and a reset over it is taken, and reopens the engine
      await view.reset({ by: 'ops-anna', reason: 'clear the garbled value' })
      await until('the engine trades again', () => !h.gate.halted)
      expect((await view.view()).killSwitch).toMatchObject({ state: 'reset', reason: 'clear the garbled value' })
    } finally {
      await op.nc.close()
    }
  })

  it('given fleet.onDisconnect halt, when the switch’s value cannot be read, the engine closes its gate until a readable value is written; with keep it trades on', async () => {
    const dest = memoryDestination()
    const halting = await started('ks-unread-halt', { destination: dest, fleet: { onDisconnect: 'halt' } })
    const keeping = await started('ks-unread-keep')
    const op = await operatorView(nats.url)
    const view = fleetOperator(op.buckets, { host: 'desk-7' })
    try {
      expect(halting.gate.halted).toBe(false)
      // when the key holds what no haltd wrote
      await op.buckets.control.put('killswitch', 'garbage{')
      await until('the halting engine closes its gate', () => halting.gate.halted)
      expect(halting.gate.latchReason).toBe(FLEET_SWITCH_UNREADABLE)
      await expect(halting.orders.submit(order)).resolves.toMatchObject({ status: 'refused' })
      expect(dest.lines.some((l) => l.includes('cannot be read (it is not JSON); this engine halts until a readable one is written'))).toBe(true)
      // then the one that keeps its state trades on, and nothing is latched in either log
      await expect(keeping.orders.submit(order)).resolves.toMatchObject({ status: 'accepted' })
      expect(fleetEvents(halting, 'killswitch.activated')).toEqual([])

      // and the log says why the gate closed: the switch could not reach this engine
      expect(fleetEvents(halting, 'fleet.disconnected')).toEqual([
        { reason: expect.stringMatching(/^the fleet kill switch at revision \d+ cannot be read: it is not JSON/), onDisconnect: 'halt' },
      ])

      // when a readable value is written over it (a reset of the garbled value), the gate reopens
      await view.reset({ by: 'ops-anna', reason: 'clear the garbled value' })
      await until('the halting engine trades again', () => !halting.gate.halted)
      await expect(halting.orders.submit(order)).resolves.toMatchObject({ status: 'accepted' })
      expect(fleetEvents(halting, 'fleet.reconnected')).toEqual([{ outOfViewMs: expect.any(Number), onDisconnect: 'halt' }])
    } finally {
      await op.nc.close()
    }
  })

  it('given an activation reset, when its old value is written to the key again (a replay), then no engine acts on it as new: each names it, the view says so, and a reset writes over it', async () => {
    // given an engine the switch latched and a reset reopened
    const dest = memoryDestination()
    const h = await started('ks-replay', { destination: dest })
    const op = await operatorView(nats.url)
    const view = fleetOperator(op.buckets, { host: 'desk-7' })
    try {
      const ks = await activateFleetKillSwitch(op.buckets.control, { ...operator, action: 'HALTED', engines: 'all', reason: 'bad deploy', known: new Set() })
      await until('the engine halted', () => h.gate.halted)
      const old = (await op.buckets.control.get('killswitch'))!.string()
      await resetFleetKillSwitch(op.buckets.control, { ...operator, reason: 'rolled back' })
      await until('the engine trades again', () => !h.gate.halted)

      // when the old activation is written again, as it was
      const replayed = await op.buckets.control.put('killswitch', old)

      // then the running engine names it as a replay and, under onDisconnect keep, trades on
      await until('the engine names the replay', () =>
        dest.lines.some((l) => l.includes(`the value at revision ${replayed} cannot be read (it sets again activation ${ks.id}, which was reset`)),
      )
      expect(h.gate.halted).toBe(false)
      await expect(h.orders.submit(order)).resolves.toMatchObject({ status: 'accepted' })
      expect(fleetEvents(h, 'killswitch.activated')).toHaveLength(1)
      // and the view does not say the switch is set
      const seen = (await view.view()).killSwitch
      expect(seen).toMatchObject({ state: 'unreadable', revision: replayed, why: expect.stringContaining('a replay, not a new activation') })
      expect(describeKillSwitch(seen)).toMatch(/^fleet kill switch: UNREADABLE/)
      // and an engine that starts now does not come up HALTED on it: it never saw the activation, the key's history did
      const late = await started('ks-replay-late')
      expect(late.gate.halted).toBe(false)
      expect(fleetEvents(late, 'killswitch.activated')).toEqual([])

      // and a reset writes over it
      await view.reset({ by: 'ops-anna', reason: 'clear the replay' })
      expect((await view.view()).killSwitch).toMatchObject({ state: 'reset', reason: 'clear the replay' })
    } finally {
      await op.nc.close()
    }
  })

  it('given the switch set, an engine that starts comes up HALTED, and a restart does not record the same activation again', async () => {
    const op = await operatorView(nats.url)
    const db = join(tempDir(), 'late.db')
    try {
      const ks = await activateFleetKillSwitch(op.buckets.control, {
        ...operator,
        action: 'EMERGENCY',
        engines: 'all',
        reason: 'venue incident',
        known: new Set(),
      })
      const late = await fleetEngine(nats.url, 'ks-late', { db })
      expect(late.gate.halted).toBe(true)
      expect(late.status().state).toBe('halted')
      // an engine that was not trading is held, not taken through an emergency
      expect(fleetEvents(late, 'killswitch.activated')).toEqual([
        expect.objectContaining({ scope: 'fleet', action: 'HALTED', fleet: expect.objectContaining({ id: ks.id }) }),
      ])
      await late.close()
      const again = await fleetEngine(nats.url, 'ks-late', { db })
      engines.push(again)
      expect(again.gate.halted).toBe(true)
      expect(fleetEvents(again, 'killswitch.activated')).toHaveLength(1)
      await resetFleetKillSwitch(op.buckets.control, { ...operator, reason: 'venue back' })
      await until('the late engine running', () => again.status().state === 'running' && !again.gate.halted)
    } finally {
      await op.nc.close()
    }
  })

  it('an EMERGENCY activation runs the emergency procedure on each engine it names', async () => {
    const db = join(tempDir(), 'emerg.db')
    const h = await started('ks-emerg', { db })
    await h.orders.submit(order)
    const op = await operatorView(nats.url)
    try {
      await activateFleetKillSwitch(op.buckets.control, {
        ...operator,
        action: 'EMERGENCY',
        engines: ['ks-emerg'],
        reason: 'risk breach',
        known: new Set(['ks-emerg']),
      })
      const code = await h.exited
      expect(code).toBe(3)
      const log = openEventLog({ path: db, readonly: true })
      const types = [...log.read({ types: ['killswitch.activated', 'shutdown.requested', 'shutdown.completed'] })].map((e) => [
        e.type,
        (e.data as { mode?: string; scope?: string }).mode ?? (e.data as { scope?: string }).scope,
      ])
      expect(types).toEqual([
        ['killswitch.activated', 'fleet'],
        ['shutdown.requested', 'emergency'],
        ['shutdown.completed', undefined],
      ])
      log.close()
    } finally {
      await resetFleetKillSwitch(op.buckets.control, { ...operator, reason: 'test over' })
      await op.nc.close()
    }
  })
})

const outages = (h: Haltd) => [...h.log.read({ stream: 'fleet' })].map((e) => [e.type, e.data])

describe('an engine that cannot see the fleet', { timeout: 30_000 }, () => {
  it('with onDisconnect keep, trades on and says it cannot see the fleet; with halt, closes its gate until it sees it again', async () => {
    const later = await startNats()
    await later.stop()
    try {
      const keep = await fleetEngine(later.url, 'dark-keep')
      engines.push(keep)
      expect(keep.gate.halted).toBe(false)
      expect(keep.status().fleet).toMatchObject({ engine: 'dark-keep', seen: false, problem: expect.stringMatching(/cannot reach NATS/) })
      const halt = await fleetEngine(later.url, 'dark-halt', { fleet: { onDisconnect: 'halt' } })
      engines.push(halt)
      expect(halt.gate.latchReason).toBe(FLEET_OUT_OF_VIEW)
      expect(halt.status().fleet?.seen).toBe(false)
      // each says so in its log, with the reason and what it does meanwhile
      expect(outages(keep)).toEqual([['fleet.disconnected', { reason: expect.stringMatching(/^cannot reach NATS/), onDisconnect: 'keep' }]])
      expect(outages(halt)).toEqual([['fleet.disconnected', { reason: expect.stringMatching(/^cannot reach NATS/), onDisconnect: 'halt' }]])

      await later.start()
      await until('both see the fleet', () => keep.status().fleet?.seen && halt.status().fleet?.seen)
      expect(halt.gate.halted).toBe(false)
      for (const h of [keep, halt]) expect(outages(h).at(-1)).toEqual(['fleet.reconnected', expect.objectContaining({ outOfViewMs: expect.any(Number) })])
    } finally {
      // the engines first: each writes its last row while NATS is still there
      for (const h of engines.splice(0)) await h.close().catch(() => undefined)
      await later.close()
    }
  })

  it('given two engines trading, when their link to NATS is cut: with halt, the gate closes and the log says why; with keep, it trades on and says the same; both come back and say so', async () => {
    const proxy = await linkProxy(nats.node.port)
    try {
      const keep = await fleetEngine(proxy.url, 'cut-keep')
      engines.push(keep)
      const halt = await fleetEngine(proxy.url, 'cut-halt', { fleet: { onDisconnect: 'halt' } })
      engines.push(halt)
      await until('both in view', () => keep.status().fleet?.seen && halt.status().fleet?.seen)
      expect(outages(keep)).toEqual([])

      proxy.cut()
      await until('both out of view', () => !keep.status().fleet?.seen && !halt.status().fleet?.seen)
      expect(outages(halt)).toEqual([['fleet.disconnected', { reason: 'disconnected from NATS', onDisconnect: 'halt' }]])
      expect(halt.gate.latchReason).toBe(FLEET_OUT_OF_VIEW)
      expect(halt.status().fleet).toMatchObject({ seen: false, problem: 'disconnected from NATS' })
      await expect(halt.orders.submit(order)).resolves.toMatchObject({ status: 'refused' })
      expect(outages(keep)).toEqual([['fleet.disconnected', { reason: 'disconnected from NATS', onDisconnect: 'keep' }]])
      expect(keep.gate.halted).toBe(false)
      expect((await keep.orders.submit(order)).status).toBe('accepted')

      await proxy.restore()
      await until('both back in view', () => keep.status().fleet?.seen && halt.status().fleet?.seen)
      expect(halt.gate.halted).toBe(false)
      for (const h of [keep, halt]) expect(outages(h).map(([type]) => type)).toEqual(['fleet.disconnected', 'fleet.reconnected'])
    } finally {
      for (const h of engines.splice(0)) await h.close().catch(() => undefined)
      await proxy.close()
    }
  })

  it('given NATS frozen under a trading engine, when its registry row cannot be written, then the log names that write, not a bare background error', {
    timeout: 45_000,
  }, async () => {
    const own = await startNats()
    const dest = memoryDestination()
    const h = await fleetEngine(own.url, 'ks-frozen', { destination: dest })
    engines.push(h)
    own.pause()
    try {
      // the next refresh's write waits for an answer that cannot come
      await until('the failed write named', () => dest.lines.some((l) => l.includes("fleet: this engine's row could not be written to the registry")), 30_000)
      expect(dest.lines.filter((l) => l.includes('"msg":"background error"'))).toEqual([])
      // and trading goes on (onDisconnect keep)
      await expect(h.orders.submit(order)).resolves.toMatchObject({ status: 'accepted' })
    } finally {
      own.resume()
    }
  })
})
