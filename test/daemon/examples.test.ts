import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig, parseConfig } from '../../src/daemon/config.js'
import { EXIT } from '../../src/core/shutdown/exit-codes.js'
import { emergencyWatchdogTimes } from '../../src/daemon/watchdog.js'
import { repoRoot } from '../support/paths.js'
import { parseUnit, parseYaml, type Yaml } from './yaml-subset.js'

const example = (name: string) => readFileSync(join(repoRoot, 'examples', name), 'utf8')
const defaults = parseConfig({ db: { path: 'x.db' } }).shutdown
/** The longest a stop can take: the whole graceful budget, then the emergency it escalates to, then the watchdog. */
const worstStopMs = defaults.graceful.deadlineMs + emergencyWatchdogTimes(defaults.emergency.deadlineMs).killAtMs

const at = (v: Yaml, ...path: (string | number)[]): Yaml => path.reduce<Yaml>((x, k) => (x as Record<string | number, Yaml>)[k]!, v)

describe('production examples', () => {
  it('the systemd unit stops with SIGTERM, waits out the worst case, and never restarts a latched kill switch into trading', () => {
    const unit = parseUnit(example('haltd.service'))
    const service = unit.Service!
    expect(service.KillSignal).toEqual(['SIGTERM'])
    expect(service.KillMode).toEqual(['mixed'])
    expect(Number(service.TimeoutStopSec![0]) * 1000).toBeGreaterThan(worstStopMs)
    expect(service.Restart).toEqual(['on-failure'])
    const prevented = service.RestartPreventExitStatus!.join(' ').split(/\s+/).map(Number)
    expect(prevented).toContain(EXIT.emergency)
    expect(prevented).toContain(EXIT.residual)
    expect(service.ExecStart![0]).toMatch(/cli\.js run --config \S+/)
    expect(unit.Install!.WantedBy).toEqual(['multi-user.target'])
  })

  it('the Kubernetes snippet gives more grace than the worst stop, and its preStop waits for haltd instead of racing the SIGTERM', () => {
    const doc = parseYaml(example('kubernetes.yaml'))
    expect(at(doc, 'kind')).toBe('StatefulSet')
    const pod = at(doc, 'spec', 'template', 'spec')
    const grace = at(pod, 'terminationGracePeriodSeconds') as number
    expect(grace * 1000).toBeGreaterThan(worstStopMs)
    const container = at(pod, 'containers', 0)
    expect(at(container, 'command')).toEqual(expect.arrayContaining(['run', '--config']))
    const preStop = at(container, 'lifecycle', 'preStop', 'exec', 'command') as string[]
    expect(preStop).toContain('stop')
    expect(preStop).not.toContain('--emergency')
    expect(preStop).not.toContain('--no-wait')
    // it waits (up to its timeout) for the graceful shutdown to end, within the grace period
    const timeout = Number(preStop[preStop.indexOf('--timeout') + 1])
    expect(timeout * 1000).toBeGreaterThanOrEqual(defaults.graceful.deadlineMs + defaults.emergency.deadlineMs)
    expect(timeout).toBeLessThan(grace)
  })

  it('the example config is valid, with its secrets from the environment', () => {
    const config = loadConfig({
      file: join(repoRoot, 'examples', 'haltd.json'),
      env: { HALTD_ADMIN_TOKEN: 'an-admin-token-from-a-secret', HALTD_VENUE_BINANCE_API_KEY: 'k', HALTD_VENUE_BINANCE_SECRET: 's' },
    })
    expect(config.admin.host).toBe('127.0.0.1')
    expect(config.venues.map((v) => v.name)).toEqual(['binance', 'okx'])
    expect(config.startup.refuseToStartOnMismatch).toBe(true)
  })

  it('the YAML reader refuses what it does not understand rather than skipping it', () => {
    expect(() => parseYaml('a:\n  b: &anchor 1\n')).toThrow(/unsupported/)
    expect(() => parseYaml('a: 1\n    b: 2\n')).toThrow(/indentation/)
  })
})

describe('the primary/standby pair examples', () => {
  const secrets = { HALTD_VENUE_OKX_API_KEY: 'k', HALTD_VENUE_OKX_SECRET: 's', HALTD_VENUE_OKX_PASSWORD: 'p' }
  const pair = (name: string) => loadConfig({ file: join(repoRoot, 'examples', 'standby', name), env: secrets })

  it('the two configs are one engine with two instances: same venues, strategies and lease, each its own log, admin port and role', () => {
    const primary = pair('primary.json')
    const standby = pair('standby.json')
    expect([primary.failover?.role, standby.failover?.role]).toEqual(['primary', 'standby'])
    expect(standby.nats?.engine).toBe(primary.nats?.engine)
    expect(standby.failover?.leaseMs).toBe(primary.failover?.leaseMs)
    expect(standby.venues).toEqual(primary.venues)
    expect(standby.strategies).toEqual(primary.strategies)
    expect(standby.replication).toEqual(primary.replication)
    expect(new Set([primary.nats?.instance, standby.nats?.instance]).size).toBe(2)
    expect(new Set([primary.db.path, standby.db.path]).size).toBe(2)
    expect(new Set([primary.admin.port, standby.admin.port]).size).toBe(2)
  })

  it('the systemd template runs either config with run, stops with SIGTERM within the worst case, and never restarts a latched kill switch', () => {
    const service = parseUnit(readFileSync(join(repoRoot, 'examples', 'standby', 'haltd@.service'), 'utf8')).Service!
    expect(service.ExecStart![0]).toMatch(/cli\.js run --config \/etc\/haltd\/%i\.json$/)
    expect(service.KillSignal).toEqual(['SIGTERM'])
    expect(service.KillMode).toEqual(['mixed'])
    expect(Number(service.TimeoutStopSec![0]) * 1000).toBeGreaterThan(worstStopMs)
    expect(service.Restart).toEqual(['on-failure'])
    expect(service.RestartPreventExitStatus!.join(' ').split(/\s+/).map(Number)).toEqual(expect.arrayContaining([EXIT.emergency, EXIT.residual]))
  })

  it('the Kubernetes pair is two one-replica StatefulSets on different nodes, one per config, each stopped as the single instance is', () => {
    const doc = parseYaml(readFileSync(join(repoRoot, 'examples', 'standby', 'kubernetes.yaml'), 'utf8'))
    expect(at(doc, 'kind')).toBe('List')
    const sets = at(doc, 'items') as Yaml[]
    expect(sets.map((s) => at(s, 'kind'))).toEqual(['StatefulSet', 'StatefulSet'])
    const configs = sets.map((s) => {
      expect(at(s, 'spec', 'replicas')).toBe(1)
      const pod = at(s, 'spec', 'template', 'spec')
      expect((at(pod, 'terminationGracePeriodSeconds') as number) * 1000).toBeGreaterThan(worstStopMs)
      const anti = at(pod, 'affinity', 'podAntiAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 0)
      expect(at(anti, 'topologyKey')).toBe('kubernetes.io/hostname')
      const container = at(pod, 'containers', 0)
      const preStop = at(container, 'lifecycle', 'preStop', 'exec', 'command') as string[]
      expect(preStop).toContain('stop')
      expect(preStop).not.toContain('--emergency')
      const command = at(container, 'command') as string[]
      expect(command.slice(-3, -1)).toEqual(['run', '--config'])
      return command.at(-1)
    })
    expect(configs).toEqual(['/etc/haltd/primary.json', '/etc/haltd/standby.json'])
  })
})
