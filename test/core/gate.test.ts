import { describe, expect, it } from 'vitest'
import { OrderGate } from '../../src/core/execution/gate.js'

const engineOrder = { origin: { kind: 'engine' as const, id: 'pybot/1' }, reduceOnly: false }

describe('the order gate’s latches', () => {
  it('given two causes latched, when one is taken back, then the gate stays closed for the other and says why', () => {
    const gate = new OrderGate(() => ({ mode: 'ACTIVE', strategyBlock: undefined }))
    gate.halt('the fleet kill switch cannot be read')
    gate.halt('event log cannot be written: disk full')

    expect(gate.release('the fleet kill switch cannot be read')).toBe(true)

    expect(gate.halted).toBe(true)
    expect(gate.refusal(engineOrder)).toBe('trading is halted: event log cannot be written: disk full')
    // a cause that never latched takes nothing back
    expect(gate.release('the fleet is out of view')).toBe(false)
    expect(gate.release((r) => r.startsWith('event log'))).toBe(true)
    expect(gate.halted).toBe(false)
    expect(gate.refusal(engineOrder)).toBeUndefined()
  })

  it('names the first cause while several hold, and a cause latched twice is one latch', () => {
    const gate = new OrderGate(() => ({ mode: 'ACTIVE', strategyBlock: undefined }))
    gate.halt('SIGUSR2')
    gate.halt('kill switch: drawdown')
    gate.halt('SIGUSR2')
    expect(gate.latchReason).toBe('SIGUSR2')
    expect(gate.release('SIGUSR2')).toBe(true)
    expect(gate.latchReason).toBe('kill switch: drawdown')
  })
})
