import { afterEach, describe, expect, it } from 'vitest'
import { OrderGate } from '../../src/core/execution/gate.js'
import { installSignalHandlers } from '../../src/daemon/signals.js'

type Call = [string, ...string[]]

const installed: (() => void)[] = []
afterEach(() => {
  for (const off of installed.splice(0)) off()
})

/** Handlers on the real process; `process.emit` runs them synchronously, as a signal's delivery would. */
function wire() {
  const gate = new OrderGate(() => ({ mode: 'ACTIVE', strategyBlock: undefined }))
  const calls: Call[] = []
  let under: 'graceful' | 'emergency' | undefined
  const off = installSignalHandlers({
    halt: (reason) => {
      calls.push(['halt', reason])
      gate.halt(reason)
    },
    request: (mode, reason) => {
      // the gate is already closed when an emergency is requested
      calls.push(['request', mode, reason, gate.halted ? 'gate closed' : 'gate open'])
      under ??= mode
      if (mode === 'emergency') under = 'emergency'
    },
    shuttingDown: () => under,
  })
  installed.push(off)
  return { gate, calls, off }
}

describe('signal handlers', () => {
  it('SIGUSR2 closes the gate inside the handler, before the emergency is requested', () => {
    const { gate, calls } = wire()
    process.emit('SIGUSR2', 'SIGUSR2')
    expect(gate.halted).toBe(true)
    expect(gate.refusal({ origin: { kind: 'strategy', id: 's' }, reduceOnly: false })).toMatch(/halted/)
    expect(calls).toEqual([
      ['halt', 'SIGUSR2: emergency'],
      ['request', 'emergency', 'SIGUSR2 received', 'gate closed'],
    ])
  })

  it('SIGTERM and SIGINT ask for a graceful shutdown and leave the gate to its step 4', () => {
    const { gate, calls, off } = wire()
    process.emit('SIGTERM', 'SIGTERM')
    expect(gate.halted).toBe(false)
    expect(calls).toEqual([['request', 'graceful', 'SIGTERM received', 'gate open']])
    off()
    const other = wire()
    process.emit('SIGINT', 'SIGINT')
    expect(other.calls).toEqual([['request', 'graceful', 'SIGINT received', 'gate open']])
  })

  it('a second SIGTERM, or a SIGUSR2, during a graceful shutdown escalates with the gate closed first', () => {
    const { calls, off } = wire()
    process.emit('SIGTERM', 'SIGTERM')
    process.emit('SIGTERM', 'SIGTERM')
    expect(calls.slice(1)).toEqual([
      ['halt', 'second SIGTERM: escalating to emergency'],
      ['request', 'emergency', 'second SIGTERM during graceful shutdown', 'gate closed'],
    ])
    off()
    const again = wire()
    process.emit('SIGINT', 'SIGINT')
    process.emit('SIGUSR2', 'SIGUSR2')
    expect(again.calls.at(-1)).toEqual(['request', 'emergency', 'SIGUSR2 received during graceful shutdown', 'gate closed'])
  })

  it('passes further signals during the emergency on as requests, so each is recorded as received and ignored, and removes its handlers on request', () => {
    const { calls, off } = wire()
    process.emit('SIGUSR2', 'SIGUSR2')
    process.emit('SIGTERM', 'SIGTERM')
    process.emit('SIGUSR2', 'SIGUSR2')
    expect(calls.filter((c) => c[0] === 'request')).toEqual([
      ['request', 'emergency', 'SIGUSR2 received', 'gate closed'],
      ['request', 'graceful', 'SIGTERM received during emergency shutdown', 'gate closed'],
      ['request', 'emergency', 'SIGUSR2 received during emergency shutdown', 'gate closed'],
    ])
    const before = process.listenerCount('SIGTERM')
    off()
    expect(process.listenerCount('SIGTERM')).toBe(before - 1)
  })
})
