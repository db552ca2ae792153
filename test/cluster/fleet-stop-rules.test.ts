import { describe, expect, it } from 'vitest'
import type { FleetMember } from '../../src/cluster/fleet/registry.js'
import { FLEET_STOP_VALID_MS, stopApplies, stopTargets, type FleetStopRequest } from '../../src/cluster/fleet/stop.js'
import { standbyRowOf, type FleetRow } from '../../src/cluster/fleet/row.js'
import { initialState } from '../../src/projections/index.js'

const t0 = Date.parse('2026-12-05T06:00:00.000Z')
const request = (at: number, validUntil?: number): FleetStopRequest => ({
  id: 'stop-1',
  mode: 'graceful',
  reason: 'desk closing',
  by: 'ops',
  host: 'desk-7',
  at: new Date(at).toISOString(),
  ...(validUntil !== undefined ? { validUntil: new Date(validUntil).toISOString() } : {}),
})
const row = (engine: string, state: FleetRow['state']): FleetRow => ({
  ...standbyRowOf({
    identity: { engine, instance: `${engine}-1`, host: 'h', pid: 1, role: 'leader', version: '0' },
    state: initialState(),
    fleetSeen: true,
    refreshMs: 500,
    now: t0,
  }),
  role: 'leader',
  state,
})

describe('which run a fleet stop is for', () => {
  it('given a request issued after the run started and still valid, it applies, also to an engine that only sees it later', () => {
    expect(stopApplies(request(t0 + 1_000, t0 + 60_000), t0, t0 + 2_000)).toBe(true)
    expect(stopApplies(request(t0 + 1_000, t0 + 60_000), t0, t0 + 59_000)).toBe(true)
  })
  it('given a request older than the run (an earlier run’s), or past its validity, it does not', () => {
    expect(stopApplies(request(t0 - 1, t0 + 60_000), t0, t0 + 10)).toBe(false)
    expect(stopApplies(request(t0 + 1_000, t0 + 60_000), t0, t0 + 60_001)).toBe(false)
  })
  it('given a request from an earlier build (no validUntil), it is valid for the default window after it was issued', () => {
    expect(stopApplies(request(t0 + 1_000), t0, t0 + 1_000 + FLEET_STOP_VALID_MS)).toBe(true)
    expect(stopApplies(request(t0 + 1_000), t0, t0 + 1_001 + FLEET_STOP_VALID_MS)).toBe(false)
  })
})

describe('whom a fleet stop asks', () => {
  it('follows the engines with a fresh row, leaves pending those out of view (stale or gone), and skips those that stopped', () => {
    const fleet: FleetMember[] = [
      { engine: 'a', reachable: true, row: row('a', 'RUNNING'), ageMs: 10 },
      { engine: 'b', reachable: false, row: row('b', 'RUNNING'), ageMs: 9_000, why: 'stale' },
      { engine: 'c', reachable: false, why: 'gone' },
      { engine: 'd', reachable: true, row: row('d', 'STOPPED'), ageMs: 10 },
      { engine: 'e', reachable: true, row: row('e', 'STANDBY'), ageMs: 10 },
      { engine: 'e', reachable: true, row: row('e', 'HALTED'), ageMs: 10 },
    ]
    expect(stopTargets(fleet)).toEqual({ engines: ['a', 'e'], pending: ['b', 'c'], untrusted: [] })
  })

  it('names the engines known only by rows the fleet key does not vouch for, without asking them; a forged row beside a real one names nothing', () => {
    const fleet: FleetMember[] = [
      { engine: 'a', reachable: true, row: row('a', 'RUNNING'), ageMs: 10, signature: 'signed' },
      { engine: 'a', reachable: false, row: row('a', 'STOPPED'), ageMs: 10, why: 'forged', signature: 'forged' },
      { engine: 'ghost', reachable: false, row: row('ghost', 'RUNNING'), ageMs: 10, why: 'unsigned', signature: 'unsigned' },
      { engine: 'old', reachable: false, why: 'unsigned', signature: 'unsigned' },
    ]
    expect(stopTargets(fleet)).toEqual({ engines: ['a'], pending: [], untrusted: ['ghost', 'old'] })
  })
})
