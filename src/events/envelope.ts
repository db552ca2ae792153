import type { EventType, HaltdEvent } from './catalogue.js'

/** What a writer hands to the log. `v` defaults to the current version; older ones are upcast. */
export type EventInput = {
  type: EventType | string
  v?: number
  data: unknown
  stream?: string
  causationId?: string
  correlationId?: string
  /** Overrides the key the catalogue derives (see `idempotencyKeyOf`). */
  idempotencyKey?: string
}

type Meta = {
  seq: number
  id: string
  v: number
  /** Milliseconds since the epoch, from the log's injected clock. */
  ts: number
  stream: string
  causationId: string | null
  correlationId: string | null
  prevHash: string
  hash: string
  /**
   * Set only on a stored event this build cannot read (a newer type or version, or data that
   * cannot be upcast): `v` and `data` are then as stored, and projections skip it as an anomaly.
   */
  unreadable?: string
}

/** A stored event: the event itself plus its place in the log and the hash chain. */
export type Envelope<E extends HaltdEvent = HaltdEvent> = E extends HaltdEvent ? Meta & E : never

export const GENESIS_HASH = '0'.repeat(64)
