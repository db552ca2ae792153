import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest()

/**
 * Checks `Authorization: Bearer <token>` in constant time: both sides are hashed first, so the
 * comparison is between equal-length digests and leaks neither the token nor its length.
 */
export function bearerCheck(token: string): (header: string | undefined) => boolean {
  const expected = digest(token)
  return (header) => {
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
    const given = digest(match?.[1] ?? '')
    // Always compare, even when the header is missing, so a refusal takes the same time.
    return timingSafeEqual(given, expected) && match !== null
  }
}

/** A fresh admin token: 32 random bytes, URL-safe. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url')
}
