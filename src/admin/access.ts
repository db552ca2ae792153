import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'

/**
 * Who may do what on the admin API. Each credential is a name, a role and the hash of its token;
 * a request is authenticated as one `Principal`, and each route says which roles it accepts.
 *
 * - `viewer`: reads everything, acts on nothing.
 * - `operator`: pause, resume, drain start and cancel, shutdown (graceful and emergency), kill
 *   switch activate, deployments lock: every action that stops or slows trading.
 * - `admin`: everything an operator may, plus what lets trading start again or leaves exposure
 *   behind: kill switch reset, deployments unlock, drain force, handover.
 * - `engine`: a trading engine's own credential: it reads, and enters orders where such routes
 *   exist; it acts on nothing else.
 */
export const Role = z.enum(['viewer', 'operator', 'admin', 'engine'])
export type Role = z.infer<typeof Role>

export type Principal = { name: string; role: Role }

/** What an action records as its `by`: the authenticated name and role, never what the body says. */
export const byOf = (p: Principal): string => `${p.name} (${p.role})`

/** The roles a route accepts: reads are open to every role, actions to the roles named. */
export const READERS: readonly Role[] = ['viewer', 'operator', 'admin', 'engine']
export const OPERATORS: readonly Role[] = ['operator', 'admin']
export const ADMINS: readonly Role[] = ['admin']

const HASH = /^sha256:([0-9a-f]{64})$/

/**
 * `sha256:<64 hex digits>`. Tokens are random (`haltd token new` draws 32 bytes), not passwords a
 * person chose, so a fast hash is enough: nothing short enough to guess hides behind it, and a slow
 * one would cost every API call.
 */
export const TokenHash = z.string().regex(HASH, "a token hash is 'sha256:' and 64 lowercase hex digits (haltd token hash)")

/** The name the single token of a single-user set-up acts under; no user may take it. */
export const SINGLE_TOKEN_NAME = 'local'

export const AdminUser = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[\w.@-]+$/, 'letters, digits and . _ @ - only')
    // the single token acts under this name: a user of the same name could not be told from it in the log
    .refine((name) => name.toLowerCase() !== SINGLE_TOKEN_NAME, `'${SINGLE_TOKEN_NAME}' is the name the single admin token acts under: choose another`),
  role: Role,
  tokenHash: TokenHash,
})
export type AdminUser = z.infer<typeof AdminUser>

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest()

/** The hash a config stores for `token`. */
export const hashToken = (token: string): string => `sha256:${digest(token).toString('hex')}`

/** A token too short to be a random credential: refused by `haltd token hash` and the config alike. */
export const MIN_TOKEN_LENGTH = 16

export type Credentials = {
  /** The principal the token in `header` (`Bearer <token>`) belongs to, if any. */
  bearer(header: string | undefined): Principal | undefined
  /** The principal a bare token belongs to (the login form's), if any. */
  token(token: string): Principal | undefined
}

/**
 * The credentials the admin API accepts: the named users, and the single token of a single-user
 * set-up (the environment's or the generated one), which acts as `admin` under `singleName`.
 * Every token is compared against every credential in constant time, so neither which credential
 * matched nor whether one did shows in the time an answer takes.
 */
export function credentials(input: { users?: readonly AdminUser[]; token?: string; singleName?: string }): Credentials {
  const known: { digest: Buffer; principal: Principal }[] = (input.users ?? []).map((u) => ({
    digest: Buffer.from(HASH.exec(u.tokenHash)?.[1] ?? '', 'hex'),
    principal: { name: u.name, role: u.role },
  }))
  if (input.token !== undefined) known.push({ digest: digest(input.token), principal: { name: input.singleName ?? SINGLE_TOKEN_NAME, role: 'admin' } })
  const token = (given: string): Principal | undefined => {
    const d = digest(given)
    let found: Principal | undefined
    for (const k of known) if (k.digest.length === d.length && timingSafeEqual(k.digest, d) && found === undefined) found = k.principal
    return given.length > 0 ? found : undefined
  }
  return {
    token,
    bearer: (header) => {
      const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
      // Always compare, even when the header is missing, so a refusal takes the same time.
      const found = token(match?.[1] ?? '')
      return match === null ? undefined : found
    },
  }
}

/** Why `who` may not do `what`: the roles it needs, named. */
export function refusal(who: Principal, needs: readonly Role[], what: string): string {
  return `${what} needs the ${needs.join(' or ')} role; ${who.name} is ${/^[aeiou]/.test(who.role) ? 'an' : 'a'} ${who.role}`
}

/** A fresh token: 32 random bytes, URL-safe. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url')
}
