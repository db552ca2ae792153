import type { KvEntry } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { onTestFinished } from 'vitest'
import { LeaseValue, openLeaseBucket } from '../../../src/cluster/leadership/lease.js'

/** One write of an engine's lease key: when the server took it, when the test saw it, and whose lease it holds (none for a delete). */
export type LeaseWrite = { operation: string; writtenAt: number; seenAt: number; instance?: string; epoch?: number }

/**
 * Every write of `engine`'s lease key as it lands, watched from now until the test ends. The bucket
 * is made as haltd makes it (the lease as its TTL), so the watch may start before any instance does.
 * `onWrite` sees each write as it comes.
 */
export async function watchLeaseWrites(
  nc: NatsConnection,
  engine: string,
  leaseMs: number,
  onWrite: (w: LeaseWrite) => void = () => {},
): Promise<LeaseWrite[]> {
  const kv = await openLeaseBucket(nc, { leaseMs, replicas: 1 })
  const watcher = await kv.watch({ key: engine })
  onTestFinished(() => watcher.stop())
  const writes: LeaseWrite[] = []
  void (async () => {
    for await (const e of watcher as AsyncIterable<KvEntry>) {
      const parsed = e.operation === 'PUT' && e.length > 0 ? LeaseValue.safeParse(e.json()) : undefined
      const lease = parsed?.success ? { instance: parsed.data.instance, epoch: parsed.data.epoch } : {}
      const write = { operation: e.operation, writtenAt: e.created.getTime(), seenAt: Date.now(), ...lease }
      writes.push(write)
      onWrite(write)
    }
  })()
  return writes
}
