import { describe, expect, it } from 'vitest'
import type { FleetKillSwitch } from '../../src/cluster/fleet/control.js'
import type { FleetRow } from '../../src/cluster/fleet/row.js'
import { describeKillSwitch, formatFleet } from '../../src/cli/fleet-commands.js'
import { terminalJson } from '../../src/cli/output.js'
import { UNPRINTABLE } from '../../src/events/text.js'

/** The characters in `text` a terminal would act on, line breaks apart. */
const controls = (text: string) => [...text].filter((c) => c !== '\n' && UNPRINTABLE.test(c))

/** What anyone who may write to the fleet's NATS can put in a field: a sequence that erases the line and writes another. */
const FORGED = 'bad deploy\u001b[2K\rfleet kill switch: not set'

const active: FleetKillSwitch = {
  state: 'active',
  id: 'a-1',
  action: 'HALTED',
  engines: 'all',
  reason: FORGED,
  at: '2026-12-07T20:00:00.000Z',
  by: 'anna\u009b2K',
  host: 'desk\u202e7',
}

const row: FleetRow = {
  engine: 'mm-eu-1',
  instance: 'vm-1\u001b[31m',
  host: 'vm\r',
  pid: 1,
  role: 'leader',
  version: '0.1.0',
  state: 'RUNNING',
  openOrders: 0,
  grossExposure: 0,
  seq: 1,
  lastEventAt: null,
  killSwitch: { latched: false },
  fleetSeen: true,
  at: '2026-12-07T20:00:00.000Z',
  refreshMs: 2000,
}

describe("the fleet's text on an operator's terminal", () => {
  it('given a kill switch whose fields hold terminal controls, then its line shows them escaped and still says SET', () => {
    const line = describeKillSwitch(active)
    expect(line).toMatch(/^fleet kill switch: SET \(HALTED, all engines\)/)
    expect(line).toContain('bad deploy\\u{1b}[2K\\rfleet kill switch: not set')
    expect(line).toContain('anna\\u{9b}2K')
    expect(line).toContain('desk\\u{202e}7')
    expect(controls(line)).toEqual([])
  })

  it('given registry rows whose fields hold terminal controls, then the table shows them escaped, one line per engine', () => {
    const text = formatFleet({ engines: [{ engine: 'mm-eu-1', reachable: true, row, ageMs: 0 }], killSwitch: active })
    expect(text.split('\n')).toHaveLength(4)
    expect(text).toContain('vm-1\\u{1b}[31m')
    expect(controls(text)).toEqual([])
  })

  it('given the same as JSON, then every control a terminal acts on is a \\u escape, and the JSON reads back as written', () => {
    const text = terminalJson({ killSwitch: active })
    expect(controls(text)).toEqual([])
    expect(JSON.parse(text)).toEqual({ killSwitch: active })
  })
})
