import { AdminUser, generateToken, hashToken, MIN_TOKEN_LENGTH, Role } from '../admin/access.js'
import { parseFlags, UsageError } from './args.js'
import type { Command } from './command.js'

const out = (s: string) => process.stdout.write(`${s}\n`)

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * `haltd token new` draws a token and prints it with the config entry that holds only its hash;
 * `haltd token hash` hashes a token read from stdin (never from the arguments, which shell
 * histories and process lists keep).
 */
export const tokenCommand: Command = {
  name: 'token',
  summary: 'make an admin credential: a new token and its hash for admin.users, or the hash of a token on stdin',
  usage: `haltd token new --name NAME --role viewer|operator|admin|engine
haltd token hash < token-file

new: prints the token (give it to its holder, once) and the admin.users entry to put in the config,
which holds only the token's sha256 hash. hash: prints the hash of the token read from stdin (one
line; at least ${MIN_TOKEN_LENGTH} characters).`,
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { name: 'string', role: 'string' })
    const [sub] = positional
    if (sub === 'hash') {
      if (process.stdin.isTTY) throw new UsageError('haltd token hash reads the token from stdin: haltd token hash < token-file')
      const token = (await readStdin()).replace(/\r?\n$/, '')
      if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
        throw new UsageError(`the token on stdin must be one line of at least ${MIN_TOKEN_LENGTH} characters without spaces (got ${token.length} characters)`)
      }
      out(hashToken(token))
      return 0
    }
    if (sub !== 'new') throw new UsageError("expected 'new' or 'hash' (haltd token new --name NAME --role operator)")
    const role = Role.safeParse(flags.role)
    if (!role.success) throw new UsageError(`--role must be one of ${Role.options.join(', ')}`)
    const token = generateToken()
    const user = AdminUser.safeParse({ name: flags.name ?? '', role: role.data, tokenHash: hashToken(token) })
    if (!user.success) throw new UsageError(`--name: ${user.error.issues[0]?.message ?? 'invalid'} (letters, digits and . _ @ - only)`)
    out(`token (give it to ${user.data.name}; it is not stored anywhere): ${token}`)
    out(`admin.users entry: ${JSON.stringify(user.data)}`)
    return 0
  },
}
