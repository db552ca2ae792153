import { afterEach, describe, expect, it } from 'vitest'
import { installStandbySignals } from '../../src/daemon/standby-signals.js'

const installed: (() => void)[] = []
afterEach(() => {
  for (const off of installed.splice(0)) off()
})

/** The standby's handlers on the real process; `process.emit` runs them as a signal's delivery would. */
function wire(role: 'standby' | 'leader' | 'stopped') {
  const said: string[] = []
  let stops = 0
  const at = { role }
  const signals = installStandbySignals({ role: () => at.role, stopFollowing: () => stops++, onSignal: (signal, action) => said.push(`${signal}: ${action}`) })
  installed.push(signals.off)
  return { said, stops: () => stops, at, signals }
}

describe('signals to a standby, until it leads', () => {
  it('given a following standby, SIGUSR2 is said and ignored, and SIGTERM stops it following once', () => {
    const { said, stops } = wire('standby')
    process.emit('SIGUSR2', 'SIGUSR2')
    expect(stops()).toBe(0)
    process.emit('SIGTERM', 'SIGTERM')
    process.emit('SIGINT', 'SIGINT')
    expect(stops()).toBe(1)
    expect(said).toEqual([
      'SIGUSR2: ignored: a standby leads nothing and has no order to cancel; it keeps following',
      'SIGTERM: stop following',
      'SIGINT: ignored: the standby is stopping already',
    ])
  })

  it('given a standby holding the lease, a SIGTERM is kept for the leader and asked of it once it leads, a second signal escalating it as a leader would, and the handlers come off', async () => {
    const { said, stops, signals } = wire('leader')
    const listeners = process.listenerCount('SIGTERM')
    process.emit('SIGTERM', 'SIGTERM')
    process.emit('SIGINT', 'SIGINT')
    process.emit('SIGTERM', 'SIGTERM')
    expect(said).toEqual([
      'SIGTERM: this instance holds the lease and is taking over the engine: graceful shutdown, asked of the leader once it leads',
      'SIGINT: this instance holds the lease and is taking over the engine: escalate to emergency, asked of the leader once it leads',
      'SIGTERM: this instance holds the lease and is taking over the engine: ignored: the emergency shutdown is kept already, asked of the leader once it leads',
    ])
    const asked: unknown[] = []
    signals.promoted({ shutdown: async (r) => asked.push(r) })
    // in the order they came: the graceful shutdown, its escalation, and the request the emergency records as ignored
    expect(asked).toEqual([
      { mode: 'graceful', reason: 'SIGTERM received while this standby took over the engine', origin: 'signal' },
      { mode: 'emergency', reason: 'second SIGINT while this standby took over the engine, during the graceful shutdown kept', origin: 'signal' },
      { mode: 'graceful', reason: 'SIGTERM received while this standby took over the engine, during the emergency shutdown kept', origin: 'signal' },
    ])
    expect(stops()).toBe(0)
    expect(process.listenerCount('SIGTERM')).toBe(listeners - 1)
  })

  it('given a standby holding the lease, SIGUSR2 is kept as an emergency', () => {
    const { signals } = wire('leader')
    process.emit('SIGUSR2', 'SIGUSR2')
    const asked: unknown[] = []
    signals.promoted({ shutdown: async (r) => asked.push(r) })
    expect(asked).toEqual([{ mode: 'emergency', reason: 'SIGUSR2 received while this standby took over the engine', origin: 'signal' }])
  })

  it('given a stop kept for a leader that never came to lead (its takeover failed), taking the handlers off says the stop was not asked', () => {
    const { said, signals } = wire('leader')
    process.emit('SIGTERM', 'SIGTERM')
    signals.off()
    expect(said.at(-1)).toBe('SIGTERM: the graceful shutdown kept for the leader is not asked: this instance did not come to lead')
    const asked: unknown[] = []
    signals.promoted({ shutdown: async (r) => asked.push(r) })
    expect(asked).toEqual([])
  })

  it('given only a graceful stop kept, the leading haltd takes nothing as its handlers go in: the stop is asked once it leads', () => {
    const { signals } = wire('leader')
    process.emit('SIGTERM', 'SIGTERM')
    expect(signals.take()).toEqual([])
    const asked: unknown[] = []
    signals.promoted({ shutdown: async (r) => asked.push(r) })
    expect(asked).toEqual([{ mode: 'graceful', reason: 'SIGTERM received while this standby took over the engine', origin: 'signal' }])
  })

  it('given an emergency among the stops kept, the leading haltd takes them all, in order, as its handlers go in, and nothing is left to ask once it leads', () => {
    const { signals } = wire('leader')
    process.emit('SIGTERM', 'SIGTERM')
    process.emit('SIGUSR2', 'SIGUSR2')
    expect(signals.take().map((k) => `${k.signal}:${k.mode}`)).toEqual(['SIGTERM:graceful', 'SIGUSR2:emergency'])
    const asked: unknown[] = []
    signals.promoted({ shutdown: async (r) => asked.push(r) })
    expect(asked).toEqual([])
  })

  it('given a stop kept for the leader, when the lease goes back before the instance led (it could not catch up), then the stop stops it following, once', () => {
    const { said, stops, at, signals } = wire('leader')
    process.emit('SIGTERM', 'SIGTERM')
    at.role = 'standby'
    signals.gaveBack('it took the lease but could not catch up with the stream: timed out')
    expect(stops()).toBe(1)
    expect(said.at(-1)).toBe(
      'SIGTERM: the lease went back before this instance led (it took the lease but could not catch up with the stream: timed out): the stop kept for the leader stops it following',
    )
    process.emit('SIGINT', 'SIGINT')
    expect(stops()).toBe(1)
  })

  it('given no stop kept, when the lease goes back before the instance led, then it keeps following', () => {
    const { said, stops, signals } = wire('leader')
    signals.gaveBack('it took the lease but could not catch up with the stream: timed out')
    expect(stops()).toBe(0)
    expect(said).toEqual([])
  })

  it('given a leader that refuses at once (it has stopped already), the refusal is said, never thrown', () => {
    const { said, signals } = wire('leader')
    process.emit('SIGTERM', 'SIGTERM')
    const refusing = {
      shutdown: (): Promise<unknown> => {
        throw new Error('haltd is stopping: its shutdown has completed')
      },
    }
    expect(() => signals.promoted(refusing)).not.toThrow()
    expect(said.at(-1)).toBe('SIGTERM: the graceful shutdown asked of the leader failed: haltd is stopping: its shutdown has completed')
  })

  it('given an embedder listening for SIGTERM before the standby started, a SIGTERM during the takeover is still kept for the leader', () => {
    const embedders = () => {}
    process.on('SIGTERM', embedders)
    try {
      const { said, signals } = wire('leader')
      process.emit('SIGTERM', 'SIGTERM')
      const asked: unknown[] = []
      signals.promoted({ shutdown: async (r) => asked.push(r) })
      expect(said).toHaveLength(1)
      expect(asked).toEqual([{ mode: 'graceful', reason: 'SIGTERM received while this standby took over the engine', origin: 'signal' }])
    } finally {
      process.off('SIGTERM', embedders)
    }
  })

  it('given a standby taking over whose leader already has its own handlers, the signal is left to them', () => {
    const { said, signals } = wire('leader')
    const leaders = () => {}
    process.on('SIGUSR2', leaders)
    try {
      process.emit('SIGUSR2', 'SIGUSR2')
    } finally {
      process.off('SIGUSR2', leaders)
    }
    const asked: unknown[] = []
    signals.promoted({ shutdown: async (r) => asked.push(r) })
    expect(said).toEqual([])
    expect(asked).toEqual([])
  })
})
