import { createHmac, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { KV } from '@nats-io/kv'
import { z } from 'zod'
import { HaltdError } from '../../events/errors.js'

/**
 * The fleet's shared key. Every fleet command (the kill switch and each engine's stop request) is
 * a value in NATS, and NATS's own access control is all that stands between whoever can write
 * there and an emergency on every engine. With a key (`fleet.keyFile` on each engine and for the
 * fleet commands), the values haltd writes carry `sig`, an HMAC-SHA256 under it over the value's
 * JSON without `sig`, and an engine acts on no value whose signature does not hold: it reads it as
 * a value no haltd wrote. Whoever holds the key can still command the fleet; whoever can only
 * write to NATS can no longer.
 */
export const MIN_FLEET_KEY_BYTES = 32

/** A value's signature under the fleet key, where the fleet has one: its last field, over the rest. */
export const FleetSignature = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'a signature: 64 hex digits')
  .optional()

export class FleetKeyUnreadable extends HaltdError {
  constructor(path: string, why: string) {
    super('FLEET_KEY_UNREADABLE', `the fleet key file ${path} ${why}`)
  }
}

/** The key in `path` (its bytes, trailing whitespace and newlines left out), at least 32 bytes. */
export function readFleetKey(path: string): Buffer {
  let text: Buffer
  try {
    text = readFileSync(path)
  } catch (e) {
    throw new FleetKeyUnreadable(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e))})`)
  }
  let end = text.length
  while (end > 0 && (text[end - 1] === 0x0a || text[end - 1] === 0x0d || text[end - 1] === 0x20 || text[end - 1] === 0x09)) end--
  const key = text.subarray(0, end)
  if (key.length < MIN_FLEET_KEY_BYTES)
    throw new FleetKeyUnreadable(path, `holds ${key.length} bytes: a fleet key is at least ${MIN_FLEET_KEY_BYTES} (e.g. 'openssl rand -hex 32')`)
  return Buffer.from(key)
}

/** The key each handle on the control bucket signs and checks with: set where the bucket is opened. */
const keys = new WeakMap<KV, Buffer>()

export function signWith(control: KV, key: Buffer | undefined): void {
  if (key) keys.set(control, key)
}

export function fleetKeyOf(control: KV): Buffer | undefined {
  return keys.get(control)
}

const digest = (value: object, key: Buffer): string => {
  const { sig: _, ...rest } = value as { sig?: unknown }
  return createHmac('sha256', key).update(JSON.stringify(rest)).digest('hex')
}

/** `value` (as its schema returns it, in its own key order) with its signature under `key`; as it is without a key. */
export function signed<T extends object>(value: T, key: Buffer | undefined): T {
  return key ? { ...value, sig: digest(value, key) } : value
}

/** Why `value`, read through a handle with `key`, is not one that the key's holder wrote; undefined when it is, or no key is set. */
export function forgedWhy(value: { sig?: string | undefined }, key: Buffer | undefined): string | undefined {
  if (!key) return undefined
  if (value.sig === undefined) return 'it carries no signature, and this fleet signs its commands (fleet.keyFile)'
  const want = Buffer.from(digest(value, key), 'hex')
  const got = Buffer.from(value.sig, 'hex')
  if (got.length !== want.length || !timingSafeEqual(got, want))
    return 'its signature does not hold under the fleet key: written without the key, or changed since'
  return undefined
}
