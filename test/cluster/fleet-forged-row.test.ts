import { afterEach, describe, expect, it } from 'vitest'
import { requestFleetStop } from '../../src/cluster/fleet/stop.js'
import { readFleet } from '../../src/cluster/fleet/registry.js'
import { standbyRowOf } from '../../src/cluster/fleet/row.js'
import type { Haltd } from '../../src/daemon/index.js'
import { initialState } from '../../src/projections/index.js'
import { natsForFile } from '../support/nats-for-file.js'
import { fleetEngine, operatorView, until } from './support/fleet.js'

/**
 * The registry holds whatever anyone who can write to the fleet's NATS puts in it: a row no haltd
 * could have written (an engine name that is no engine name) is none of the fleet's engines.
 */

const nats = natsForFile()
const engines: Haltd[] = []
afterEach(async () => {
  for (const h of engines.splice(0)) await h.close().catch(() => undefined)
})

describe('a registry row no haltd wrote', { timeout: 30_000 }, () => {
  it('given a fresh row whose engine name holds a space and a terminal escape, a fleet stop still asks every real engine and stops it, and the forged name is in no list', async () => {
    // given a running engine, and a row written straight to the registry beside it
    const h = await fleetEngine(nats.url, 'row-real')
    engines.push(h)
    const op = await operatorView(nats.url)
    try {
      const forged = 'row x\u001b[2K'
      const row = {
        ...standbyRowOf({
          identity: { engine: forged, instance: 'i1', host: 'h', pid: 1, role: 'leader', version: '0' },
          state: initialState(),
          fleetSeen: true,
          refreshMs: 60_000,
          now: Date.now(),
        }),
        role: 'leader' as const,
        state: 'RUNNING' as const,
      }
      await op.buckets.registry.put('forged.i1', JSON.stringify(row))
      await until('the real engine is in the registry', async () =>
        (await readFleet({ ...op.buckets, now: Date.now() })).some((m) => m.engine === 'row-real' && m.reachable),
      )

      // when an operator stops the fleet
      const asked = await requestFleetStop(op.buckets, { by: 'ops', host: 'desk-7', mode: 'graceful', reason: 'desk closing' })

      // then the real engine is asked and stops, and the forged name is nowhere
      expect(asked.engines).toEqual(['row-real'])
      expect(asked.pending).toEqual([])
      expect(await h.exited).toBe(0)
      expect((await readFleet({ ...op.buckets, now: Date.now() })).map((m) => m.engine)).not.toContain(forged)
    } finally {
      await op.nc.close()
    }
  })
})
