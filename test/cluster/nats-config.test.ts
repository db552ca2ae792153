import { describe, expect, it } from 'vitest'
import { InvalidConfig, parseConfig, redactConfig, secretsOf } from '../../src/daemon/config.js'

const minimal = { db: { path: '/tmp/haltd-nats-config.db' } }

const problemPaths = (raw: unknown): string[] => {
  try {
    parseConfig(raw)
  } catch (e) {
    if (e instanceof InvalidConfig) return e.problems.map((p) => p.path)
    throw e
  }
  return []
}

describe('the nats section', () => {
  it('given none, haltd runs alone', () => {
    expect(parseConfig(minimal).nats).toBeUndefined()
  })

  it('given servers and an engine name, it is taken with its defaults', () => {
    const c = parseConfig({ ...minimal, nats: { servers: ['nats://127.0.0.1:4222'], engine: 'mm-1' } })
    expect(c.nats).toEqual({ servers: ['nats://127.0.0.1:4222'], engine: 'mm-1', connectTimeoutMs: 2_000 })
  })

  it('given a URL that is not NATS or an engine name a subject cannot hold, each problem is named', () => {
    expect(problemPaths({ ...minimal, nats: { servers: ['http://x:1'], engine: 'a.b' } })).toEqual(['nats.servers[0]', 'nats.engine'])
    expect(problemPaths({ ...minimal, nats: { servers: [], engine: 'e' } })).toEqual(['nats.servers'])
  })

  it('given a ping interval, it is taken; one under 100 ms or not whole is named', () => {
    const nats = { servers: ['nats://127.0.0.1:4222'], engine: 'e' }
    expect(parseConfig({ ...minimal, nats: { ...nats, pingIntervalMs: 1_000 } }).nats?.pingIntervalMs).toBe(1_000)
    expect(problemPaths({ ...minimal, nats: { ...nats, pingIntervalMs: 50 } })).toEqual(['nats.pingIntervalMs'])
    expect(problemPaths({ ...minimal, nats: { ...nats, pingIntervalMs: 1.5 } })).toEqual(['nats.pingIntervalMs'])
  })

  it('given HALTD_NATS_TOKEN, the token comes from the environment and is never shown', () => {
    const c = parseConfig({ ...minimal, nats: { servers: ['nats://127.0.0.1:4222'], engine: 'e' } }, { HALTD_NATS_TOKEN: 'nats-secret-token' })
    expect(c.nats?.token).toBe('nats-secret-token')
    expect(redactConfig(c).nats?.token).toBe('[redacted]')
    expect(secretsOf(c, 'admin-token-0123456789').scrub('x nats-secret-token y')).toBe('x [redacted] y')
  })
})
