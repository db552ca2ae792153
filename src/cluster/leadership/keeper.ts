import type { KV } from '@nats-io/kv'
import { LeaseLost, renewLease, type HeldLease, type LeaseHolder } from './lease.js'

/**
 * The leader's hold on its lease: renewed every quarter lease, and a fence for the gate that says
 * whether this instance may still send orders. The fence reads only this process's monotonic clock:
 * once `leaseMs - marginMs` passed since the last renewal that the bucket confirmed was sent, it
 * refuses every order, whatever the network or the bucket say, so a leader paused or cut off stops
 * before its lease can pass to another instance.
 */

export type Leadership = {
  readonly engine: string
  readonly instance: string
  /** The epoch this leader holds. */
  readonly epoch: number
  /** Why no order may pass now (the lease lost, or not renewed in time), or undefined. */
  fence(): string | undefined
  /**
   * Why this leader cannot say it leads now: its lease not renewed within `leaseMs - marginMs` (cut
   * off from NATS, paused), while it has neither lost it nor stopped renewing; undefined otherwise.
   */
  unrenewed(): string | undefined
  /** Why the lease may be another's by now (not renewed for a whole lease: it can have expired and been taken), or undefined. */
  lapsed(): string | undefined
  /** The lease as last written, for a handover's offer. */
  lease(): HeldLease
  /**
   * Stop renewing (a handover offers the lease, a shutdown lets it age out). Resolves once a renewal
   * already on its way has landed, so `lease()` then names the key's current revision.
   */
  stop(): Promise<void>
  /** Renew again after a handover rolled back, from the lease as it is now. */
  resume(lease: HeldLease): void
  readonly lost: string | undefined
  /** Whether it stopped renewing (a handover's offer, a close): whoever stopped it fences for itself. */
  readonly stopped: boolean
}

export function keepLeadership(input: {
  kv: KV
  lease: HeldLease
  leaseMs: number
  marginMs: number
  /** Called once, when the bucket says another instance holds the lease (`holder`) or it expired. */
  onLost: (reason: string, holder: LeaseHolder | undefined) => void
  onRenewError?: (e: unknown) => void
  /** A renewal wrote over a key another writer had rewritten without taking the lease (see `renewLease`). */
  onOverwrote?: (what: string) => void
  now?: () => number
}): Leadership {
  const now = input.now ?? (() => performance.now())
  let lease = input.lease
  let lost: string | undefined
  let timer: NodeJS.Timeout | undefined
  let renewing: Promise<void> | undefined
  /** Set once this leader stopped renewing (a handover's offer, a close): it publishes and sends nothing more. */
  let stopped = false
  const validFor = input.leaseMs - input.marginMs
  const late = () => {
    const since = now() - lease.confirmedAt
    return since >= validFor ? `the lease was last renewed ${Math.round(since)} ms ago (it must be within ${validFor} ms)` : undefined
  }
  const renewOnce = async () => {
    try {
      lease = await renewLease(input.kv, lease)
      if (lease.overwrote) input.onOverwrote?.(lease.overwrote)
    } catch (e) {
      if (e instanceof LeaseLost) {
        lost = e.message
        stop()
        input.onLost(e.message, e.holder)
      } else input.onRenewError?.(e)
    } finally {
      renewing = undefined
    }
  }
  const renew = () => {
    if (renewing !== undefined || lost !== undefined) return
    renewing = renewOnce()
  }
  const every = Math.max(50, Math.floor(input.leaseMs / 4))
  const start = () => {
    // the first renewal a quarter lease after the last one confirmed, wherever that was made (a
    // standby's renewals through its catch-up): the cadence runs on across a handover of the renewing
    const first = Math.min(every, Math.max(0, every - (now() - lease.confirmedAt)))
    timer = setTimeout(() => {
      timer = setInterval(renew, every)
      renew()
    }, first)
  }
  const stop = () => {
    // a pending first renewal or the interval: Node clears either with the same call
    if (timer) clearInterval(timer)
    timer = undefined
  }
  start()
  return {
    engine: lease.engine,
    instance: lease.instance,
    get epoch() {
      return lease.epoch
    },
    fence() {
      if (lost !== undefined) return `not the leader: ${lost}`
      if (stopped) return 'not the leader: it stopped renewing its lease (handed over or closing)'
      const why = late()
      if (why !== undefined) {
        // woken late (a pause, a stall): ask the bucket now rather than at the next tick, so a lease taken meanwhile is known lost at once
        if (timer !== undefined) renew()
        return `not the leader: ${why}`
      }
      return undefined
    },
    unrenewed: () => (lost !== undefined || stopped ? undefined : late()),
    lapsed() {
      const since = now() - lease.confirmedAt
      return since >= input.leaseMs
        ? `the lease was last renewed ${Math.round(since)} ms ago, a whole lease (${input.leaseMs} ms): another instance may hold it`
        : undefined
    },
    lease: () => lease,
    async stop() {
      stopped = true
      stop()
      await renewing
    },
    resume(next) {
      lease = next
      stopped = false
      stop()
      start()
    },
    get lost() {
      return lost
    },
    get stopped() {
      return stopped
    },
  }
}
