import type { Clock } from '../../events/clock.js'
import type { Rng } from '../rng.js'
import { FaultConfig, parseOrThrow, type Latency, type SimMethod } from './config.js'

type Sampler = () => number

function samplerFor(latency: Latency | undefined, rng: Rng): Sampler {
  if (latency === undefined) return () => 0
  if (typeof latency === 'number') return () => latency
  if ('minMs' in latency) {
    const { minMs, maxMs } = latency
    return minMs === maxMs ? () => minMs : () => minMs + rng.next() * (maxMs - minMs)
  }
  const pts = latency.percentiles
  return () => {
    const u = rng.next()
    let prev: readonly [number, number] | undefined
    for (const pt of pts) {
      if (u <= pt[0]) {
        if (!prev) return pt[1]
        return prev[1] + ((u - prev[0]) / (pt[0] - prev[0])) * (pt[1] - prev[1])
      }
      prev = pt
    }
    return prev![1]
  }
}

/**
 * The faults a simulated venue injects, settable at construction and at runtime
 * (`sim.faults.set({ hang: ['cancel'] })`). Settings are compiled once per `set` so a call
 * pays only for the faults that are on.
 */
export class Faults {
  private config: FaultConfig = {}
  private latency: Sampler = () => 0
  private byMethod = new Map<SimMethod, Sampler>()
  private hangAll = false
  private hangSet = new Set<SimMethod>()
  private tokens = 0
  private refilledAt = 0

  constructor(
    private readonly rng: Rng,
    private readonly clock: Clock,
    initial: FaultConfig = {},
  ) {
    this.replace(initial)
  }

  /** The settings in force. */
  get current(): Readonly<FaultConfig> {
    return this.config
  }

  /** Merges the given settings into the current ones (`undefined` removes one). */
  set(patch: FaultConfig): void {
    const merged: Record<string, unknown> = { ...this.config }
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete merged[k]
      else merged[k] = v
    }
    this.replace(merged)
  }

  /** Back to a well-behaved venue. */
  clear(): void {
    this.replace({})
  }

  private replace(input: unknown): void {
    const config = parseOrThrow(FaultConfig, input, 'faults')
    this.config = config
    this.latency = samplerFor(config.latency, this.rng)
    this.byMethod = new Map(Object.entries(config.latencyByMethod ?? {}).map(([m, l]) => [m as SimMethod, samplerFor(l, this.rng)]))
    this.hangAll = config.hang === true
    this.hangSet = new Set(Array.isArray(config.hang) ? config.hang : [])
    const bucket = config.rateLimit?.ordersPerSecond
    this.tokens = bucket ? (config.rateLimit?.burst ?? Math.max(1, Math.ceil(bucket))) : 0
    this.refilledAt = this.clock.now()
  }

  hangs(method: SimMethod): boolean {
    return this.hangAll || this.hangSet.has(method)
  }

  latencyMs(method: SimMethod): number {
    return (this.byMethod.get(method) ?? this.latency)()
  }

  /** True when this call is answered with a 429. Order calls spend a token when a bucket is set. */
  rateLimited(method: SimMethod): boolean {
    const rl = this.config.rateLimit
    if (!rl) return false
    if (rl.probability !== undefined && this.rng.chance(rl.probability)) return true
    if (rl.ordersPerSecond !== undefined && (method === 'submit' || method === 'cancel' || method === 'cancelAll')) {
      const capacity = rl.burst ?? Math.max(1, Math.ceil(rl.ordersPerSecond))
      const now = this.clock.now()
      this.tokens = Math.min(capacity, this.tokens + ((now - this.refilledAt) / 1000) * rl.ordersPerSecond)
      this.refilledAt = now
      if (this.tokens < 1) return true
      this.tokens -= 1
    }
    return false
  }

  rejectsSubmit(): boolean {
    return this.rng.chance(this.config.rejectRate ?? 0)
  }

  losesResponse(): boolean {
    return this.rng.chance(this.config.loseResponse ?? 0)
  }

  fillBeatsCancel(): boolean {
    return this.rng.chance(this.config.fillRacesCancel ?? 0)
  }
}
