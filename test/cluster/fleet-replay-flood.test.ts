import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CONTROL_HISTORY, openFleetBuckets } from '../../src/cluster/fleet/buckets.js'
import { activateFleetKillSwitch, placedAt, readFleetKillSwitch, resetFleetKillSwitch, type FleetKillSwitch } from '../../src/cluster/fleet/control.js'
import { readFleetKey } from '../../src/cluster/fleet/signature.js'
import type { Haltd } from '../../src/daemon/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { fleetEngine, operatorView, until } from './support/fleet.js'

/**
 * An activation of the fleet kill switch, captured and written again once the key's kept history
 * no longer holds it or its reset, is no new activation: each value names, under its signature,
 * the revision it was written over, and a copy stands over another.
 */

const nats = natsForFile()
const engines: Haltd[] = []
afterEach(async () => {
  for (const h of engines.splice(0)) await h.close().catch(() => undefined)
})

const operator = { by: 'ops-anna', host: 'desk-7', instance: 'cli-1' }

function keyFile(): string {
  const path = join(tempDir(), 'fleet.key')
  writeFileSync(path, 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90\n', { mode: 0o600 })
  return path
}

describe('a replayed activation after the history was flooded', { timeout: 30_000 }, () => {
  it('given an activation and its reset pushed out of the kept history, when the activation is written again, then an engine starting reads it as written again and trades on; a new signed activation still halts it', async () => {
    const path = keyFile()
    const holder = await operatorView(nats.url)
    const keyed = await openFleetBuckets(holder.nc, { ttlMs: 1_000, replicas: 1, key: readFleetKey(path) })
    const forger = await operatorView(nats.url)
    const dest = memoryDestination()
    try {
      // given a signed activation, captured, then its reset
      const activation = await activateFleetKillSwitch(keyed.control, { ...operator, action: 'HALTED', engines: 'all', reason: 'bad deploy', known: new Set() })
      const captured = (await keyed.control.get('killswitch'))!.string()
      await resetFleetKillSwitch(keyed.control, { ...operator, reason: 'rolled back' })
      // when someone without the key writes the key past its kept history, then the activation again
      for (let i = 0; i < CONTROL_HISTORY; i++) await forger.buckets.control.put('killswitch', `noise ${i}`)
      const replayed = await forger.buckets.control.put('killswitch', captured)

      // then the operator's view names it as written again
      const seen = await readFleetKillSwitch(keyed.control)
      expect(seen?.value).toEqual({
        state: 'unreadable',
        revision: replayed,
        why: expect.stringContaining(`activation ${activation.id} was written over revision`),
      })

      // and an engine starting with the key trades on, naming it
      const h = await fleetEngine(nats.url, 'replay-flood', { fleet: { keyFile: path }, destination: dest })
      engines.push(h)
      await until('the engine names the replayed activation', () =>
        dest.lines.some((l) => l.includes(`revision ${replayed} cannot be read`) && l.includes('a replay, not a new activation')),
      )
      expect(h.gate.halted).toBe(false)
      expect(h.state().trading.killSwitch.latched).toBe(false)

      // when the key's holder activates anew, over the replay, the engine halts
      await activateFleetKillSwitch(keyed.control, { ...operator, action: 'HALTED', engines: 'all', reason: 'for real', known: new Set() })
      await until('the engine halted for the new activation', () => h.gate.halted)
    } finally {
      await forger.nc.close()
      await holder.nc.close()
    }
  })

  it('reads a value as placed when it stands over the revision it names, and as written again otherwise', () => {
    const ks: FleetKillSwitch = {
      state: 'active',
      id: 'a1',
      action: 'HALTED',
      engines: 'all',
      reason: 'x',
      at: new Date().toISOString(),
      by: 'o',
      host: 'h',
      after: 7,
    }
    expect(placedAt(ks, 9, 7)).toBe(ks)
    expect(placedAt(ks, 90, 89)).toMatchObject({ state: 'unreadable', revision: 90, why: expect.stringContaining('stands over revision 89') })
    expect(placedAt(ks, 90, undefined)).toMatchObject({ state: 'unreadable', why: expect.stringContaining('no longer kept') })
    // a value from an earlier build names no revision, and a reset is judged by what it resets: taken as they are
    const { after: _, ...earlier } = ks
    expect(placedAt(earlier, 90, 89)).toBe(earlier)
    const reset: FleetKillSwitch = { state: 'reset', id: 'r1', resets: 'a1', reason: 'x', at: ks.at, by: 'o', host: 'h', after: 7 }
    expect(placedAt(reset, 90, 89)).toBe(reset)
  })
})
