import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CONTROL_HISTORY, openFleetBuckets } from '../../src/cluster/fleet/buckets.js'
import { activateFleetKillSwitch, resetFleetKillSwitch } from '../../src/cluster/fleet/control.js'
import { readFleetKey } from '../../src/cluster/fleet/signature.js'
import { requestFleetStop } from '../../src/cluster/fleet/stop.js'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { natsForFile } from '../support/nats-for-file.js'
import { dist } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'
import { fleetEngine, operatorView, until } from './support/fleet.js'

/**
 * A fleet with a key: the fleet's commands are signed with it, and an engine acts on none that is
 * not, so whoever can write to NATS but holds no key cannot halt, stop or release the fleet.
 */

const nats = natsForFile()
const engines: Haltd[] = []
afterEach(async () => {
  for (const h of engines.splice(0)) await h.close().catch(() => undefined)
})

const operator = { by: 'ops-anna', host: 'desk-7', instance: 'cli-1' }

function keyFile(text = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90\n'): string {
  const path = join(tempDir(), 'fleet.key')
  writeFileSync(path, text, { mode: 0o600 })
  return path
}

/** The operator's own connection to the fleet, holding the fleet key. */
async function keyHolder(path: string) {
  const op = await operatorView(nats.url)
  return { ...op, buckets: await openFleetBuckets(op.nc, { ttlMs: 1_000, replicas: 1, key: readFleetKey(path) }) }
}

