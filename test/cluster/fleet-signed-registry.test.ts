import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openFleetBuckets } from '../../src/cluster/fleet/buckets.js'
import { readFleet } from '../../src/cluster/fleet/registry.js'
import { fleetRowOf } from '../../src/cluster/fleet/row.js'
import { readFleetKey, signed } from '../../src/cluster/fleet/signature.js'
import { FleetStopRequest, readFleetStop, requestFleetStop } from '../../src/cluster/fleet/stop.js'
import type { Haltd } from '../../src/daemon/index.js'
import { initialState } from '../../src/projections/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { natsForFile } from '../support/nats-for-file.js'
import { dist } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'
import { fleetEngine, operatorView, until } from './support/fleet.js'

/**
 * In a fleet with a key, an engine's row in the registry is signed as the fleet's commands are,
 * and a stop request names its engine under its signature: whoever can write to NATS but holds no
 * key can neither pass a row off as an engine's nor turn one engine's stop against another.
 */

const nats = natsForFile()
const engines: Haltd[] = []
afterEach(async () => {
  for (const h of engines.splice(0)) await h.close().catch(() => undefined)
})

const KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90'
const operator = { by: 'ops-anna', host: 'desk-7', instance: 'cli-1' }

function keyFile(text = `${KEY}\n`): string {
  const path = join(tempDir(), 'fleet.key')
  writeFileSync(path, text, { mode: 0o600 })
  return path
}

/** A row as an engine writes it, for `engine`, saying it is `state`. */
const rowOf = (engine: string, instance: string, state: 'RUNNING' | 'STOPPED') => ({
  ...fleetRowOf({
    identity: { engine, instance, host: 'h-forged', pid: 1, role: 'leader', version: '0' },
    activity: { lifecycle: state === 'STOPPED' ? 'stopped' : 'running', shutdown: null },
    gateHalted: false,
    state: initialState(),
    fleetSeen: true,
    ...(state === 'STOPPED' ? { exit: { code: 0 } } : {}),
    refreshMs: 60_000,
    now: Date.now(),
  }),
})

