import { Kvm, type KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'

/** The registry: one row per running engine instance, gone `ttl` after its last refresh. */
export const REGISTRY_BUCKET = 'haltd-fleet'
/** The fleet's commands: the kill switch, each engine's stop request, the engines ever seen. Kept, with history. */
export const CONTROL_BUCKET = 'haltd-fleet-control'
/** How many past values of each control key the bucket keeps: the fleet's record of who did what. */
export const CONTROL_HISTORY = 64

export const KILL_SWITCH_KEY = 'killswitch'
export const stopKey = (engine: string): string => `stop.${engine}`
export const memberKey = (engine: string): string => `member.${engine}`
export const rowKey = (engine: string, instance: string): string => `${engine}.${instance}`

export type FleetBuckets = { registry: KV; control: KV }

/**
 * Open the fleet's two buckets, creating them on first use. The registry's age limit is a bucket
 * setting (the server has no per-key TTL): whoever creates it first sets it for the desk.
 */
export async function openFleetBuckets(nc: NatsConnection, options: { ttlMs: number; replicas: number; timeoutMs?: number }): Promise<FleetBuckets> {
  const kvm = new Kvm(nc)
  const timeout = options.timeoutMs ?? 5_000
  const registry = await kvm.create(REGISTRY_BUCKET, { ttl: options.ttlMs, history: 1, replicas: options.replicas, timeout })
  const control = await kvm.create(CONTROL_BUCKET, { history: CONTROL_HISTORY, replicas: options.replicas, timeout })
  return { registry, control }
}