describe('a fleet that signs its commands', { timeout: 30_000 }, () => {
  it('given engines with the fleet key, a forged EMERGENCY written straight to NATS is named and not obeyed; a signed activation halts them; a forged reset does not release them; a signed one does', async () => {
    const key = keyFile()
    const dest = memoryDestination()
    const h = await fleetEngine(nats.url, 'sig-a', { fleet: { keyFile: key }, destination: dest })
    engines.push(h)
    const forger = await operatorView(nats.url)
    const holder = await keyHolder(key)
    try {
      // when someone without the key writes an EMERGENCY for every engine
      const forged = await forger.buckets.control.put(
        'killswitch',
        JSON.stringify({
          state: 'active',
          id: 'forged-1',
          action: 'EMERGENCY',
          engines: 'all',
          reason: 'forged',
          at: new Date().toISOString(),
          by: 'mallory',
          host: 'nowhere',
        }),
      )
      // then the engine names it and trades on (fleet.onDisconnect keep)
      await until('the engine names the forged value', () => dest.lines.some((l) => l.includes(`revision ${forged} cannot be read (it carries no signature`)))
      expect(h.gate.halted).toBe(false)
      expect(h.status().state).toBe('running')

      // when the key's holder activates HALTED, the engine halts
      await activateFleetKillSwitch(holder.buckets.control, { ...operator, action: 'HALTED', engines: 'all', reason: 'bad deploy', known: new Set() })
      await until('the engine halted', () => h.gate.halted)

      // a reset signed with another key does not release it
      const wrong = await openFleetBuckets(forger.nc, { ttlMs: 1_000, replicas: 1, key: Buffer.from('x'.repeat(40)) })
      const wrongReset = await resetFleetKillSwitch(wrong.control, { ...operator, reason: 'let me trade' })
      expect(wrongReset.sig).toMatch(/^[0-9a-f]{64}$/)
      await until('the engine names the wrongly signed reset', () => dest.lines.some((l) => l.includes('its signature does not hold under the fleet key')))
      expect(h.gate.halted).toBe(true)

      // the holder's reset does
      await resetFleetKillSwitch(holder.buckets.control, { ...operator, reason: 'rolled back' })
      await until('the engine trades again', () => !h.gate.halted)
    } finally {
      await forger.nc.close()
      await holder.nc.close()
    }
  })

  it('given an engine with the fleet key, a stop request without the key is refused and named; one signed with it stops the engine', async () => {
    const key = keyFile()
    const dest = memoryDestination()
    const h = await fleetEngine(nats.url, 'sig-stop', { fleet: { keyFile: key }, destination: dest })
    engines.push(h)
    const forger = await operatorView(nats.url)
    const holder = await keyHolder(key)
    try {
      await until('the engine is in the registry', async () => (await forger.buckets.keys('haltd-fleet', 'sig-stop.>')).length > 0)
      await requestFleetStop(forger.buckets, { ...operator, mode: 'emergency', reason: 'forged stop' })
      await until('the engine names the refused stop', () =>
        dest.lines.some((l) => l.includes('a stop request for this engine was refused') && l.includes('no signature')),
      )
      expect(h.status().state).toBe('running')

      await requestFleetStop(holder.buckets, { ...operator, mode: 'graceful', reason: 'signed stop' })
      expect(await h.exited).toBe(0)
    } finally {
      await forger.nc.close()
      await holder.nc.close()
    }
  })

  it('given an engine halted by a signed activation, a signed reset of an earlier activation, written again by someone without the key, does not release it', async () => {
    const key = keyFile()
    const holder = await keyHolder(key)
    const forger = await operatorView(nats.url)
    const dest = memoryDestination()
    try {
      // given an earlier activation and its reset, then a new activation, all signed, before the engine starts
      await activateFleetKillSwitch(holder.buckets.control, { ...operator, action: 'HALTED', engines: 'all', reason: 'first', known: new Set() })
      await resetFleetKillSwitch(holder.buckets.control, { ...operator, reason: 'first over' })
      const oldReset = await holder.buckets.control.get('killswitch')
      await activateFleetKillSwitch(holder.buckets.control, { ...operator, action: 'HALTED', engines: 'all', reason: 'second', known: new Set() })
      const h = await fleetEngine(nats.url, 'sig-replay-reset', { fleet: { keyFile: key }, destination: dest })
      engines.push(h)
      await until('the engine halted for the second activation', () => h.gate.halted)

      // when someone without the key writes the old reset again, as the history holds it
      const replayed = await forger.buckets.control.put('killswitch', oldReset!.string())

      // then the engine names it and stays halted: that reset was of another activation
      await until('the engine names the replayed reset', () => dest.lines.some((l) => l.includes(`revision ${replayed}`) && l.includes('a replay')))
      expect(h.gate.halted).toBe(true)
      expect(h.state().trading.killSwitch.latched).toBe(true)
    } finally {
      await forger.nc.close()
      await holder.nc.close()
    }
  })

  it('given an engine halted by a signed activation, when the key history is flooded past its depth and an earlier signed reset is written again, then the engine restarted on its log stays halted', async () => {
    const key = keyFile()
    const holder = await keyHolder(key)
    const forger = await operatorView(nats.url)
    const db = join(tempDir(), 'sig-flood.db')
    const dest = memoryDestination()
    try {
      // given an earlier activation and its reset, and an engine halted by the activation after them
      await activateFleetKillSwitch(holder.buckets.control, { ...operator, action: 'HALTED', engines: 'all', reason: 'first', known: new Set() })
      await resetFleetKillSwitch(holder.buckets.control, { ...operator, reason: 'first over' })
      const oldReset = (await holder.buckets.control.get('killswitch'))!.string()
      // the activation comes later by the clock, as a second operator action does
      await new Promise((r) => setTimeout(r, 20))
      await activateFleetKillSwitch(holder.buckets.control, { ...operator, action: 'HALTED', engines: 'all', reason: 'second', known: new Set() })
      const first = await fleetEngine(nats.url, 'sig-flood', { db, fleet: { keyFile: key } })
      await until('the engine halted for the second activation', () => first.gate.halted)
      await first.close()

      // when someone without the key writes the key past its kept history, then the earlier reset again
      for (let i = 0; i < CONTROL_HISTORY; i++) await forger.buckets.control.put('killswitch', `noise ${i}`)
      await forger.buckets.control.put('killswitch', oldReset)

      // then the engine restarted on its log names the reset as older than its latch and stays halted
      const h = await fleetEngine(nats.url, 'sig-flood', { db, fleet: { keyFile: key }, destination: dest })
      engines.push(h)
      await until('the engine names the reset older than its latch', () => dest.lines.some((l) => l.includes('older than the activation')))
      expect(h.gate.halted).toBe(true)
      expect(h.state().trading.killSwitch.latched).toBe(true)
    } finally {
      await forger.nc.close()
      await holder.nc.close()
    }
  })

  it('given a stop request without the key left under an engine’s stop key, the engine starting names it as refused, as it names one that comes while it runs', async () => {
    const key = keyFile()
    const dest = memoryDestination()
    const forger = await operatorView(nats.url)
    try {
      // given a forged stop already under the engine's key
      await forger.buckets.control.put(
        'stop.sig-pending',
        JSON.stringify({
          id: 'forged-stop',
          mode: 'emergency',
          reason: 'forged',
          by: 'mallory',
          host: 'nowhere',
          at: new Date(Date.now() + 60_000).toISOString(),
        }),
      )
      // when the engine starts and reads it
      const h = await fleetEngine(nats.url, 'sig-pending', { fleet: { keyFile: key }, destination: dest })
      engines.push(h)
      // then it names the refusal and trades on
      await until('the engine names the refused stop', () =>
        dest.lines.some((l) => l.includes('a stop request for this engine was refused') && l.includes('no signature')),
      )
      expect(h.status().state).toBe('running')
    } finally {
      await forger.nc.close()
    }
  })

  it('refuses a key file that is missing or shorter than 32 bytes, naming it, in the engine and in the fleet commands', async () => {
    const short = keyFile('too-short\n')
    expect(() => readFleetKey(short)).toThrow(`the fleet key file ${short} holds 9 bytes: a fleet key is at least 32`)
    expect(() => readFleetKey(join(tempDir(), 'none.key'))).toThrow(/none\.key cannot be read \(ENOENT\)/)
    await expect(fleetEngine(nats.url, 'sig-short', { fleet: { keyFile: short } })).rejects.toThrow(/fleet key file .* holds 9 bytes/)

    // a standby says so at its start, not when it takes over and must lead
    const standby = createHaltd(
      {
        db: { path: join(tempDir(), 'sig-sb.db') },
        admin: { enabled: false },
        nats: { servers: [nats.url], engine: 'sig-sb', instance: 'b', connectTimeoutMs: 500 },
        replication: { mode: 'sync' },
        failover: { role: 'standby', leaseMs: 4_000 },
        fleet: { keyFile: short },
      },
      { env: {} },
    )
    await expect(standby).rejects.toThrow(/fleet key file .* holds 9 bytes/)

    const cli = spawnSync(process.execPath, [dist('src/cli.js'), 'fleet', 'status', '--nats', nats.url, '--key-file', short], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(cli.status).not.toBe(0)
    expect(cli.stderr).toContain(`the fleet key file ${short} holds 9 bytes`)
  })
})
