import { z } from 'zod'

/** `admin.loginLimit` in the config. */
export const LoginLimitConfig = z.strictObject({
  /** Failed logins from one address within `windowMs` before it must wait. */
  maxFailures: z.number().int().min(1).max(1_000).optional(),
  windowMs: z.number().int().min(1_000).max(86_400_000).optional(),
  /** How long an address waits once it reached `maxFailures`. */
  lockMs: z.number().int().min(1_000).max(86_400_000).optional(),
})

export type LoginLimitOptions = z.output<typeof LoginLimitConfig> & {
  /** Addresses tracked at once; the oldest is forgotten first. */
  maxAddresses?: number
  now?: () => number
}

export type LoginLimit = {
  /** How long this address must still wait before it may try again (0: it may). */
  waitMs(address: string): number
  /** A failed login from this address; true when it now has to wait. */
  failed(address: string): boolean
  /** A login that succeeded: the address starts afresh. */
  succeeded(address: string): void
}

/**
 * Failed logins counted per remote address: `maxFailures` within `windowMs` and the address waits
 * `lockMs` before any login (a right token included) is looked at again. The tokens are random
 * and long, so this is not what keeps them secret; it keeps a script from spending the daemon's
 * time on guesses and puts the guessing in the process log.
 */
export function loginLimit(options: LoginLimitOptions = {}): LoginLimit {
  const maxFailures = options.maxFailures ?? 5
  const windowMs = options.windowMs ?? 60_000
  const lockMs = options.lockMs ?? 60_000
  const maxAddresses = options.maxAddresses ?? 10_000
  const now = options.now ?? Date.now
  const seen = new Map<string, { failures: number; since: number; lockedUntil: number }>()
  return {
    waitMs(address) {
      const a = seen.get(address)
      return a ? Math.max(0, a.lockedUntil - now()) : 0
    },
    failed(address) {
      const t = now()
      let a = seen.get(address)
      if (!a || t - a.since > windowMs) {
        seen.delete(address)
        if (seen.size >= maxAddresses) seen.delete(seen.keys().next().value as string)
        a = { failures: 0, since: t, lockedUntil: a?.lockedUntil ?? 0 }
        seen.set(address, a)
      }
      a.failures++
      if (a.failures < maxFailures) return false
      a.lockedUntil = t + lockMs
      a.failures = 0
      a.since = t
      return true
    },
    succeeded(address) {
      seen.delete(address)
    },
  }
}