describe('registry rows in a fleet that signs', { timeout: 30_000 }, () => {
  it('given rows written beside a real engine without the key or under another, fleet status marks them UNSIGNED and FORGED, and a forged STOPPED row keeps no stop from the engine', async () => {
    // given an engine with the fleet key
    const path = keyFile()
    const h = await fleetEngine(nats.url, 'sreg-a', { fleet: { keyFile: path } })
    engines.push(h)
    const forger = await operatorView(nats.url)
    const other = await openFleetBuckets(forger.nc, { ttlMs: 1_000, replicas: 1, key: Buffer.from('o'.repeat(40)) })
    const holder = await operatorView(nats.url)
    const keyed = await openFleetBuckets(holder.nc, { ttlMs: 1_000, replicas: 1, key: readFleetKey(path) })
    // rows expire within the registry's second: written again until the test ends
    const forge = async () => {
      await forger.buckets.registry.put('sreg-ghost.g1', JSON.stringify(rowOf('sreg-ghost', 'g1', 'RUNNING')))
      await other.registry.put('sreg-a.evil', JSON.stringify(signed(rowOf('sreg-a', 'evil', 'STOPPED'), Buffer.from('o'.repeat(40)))))
    }
    await forge()
    const keep = setInterval(() => void forge().catch(() => {}), 200)
    try {
      await until('the real row is read as signed', async () =>
        (await readFleet({ ...keyed, now: Date.now() })).some((m) => m.engine === 'sreg-a' && m.reachable && m.row.fleetSeen && m.signature === 'signed'),
      )
      // when an operator with the key reads the fleet
      const fleet = await readFleet({ ...keyed, now: Date.now() })
      // then each forged row is there, said to be what it is, and none counts as reachable
      expect(fleet.find((m) => m.engine === 'sreg-ghost')).toMatchObject({ reachable: false, why: 'unsigned', signature: 'unsigned' })
      expect(fleet.find((m) => m.row?.instance === 'evil')).toMatchObject({
        reachable: false,
        why: 'forged',
        signature: 'forged',
        problem: expect.stringContaining('does not hold under the fleet key'),
      })

      // and `haltd fleet status` with the key says so in its table and below it
      // (asynchronously: the engine answering runs in this very process)
      const status = async (...more: string[]) =>
        (
          await promisify(execFile)(process.execPath, [dist('src/cli.js'), 'fleet', 'status', ...more, '--nats', nats.url, '--key-file', path], {
            encoding: 'utf8',
            timeout: 20_000,
          })
        ).stdout
      const text = await status()
      const lines = text.split('\n')
      expect(lines.find((l) => l.startsWith('ENGINE'))).toMatch(/REACHABLE\s+SIGNED$/)
      expect(lines.find((l) => l.startsWith('sreg-a') && l.includes('sreg-a-i1'))).toMatch(/\byes\s+yes$/)
      expect(lines.find((l) => l.startsWith('sreg-a') && l.includes('evil'))).toMatch(/NOT TRUSTED\s+FORGED$/)
      expect(lines.find((l) => l.startsWith('sreg-ghost'))).toMatch(/NOT TRUSTED\s+UNSIGNED$/)
      expect(text).toMatch(/sreg-ghost \(g1 on h-forged\): UNSIGNED: .*; not counted as the engine's/)
      expect(text).toMatch(/sreg-a \(evil on h-forged\): FORGED: .*signature does not hold/)
      const json = JSON.parse(await status('--json')) as { engines: { engine: string; signature?: string }[] }
      expect(json.engines.filter((m) => m.engine === 'sreg-ghost').map((m) => m.signature)).toEqual(['unsigned'])

      // when the key's holder stops the fleet: the engine the forged row says stopped is asked, the unsigned name is not
      const asked = await requestFleetStop(keyed, { ...operator, mode: 'graceful', reason: 'desk closing' })
      expect(asked.engines).toEqual(['sreg-a'])
      expect(asked.pending).toEqual([])
      // and the unsigned name is said to be left out, not passed over in silence
      expect(asked.untrusted).toEqual(['sreg-ghost'])
      expect(await h.exited).toBe(0)
    } finally {
      clearInterval(keep)
      await forger.nc.close()
      await holder.nc.close()
    }
  })
})

describe('a stop request names its engine under its signature', { timeout: 30_000 }, () => {
  it('given two engines with the key, a signed stop for one copied under the other’s key, and a signed one naming none, are refused there and named; the first stops its own engine', async () => {
    const path = keyFile()
    const key = readFleetKey(path)
    const destB = memoryDestination()
    const a = await fleetEngine(nats.url, 'sstop-a', { fleet: { keyFile: path } })
    const b = await fleetEngine(nats.url, 'sstop-b', { fleet: { keyFile: path }, destination: destB })
    engines.push(a, b)
    const forger = await operatorView(nats.url)
    try {
      const at = new Date().toISOString()
      const forA = signed(FleetStopRequest.parse({ id: 'stop-for-a', engine: 'sstop-a', mode: 'emergency', reason: 'a only', ...operator, at }), key)
      // when someone without the key copies the request for a under b's key
      await forger.buckets.control.put('stop.sstop-b', JSON.stringify(forA))
      // then b names it as another engine's and trades on
      await until('b names the copied stop', () =>
        destB.lines.some((l) => l.includes('a stop request for this engine was refused') && l.includes('written for engine \\"sstop-a\\"')),
      )
      // and a signed request that names no engine (as earlier builds wrote them) is refused too
      const anyEngine = signed(FleetStopRequest.parse({ id: 'stop-for-any', mode: 'emergency', reason: 'whoever', ...operator, at }), key)
      await forger.buckets.control.put('stop.sstop-b', JSON.stringify(anyEngine))
      await until('b names the stop that names no engine', () => destB.lines.some((l) => l.includes('it names no engine')))
      expect(b.status().state).toBe('running')
      expect(b.gate.halted).toBe(false)

      // when the request is written where it belongs, its engine stops
      await forger.buckets.control.put('stop.sstop-a', JSON.stringify(forA))
      expect(await a.exited).toBe(3)
      expect(b.status().state).toBe('running')
    } finally {
      await forger.nc.close()
    }
  })

  it('reads a request for this engine, and refuses one for another with or without a key, naming the engine it was for', () => {
    const key = Buffer.from(KEY)
    const at = new Date().toISOString()
    const request = (engine?: string) =>
      JSON.stringify(signed(FleetStopRequest.parse({ id: 'r1', ...(engine ? { engine } : {}), mode: 'graceful', reason: 'x', ...operator, at }), key))
    expect(readFleetStop(request('e1'), 'e1', key)).toMatchObject({ request: { id: 'r1', engine: 'e1' } })
    expect(readFleetStop(request('e1'), 'e2', key)).toEqual({ refused: expect.stringContaining('written for engine "e1", not this one (e2)') })
    expect(readFleetStop(request('e1'), 'e2')).toEqual({ refused: expect.stringContaining('written for engine "e1"') })
    expect(readFleetStop(request(), 'e2', key)).toEqual({ refused: expect.stringContaining('it names no engine') })
    // in a fleet without a key a request from an earlier build, naming none, is still read
    expect(readFleetStop(request(), 'e2')).toMatchObject({ request: { id: 'r1' } })
  })
})
