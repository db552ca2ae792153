import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { signWith } from './signature.js'

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

/** The keys a bucket holds under `filter` (a key pattern, `member.>`), deleted ones included. */
export type BucketKeys = (bucket: typeof REGISTRY_BUCKET | typeof CONTROL_BUCKET, filter?: string) => Promise<string[]>

export type FleetBuckets = { registry: KV; control: KV; keys: BucketKeys }

/**
 * Open the fleet's two buckets, creating them on first use. The registry's age limit is a bucket
 * setting (the server has no per-key TTL): whoever creates it first sets it for the desk.
 */
export async function openFleetBuckets(
  nc: NatsConnection,
  options: { ttlMs: number; replicas: number; timeoutMs?: number; key?: Buffer | undefined },
): Promise<FleetBuckets> {
  const kvm = new Kvm(nc)
  const timeout = options.timeoutMs ?? 5_000
  const registry = await kvm.create(REGISTRY_BUCKET, { ttl: options.ttlMs, history: 1, replicas: options.replicas, timeout })
  const control = await kvm.create(CONTROL_BUCKET, { history: CONTROL_HISTORY, replicas: options.replicas, timeout })
  // what is written through these handles is signed with the fleet key, and what is read must be
  signWith(control, options.key)
  signWith(registry, options.key)
  return { registry, control, keys: bucketKeys(await jetstreamManager(nc, { timeout })) }
}

/**
 * A bucket's keys from its stream's count of messages per subject: one request (paged for a long
 * list). Not the client's `keys()`: that one follows a consumer until it has the number of keys
 * the stream held when it started, so a row expiring meanwhile (the registry's rows do, all the
 * time) left it waiting out the consumer's 30 s heartbeat.
 */
function bucketKeys(jsm: JetStreamManager): BucketKeys {
  return async (bucket, filter = '>') => {
    const prefix = `$KV.${bucket}.`
    const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` })
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length))
  }
}
