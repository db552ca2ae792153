import { z } from 'zod'

/** `admin.loginLimit` and `admin.tokenLimit` in the config. */
export const LoginLimitConfig = z.strictObject({
  /** Failures from one address within `windowMs` before it must wait. */
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
 * The part of a remote address one client holds: an IPv4 address (an IPv4-mapped IPv6 one read as
 * IPv4), or an IPv6 address's /64, since a single host is routinely given a whole /64 and could
 * otherwise take a fresh address for each guess.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]!
  if (!address.includes(':')) return address
  const [head = '', tail] = address.split('%')[0]!.toLowerCase().split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/**
 * Failed authentications counted per remote address (`addressKey`): `maxFailures` within
 * `windowMs` and the address waits `lockMs` before any credential it sends (a right token
 * included) is looked at again, so a guess during the wait says nothing about the token. The
 * tokens are random and long, so this is not what keeps them secret; it keeps a script from
 * spending the daemon's time on guesses and puts the guessing in the process log. Other addresses
 * are never held by it; at most `maxAddresses` are tracked, the oldest forgotten first.
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
      const a = seen.get(addressKey(address))
      return a ? Math.max(0, a.lockedUntil - now()) : 0
    },
    failed(from) {
      const address = addressKey(from)
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
      seen.delete(addressKey(address))
    },
  }
}
